"""Both SDK clients, sync and async, against the same scripted gateways: the same requests, the same
failover, the same results and the same stable errors. The gateways are a local app behind an httpx
transport (no network); what each client does is compared call for call."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import pytest

from jadechain.sdk import (
    Account, ApiError, AsyncJadechainClient, AsyncLedgerClient, Block, Entry, Event, JadechainClient, LedgerClient,
    LedgerInfo, MalformedAnswer, Page, Proposal, StreamMessage, TransactionRecord, TxResult,
)
from jadechain.sdk.client import GatewaysUnavailable
from ledger.crypto import SHA256, generate_keypair, to_base58
from ledger.crypto.hashing import hash_digest
from ledger.crypto.address import address_from_public_key
from ledger.transactions import hash_transaction_content

LEDGER = to_base58(hash_digest(SHA256, b"a test ledger"))
BASE = f"/api/v1/ledgers/{LEDGER}"


@dataclass
class Gateways:
    """A scripted set of gateways: ``down`` hosts refuse connections; ``answers`` maps a path to a queue
    of (status, body) answers (the last one repeats); every request that reached a host is logged."""

    down: set[str] = field(default_factory=set)
    answers: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    log: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)
    stream_bodies: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.down:
            raise httpx.ConnectError("refused", request=request)
        path = request.url.path
        self.log.append((host, request.method, path, dict(request.url.params)))
        if path.endswith("/stream"):
            if not self.stream_bodies:
                raise httpx.ReadError("gone", request=request)
            return httpx.Response(200, text=self.stream_bodies.pop(0), headers={"content-type": "text/event-stream"})
        queue = self.answers.get(path)
        if not queue:
            return httpx.Response(404, json={"code": "NOT_FOUND", "message": f"no {path}"})
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body, headers={"retry-after": "0"})




def run_sync(gateways: Gateways, scenario: Callable[[Any], Any], **options: Any) -> Any:
    client = JadechainClient(["http://a", "http://b", "http://c"], backoff=0.0, **options)
    client._http = httpx.Client(transport=httpx.MockTransport(gateways.handle))
    with client:
        return scenario(client)


def run_async(gateways: Gateways, scenario: Callable[[Any], Any], **options: Any) -> Any:
    async def main() -> Any:
        client = AsyncJadechainClient(["http://a", "http://b", "http://c"], backoff=0.0, **options)
        client._http = httpx.AsyncClient(transport=httpx.MockTransport(gateways.handle))
        async with client:
            result = scenario(client)
            while inspect.isawaitable(result):
                result = await result
            return result
    return asyncio.run(main())


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def both(test: Callable[..., Any]) -> Any:
    return pytest.mark.parametrize("run", [run_sync, run_async], ids=["sync", "async"])(test)


def ledger_of(client: Any) -> Any:
    return (AsyncLedgerClient if isinstance(client, AsyncJadechainClient) else LedgerClient)(client, LEDGER)


def call(method: str, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    """A scenario calling one ledger method; for the async client the coroutine is awaited by the runner."""
    return lambda client: getattr(ledger_of(client), method)(*args, **kwargs)


TX_JSON = {"status": "SUCCESS", "height": 4, "index": 0, "gas_used": 21, "results": [{"type": "INT64", "value": 7}]}


def block_json(height: int) -> dict[str, Any]:
    """A block header as a gateway answers it."""
    return {"height": height, "hash": f"B{height}", "ledger_hash": LEDGER, "previous_hash": "B0", "tx_root": "R",
            "tx_count": 1, "state_root": "S", "accumulator_root": "A", "accumulator_size": 2, "time": 1_000,
            "proposer": "P", "epoch": 0, "certified": True}


ENTRY_JSON = {"account": "A1", "key": "k", "version": 2, "value": {"type": "TEXT", "value": "v"}, "height": 3,
              "tx_hash": "H"}
EVENT_JSON = {"account": "A1", "topic": "t", "sequence": 3, "content": {"type": "INT64", "value": 1}, "tx_hash": "H",
              "height": 3}
ACCOUNT_JSON = {"address": "A1", "kind": "DATA", "public_key": "K", "state": "NORMAL", "owners": ["O"],
                "created_height": 1, "name": "", "write_policy": "OWNERS", "organization": ""}
INFO_JSON = {"hash": LEDGER, "height": 9, "latest_block_hash": "B9", "transactions": 12, "state_root": "S",
             "accumulator_root": "A", "validators": ["V"], "settings": {
                 "hash_algorithm": "SHA256", "signature_algorithms": ["ED25519"], "consensus": {}, "max_tx_bytes": 1024,
                 "max_ops_per_tx": 8, "default_gas_limit": 100, "governance": None, "contract_engine": "wasm"}}
TX_RECORD_JSON = {**TX_JSON, "hash": "H", "accumulator_index": 5, "ledger_hash": LEDGER, "time": 1, "nonce": "00",
                  "expiry": 0, "signers": ["S1"], "operations": [{"type": "KVSet"}], "events": [EVENT_JSON]}
PROPOSAL_JSON = {"id": "p", "proposer": "S1", "organization": "A", "reason": "", "operations": "", "kinds": [],
                 "policies": [], "created_height": 1, "expiry": 5, "status": "OPEN",
                 "votes": {"A": {"approve": True, "voter": "S1", "height": 1}}, "decided_height": -1, "result": ""}


def page_json(*items: Any) -> dict[str, Any]:
    return {"total": len(items), "offset": 0, "limit": 100, "items": list(items)}


@both
def test_a_refused_connection_fails_over_to_the_next_gateway_and_stays_there(run: Any) -> None:
    gateways = Gateways(down={"a"}, answers={f"{BASE}/blocks/latest": [(200, block_json(9))]})

    def scenario(client: Any) -> Any:
        async def twice() -> Any:
            return [await _maybe(ledger_of(client).get_block()), await _maybe(ledger_of(client).get_block()),
                    client.gateways[client._current]]
        if isinstance(client, AsyncJadechainClient):
            return twice()
        return [ledger_of(client).get_block(), ledger_of(client).get_block(), client.gateways[client._current]]

    assert run(gateways, scenario) == [Block.from_json(block_json(9))] * 2 + ["http://b"]
    assert [entry[0] for entry in gateways.log] == ["b", "b"]


@both
def test_no_gateway_answering_is_gateways_unavailable(run: Any) -> None:
    gateways = Gateways(down={"a", "b", "c"})
    with pytest.raises(GatewaysUnavailable) as raised:
        run(gateways, call("get_block"), retry_timeout=0.0)
    assert (raised.value.code, raised.value.http_status) == ("GATEWAYS_UNAVAILABLE", 503)


@both
def test_a_4xx_or_a_plain_5xx_is_the_gateways_answer_without_failover(run: Any) -> None:
    gateways = Gateways(answers={
        f"{BASE}/accounts/X": [(400, {"code": "INVALID_ADDRESS", "message": "bad address"})],
        f"{BASE}/blocks/latest": [(500, "<html>boom</html>")],
    })
    with pytest.raises(ApiError) as refused:
        run(gateways, call("get_account", "X"))
    assert (refused.value.code, refused.value.message, refused.value.http_status) == ("INVALID_ADDRESS", "bad address", 400)
    assert str(refused.value) == "INVALID_ADDRESS: bad address"
    with pytest.raises(ApiError) as failed:
        run(gateways, call("get_block"))
    assert (failed.value.code, failed.value.http_status) == ("HTTP_ERROR", 500)
    assert [entry[0] for entry in gateways.log] == ["a", "a"]


@both
def test_a_busy_gateway_is_retried_until_it_answers(run: Any) -> None:
    gateways = Gateways(answers={f"{BASE}/blocks/3": [
        (503, {"code": "MEMPOOL_FULL", "message": "full"}), (429, {"code": "RATE_LIMITED", "message": "slow"}),
        (200, block_json(3)),
    ]})
    assert run(gateways, call("get_block", 3)).height == 3
    assert [entry[0] for entry in gateways.log] == ["a", "a", "a"]


@both
def test_queries_send_their_paths_and_parameters(run: Any) -> None:
    answers = {
        BASE: [(200, INFO_JSON)],
        f"{BASE}/blocks/5/txs": [(200, page_json({**TX_JSON, "tx_hash": "H"}))],
        f"{BASE}/accounts/A1": [(200, ACCOUNT_JSON)],
        f"{BASE}/accounts/A1/entry": [(200, ENTRY_JSON)],
        f"{BASE}/accounts/A1/entry/versions": [(200, page_json(ENTRY_JSON))],
        f"{BASE}/accounts/A1/events": [(200, [EVENT_JSON])],
        f"{BASE}/txs/H": [(200, TX_RECORD_JSON)],
        f"{BASE}/proposals": [(200, page_json(PROPOSAL_JSON))],
        f"{BASE}/proofs/consistency": [(200, {"bundle": 2})],
    }
    gateways = Gateways(answers=answers)
    scenarios = [
        (call("info"), LedgerInfo.from_json(INFO_JSON)),
        (call("get_block_txs", 5, offset=1, limit=2), Page(1, 0, 100, (TxResult("H", True, "SUCCESS", 4, 0, 21, (7,), ("INT64",)),))),
        (call("get_account", "A1"), Account.from_json(ACCOUNT_JSON)),
        (call("get_entry", "A1", "k"), Entry("A1", "k", 2, "v", "TEXT", 3, "H")),
        (call("get_entry", "A1", "k", 1), Entry("A1", "k", 2, "v", "TEXT", 3, "H")),
        (call("get_versions", "A1", "k", limit=5), [Entry.from_json(ENTRY_JSON)]),
        (call("get_events", "A1", "t", from_sequence=3), [Event("A1", "t", 3, 1, "INT64", "H", 3)]),
        (call("get_tx", "H"), TransactionRecord.from_json(TX_RECORD_JSON)),
        (call("proposals", "OPEN"), [Proposal.from_json(PROPOSAL_JSON)]),
        (call("consistency_proof", 2), {"bundle": 2}),
    ]
    for scenario, expected in scenarios:
        assert run(gateways, scenario) == expected
    assert [(method, path, params) for _, method, path, params in gateways.log] == [
        ("GET", BASE, {}),
        ("GET", f"{BASE}/blocks/5/txs", {"offset": "1", "limit": "2"}),
        ("GET", f"{BASE}/accounts/A1", {}),
        ("GET", f"{BASE}/accounts/A1/entry", {"key": "k"}),
        ("GET", f"{BASE}/accounts/A1/entry", {"key": "k", "version": "1"}),
        ("GET", f"{BASE}/accounts/A1/entry/versions", {"key": "k", "offset": "0", "limit": "5"}),
        ("GET", f"{BASE}/accounts/A1/events", {"topic": "t", "limit": "100", "from": "3"}),
        ("GET", f"{BASE}/txs/H", {}),
        ("GET", f"{BASE}/proposals", {"status": "OPEN", "limit": "1000"}),
        ("GET", f"{BASE}/proofs/consistency", {"old_height": "2"}),
    ]


@both
def test_a_malformed_answer_is_a_stable_error_whichever_client_reads_it(run: Any) -> None:
    gateways = Gateways(answers={
        f"{BASE}/accounts/A1/entry": [(200, {**ENTRY_JSON, "version": "2"})],
        f"{BASE}/accounts/A1/events": [(200, {"not": "a list"})],
        f"{BASE}/blocks/latest": [(200, "not json")],
        f"{BASE}/txs": [(200, {"tx_hash": "H"})],
        "/api/v1/ledgers": [(200, [{"height": 1}])],
    })
    for scenario, named in [(call("get_entry", "A1", "k"), "Entry.version"), (call("get_events", "A1", "t"), "events"),
                            (call("get_block"), "Block"), (call("submit_many", [signed_tx()]), "submit_many"),
                            (lambda client: client.ledger(), "LedgerSummary.hash")]:
        with pytest.raises(MalformedAnswer) as raised:
            run(gateways, scenario)
        assert raised.value.code == "MALFORMED_ANSWER" and named in str(raised.value)


def signed_tx() -> Any:
    ledger = LedgerClient(JadechainClient(["http://a"]), LEDGER)
    key = generate_keypair()
    return ledger.builder().kv_set(address_from_public_key(key.public), "k", "v").sign(key)


@both
def test_submit_waits_for_the_commit_and_a_duplicate_becomes_a_wait(run: Any) -> None:
    tx = signed_tx()
    tx_hash = to_base58(hash_transaction_content(tx.content))
    gateways = Gateways(answers={
        f"{BASE}/txs": [(200, {"tx_hash": tx_hash, "committed": True, "result": TX_JSON}),
                        (400, {"code": "DUPLICATE_TRANSACTION", "message": "seen"})],
        f"{BASE}/txs/{tx_hash}": [(200, TX_JSON)],
    })
    expected = TxResult(tx_hash, True, "SUCCESS", 4, 0, 21, (7,), ("INT64",))
    assert run(gateways, call("submit", tx)) == expected
    assert run(gateways, call("submit", tx, timeout=5)) == expected
    assert run(gateways, call("submit", tx, wait=False)) == TxResult(tx_hash, False)
    assert [(method, path, params) for _, method, path, params in gateways.log] == [
        ("POST", f"{BASE}/txs", {"wait": "commit", "timeout": "30.0"}),
        ("POST", f"{BASE}/txs", {"wait": "commit", "timeout": "5"}),
        ("GET", f"{BASE}/txs/{tx_hash}", {"wait": "commit", "timeout": "5"}),
        ("POST", f"{BASE}/txs", {}),
    ]


@both
def test_wait_tx_timing_out_is_not_committed_and_other_errors_raise(run: Any) -> None:
    gateways = Gateways(answers={f"{BASE}/txs/BAD": [(400, {"code": "MALFORMED_HASH", "message": "no"})]})
    assert run(gateways, call("wait_tx", "H", 2)) == TxResult("H", False)
    with pytest.raises(ApiError) as raised:
        run(gateways, call("wait_tx", "BAD"))
    assert raised.value.code == "MALFORMED_HASH"


@both
def test_submit_many_answers_one_result_or_error_per_transaction(run: Any) -> None:
    tx = signed_tx()
    gateways = Gateways(answers={f"{BASE}/txs": [(200, [
        {"tx_hash": "H1", "committed": True, "result": TX_JSON},
        {"error": {"code": "BAD_SIGNATURE", "message": "forged"}},
    ])]})
    first, second = run(gateways, call("submit_many", [tx, tx], timeout=7))
    assert first == TxResult("H1", True, "SUCCESS", 4, 0, 21, (7,), ("INT64",))
    assert isinstance(second, ApiError) and (second.code, second.http_status) == ("BAD_SIGNATURE", 400)
    assert gateways.log[0][3] == {"wait": "commit", "timeout": "7"}


@both
def test_proofs_wait_while_pending_then_answer_and_give_up_at_the_deadline(run: Any) -> None:
    pending = (409, {"code": "PROOF_PENDING", "message": "not certified yet"})
    gateways = Gateways(answers={
        f"{BASE}/accounts/A1/entry": [pending, pending, (200, {"bundle": 1})],
        f"{BASE}/txs/H": [pending],
        f"{BASE}/accounts/A1/events/4": [(200, {"bundle": 3})],
    })
    assert run(gateways, call("entry_proof", "A1", "k")) == {"bundle": 1}
    assert [params for *_, params in gateways.log] == [{"key": "k", "proof": "true"}] * 3
    with pytest.raises(ApiError) as raised:
        run(gateways, call("tx_proof", "H", wait=0.0))
    assert raised.value.code == "PROOF_PENDING"
    assert run(gateways, call("event_proof", "A1", "t", 4)) == {"bundle": 3}
    assert gateways.log[-1][3] == {"topic": "t", "proof": "true"}


@both
def test_call_runs_read_only_and_answers_a_call_result(run: Any) -> None:
    gateways = Gateways(answers={f"{BASE}/call": [(200, {
        "status": "SUCCESS", "value": {"type": "BYTES", "value": "ff00"}, "gas_used": 3, "height": 8})]})
    result = run(gateways, call("call", "C1", "get", ["x"], signer=generate_keypair()))
    assert (result.ok, result.value, result.gas_used, result.height) == (True, b"\xff\x00", 3, 8)


SSE = 'id: 1:0\nevent: block\ndata: {"height": 1}\n\n: keep-alive\n\nid: 1:1\nevent: tx\ndata: {"a":\ndata: 2}\n\n'
SSE_MORE = 'id: 2:0\nevent: block\ndata: {"height": 2}\n\n'


@both
def test_the_stream_parses_messages_and_resumes_from_the_last_id_on_another_gateway(run: Any) -> None:
    gateways = Gateways(stream_bodies=[SSE, SSE_MORE])

    def scenario(client: Any) -> Any:
        stream = ledger_of(client).subscribe(from_height=1, kinds=("block", "tx"))
        if isinstance(client, AsyncJadechainClient):
            async def take() -> list[StreamMessage]:
                got = []
                async for message in stream:
                    got.append(message)
                    if len(got) == 3:
                        return got
                return got
            return take()
        got = []
        for message in stream:
            got.append(message)
            if len(got) == 3:
                return got
        return got

    got = run(gateways, scenario)
    assert got == [StreamMessage("1:0", "block", {"height": 1}), StreamMessage("1:1", "tx", {"a": 2}),
                   StreamMessage("2:0", "block", {"height": 2})]
    assert got[2].height == 2
    first, second = gateways.log[0], gateways.log[1]
    assert first[3] == {"kinds": "block,tx", "from_height": "1"}
    assert second[3] == {"kinds": "block,tx"}


@both
def test_a_stream_refused_by_the_gateway_raises_its_error(run: Any) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"code": "PERMISSION_DENIED", "message": "no"})
    gateways = Gateways()
    gateways.handle = refused  # type: ignore[method-assign]

    def scenario(client: Any) -> Any:
        stream = ledger_of(client).subscribe()
        if isinstance(client, AsyncJadechainClient):
            return stream.__anext__()
        return next(stream)

    with pytest.raises(ApiError) as raised:
        run(gateways, scenario)
    assert raised.value.code == "PERMISSION_DENIED"


@both
def test_ledger_picks_the_only_ledger_or_asks_for_one(run: Any) -> None:
    gateways = Gateways(answers={"/api/v1/ledgers": [(200, [{"hash": LEDGER, "height": 1}])]})

    def scenario(client: Any) -> Any:
        return client.ledger()
    ledger = run(gateways, scenario)
    assert ledger.ledger_hash == LEDGER and ledger.base == BASE
    gateways.answers["/api/v1/ledgers"] = [(200, [{"hash": LEDGER, "height": 1}, {"hash": "other", "height": 0}])]
    with pytest.raises(ValueError, match="hosts 2 ledgers"):
        run(gateways, scenario)


SYNC_ONLY_CLIENT = {"close"}  # the async client closes with ``aclose`` (httpx's names)
ASYNC_ONLY_CLIENT = {"aclose"}
SYNC_ONLY_LEDGER: set[str] = set()  # private records too are plans: both clients offer them


def public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


@pytest.mark.parametrize("sync_class, async_class, sync_only, async_only", [
    (JadechainClient, AsyncJadechainClient, SYNC_ONLY_CLIENT, ASYNC_ONLY_CLIENT),
    (LedgerClient, AsyncLedgerClient, SYNC_ONLY_LEDGER, set()),
])
def test_both_clients_offer_the_same_methods_with_the_same_parameters(
        sync_class: type, async_class: type, sync_only: set[str], async_only: set[str]) -> None:
    assert public_names(sync_class) - sync_only == public_names(async_class) - async_only
    assert sync_only <= public_names(sync_class) and async_only <= public_names(async_class)
    for name in sorted(public_names(sync_class) - sync_only):
        sync_member, async_member = getattr(sync_class, name), getattr(async_class, name)
        if not callable(sync_member) or isinstance(sync_member, type):
            continue
        assert inspect.signature(sync_member).parameters.keys() == inspect.signature(async_member).parameters.keys(), name
        is_io = inspect.iscoroutinefunction(async_member) or inspect.isasyncgenfunction(async_member)
        assert is_io != (name in {"builder", "verify", "verify_disclosure"}), name


USER_CODE = """
from jadechain.sdk import AsyncJadechainClient, JadechainClient, TxResult

def sync_user(client: JadechainClient, tx_hash: str) -> int:
    ledger = client.ledger()
    version: int = ledger.get_entry("account", "key").version
    result: TxResult = ledger.wait_tx(tx_hash, timeout=5.0)
    return len(ledger.get_versions("account", "key", limit=3)) + (result.height or 0) + version

async def async_user(client: AsyncJadechainClient, tx_hash: str) -> int:
    ledger = await client.ledger()
    result: TxResult = await ledger.wait_tx(tx_hash, timeout=5.0)
    return len(await ledger.get_versions("account", "key", limit=3)) + (result.height or 0)
"""


def test_a_users_code_type_checks_against_both_clients_and_misuse_is_caught() -> None:
    repo = Path(__file__).resolve().parents[4]

    def mypy(code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "-c", code],
                              cwd=repo, capture_output=True, text=True, timeout=300)

    checked = mypy(USER_CODE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    forgot_await = mypy(USER_CODE.replace("return len(await ledger", "return len(ledger"))
    assert forgot_await.returncode == 1 and "Awaitable" in forgot_await.stdout, forgot_await.stdout
    wrong_argument = mypy(USER_CODE.replace('ledger.wait_tx(tx_hash, timeout=5.0)\n    return len(ledger',
                                            'ledger.wait_tx(tx_hash, wait=5.0)\n    return len(ledger'))
    assert wrong_argument.returncode == 1, wrong_argument.stdout
    assert '<string>:7: error: Unexpected keyword argument "wait"' in wrong_argument.stdout  # the sync wait_tx
    as_a_dict = mypy(USER_CODE.replace('.get_entry("account", "key").version', '.get_entry("account", "key")["version"]'))
    assert as_a_dict.returncode == 1 and 'Value of type "Entry" is not indexable' in as_a_dict.stdout, as_a_dict.stdout


@both
def test_a_stream_without_reconnect_ends_with_gateways_unavailable(run: Any) -> None:
    gateways = Gateways()  # no stream body: the connection breaks at once

    def scenario(client: Any) -> Any:
        stream = ledger_of(client).subscribe(reconnect=False)
        return stream.__anext__() if isinstance(client, AsyncJadechainClient) else next(stream)

    with pytest.raises(GatewaysUnavailable, match="stream interrupted"):
        run(gateways, scenario)


def test_the_core_decides_the_gateway_order_and_back_off_without_any_io() -> None:
    """The failover plan is driven by hand: it names each gateway in turn, backs off after a full round,
    and the first answer it gets is its result. No client, no socket."""
    from jadechain.sdk._core import BaseClient, Send, Sleep

    core = BaseClient(["http://a/", "http://b"], timeout=3.0, backoff=0.5)
    plan = core._plan_request("GET", "/health")
    refused = httpx.ConnectError("refused")
    steps = [next(plan)]
    steps.append(plan.throw(refused))
    steps.append(plan.throw(refused))
    steps.append(plan.send(None))
    assert steps == [Send("GET", "http://a/health", 3.0, {}), Send("GET", "http://b/health", 3.0, {}),
                     Sleep(0.5), Send("GET", "http://a/health", 3.0, {})]
    with pytest.raises(StopIteration) as done:
        plan.send(httpx.Response(200, json={"status": "ok"}))
    assert done.value.value == {"status": "ok"}


@both
def test_private_records_read_and_write_through_either_client(run: Any) -> None:
    """The private-record operations are plans like every other: the async client reads a sealed record
    (and its grant side entry) and writes one with the same requests as the sync client."""
    from ledger.private import GradeSpec, encode_private_record, grants_key, seal_record

    reader, owner = generate_keypair(), generate_keypair()
    record = seal_record(account="A1", key="visit", hash_algorithm=SHA256, grades=[
        GradeSpec("partner", {"diagnosis": "J45"}, [reader.public, owner.public]),
        GradeSpec("owner", {"notes": "private"}, [owner.public])])
    sealed = {**ENTRY_JSON, "key": "visit", "version": 4,
              "value": {"type": "BYTES", "value": encode_private_record(record).hex()}}
    gateways = Gateways(answers={f"{BASE}/accounts/A1/entry": [(200, sealed)]})
    view = run(gateways, call("get_private", "A1", "visit", reader))
    assert (view.version, view.grades, view.sealed) == (4, {"partner": {"diagnosis": "J45"}}, ["owner"])
    assert [params["key"] for *_, params in gateways.log] == ["visit", grants_key("visit", 4)]  # no grants: 404

    gateways.answers[f"{BASE}/txs"] = [(200, {"tx_hash": "W", "committed": True, "result": {**TX_JSON, "results": []}})]
    written = run(gateways, call("put_private", "A1", "visit", [GradeSpec("partner", {"diagnosis": "J46"}, [])], owner))
    assert (written.tx_hash, written.status) == ("W", "SUCCESS")
    assert [(method, params.get("key")) for _, method, _, params in gateways.log[2:]] == [("GET", "visit"), ("POST", None)]


@both
def test_a_custody_reader_opens_its_envelopes_as_plan_steps(run: Any) -> None:
    """A reader whose key is in custody: each envelope goes to the control plane as a step of the plan (so the
    async client awaits it instead of blocking its loop); its refusal is the control plane's stable error."""
    import json as json_module

    from ledger.crypto.envelope import unwrap_key
    from ledger.private import GradeSpec, encode_private_record, seal_record
    from jadechain.sdk.private import CustodyReader

    held, other = generate_keypair(), generate_keypair()
    record = seal_record(account="A1", key="visit", hash_algorithm=SHA256, grades=[
        GradeSpec("partner", {"diagnosis": "J45"}, [held.public]), GradeSpec("owner", {"notes": "x"}, [other.public])])
    gateways = Gateways(answers={f"{BASE}/accounts/A1/entry": [(200, {
        **ENTRY_JSON, "key": "visit", "value": {"type": "BYTES", "value": encode_private_record(record).hex()}})]})
    unwrapped: list[dict[str, Any]] = []
    refuse = False

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host != "custody":
            return Gateways.handle(gateways, request)
        body = json_module.loads(request.content)
        unwrapped.append({"path": request.url.path, "auth": request.headers["authorization"], **body})
        if refuse:
            return httpx.Response(403, json={"code": "FORBIDDEN", "message": "not your organisation"})
        return httpx.Response(200, json={"data_key_hex": unwrap_key(held.private, bytes.fromhex(body["wrapped_key_hex"])).hex()})
    gateways.handle = handle  # type: ignore[method-assign]

    reader = CustodyReader("http://custody/", "T0KEN", 1, 2, held.public, context="audit me")
    try:
        view = run(gateways, call("get_private", "A1", "visit", reader))
        assert (view.grades, view.sealed) == ({"partner": {"diagnosis": "J45"}}, ["owner"])
        assert [(u["path"], u["auth"], u["context"]) for u in unwrapped] == [
            ("/api/v1/organizations/1/keys/2/unwrap", "Bearer T0KEN", "audit me")]
        refuse = True
        with pytest.raises(ApiError) as refused:
            run(gateways, call("get_private", "A1", "visit", reader))
        assert refused.value.code == "FORBIDDEN"
    finally:
        reader.close()
