"""The synchronous SDK client (httpx). See :mod:`jadechain.sdk` for an overview.

Everything but the I/O lives in :mod:`jadechain.sdk._core`: this module only runs its plans with a
blocking ``httpx.Client`` and ``time.sleep``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import httpx

from jadechain.sdk._core import (
    STREAM_ERRORS, Blocking, BaseClient, Deliver, Plan, ReadLine, Sleep, Stepper, operations,
)
from jadechain.sdk._models import (
    ApiError, CallResult, GatewaysUnavailable, StreamMessage, TxResult, call_transaction,
    proposal_key_of, verify_pinned,
)
from jadechain.sdk.private import PrivateRecordsLedger

__all__ = [
    "ApiError", "CallResult", "GatewaysUnavailable", "JadechainClient", "LedgerClient", "StreamMessage", "TxResult",
    "call_transaction", "proposal_key_of", "verify_pinned",
]


def _blocking(plan_function: Callable[..., Plan[Any]]) -> Callable[..., Any]:
    def operation(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self._io._run(plan_function(self, *args, **kwargs))
    return operation


@operations(_blocking)
@dataclass
class JadechainClient(BaseClient["LedgerClient"], Blocking):
    """A client of one or several gateways (base URLs), failing over on connection errors."""

    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._http = httpx.Client(timeout=self.timeout)

    def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """Send a request with failover; return the decoded JSON, or raise :class:`ApiError`."""
        return self._run(self._plan_request(method, path, timeout=timeout, **kwargs))

    def _run(self, plan: Plan[Any]) -> Any:
        stepper = Stepper(plan)
        for message in self._drive(stepper):
            raise TypeError(f"a request plan delivered {message!r}")
        return stepper.result

    def _follow(self, plan: Plan[None]) -> Iterator[StreamMessage]:
        return self._drive(Stepper(plan))

    def _drive(self, stepper: Stepper) -> Iterator[StreamMessage]:
        """Do each step of a plan with blocking I/O, yielding the messages it delivers."""
        with contextlib.ExitStack() as streams:
            lines: Iterator[str] = iter(())
            while (step := stepper.advance()) is not None:
                try:
                    if isinstance(step, Deliver):
                        yield step.message
                    elif isinstance(step, Sleep):
                        time.sleep(step.seconds)
                    elif isinstance(step, ReadLine):
                        stepper.reply = next(lines, None)
                    elif not step.stream:
                        stepper.reply = self._http.request(step.method, step.url, timeout=step.timeout, **step.options)
                    else:
                        streams.close()
                        response = stepper.reply = streams.enter_context(
                            self._http.stream(step.method, step.url, timeout=step.timeout, **step.options))
                        if response.status_code != 200:
                            response.read()
                        lines = response.iter_lines()
                except STREAM_ERRORS as error:
                    stepper.error = error

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "JadechainClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@operations(_blocking)
@dataclass
class LedgerClient(PrivateRecordsLedger, Blocking):
    """Operations on one ledger through a :class:`JadechainClient`."""

    client: JadechainClient

    def subscribe(
        self, from_height: int | None = None, *, last_event_id: str | None = None,
        kinds: Sequence[str] = ("block", "tx", "event"), reconnect: bool = True,
    ) -> Iterator[StreamMessage]:
        """Iterate the SSE stream; after a disconnect, resume from the last id seen (exactly once).

        With ``reconnect`` the iterator survives gateway restarts and fails over to other gateways.
        """
        return self.client._follow(self._plan_subscribe(from_height, last_event_id, kinds, reconnect))


JadechainClient._LEDGER_CLASS = LedgerClient
