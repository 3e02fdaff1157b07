"""Contract return values in the transaction result, and read-only calls against committed state."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import codec
from ledger.crypto import address_from_public_key
from ledger.errors import CodecError, ProofError, InvalidSignature, InvalidTransaction, LedgerMismatch, NotFound, PermissionDenied
from ledger.ledger import Ledger
from ledger.proofs import build_transaction_bundle, verify_bundle
from ledger.store.memory import MemoryStore
from ledger.transactions import sign_content
from ledger.types import EndpointSignature, Transaction, TransactionInfo
from ledger.values import TypedValue
from tests.contracts.wasm_kit import deploy, shared_runtime, wasm_chain
from tests.unit.ledger.ledger_testkit import Chain, seeded_keypair
from tests.unit.ledger.test_ledger_proofs import certify

COUNTER = (Path(__file__).resolve().parents[2] / "examples" / "contracts" / "counter.py").read_text()


def counter_chain() -> tuple[Chain, str]:
    chain = wasm_chain()
    address, status = deploy(chain, "counter", COUNTER)
    assert status == "SUCCESS"
    return chain, address


def test_a_contract_invocation_records_its_return_value_per_operation() -> None:
    chain, counter = counter_chain()
    data = chain.new_data_account("results-data")
    tx = chain.tx(lambda b: b.kv_set(data, "k", "v").invoke(counter, "add", 2).invoke(counter, "add", 5))
    info = chain.commit(tx).tx_infos[0]
    assert info.status == "SUCCESS"
    assert info.results == (TypedValue.nil(), TypedValue.int64(2), TypedValue.int64(7))
    stored = chain.ledger.get_transaction(info.tx_hash).info
    assert stored == info
    assert chain.ledger.call(chain.tx(lambda b: b.invoke(counter, "total"))).value == TypedValue.int64(7)


def test_no_contract_call_or_a_failure_records_no_results_and_keeps_the_old_leaf_bytes() -> None:
    chain, counter = counter_chain()
    data = chain.new_data_account("plain-data")
    plain = chain.commit(chain.tx(lambda b: b.kv_set(data, "k", "v"))).tx_infos[0]
    failed = chain.commit(chain.tx(lambda b: b.invoke(counter, "add", 0))).tx_infos[0]
    assert failed.status == "CONTRACT_REVERTED" and failed.gas_used > 0
    for info in (plain, failed):
        assert info.results == ()
        fields = [info.tx_hash, info.height, info.index, info.status, info.write_set_hash, info.events_hash,
                  info.gas_used]
        assert codec.encode(info) == codec.pack_canonical(fields)  # the leaf as format 2 wrote it


def test_replicas_agree_on_roots_with_return_values() -> None:
    chain, counter = counter_chain()
    for amount in (1, 2, 3):
        chain.commit(chain.tx(lambda b: b.invoke(counter, "add", amount)))
    replica = Ledger.create(MemoryStore(), chain.ledger.get_block(0), runtime=shared_runtime())
    for height in range(1, chain.ledger.height + 1):
        replica.apply_block(chain.ledger.get_block(height))
    assert replica.roots == chain.ledger.roots


def test_a_read_only_call_returns_the_value_and_writes_nothing() -> None:
    chain, counter = counter_chain()
    chain.commit(chain.tx(lambda b: b.invoke(counter, "add", 3)))
    roots, height = chain.ledger.roots, chain.ledger.height
    outcome = chain.ledger.call(chain.tx(lambda b: b.invoke(counter, "add", 4)))
    assert outcome.status == "SUCCESS" and outcome.value == TypedValue.int64(7) and outcome.gas_used > 0
    assert [e.topic for e in outcome.events] == ["added"]
    assert (chain.ledger.roots, chain.ledger.height) == (roots, height)
    assert chain.ledger.call(chain.tx(lambda b: b.invoke(counter, "total"))).value == TypedValue.int64(3)
    after = chain.commit(chain.tx(lambda b: b.invoke(counter, "add", 1))).tx_infos[0]
    assert after.results == (TypedValue.int64(4),)  # the call's write never happened


def test_a_failing_call_is_an_outcome_with_its_code_and_gas() -> None:
    chain, counter = counter_chain()
    reverted = chain.ledger.call(chain.tx(lambda b: b.invoke(counter, "add", 0)))
    assert (reverted.status, reverted.value, reverted.events) == ("CONTRACT_REVERTED", TypedValue.nil(), ())
    assert reverted.gas_used > 0 and "positive" in reverted.message
    ceiling = chain.ledger.settings.default_gas_limit
    capped = chain.ledger.call(chain.tx(lambda b: b.invoke(counter, "total", gas_limit=ceiling + 1)))
    assert capped.status == "INVALID_OPERATION" and "default_gas_limit" in capped.message
    starved = chain.ledger.call(chain.tx(lambda b: b.invoke(counter, "total", gas_limit=100)))
    assert starved.status == "OUT_OF_GAS"


def test_who_may_call_is_who_may_send_the_transaction() -> None:
    chain, counter = counter_chain()
    stranger = seeded_keypair("not-a-user")
    with pytest.raises(PermissionDenied):
        chain.ledger.call(chain.tx(lambda b: b.invoke(counter, "total"), stranger))
    tx = chain.tx(lambda b: b.invoke(counter, "total"))
    forged = Transaction(tx.content, (EndpointSignature(tx.signatures[0].public_key, b"\x00" * 64),))
    with pytest.raises(InvalidSignature):
        chain.ledger.call(forged)
    with pytest.raises(InvalidTransaction):
        chain.ledger.call(chain.tx(lambda b: b.invoke(counter, "total").invoke(counter, "total")))
    data_key = seeded_keypair("call-data")
    with pytest.raises(InvalidTransaction):
        chain.ledger.call(chain.tx(lambda b: b.register_data_account(data_key.public.encoded)))
    with pytest.raises(NotFound):
        chain.ledger.get_account(address_from_public_key(data_key.public))


def test_a_call_signed_for_another_ledger_is_refused() -> None:
    chain, counter = counter_chain()
    tx = chain.tx(lambda b: b.invoke(counter, "total"))
    elsewhere = dataclasses.replace(tx.content, ledger_hash=tx.content.ledger_hash[:-1] + bytes([tx.content.ledger_hash[-1] ^ 1]))
    with pytest.raises(LedgerMismatch):
        chain.ledger.call(sign_content(elsewhere, chain.admin))


typed_values = st.one_of(
    st.just(TypedValue.nil()),
    st.integers(-(2**63), 2**63 - 1).map(TypedValue.int64),
    st.text(max_size=20).map(TypedValue.text),
    st.binary(max_size=20).map(TypedValue.bytes_),
    st.booleans().map(TypedValue.boolean),
    st.lists(st.integers(-1000, 1000), max_size=4).map(TypedValue.json_),
)


@settings(max_examples=200, deadline=None)
@given(results=st.lists(typed_values, max_size=5), gas=st.integers(0, 2**40), status=st.sampled_from(["SUCCESS", "X"]))
def test_transaction_info_with_results_has_one_canonical_encoding(results: list[TypedValue], gas: int, status: str) -> None:
    info = TransactionInfo(b"\x01" * 34, 5, 0, status, b"\x02" * 32, b"\x03" * 32, gas, tuple(results))
    encoded = codec.encode(info)
    assert codec.decode(TransactionInfo, encoded) == info
    if not results:
        with pytest.raises(CodecError):  # an empty results field written out is not canonical
            codec.decode(TransactionInfo, codec.pack_canonical(codec.unpack_canonical(encoded) + [[]]))


def test_a_transaction_proof_covers_the_return_values() -> None:
    chain, counter = counter_chain()
    tx = chain.tx(lambda b: b.invoke(counter, "add", 9))
    tx_hash = chain.commit(tx).tx_infos[0].tx_hash
    plain = chain.commit(chain.tx(lambda b: b.kv_set(chain.new_data_account("proof-data"), "k", "v")))
    chain.commit()
    certify(chain, chain.founders)
    trusted = chain.ledger.validator_set()
    bundle = json.loads(json.dumps(build_transaction_bundle(chain.ledger, tx_hash)))
    assert bundle["claim"]["results"] == [{"type": "INT64", "value": 9}]
    assert verify_bundle(copy.deepcopy(bundle), trusted_validators=trusted).claim["results"][0]["value"] == 9
    bundle["claim"]["results"][0]["value"] = 10
    with pytest.raises(ProofError):
        verify_bundle(bundle, trusted_validators=trusted)
    # a transaction without results keeps the claim shape bundles had before results were recorded
    without = build_transaction_bundle(chain.ledger, plain.tx_infos[0].tx_hash)
    assert "results" not in without["claim"]
    assert verify_bundle(without, trusted_validators=trusted).claim["tx_hash"] == without["claim"]["tx_hash"]


def test_a_call_on_a_node_with_another_engine_is_refused_not_run() -> None:
    from contracts.runtime import SandboxRuntime
    from ledger.crypto import to_base58
    from node.gateway.app import create_app
    from tests.unit.node.test_node_gateway_errors import call

    chain, counter = counter_chain()
    legacy = Ledger(chain.ledger.store, runtime=SandboxRuntime())  # this node runs only the legacy sandbox
    runtime = SimpleNamespace(ledger=legacy, committer=SimpleNamespace(on_commit=None))
    name = to_base58(chain.ledger.ledger_hash)
    tx = chain.tx(lambda b: b.invoke(counter, "total"))
    answer = call(create_app({name: runtime}), "POST", f"/api/v1/ledgers/{name}/call",  # type: ignore[dict-item]
                  json={"tx": codec.encode(tx).hex()})
    assert (answer.status_code, answer.json()["code"]) == (503, "CONTRACT_ENGINE_MISMATCH")


PAIR = '''
from jadechain import callable, contract


@contract
class Pair:
    @callable
    def read(self, account: str) -> list:
        return [self.ctx.get(account, "a"), self.ctx.get(account, "b")]
'''


def test_a_call_reads_one_committed_state_even_while_a_block_commits() -> None:
    chain = wasm_chain()
    pair, status = deploy(chain, "pair", PAIR)
    data = chain.new_data_account("pair-data")
    assert chain.statuses(chain.tx(lambda b: b.kv_set(data, "a", 1).kv_set(data, "b", 1))) == ["SUCCESS"]
    writes_both = chain.tx(lambda b: b.kv_set(data, "a", 2, 0).kv_set(data, "b", 2, 0))
    call = chain.tx(lambda b: b.invoke(pair, "read", data))
    ledger = chain.ledger
    store = ledger.store
    committer: list[threading.Thread] = []
    chain.time += 1000
    block = ledger.make_block([writes_both], time=chain.time)

    class Interleaving:
        """The store, but the call's first read lets a commit of ``block`` run before the call goes on."""

        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        def get(self, key: bytes) -> bytes | None:
            if not committer and threading.current_thread() is threading.main_thread():
                committer.append(threading.Thread(target=ledger.apply_block, args=(block,)))
                committer[0].start()
                committer[0].join(timeout=2)  # without the ledger's commit lock it finishes here
            return store.get(key)

    ledger.store = Interleaving()  # type: ignore[assignment]
    try:
        outcome = ledger.call(call)
    finally:
        ledger.store = store
        committer[0].join()
    assert status == "SUCCESS" and outcome.status == "SUCCESS"
    assert json.loads(outcome.value.data) == [1, 1] and outcome.height == block.header.height - 1  # never [1, 2]
    assert ledger.height == block.header.height and ledger.call(call).value.to_python() == [2, 2]


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(results=st.lists(st.one_of(typed_values, st.text(max_size=10).map(TypedValue.text), json_values.map(TypedValue.json_)),
                        max_size=4))
def test_the_stream_and_submit_encodings_carry_the_return_values_as_the_models_do(results: list[TypedValue]) -> None:
    from node.gateway.schemas import tx_result_dict, tx_result_json, tx_result_public

    info = TransactionInfo(b"\x01" * 34, 5, 0, "SUCCESS", b"\x02" * 32, b"\x03" * 32, 9, tuple(results))
    model = tx_result_public(info)
    assert tx_result_json(info) == model.model_dump_json()
    assert tx_result_dict(info) == model.model_dump()
    assert [item["type"] for item in model.model_dump()["results"]] == [value.type.name for value in results]


def test_a_waiting_commit_goes_before_calls_that_have_not_started() -> None:
    chain = wasm_chain()
    pair, _ = deploy(chain, "pair", PAIR)
    data = chain.new_data_account("first-data")
    assert chain.statuses(chain.tx(lambda b: b.kv_set(data, "a", 1).kv_set(data, "b", 1))) == ["SUCCESS"]
    ledger, store = chain.ledger, chain.ledger.store
    chain.time += 1000
    block = ledger.make_block([chain.tx(lambda b: b.kv_set(data, "a", 2, 0).kv_set(data, "b", 2, 0))], time=chain.time)
    first, second = (chain.tx(lambda b: b.invoke(pair, "read", data)) for _ in range(2))
    threads: list[threading.Thread] = []
    answers: dict[str, object] = {}

    def call(name: str, tx: Transaction) -> None:
        answers[name] = ledger.call(tx)

    class Hold:
        """The first call's first read starts a commit and a second call, and waits until the commit waits."""

        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        def get(self, key: bytes) -> bytes | None:
            if not threads and threading.current_thread() is threading.main_thread():
                threads.append(threading.Thread(target=ledger.apply_block, args=(block,)))
                threads[0].start()
                while ledger._commit_lock.commits_waiting == 0:  # polls a condition, not a clock
                    threading.Event().wait(0.001)
                threads.append(threading.Thread(target=call, args=("second", second)))
                threads[1].start()
            return store.get(key)

    ledger.store = Hold()  # type: ignore[assignment]
    try:
        answers["first"] = ledger.call(first)
    finally:
        ledger.store = store
        for thread in threads:
            thread.join()
    assert answers["first"].height == block.header.height - 1  # type: ignore[attr-defined]
    assert answers["second"].height == block.header.height  # type: ignore[attr-defined]
    assert answers["second"].value.to_python() == [2, 2]  # type: ignore[attr-defined]
