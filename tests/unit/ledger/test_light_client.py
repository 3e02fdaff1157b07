"""Ledger B checks ledger A's proofs with its light client of A: each forgery refused with its own code."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ledger import codec
from ledger.certificate import (
    EpochChangeCertificate,
    ValidatorSignature,
    assemble_certificate,
    encode_commit_statement,
    encode_epoch_change_statement,
    sign_commit_statement,
)
from ledger.crypto import KeyPair, from_base58, sign, to_base58
from ledger.ledger import Ledger
from ledger.light_client import (
    LightClientError,
    LightClientRecord,
    advance_light_client,
    new_light_client,
    verified_fact,
    verify_fact,
)
from ledger.proofs import build_entry_bundle
from ledger.store.memory import MemoryStore
from ledger.types import AdvanceLightClient, CreateLightClient, ProveForeignFact, Transaction
from tests.unit.ledger.ledger_testkit import Chain, make_chain, make_genesis, seeded_keypair


def certify(chain: Chain, signers: list[KeyPair]) -> None:
    for height in range(1, chain.ledger.height + 1):
        if chain.ledger.get_certificate(height) is None:
            header_hash = chain.ledger.hash_header(chain.ledger.get_header(height))
            chain.ledger.put_certificate(assemble_certificate(chain.ledger.ledger_hash, height, header_hash, 0, [
                sign_commit_statement(lambda m, p=p: sign(p.private, m), p.public.encoded,
                                      chain.ledger.ledger_hash, height, header_hash, 0) for p in signers]))


def lab_ledger(founders: list[KeyPair] | None = None) -> tuple[Chain, str]:
    chain = make_chain() if founders is None else Chain(Ledger.create(MemoryStore(), make_genesis(founders)), founders)
    account = chain.new_data_account("lab-results")
    chain.commit(chain.tx(lambda b: b.kv_set(account, "lot/L7", {"inspection": "passed"}, -1)))
    chain.commit()
    certify(chain, chain.founders[:3])
    return chain, account


@pytest.fixture
def world() -> dict[str, Any]:
    lab, account = lab_ledger()
    brand = make_chain(n_founders=1)
    create = CreateLightClient(lab.ledger.ledger_hash, "lab", 0, 0, lab.ledger.validator_set(0).public_keys)
    assert brand.statuses(brand.tx(lambda b: b.add(create))) == ["SUCCESS"]
    bundle = json.loads(json.dumps(build_entry_bundle(lab.ledger, account, "lot/L7")))
    return {"lab": lab, "brand": brand, "account": account, "bundle": bundle}


def prove(world: dict[str, Any], bundle: Any, expect: dict[str, Any] | None = None, max_age_ms: int = 0) -> str:
    """Commit on B a transaction that relies on A's fact and writes a trace event; return its status."""
    brand: Chain = world["brand"]
    lab: Chain = world["lab"]
    fact = ProveForeignFact(lab.ledger.ledger_hash, json.dumps(bundle).encode(),
                            json.dumps(expect if expect is not None else {"key": "lot/L7"}).encode(), max_age_ms)
    if "events" not in world:
        world["events"] = brand.new_data_account("brand-trace")
    events = world["events"]
    tx: Transaction = brand.tx(lambda b: b.add(fact).kv_set(events, f"trace/{brand.nonce_counter}", "L7 passed", -1))
    [status] = brand.statuses(tx)
    return status


def test_a_certified_fact_of_the_lab_lets_the_brand_transaction_commit(world: dict[str, Any]) -> None:
    assert prove(world, world["bundle"], {"key": "lot/L7", "value": {"type": "JSON", "value": {"inspection": "passed"}}}) \
        == "SUCCESS"


def test_each_forgery_is_refused_with_its_stable_code(world: dict[str, Any]) -> None:
    honest = world["bundle"]
    lab: Chain = world["lab"]

    def forged(mutate) -> dict[str, Any]:
        bundle = copy.deepcopy(honest)
        mutate(bundle)
        return bundle

    def resign(bundle: dict[str, Any], signers: list[KeyPair]) -> None:
        header = bundle["header"]
        statement = encode_commit_statement(lab.ledger.ledger_hash, header["height"], from_base58(header["hash"]), 0)
        header["certificate"]["signatures"] = [
            {"public_key": to_base58(p.public.encoded), "signature": to_base58(sign(p.private, statement))}
            for p in signers]

    signatures = honest["header"]["certificate"]["signatures"]
    fake, fake_account = lab_ledger([seeded_keypair(f"forger-{i}") for i in range(4)])
    fake_bundle = json.loads(json.dumps(build_entry_bundle(fake.ledger, fake_account, "lot/L7")))
    cases = {
        "FOREIGN_PROOF_UNCERTIFIED": forged(lambda b: b["header"].__setitem__("certificate", None)),
        "FOREIGN_PROOF_WRONG_LEDGER": fake_bundle,
        "FOREIGN_PROOF_UNKNOWN_SIGNER": forged(lambda b: resign(b, [*lab.founders[:2], seeded_keypair("outsider")])),
        "FOREIGN_PROOF_DUPLICATE_SIGNATURE": forged(lambda b: b["header"]["certificate"].__setitem__(
            "signatures", [signatures[0], signatures[0], signatures[1]])),
        "FOREIGN_PROOF_INVALID": forged(lambda b: b["header"]["certificate"].__setitem__("signatures", signatures[:2])),
    }
    for code, bundle in cases.items():
        assert prove(world, bundle) == code, code
    assert prove(world, honest, {"key": "lot/L8"}) == "FOREIGN_FACT_MISMATCH"
    assert prove(world, honest, max_age_ms=1) == "FOREIGN_PROOF_STALE"
    assert prove(world, honest, max_age_ms=10**9) == "SUCCESS"
    relabelled = copy.deepcopy(fake_bundle)
    relabelled["ledger_hash"] = honest["ledger_hash"]
    assert prove(world, relabelled) == "FOREIGN_PROOF_WRONG_LEDGER"


def epoch_change(lab: Chain, signers: list[KeyPair], epoch: int, keys: list[bytes], since: int) -> bytes:
    ledger_hash = lab.ledger.ledger_hash
    statement = encode_epoch_change_statement(ledger_hash, epoch, keys, since)
    return codec.encode(EpochChangeCertificate(ledger_hash, epoch, tuple(keys), since, tuple(
        ValidatorSignature(p.public.encoded, sign(p.private, statement)) for p in signers)))


def test_the_light_client_advances_only_with_a_certified_next_epoch(world: dict[str, Any]) -> None:
    lab: Chain = world["lab"]
    brand: Chain = world["brand"]
    newcomer = seeded_keypair("newcomer")
    keys = sorted([*lab.ledger.validator_set(0).public_keys, newcomer.public.encoded])
    since = lab.ledger.height + 10

    def advance(change: bytes) -> str:
        [status] = brand.statuses(brand.tx(lambda b: b.add(AdvanceLightClient(lab.ledger.ledger_hash, change))))
        return status

    outsiders = [seeded_keypair(f"stranger-{i}") for i in range(3)]
    assert advance(epoch_change(lab, outsiders, 1, keys, since)) == "FOREIGN_PROOF_UNKNOWN_SIGNER"
    assert advance(epoch_change(lab, lab.founders[:2], 1, keys, since)) == "LIGHT_CLIENT_EPOCH_INVALID"  # no quorum
    assert advance(epoch_change(lab, lab.founders[:3], 2, keys, since)) == "LIGHT_CLIENT_EPOCH_INVALID"  # a gap
    good = epoch_change(lab, lab.founders[:3], 1, keys, since)
    assert advance(good) == "SUCCESS"
    assert advance(good) == "LIGHT_CLIENT_EPOCH_REPLAYED"
    # Proofs of epoch 0 below the change still hold; an epoch-0 header claimed after it does not.
    assert prove(world, world["bundle"]) == "SUCCESS"
    record = new_light_client(lab.ledger.ledger_hash, "lab", 0, 0, lab.ledger.validator_set(0).public_keys)
    early = advance_light_client(record, epoch_change(lab, lab.founders[:3], 1, keys, 1))
    with pytest.raises(LightClientError) as caught:
        verify_fact(early, world["bundle"], block_time=0)
    assert caught.value.code == "FOREIGN_PROOF_UNKNOWN_EPOCH"


def test_creating_a_light_client_is_governed_and_unique(world: dict[str, Any]) -> None:
    lab: Chain = world["lab"]
    brand: Chain = world["brand"]
    again = CreateLightClient(lab.ledger.ledger_hash, "lab", 0, 0, lab.ledger.validator_set(0).public_keys)
    assert brand.statuses(brand.tx(lambda b: b.add(again))) == ["LIGHT_CLIENT_EXISTS"]
    nobody = seeded_keypair("nobody")
    brand.commit(brand.tx(lambda b: b.register_user(nobody.public.encoded, "nobody")))
    other = CreateLightClient(seeded_keypair("x").public.encoded[:2] + b"\x00" * 32, "x", 0, 0,
                              lab.ledger.validator_set(0).public_keys)
    assert brand.statuses(brand.tx(lambda b: b.add(other), nobody)) == ["PERMISSION_DENIED"]
    missing = ProveForeignFact(b"\x20\x18" + b"\x01" * 32, json.dumps(world["bundle"]).encode(), b"", 0)
    assert brand.statuses(brand.tx(lambda b: b.add(missing))) == ["LIGHT_CLIENT_NOT_FOUND"]


def test_verify_fact_is_pure(world: dict[str, Any]) -> None:
    lab: Chain = world["lab"]
    record = new_light_client(lab.ledger.ledger_hash, "lab", 0, 0, lab.ledger.validator_set(0).public_keys)
    decoded = codec.decode(LightClientRecord, codec.encode(record))
    first = verify_fact(decoded, copy.deepcopy(world["bundle"]), block_time=5, expect={"key": "lot/L7"})
    assert first == verify_fact(record, copy.deepcopy(world["bundle"]), block_time=5, expect={"key": "lot/L7"})
    assert first["value"] == {"type": "JSON", "value": {"inspection": "passed"}}


def test_verified_fact_reads_the_light_client_from_state(world: dict[str, Any]) -> None:
    """The entry point a contract engine exposes as ``ctx.verified_fact(ledger_a, bundle)``."""
    lab: Chain = world["lab"]
    brand: Chain = world["brand"]
    from ledger.state import WorkingState

    state = WorkingState(brand.ledger.store, brand.ledger.hash_fn)
    raw_bundle = json.dumps(world["bundle"]).encode()
    claim = verified_fact(state.get_light_client_raw, lab.ledger.ledger_hash, raw_bundle, block_time=0,
                          expect={"key": "lot/L7"})
    assert claim["value"] == {"type": "JSON", "value": {"inspection": "passed"}}
    with pytest.raises(LightClientError) as caught:
        verified_fact(state.get_light_client_raw, brand.ledger.ledger_hash, raw_bundle, block_time=0)
    assert caught.value.code == "LIGHT_CLIENT_NOT_FOUND"


def test_a_bundle_stripped_of_genesis_and_epoch_changes_still_proves_the_fact_on_b(world: dict[str, Any]) -> None:
    stripped = {k: v for k, v in world["bundle"].items() if k not in ("genesis", "epoch_changes")}
    assert len(json.dumps(stripped)) < len(json.dumps(world["bundle"]))
    assert prove(world, stripped) == "SUCCESS"
