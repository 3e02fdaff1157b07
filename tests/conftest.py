"""Every test stops what it starts: node processes left running by a test module are stopped here.

After each test module, any validator process still running that the module started (through
:func:`jadechain.devnet.net.start_node`, which records its children, or any direct child of this pytest process
running ``node.server``) is stopped — SIGTERM, then SIGKILL — and reaped, so that no stray node
burns the shared CPU of the next suites or outlives the run ("subprocess ... is still running").
The modules that leaked are listed at the end of the run, so the fixture at fault can be fixed.

Those leaks, and any other child process (a worker script, a CLI run, a server) still running — or exited
but never waited for — when the session ends, fail the run, naming them, so the test at fault is fixed.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Property tests: CI runs a fixed, derandomised sample with no per-example deadline (a loaded machine
# must not fail a test by time); "explore" draws new random cases with ten times the examples, for hunting
# bugs locally (HYPOTHESIS_PROFILE=explore make test). Every case CI ever found stays as a named test.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_leaks: list[str] = []


def _running_node_children() -> dict[int, object]:
    """pid -> Popen (or None) of node processes started by this pytest process and still running."""
    found: dict[int, object] = {}
    try:
        from jadechain.devnet import net
    except Exception:  # the package may not import in a broken tree; nothing to check then
        return found
    for pid, process in list(net._children.items()):
        if process.poll() is None:
            found[pid] = process
    try:
        import psutil

        for child in psutil.Process().children(recursive=False):
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "node.server" in " ".join(child.cmdline()):
                    found.setdefault(child.pid, None)
            except psutil.Error:
                continue
    except Exception:
        pass
    return found


def _stop(pid: int, process: object) -> None:
    for sig in (signal.SIGCONT, signal.SIGTERM):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:  # type: ignore[attr-defined]
            return
        if process is None:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return
            if finished:
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if process is not None:
        process.wait(10)  # type: ignore[attr-defined]
    else:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


_started_in: dict[int, str] = {}
"""pid -> the test module during which a child that is still unwaited at its end appeared (named at session end)."""


@pytest.fixture(scope="module", autouse=True)
def _no_node_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    before = set(_running_node_children())
    yield
    for pid in _unwaited_children():
        _started_in.setdefault(pid, request.node.nodeid)
    left = {pid: p for pid, p in _running_node_children().items() if pid not in before}
    if not left:
        return
    _leaks.append(f"{request.node.nodeid}: {len(left)} node process(es) still running (pids {sorted(left)})")
    for pid, process in left.items():
        _stop(pid, process)
    try:
        from jadechain.devnet import net

        for pid in left:
            net._children.pop(pid, None)
    except Exception:
        pass


# Helpers of the interpreter itself (multiprocessing's), which end with it.
_INTERPRETER_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _unwaited_children() -> dict[int, str]:
    """Children of this pytest process still running or exited but never reaped (never ``wait()``-ed)."""
    import psutil

    found = {}
    for child in psutil.Process().children(recursive=False):
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.ZombieProcess:
            try:
                name = child.name()
            except psutil.Error:
                name = "?"
            cmdline = f"(exited, never waited for: {name})"
        except psutil.Error:
            continue
        if not any(helper in cmdline for helper in _INTERPRETER_HELPERS):
            found[child.pid] = f"pid {child.pid}: {cmdline[:200]}"
    return found


@pytest.fixture(scope="session", autouse=True)
def _no_child_process_left_at_session_end() -> Iterator[None]:
    before = set(_unwaited_children())
    yield
    left = [f"{child} (appeared during {_started_in.get(pid, 'the session')})"
            for pid, child in _unwaited_children().items() if pid not in before]
    left += [f"(stopped by the module guard) {leak}" for leak in _leaks]
    if left:
        pytest.fail("child processes left running or never waited for by the tests:\n" + "\n".join(left),
                    pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _leaks:
        terminalreporter.section("node processes left running (stopped by tests/conftest.py)")
        for line in _leaks:
            terminalreporter.write_line(line)
