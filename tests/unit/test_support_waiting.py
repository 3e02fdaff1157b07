"""The shared wait of the test suites: returns the first truthy answer, fails naming what never came."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.support.waiting import wait_until, wait_until_async


def test_returns_the_first_truthy_answer() -> None:
    asks = itertools.count()
    assert wait_until(lambda: next(asks) >= 3 and "ready", 30, "the third ask", interval=0) == "ready"
    assert next(asks) == 4  # asked exactly four times


def test_fails_naming_what_never_happened_and_the_last_answer() -> None:
    with pytest.raises(AssertionError, match=r"waiting for the moon \(last: \[\]\)"):
        wait_until(lambda: [], 0, "the moon", interval=0)


def test_an_ignored_exception_means_not_yet_and_any_other_fails_at_once() -> None:
    asks = itertools.count()

    def server() -> int:
        if next(asks) < 3:
            raise ConnectionError("still starting")
        return 200

    assert wait_until(server, 30, "the server", interval=0, ignoring=(ConnectionError,)) == 200
    with pytest.raises(ConnectionError):
        wait_until(lambda: (_ for _ in ()).throw(ConnectionError("down")), 30, "the server", interval=0)
    with pytest.raises(AssertionError, match="ConnectionError"):
        wait_until(lambda: (_ for _ in ()).throw(ConnectionError("down")), 0, "x", interval=0,
                   ignoring=(ConnectionError,))


def test_the_async_wait_lets_the_loop_run_between_asks() -> None:
    async def scenario() -> int:
        ticks: list[int] = []

        async def ticker() -> None:
            for tick in range(5):
                ticks.append(tick)
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        found = await wait_until_async(lambda: len(ticks), 30, "a tick", interval=0)
        await task
        return found

    assert asyncio.run(scenario()) >= 1
