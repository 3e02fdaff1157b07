"""Waits that poll for a condition instead of sleeping a fixed time.

A test never passes or fails on how fast the machine is: it waits until what it needs is true, with a
deadline generous enough for a busy machine, and the deadline's message says what never happened.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class _Poll(Generic[T]):
    """One condition being waited for: each :meth:`done` asks once and fails the test past the deadline."""

    def __init__(self, predicate: Callable[[], T], timeout: float, what: str,
                 ignoring: tuple[type[BaseException], ...]) -> None:
        self.predicate, self.timeout, self.what, self.ignoring = predicate, timeout, what, ignoring
        self.deadline = time.monotonic() + timeout
        self.value: T | None = None

    def done(self) -> bool:
        try:
            self.value = self.predicate()
            if self.value:
                return True
            last: object = self.value
        except self.ignoring as error:
            last = error
        if time.monotonic() >= self.deadline:
            raise AssertionError(f"timed out after {self.timeout} s waiting for {self.what} (last: {last!r})")
        return False


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2,
               ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """Call ``predicate`` until it returns something truthy and return that value.

    An exception of a type in ``ignoring`` counts as "not yet" (a server still starting, a proof still
    pending). After ``timeout`` seconds, fail naming ``what`` and the last value or exception seen.
    """
    poll = _Poll(predicate, timeout, what, ignoring)
    while not poll.done():
        time.sleep(interval)
    return poll.value  # type: ignore[return-value]


async def wait_until_async(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05,
                           ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """:func:`wait_until` inside an event loop (the loop keeps running between two asks)."""
    poll = _Poll(predicate, timeout, what, ignoring)
    while not poll.done():
        await asyncio.sleep(interval)
    return poll.value  # type: ignore[return-value]
