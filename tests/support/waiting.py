"""Waits that poll for a condition instead of sleeping a fixed time.

A test never passes or fails on how fast the machine is: it waits until what it needs is true, with a
deadline generous enough for a busy machine, and the deadline's message says what never happened.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2,
               ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """Call ``predicate`` until it returns something truthy and return that value.

    An exception of a type in ``ignoring`` counts as "not yet" (a server still starting, a proof still
    pending). After ``timeout`` seconds, fail naming ``what`` and the last value or exception seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            last: object = predicate()
            if last:
                return last  # type: ignore[return-value]
        except ignoring as error:
            last = error
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], T | Awaitable[T]], timeout: float, what: str,
                           interval: float = 0.05, ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """:func:`wait_until` inside an event loop: ``predicate`` may be a plain or an async callable."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            last: object = predicate()
            if asyncio.iscoroutine(last):
                last = await last
            if last:
                return last  # type: ignore[return-value]
        except ignoring as error:
            last = error
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)
