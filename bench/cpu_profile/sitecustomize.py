"""Per-thread CPU profiles of node processes, for ``bench/profile_tx_path.py --nodes N``.

Put this directory on ``PYTHONPATH`` and set ``JADECHAIN_CPU_PROFILE=DIR``: every Python process
started with them (except the process whose parent is ``JADECHAIN_CPU_PROFILE_SKIP_PARENT``, i.e.
the benchmark driver itself) runs a ``cProfile`` per thread, timed by that thread's CPU clock
(``time.thread_time``, so waiting costs nothing), and writes ``DIR/<pid>-<n>.prof`` for each thread
plus ``DIR/<pid>.argv`` at exit. Never imported by the node; a benchmark tool only.
"""

from __future__ import annotations

import os

_DIRECTORY = os.environ.get("JADECHAIN_CPU_PROFILE")
_SKIP_PARENT = os.environ.get("JADECHAIN_CPU_PROFILE_SKIP_PARENT")

if _DIRECTORY and str(os.getppid()) != _SKIP_PARENT:
    import atexit
    import cProfile
    import sys
    import threading
    import time

    _profiles: list[cProfile.Profile] = []
    _lock = threading.Lock()

    def _start() -> None:
        profile = cProfile.Profile(time.thread_time)
        with _lock:
            _profiles.append(profile)
        profile.enable()

    def _first_call(frame: object, event: str, arg: object) -> None:
        sys.setprofile(None)
        _start()

    def _dump() -> None:
        pid = os.getpid()
        os.makedirs(_DIRECTORY, exist_ok=True)
        with open(os.path.join(_DIRECTORY, f"{pid}.argv"), "w") as handle:
            handle.write(" ".join(sys.argv))
        with _lock:
            profiles = list(_profiles)
        for number, profile in enumerate(profiles):
            try:
                profile.create_stats()
                profile.dump_stats(os.path.join(_DIRECTORY, f"{pid}-{number}.prof"))
            except Exception:  # a thread still running at exit: take what the others recorded
                continue

    threading.setprofile(_first_call)
    _start()
    atexit.register(_dump)
