"""The asyncio variant of the SDK client (same failover, same results), for async applications.

Everything but the I/O lives in :mod:`jadechain.sdk._core`: this module only runs its plans with an
``httpx.AsyncClient`` and ``asyncio.sleep``. Names differ from the sync client only where I/O does:
``aclose`` / ``async with``. The private-record operations of :mod:`jadechain.sdk.private` are plans too, so
they are offered here as well (``await ledger.get_private(...)``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Sequence

import httpx

from jadechain.sdk._core import (
    STREAM_ERRORS, Awaiting, BaseClient, Deliver, Plan, ReadLine, Sleep, Stepper, operations,
)
from jadechain.sdk._models import StreamMessage
from jadechain.sdk.private import PrivateRecordsLedger

__all__ = ["AsyncJadechainClient", "AsyncLedgerClient"]


def _awaited(plan_function: Callable[..., Plan[Any]]) -> Callable[..., Any]:
    async def operation(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._io._run(plan_function(self, *args, **kwargs))
    return operation


@operations(_awaited)
@dataclass
class AsyncJadechainClient(BaseClient["AsyncLedgerClient"], Awaiting):
    """``async with AsyncJadechainClient([url, ...]) as client: ledger = await client.ledger()``."""

    _http: httpx.AsyncClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._http = httpx.AsyncClient(timeout=self.timeout)

    async def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """Send a request with failover; return the decoded JSON, or raise ``ApiError``."""
        return await self._run(self._plan_request(method, path, timeout=timeout, **kwargs))

    async def _run(self, plan: Plan[Any]) -> Any:
        stepper = Stepper(plan)
        async for message in self._drive(stepper):
            raise TypeError(f"a request plan delivered {message!r}")
        return stepper.result

    def _follow(self, plan: Plan[None]) -> AsyncIterator[StreamMessage]:
        return self._drive(Stepper(plan))

    async def _drive(self, stepper: Stepper) -> AsyncIterator[StreamMessage]:
        """Do each step of a plan with asyncio I/O, yielding the messages it delivers."""
        async with contextlib.AsyncExitStack() as streams:
            lines: AsyncIterator[str] | None = None  # a plan reads lines only after opening a stream
            while (step := stepper.advance()) is not None:
                try:
                    if isinstance(step, Deliver):
                        yield step.message
                    elif isinstance(step, Sleep):
                        await asyncio.sleep(step.seconds)
                    elif isinstance(step, ReadLine):
                        stepper.reply = None if lines is None else await anext(lines, None)
                    elif not step.stream:
                        stepper.reply = await self._http.request(
                            step.method, step.url, timeout=step.timeout, **step.options)
                    else:
                        await streams.aclose()
                        response = stepper.reply = await streams.enter_async_context(
                            self._http.stream(step.method, step.url, timeout=step.timeout, **step.options))
                        if response.status_code != 200:
                            await response.aread()
                        lines = response.aiter_lines()
                except STREAM_ERRORS as error:
                    stepper.error = error

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncJadechainClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@operations(_awaited)
@dataclass
class AsyncLedgerClient(PrivateRecordsLedger, Awaiting):
    """Operations on one ledger through an :class:`AsyncJadechainClient` (the same as ``LedgerClient``'s)."""

    client: AsyncJadechainClient

    async def subscribe(
        self, from_height: int | None = None, *, last_event_id: str | None = None,
        kinds: Sequence[str] = ("block", "tx", "event"), reconnect: bool = True,
    ) -> AsyncIterator[StreamMessage]:
        """Follow the SSE stream; after a disconnect, resume from the last id seen (exactly once).

        With ``reconnect`` the iterator survives gateway restarts and fails over to other gateways.
        """
        async for message in self.client._follow(self._plan_subscribe(from_height, last_event_id, kinds, reconnect)):
            yield message


AsyncJadechainClient._LEDGER_CLASS = AsyncLedgerClient
