"""Gossiped chunks verified by f + 1 validators (node.gossip): who verifies, who may skip, and when not.

The attacks: a faulty validator alone (its chunk plus its own attestation, repeated, relayed, or
sent before the chunk) never makes an honest node skip verification; attestations by non-validators
or of other bytes do not count; a withheld attestation costs a wait, then the node verifies.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.gossip import GossipAdmission, chunk_digest, designated_verifiers

VALIDATORS = tuple(bytes([i]) * 33 for i in range(4))  # n = 4, f = 1
A, B, C, D = VALIDATORS
OUTSIDER = b"\xee" * 33


class Node:
    """One node's GossipAdmission with a recording ingress and outbox."""

    def __init__(self, me: bytes, validators: tuple[bytes, ...] = VALIDATORS, all_verified: bool = True,
                 wait_s: float = 0.05) -> None:
        self.admitted: list[tuple[bytes, list[bytes], bool]] = []
        self.attested: list[bytes] = []
        self.counts: Counter[str] = Counter()
        self.all_verified = all_verified
        self.validators = validators
        self.gossip = GossipAdmission(
            me=me, validators=lambda: self.validators, admit=self._admit, attest=self.attested.append,
            count=lambda name, n: self.counts.update({name: n}), wait_s=wait_s,
        )

    async def _admit(self, sender: bytes, raws: list[bytes], vouched: bool) -> bool:
        self.admitted.append((sender, raws, vouched))
        return self.all_verified

    @property
    def verified_chunks(self) -> int:
        return sum(1 for _, _, vouched in self.admitted if not vouched)

    @property
    def vouched_chunks(self) -> int:
        return sum(1 for _, _, vouched in self.admitted if vouched)


def chunk(tag: bytes = b"x") -> tuple[list[bytes], bytes]:
    raws = [tag + bytes([i]) for i in range(3)]
    return raws, chunk_digest(b"".join(raws))


def a_chunk_not_designated_to(node: bytes, origin: bytes) -> tuple[list[bytes], bytes]:
    for i in range(256):
        raws, digest = chunk(bytes([i]))
        if node not in designated_verifiers(VALIDATORS, origin, digest):
            return raws, digest
    raise AssertionError("no such chunk")


async def settle(seconds: float = 0.0) -> None:
    await asyncio.sleep(seconds)
    for _ in range(5):
        await asyncio.sleep(0)


def test_designated_verifiers_are_f_others_spread_evenly() -> None:
    seven = tuple(bytes([i]) * 33 for i in range(7))  # f = 2
    load: Counter[bytes] = Counter()
    for i in range(3000):
        digest = chunk_digest(i.to_bytes(4, "big"))
        chosen = designated_verifiers(seven, seven[0], digest)
        assert len(chosen) == 2 and len(set(chosen)) == 2 and seven[0] not in chosen
        load.update(chosen)
    assert set(load) == set(seven[1:])
    assert max(load.values()) < 1.25 * min(load.values())
    assert designated_verifiers(VALIDATORS[:3], VALIDATORS[0], digest) == ()  # f = 0
    assert designated_verifiers(VALIDATORS, OUTSIDER, digest) == ()


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=31), st.binary(min_size=32, max_size=32), st.data())
def test_origin_and_designated_are_always_f_plus_1_distinct_validators(n: int, digest: bytes, data) -> None:
    validators = tuple(i.to_bytes(2, "big") for i in range(n))
    origin = data.draw(st.sampled_from(validators))
    chosen = designated_verifiers(validators, origin, digest)
    f = (n - 1) // 3
    assert len(set(chosen) | {origin}) == f + 1 and set(chosen) <= set(validators)


def test_a_designated_verifier_verifies_and_attests_the_others_skip() -> None:
    async def run() -> None:
        raws, digest = chunk()
        (designated,) = designated_verifiers(VALIDATORS, A, digest)
        nodes = {v: Node(v) for v in VALIDATORS if v != A}
        for node in nodes.values():
            node.gossip.on_chunk(A, raws, digest)
        await settle()
        assert nodes[designated].verified_chunks == 1 and nodes[designated].attested == [digest]
        others = [v for v in nodes if v != designated]
        assert all(nodes[v].admitted == [] for v in others)  # waiting for a second voucher
        for v in others:
            nodes[v].gossip.on_attestation(designated, digest)
        await settle()
        for v in others:
            assert nodes[v].admitted == [(A, raws, True)] and nodes[v].attested == []
        await settle(0.1)  # no timer fires afterwards
        assert all(len(nodes[v].admitted) == 1 for v in others)

    asyncio.run(run())


def test_a_faulty_origin_vouching_for_its_own_chunk_is_verified_after_the_wait() -> None:
    async def run() -> None:
        raws, digest = a_chunk_not_designated_to(C, A)
        node = Node(C)
        node.gossip.on_attestation(A, digest)  # before the chunk
        node.gossip.on_chunk(A, raws, digest)
        node.gossip.on_attestation(A, digest)  # and again after it
        node.gossip.on_chunk(A, raws, digest)  # and the chunk again
        await settle()
        assert node.admitted == []
        await settle(0.1)
        assert node.admitted == [(A, raws, False)] and node.counts["gossip_attest_timeouts"] == 1

    asyncio.run(run())


def test_a_faulty_validator_repeating_its_chunk_and_attestation_is_still_one_voucher() -> None:
    """The sender is the authenticated envelope's: a faulty node can only ever be one voucher."""
    async def run() -> None:
        raws, digest = a_chunk_not_designated_to(C, B)
        node = Node(C)
        node.gossip.on_chunk(B, raws, digest)
        node.gossip.on_chunk(B, raws, digest)
        node.gossip.on_attestation(B, digest)
        await settle()
        assert node.admitted == []
        await settle(0.1)
        assert node.verified_chunks == 1 and node.vouched_chunks == 0

    asyncio.run(run())


def test_attestations_of_outsiders_or_of_other_bytes_do_not_count() -> None:
    async def run() -> None:
        raws, digest = a_chunk_not_designated_to(C, A)
        node = Node(C)
        node.gossip.on_chunk(A, raws, digest)
        node.gossip.on_attestation(OUTSIDER, digest)
        node.gossip.on_attestation(B, chunk_digest(b"other bytes"))
        node.gossip.on_attestation(B, digest[:31])
        await settle()
        assert node.admitted == [] and node.counts["invalid_messages"] == 2
        await settle(0.1)
        assert node.verified_chunks == 1

    asyncio.run(run())


def test_an_attestation_before_the_chunk_counts() -> None:
    async def run() -> None:
        raws, digest = a_chunk_not_designated_to(C, A)
        node = Node(C)
        node.gossip.on_attestation(B, digest)
        node.gossip.on_chunk(A, raws, digest)
        await settle()
        assert node.admitted == [(A, raws, True)]

    asyncio.run(run())


def test_a_designated_verifier_that_finds_a_bad_signature_does_not_attest() -> None:
    async def run() -> None:
        raws, digest = chunk()
        (designated,) = designated_verifiers(VALIDATORS, A, digest)
        node = Node(designated, all_verified=False)
        node.gossip.on_chunk(A, raws, digest)
        await settle()
        assert node.verified_chunks == 1 and node.attested == []

    asyncio.run(run())


def test_a_chunk_from_a_non_validator_is_verified_at_once() -> None:
    async def run() -> None:
        raws, digest = chunk()
        node = Node(C)
        node.gossip.on_chunk(OUTSIDER, raws, digest)
        await settle()
        assert node.admitted == [(OUTSIDER, raws, False)] and node.attested == []

    asyncio.run(run())


def test_with_f_0_the_origin_alone_vouches() -> None:
    async def run() -> None:
        raws, digest = chunk()
        node = Node(B, validators=VALIDATORS[:3])
        node.gossip.on_chunk(A, raws, digest)
        await settle()
        assert node.admitted == [(A, raws, True)]

    asyncio.run(run())


def test_seven_validators_need_three_distinct_vouchers() -> None:
    seven = tuple(bytes([i]) * 33 for i in range(7))

    async def run() -> None:
        for i in range(256):
            raws, digest = chunk(bytes([i]))
            if seven[6] not in designated_verifiers(seven, seven[0], digest):
                break
        node = Node(seven[6], validators=seven)
        node.gossip.on_chunk(seven[0], raws, digest)
        node.gossip.on_attestation(seven[1], digest)
        node.gossip.on_attestation(seven[1], digest)
        await settle()
        assert node.admitted == []
        node.gossip.on_attestation(seven[2], digest)
        await settle()
        assert node.admitted == [(seven[0], raws, True)]

    asyncio.run(run())


def test_close_cancels_the_waits() -> None:
    async def run() -> None:
        raws, digest = a_chunk_not_designated_to(C, A)
        node = Node(C)
        node.gossip.on_chunk(A, raws, digest)
        assert node.gossip.waiting == 1
        node.gossip.close()
        await settle(0.1)
        assert node.admitted == [] and node.gossip.waiting == 0
        node.gossip.on_chunk(A, raws, digest)
        assert node.gossip.waiting == 0

    asyncio.run(run())


@pytest.mark.parametrize("overflow", [True])
def test_past_the_bound_a_chunk_is_verified_at_once(monkeypatch, overflow: bool) -> None:
    import node.gossip as gossip_module

    monkeypatch.setattr(gossip_module, "MAX_PENDING_CHUNKS", 2)

    async def run() -> None:
        node = Node(C, wait_s=10)
        sent = 0
        for i in range(256):
            raws, digest = chunk(bytes([i]))
            if C not in designated_verifiers(VALIDATORS, A, digest):
                node.gossip.on_chunk(A, raws, digest)
                sent += 1
            if sent == 3:
                break
        await settle()
        assert node.gossip.waiting == 2 and node.verified_chunks == 1
        assert node.counts["gossip_pending_overflow"] == 1
        node.gossip.close()

    asyncio.run(run())


class Origin(Node):
    def __init__(self, me: bytes, validators: tuple[bytes, ...] = VALIDATORS, wait_s: float = 0.05) -> None:
        self.released: list[list[bytes]] = []
        super().__init__(me, validators, wait_s=wait_s)
        self.gossip.release = self.released.append


def test_the_origin_proposes_its_chunk_only_after_the_designated_attestation() -> None:
    async def run() -> None:
        raws, digest = chunk()
        (designated,) = designated_verifiers(VALIDATORS, A, digest)
        node = Origin(A)
        node.gossip.track_own(digest, [b"h1", b"h2"])
        others = [v for v in VALIDATORS if v not in (A, designated)]
        node.gossip.on_attestation(others[0], digest)  # not the designated one: still held
        node.gossip.on_attestation(A, digest)
        await settle()
        assert node.released == []
        node.gossip.on_attestation(designated, digest)
        assert node.released == [[b"h1", b"h2"]]
        await settle(0.1)
        assert node.released == [[b"h1", b"h2"]] and node.counts["gossip_own_release_timeouts"] == 0

    asyncio.run(run())


def test_a_withheld_attestation_releases_the_origins_transactions_after_the_wait() -> None:
    async def run() -> None:
        raws, digest = chunk()
        node = Origin(A)
        node.gossip.track_own(digest, [b"h"])
        await settle(0.1)
        assert node.released == [[b"h"]] and node.counts["gossip_own_release_timeouts"] == 1

    asyncio.run(run())


def test_with_f_0_the_origin_releases_at_once() -> None:
    async def run() -> None:
        node = Origin(A, validators=VALIDATORS[:3])
        node.gossip.track_own(chunk()[1], [b"h"])
        assert node.released == [[b"h"]]

    asyncio.run(run())


def test_an_attestation_by_a_validator_removed_since_no_longer_counts() -> None:
    """Vouchers are counted against the current set: a validator voted out by governance (or its
    stolen key) cannot complete a chunk's f + 1 with an attestation it sent while it was in."""
    async def run() -> None:
        later = (A, C, D, bytes([9]) * 33)  # B replaced in a new epoch
        for i in range(256):
            raws, digest = chunk(bytes([i]))
            if C not in designated_verifiers(later, A, digest):
                break
        node = Node(C)
        node.gossip.on_attestation(B, digest)  # B still a validator: remembered
        node.validators = later
        node.gossip.on_chunk(A, raws, digest)
        await settle()
        assert node.admitted == []
        await settle(0.1)
        assert node.verified_chunks == 1 and node.vouched_chunks == 0

    asyncio.run(run())
