"""The SDK's typed results: each ``from_json`` reads what the gateway really answers (its own conversions, run on
an in-memory ledger), refuses a malformed answer with the stable MALFORMED_ANSWER error naming the field (never a
KeyError or TypeError), and ``to_json`` gives the gateway's form back (a Hypothesis round trip)."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from hypothesis import given, strategies as st

import jadechain
from jadechain.sdk import (
    Account, Block, CallResult, Entry, Event, LedgerInfo, LedgerSummary, MalformedAnswer, Page, Proposal, StreamMessage,
    TransactionRecord, TxResult,
)
from ledger.crypto import address_from_public_key, to_base58
from ledger.governance import proposal_view
from node.gateway.routers.blocks import block_by_height, block_transactions
from node.gateway.routers.ledgers import account, entry, entry_versions, events, ledger_info
from node.gateway.schemas import tx_public
from node.gateway.sse import block_messages
from tests.unit.ledger.ledger_testkit import Chain, make_chain, seeded_keypair


def as_json(model: Any) -> Any:
    """A gateway answer as it travels: pydantic output, dumped to JSON text and read back."""
    if isinstance(model, list):
        return [as_json(item) for item in model]
    dumped = model.model_dump(mode="json") if hasattr(model, "model_dump") else model
    return json.loads(json.dumps(dumped))


@pytest.fixture(scope="module")
def chain() -> Chain:
    chain = make_chain(1)
    chain.data = chain.new_data_account("models-data")  # type: ignore[attr-defined]
    pair = seeded_keypair("models-events")
    chain.events = address_from_public_key(pair.public)  # type: ignore[attr-defined]
    values: list[object] = ["text", 42, b"\x00\xffbytes", {"lot": "L1", "n": [1, 2]}, True]
    result = chain.commit(
        chain.tx(lambda b: b.register_event_account(pair.public.encoded)),
        *[chain.tx(lambda b, i=i, v=v: b.kv_set(chain.data, f"k{i}", v)) for i, v in enumerate(values)],  # type: ignore[attr-defined]
        chain.tx(lambda b: b.kv_set(chain.data, "k0", "text v1", 0)),  # type: ignore[attr-defined]
    )
    assert {info.status for info in result.tx_infos} == {"SUCCESS"}, result.tx_infos
    published = chain.commit(chain.tx(lambda b: b.publish(chain.events, "shipment", {"step": 1})))  # type: ignore[attr-defined]
    assert published.tx_infos[0].status == "SUCCESS"
    chain.values = values  # type: ignore[attr-defined]
    return chain


def runtime(chain: Chain) -> Any:
    return SimpleNamespace(ledger=chain.ledger)


# --- good answers: what the gateway's own conversions produce ------------------------------------------------

def test_an_entry_reads_its_plain_value_of_every_type(chain: Chain) -> None:
    expected_types = ["TEXT", "INT64", "BYTES", "JSON", "BOOLEAN"]
    for i, (value, type_name) in enumerate(zip(chain.values, expected_types)):  # type: ignore[attr-defined]
        answer = as_json(entry(runtime(chain), chain.data, f"k{i}", 0 if i == 0 else None))  # type: ignore[attr-defined]
        read = Entry.from_json(answer)
        record = chain.ledger.get_entry(chain.data, f"k{i}", 0)  # type: ignore[attr-defined]
        assert (read.account, read.key, read.version, read.value, read.value_type) == (
            chain.data, f"k{i}", 0, value, type_name)  # type: ignore[attr-defined]
        assert (read.height, read.tx_hash) == (record.height, to_base58(record.tx_hash))
        assert read.raw == answer and read.to_json() == answer
    assert isinstance(Entry.from_json(as_json(entry(runtime(chain), chain.data, "k2"))).value, bytes)  # type: ignore[attr-defined]


def test_an_entrys_versions_page_reads_as_entries(chain: Chain) -> None:
    answer = as_json(entry_versions(runtime(chain), chain.data, "k0"))  # type: ignore[attr-defined]
    page = Page.from_json(answer, Entry.from_json)
    assert (page.total, page.offset, len(page)) == (2, 0, 2)
    assert [(e.version, e.value) for e in page] == [(0, "text"), (1, "text v1")]


def test_a_block_and_its_transaction_page(chain: Chain) -> None:
    height = chain.ledger.height - 1
    block = Block.from_json(as_json(block_by_height(runtime(chain), height)))
    header = chain.ledger.get_header(height)
    assert (block.height, block.tx_count, block.time, block.epoch) == (height, 7, header.time, header.epoch)
    assert block.hash == to_base58(chain.ledger.hash_header(header)) and block.certified is False
    page = Page.from_json(as_json(block_transactions(runtime(chain), height, 1, 2)), TxResult.from_result_json)
    assert (page.total, page.offset, page.limit, len(page.items)) == (7, 1, 2, 2)
    assert all(item.committed and item.status == "SUCCESS" and item.height == height for item in page)
    assert [item.index for item in page] == [1, 2]


def test_a_transaction_record_has_its_operations_signers_and_events(chain: Chain) -> None:
    height = chain.ledger.height
    tx_hash = chain.ledger.get_block_tx_hashes(height)[0]
    stored = chain.ledger.get_transaction(tx_hash)
    answer = as_json(tx_public(stored.transaction, stored.info, stored.accumulator_index,
                               chain.ledger.get_tx_events(tx_hash)))
    record = TransactionRecord.from_json(answer)
    assert (record.tx_hash, record.status, record.ok, record.height) == (to_base58(tx_hash), "SUCCESS", True, height)
    assert record.signers == (address_from_public_key(chain.admin.public),)
    assert record.operations[0]["type"] == "PublishEvents"
    assert [(e.topic, e.sequence, e.content, e.content_type) for e in record.events] == [
        ("shipment", 0, {"step": 1}, "JSON")]
    assert record.to_json() == answer


def test_events_accounts_and_ledger_info(chain: Chain) -> None:
    found = [Event.from_json(e) for e in as_json(events(runtime(chain), chain.events, "shipment", 0, 10))]  # type: ignore[attr-defined]
    assert [(e.account, e.topic, e.sequence, e.content) for e in found] == [
        (chain.events, "shipment", 0, {"step": 1})]  # type: ignore[attr-defined]
    data = Account.from_json(as_json(account(runtime(chain), chain.data)))  # type: ignore[attr-defined]
    assert (data.address, data.kind, data.state) == (chain.data, "DATA", "NORMAL")  # type: ignore[attr-defined]
    info = LedgerInfo.from_json(as_json(ledger_info(runtime(chain))))
    assert (info.hash, info.height) == (to_base58(chain.ledger.ledger_hash), chain.ledger.height)
    assert info.settings.hash_algorithm == "SHA256" and info.settings.max_tx_bytes > 0
    assert info.validators == tuple(to_base58(k) for k in chain.ledger.validator_set().public_keys)
    assert info.to_json() == as_json(ledger_info(runtime(chain)))


PROPOSAL_RECORD = {  # as the executor writes it (ledger/executor.py), read as proposal_view shows it
    "id": "ab" * 32, "proposer": "Alice", "organization": "A", "reason": "auditors", "operations": "9100",
    "kinds": ["ConfigureRole"], "policies": ["two_thirds"], "created_height": 7, "expiry": 2_000, "status": "OPEN",
    "votes": {"A": {"approve": True, "voter": "Alice", "height": 7}, "B": {"approve": False, "voter": "Bob", "height": 8}},
    "decided_height": -1, "result": "",
}


def test_a_proposal_reads_its_votes_and_an_expired_one_says_so() -> None:
    proposal = Proposal.from_json(proposal_view(PROPOSAL_RECORD, 1_000))
    assert (proposal.status, proposal.organization, proposal.kinds) == ("OPEN", "A", ("ConfigureRole",))
    assert proposal.votes["A"].approve and not proposal.votes["B"].approve and proposal.votes["B"].height == 8
    assert Proposal.from_json(proposal_view(PROPOSAL_RECORD, 3_000)).status == "EXPIRED"
    assert proposal.to_json() == PROPOSAL_RECORD


def test_a_call_result_and_a_submit_answer() -> None:
    call = CallResult.from_json({"status": "SUCCESS", "value": {"type": "BYTES", "value": "00ff"}, "gas_used": 3,
                                 "height": 9, "message": None, "events": [
                                     {"account": "C", "topic": "t", "sequence": 0, "content": {"type": "NIL", "value": None},
                                      "tx_hash": "H", "height": 10}]})
    assert (call.ok, call.value, call.events[0].topic) == (True, b"\x00\xff", "t")
    pending = TxResult.from_json({"tx_hash": "H", "accepted": True, "committed": False, "result": None})
    assert (pending.tx_hash, pending.committed, pending.status) == ("H", False, None)


def test_the_types_are_exported_flat() -> None:
    for name in ("Account", "Block", "Entry", "Event", "LedgerInfo", "MalformedAnswer", "Page", "Proposal",
                 "TransactionRecord"):
        assert getattr(jadechain, name) is getattr(jadechain.sdk, name)
    assert issubclass(MalformedAnswer, jadechain.ApiError)


# --- malformed answers: one stable error naming the field -----------------------------------------------------

def good_answers(chain: Chain) -> dict[str, tuple[Callable[[Any], Any], Any]]:
    height = chain.ledger.height
    tx_hash = chain.ledger.get_block_tx_hashes(height)[0]
    stored = chain.ledger.get_transaction(tx_hash)
    return {
        "Entry": (Entry.from_json, as_json(entry(runtime(chain), chain.data, "k3"))),  # type: ignore[attr-defined]
        "Block": (Block.from_json, as_json(block_by_height(runtime(chain), height))),
        "TransactionRecord": (TransactionRecord.from_json, as_json(tx_public(
            stored.transaction, stored.info, stored.accumulator_index, chain.ledger.get_tx_events(tx_hash)))),
        "Account": (Account.from_json, as_json(account(runtime(chain), chain.data))),  # type: ignore[attr-defined]
        "Event": (Event.from_json, as_json(events(runtime(chain), chain.events, "shipment", 0, 1))[0]),  # type: ignore[attr-defined]
        "LedgerInfo": (LedgerInfo.from_json, as_json(ledger_info(runtime(chain)))),
        "Proposal": (Proposal.from_json, copy.deepcopy(PROPOSAL_RECORD)),
        "Page": (lambda data: Page.from_json(data, Entry.from_json),
                 as_json(entry_versions(runtime(chain), chain.data, "k0"))),  # type: ignore[attr-defined]
    }


def breakages(answer: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every top-level field dropped, set to null and set to a value of the wrong kind."""
    broken = []
    for name, value in answer.items():
        wrong: object = "text" if not isinstance(value, str) else 12
        for label, replacement in (("missing", None), ("null", None), ("wrong", wrong)):
            changed = copy.deepcopy(answer)
            if label == "missing":
                del changed[name]
            else:
                changed[name] = replacement
            broken.append((f"{name} {label}", changed))
    return broken


OPTIONAL = {  # fields a reader tolerates when absent or null (older gateways, or nothing to say)
    "Entry": set(), "Block": set(), "Account": {"organization"}, "Event": set(),
    "TransactionRecord": {"results"}, "LedgerInfo": set(), "Page": set(),
    "Proposal": {"reason", "kinds", "policies", "result"},
    "LedgerSettingsInfo": {"consensus", "governance", "contract_engine"},
}


@pytest.mark.parametrize("model", ["Entry", "Block", "TransactionRecord", "Account", "Event", "LedgerInfo",
                                   "Proposal", "Page"])
def test_every_broken_field_is_malformed_answer_naming_it(chain: Chain, model: str) -> None:
    read, answer = good_answers(chain)[model]
    read(copy.deepcopy(answer))  # the good answer reads
    for label, broken in breakages(answer):
        name, how = label.split(" ")
        if how in ("missing", "null") and name in OPTIONAL[model]:
            read(broken)
            continue
        with pytest.raises(MalformedAnswer) as raised:
            read(broken)
        assert raised.value.code == "MALFORMED_ANSWER" and raised.value.http_status == 502
        assert name in str(raised.value), (label, str(raised.value))


@pytest.mark.parametrize("answer", [None, [], "text", 7, True])
@pytest.mark.parametrize("read", [Entry.from_json, Block.from_json, TransactionRecord.from_json, Account.from_json,
                                  Event.from_json, LedgerInfo.from_json, Proposal.from_json, TxResult.from_json,
                                  CallResult.from_json])
def test_an_answer_that_is_not_an_object_is_malformed(read: Callable[[Any], Any], answer: Any) -> None:
    with pytest.raises(MalformedAnswer, match="expected a JSON object"):
        read(answer)


@pytest.mark.parametrize("value, message", [
    ({"type": "BYTES", "value": "zz"}, "not hex"),
    ({"type": "BYTES", "value": 12}, "value"),
    ({"type": "FLOAT", "value": 1.5}, "unknown value type"),
    ({"type": "INT64", "value": "12"}, "a INT64 value"),
    ({"type": "INT64", "value": True}, "a INT64 value"),
    ({"type": "TEXT", "value": 12}, "a TEXT value"),
    ({"type": "BOOLEAN", "value": 1}, "a BOOLEAN value"),
    ({"value": "x"}, "type"),
    ("x", "expected a JSON object"),
])
def test_a_malformed_stored_value_is_named(chain: Chain, value: Any, message: str) -> None:
    answer = as_json(entry(runtime(chain), chain.data, "k1"))  # type: ignore[attr-defined]
    with pytest.raises(MalformedAnswer, match=message) as raised:
        Entry.from_json({**answer, "value": value})
    assert "Entry.value" in str(raised.value)


def test_nested_breakage_names_the_nested_field(chain: Chain) -> None:
    _, info = good_answers(chain)["LedgerInfo"]
    broken = copy.deepcopy(info)
    broken["settings"]["max_tx_bytes"] = "big"
    with pytest.raises(MalformedAnswer, match=r"LedgerSettingsInfo\.max_tx_bytes"):
        LedgerInfo.from_json(broken)
    record = copy.deepcopy(PROPOSAL_RECORD)
    record["votes"]["B"]["approve"] = "yes"
    with pytest.raises(MalformedAnswer, match=r"Proposal\.votes\['B'\]\.approve"):
        Proposal.from_json(record)
    _, tx = good_answers(chain)["TransactionRecord"]
    broken = copy.deepcopy(tx)
    broken["events"][0]["sequence"] = None
    with pytest.raises(MalformedAnswer, match=r"Event\.sequence"):
        TransactionRecord.from_json(broken)
    broken = copy.deepcopy(tx)
    broken["operations"] = ["KVSet"]
    with pytest.raises(MalformedAnswer, match="operations"):
        TransactionRecord.from_json(broken)
    with pytest.raises(MalformedAnswer, match=r"TxResult\.result\.results\[0\]"):
        TxResult.from_json({"tx_hash": "H", "committed": True, "result": {
            "status": "SUCCESS", "height": 1, "index": 0, "gas_used": 0, "results": [7]}})


# --- round trips ------------------------------------------------------------------------------------------------

texts = st.text(max_size=12)
counts = st.integers(min_value=0, max_value=2**62)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63 - 1) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=8)
typed_values = st.one_of(
    st.tuples(st.none(), st.just("NIL")), st.tuples(texts, st.just("TEXT")),
    st.tuples(st.integers(min_value=-2**63, max_value=2**63 - 1), st.just("INT64")),
    st.tuples(st.binary(max_size=16), st.just("BYTES")), st.tuples(json_values, st.just("JSON")),
    st.tuples(st.booleans(), st.just("BOOLEAN")))
entries = st.builds(lambda a, k, v, typed, h, t: Entry(a, k, v, typed[0], typed[1], h, t),
                    texts, texts, counts, typed_values, counts, texts)
event_models = st.builds(lambda a, topic, s, typed, t, h: Event(a, topic, s, typed[0], typed[1], t, h),
                         texts, texts, counts, typed_values, texts, counts)
blocks = st.builds(Block, counts, texts, texts, texts, texts, counts, texts, texts, counts, counts, texts, counts,
                   st.booleans())
accounts = st.builds(Account, texts, texts, texts, texts, st.lists(texts, max_size=3).map(tuple), counts, texts,
                     texts, texts)
transactions = st.builds(
    lambda h, s, n, ops, evs, results: TransactionRecord(
        h, s, n, n, n, n, h, n, h, n, (h,), tuple(ops), tuple(evs), tuple(v for v, _ in results),
        tuple(t for _, t in results)),
    texts, texts, counts, st.lists(st.dictionaries(texts, json_values, max_size=2).map(lambda d: {"type": "KVSet", **d}),
                                   max_size=2),
    st.lists(event_models, max_size=2), st.lists(typed_values, max_size=3))
votes = st.dictionaries(texts, st.builds(jadechain.ProposalVote, st.booleans(), texts, counts), max_size=3)
proposals = st.builds(
    lambda i, s, votes, n: Proposal(i, s, i, i, s, i, (s,), (s,), n, n, votes, n, s), texts, texts, votes, counts)


@given(st.one_of(entries, event_models, blocks, accounts, transactions, proposals))
def test_a_model_survives_its_json_round_trip(model: Any) -> None:
    travelled = json.loads(json.dumps(model.to_json()))
    again = type(model).from_json(travelled)
    assert again == model
    assert again.raw == travelled


@given(st.lists(typed_values, max_size=4), counts, counts)
def test_a_committed_result_survives_its_json_round_trip(results: list[tuple[Any, str]], height: int, gas: int) -> None:
    model = TxResult("H", True, "SUCCESS", height, 0, gas, tuple(v for v, _ in results), tuple(t for _, t in results))
    assert TxResult.from_result_json(json.loads(json.dumps(model.to_json()))) == model


def test_raw_keeps_what_is_not_modelled(chain: Chain) -> None:
    answer = {**as_json(entry(runtime(chain), chain.data, "k1")), "proof_hint": {"epoch": 3}}  # type: ignore[attr-defined]
    read = Entry.from_json(answer)
    assert read.raw["proof_hint"] == {"epoch": 3} and read.to_json()["proof_hint"] == {"epoch": 3}
    with pytest.raises(AttributeError):
        read.value = 1  # type: ignore[misc]


def test_stream_messages_read_as_the_typed_block_results_and_events(chain: Chain) -> None:
    height = chain.ledger.height  # the block that published the event
    sent = block_messages(chain.ledger, height)
    read = [StreamMessage(message.id, message.kind, json.loads(message.data)).value for message in sent]
    block, tx, event = read
    assert isinstance(block, Block) and block.height == height
    assert block == Block.from_json(as_json(block_by_height(runtime(chain), height)))  # as GET .../blocks/{h}
    info = chain.ledger.get_transaction(chain.ledger.get_block_tx_hashes(height)[0]).info
    assert isinstance(tx, TxResult) and (tx.tx_hash, tx.status, tx.height) == (to_base58(info.tx_hash), "SUCCESS", height)
    assert isinstance(event, Event) and (event.topic, event.content, event.height) == ("shipment", {"step": 1}, height)
    with pytest.raises(MalformedAnswer):
        StreamMessage(f"{height}:9", "gossip", {}).value  # noqa: B018 - the property is the call under test
    with pytest.raises(MalformedAnswer):
        StreamMessage(f"{height}:1", "tx", {"tx_hash": 7}).value  # noqa: B018


def test_the_gateways_ledger_list_reads_as_summaries(chain: Chain) -> None:
    from node.gateway.routers.ledgers import list_ledgers

    name = to_base58(chain.ledger.ledger_hash)
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(runtimes={name: runtime(chain)})))
    [summary] = [LedgerSummary.from_json(item) for item in as_json(list_ledgers(request))]  # type: ignore[arg-type]
    assert (summary.hash, summary.height) == (name, chain.ledger.height)
    assert summary.to_json() == as_json(list_ledgers(request))[0]  # type: ignore[arg-type]
    for broken in ({"hash": name}, {"hash": 7, "height": 1}, {"hash": name, "height": "1"}, [name]):
        with pytest.raises(MalformedAnswer, match="LedgerSummary"):
            LedgerSummary.from_json(broken)
