"""Gossiped chunks verified by f + 1 validators (node.gossip): who verifies, who may skip, and when not.

The attacks: a faulty validator alone (its chunk plus its own attestation, repeated, relayed, or
sent before the chunk) never makes an honest node skip verification; attestations by non-validators
or of other bytes do not count; a withheld attestation costs a wait, then the node verifies.
Patience: a designated validator that is still working through its queue is waited for (a node
that gives up verifies what it was spared); one that passed a chunk over, or that holds it past
the cap while attesting everything else, is not.
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
                 wait_s: float = 0.05, clock: "Clock | None" = None, max_wait_s: float = 0.25) -> None:
        self.admitted: list[tuple[bytes, list[bytes], bool]] = []
        self.attested: list[bytes] = []
        self.counts: Counter[str] = Counter()
        self.all_verified = all_verified
        self.validators = validators
        self.gossip = GossipAdmission(
            me=me, validators=lambda: self.validators, admit=self._admit, attest=self.attested.append,
            count=lambda name, n: self.counts.update({name: n}), wait_s=wait_s, max_wait_s=max_wait_s,
            **({"clock": clock} if clock is not None else {}),
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


class Clock:
    """The time GossipAdmission decides by; the loop's (real) timers only make it look again."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def chunk(tag: bytes = b"x") -> tuple[list[bytes], bytes]:
    raws = [tag + bytes([i]) for i in range(3)]
    return raws, chunk_digest(b"".join(raws))


def chunks_designated_to(verifier: bytes, origin: bytes, count: int, tag: bytes = b"") -> list[tuple[list[bytes], bytes]]:
    """``count`` distinct chunks of ``origin`` whose one designated verifier (n = 4) is ``verifier``."""
    found = []
    for i in range(1024):
        raws, digest = chunk(tag + i.to_bytes(2, "big"))
        if designated_verifiers(VALIDATORS, origin, digest) == (verifier,):
            found.append((raws, digest))
            if len(found) == count:
                return found
    raise AssertionError("not enough such chunks")


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
    def __init__(self, me: bytes, validators: tuple[bytes, ...] = VALIDATORS, wait_s: float = 0.05,
                 clock: "Clock | None" = None) -> None:
        self.released: list[list[bytes]] = []
        super().__init__(me, validators, wait_s=wait_s, clock=clock)
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


# --- patience: waiting for a designated verifier that is working, not for one that is not -----------


def test_a_designated_verifier_still_working_through_its_queue_is_waited_for() -> None:
    """Under saturation an attestation can take longer than the wait. Giving up then made every
    waiting node verify what it was spared (a slow SM2 run: 2.7 verifications per transaction
    instead of 2.0). While B keeps attesting, C waits, and admits the chunk on B's word."""
    async def run() -> None:
        clock = Clock()
        (raws, digest), (other_raws, other) = chunks_designated_to(B, A, 2)
        node = Node(C, clock=clock, wait_s=0.05, max_wait_s=1.0)
        node.gossip.on_chunk(A, other_raws, other)
        clock.now = 0.01
        node.gossip.on_chunk(A, raws, digest)
        clock.now = 0.04
        node.gossip.on_attestation(B, other)  # B works through its queue: the earlier chunk first
        clock.now = 0.07  # past the wait: B attested 0.03 ago
        await settle(0.15)  # the timer fires (more than once, on a slow machine)
        assert node.admitted == [(A, other_raws, True)], "gave up on a verifier that is working"
        assert node.counts["gossip_attest_timeouts"] == 0 and node.counts["gossip_attest_waits_extended"] >= 1
        node.gossip.on_attestation(B, digest)
        await settle()
        assert node.admitted == [(A, other_raws, True), (A, raws, True)]
        assert node.verified_chunks == 0

    asyncio.run(run())


def test_a_silent_designated_verifier_still_costs_only_the_wait() -> None:
    async def run() -> None:
        clock = Clock()
        (raws, digest), (other_raws, other) = chunks_designated_to(B, A, 2)
        node = Node(C, clock=clock, wait_s=0.05, max_wait_s=1.0)
        node.gossip.on_chunk(A, other_raws, other)
        node.gossip.on_attestation(B, other)  # B attested at 0, then fell silent
        node.gossip.on_chunk(A, raws, digest)
        clock.now = 0.06
        await settle(0.15)
        assert node.admitted[-1] == (A, raws, False) and node.counts["gossip_attest_timeouts"] == 1

    asyncio.run(run())


def test_a_verifier_dribbling_the_origins_earlier_chunks_cannot_hold_a_chunk_past_the_cap() -> None:
    """A faulty B attests A's earlier chunks one by one, slowly (so it looks busy with A and
    never passes over the chunk), but never the chunk: C verifies it once it waited max_wait_s."""
    async def run() -> None:
        clock = Clock()
        *earlier, (raws, digest) = chunks_designated_to(B, A, 41)
        node = Node(C, clock=clock, wait_s=0.05, max_wait_s=0.3)
        for earlier_raws, earlier_digest in earlier:
            node.gossip.on_chunk(A, earlier_raws, earlier_digest)
        node.gossip.on_chunk(A, raws, digest)
        for _, earlier_digest in earlier:
            if (A, raws, False) in node.admitted:
                break
            clock.now += 0.02
            node.gossip.on_attestation(B, earlier_digest)
            await settle(0.03)
        assert (A, raws, False) in node.admitted, "a faulty verifier held the chunk past the cap"
        assert 0.3 <= clock.now <= 0.3 + 0.05 + 0.02 * 2
        # the earlier chunks B had not reached by then reached the cap with it, and are verified too
        assert node.counts["gossip_attest_timeouts"] == node.verified_chunks >= 1
        assert node.counts["gossip_attest_skipped"] == 0

    asyncio.run(run())


def test_attesting_other_origins_chunks_does_not_make_a_verifier_look_busy_with_this_one() -> None:
    """A faulty B that serves D's chunks promptly but never A's: C waits the plain wait for A's."""
    async def run() -> None:
        clock = Clock()
        (raws, digest), = chunks_designated_to(B, A, 1)
        decoys = chunks_designated_to(B, D, 3, tag=b"d")
        node = Node(C, clock=clock, wait_s=0.05, max_wait_s=10.0)
        node.gossip.on_chunk(A, raws, digest)
        for decoy_raws, decoy in decoys:
            clock.now += 0.02
            node.gossip.on_chunk(D, decoy_raws, decoy)
            node.gossip.on_attestation(B, decoy)
        await settle(0.15)
        assert (A, raws, False) in node.admitted and node.counts["gossip_attest_timeouts"] == 1
        assert node.counts["gossip_attest_waits_extended"] == 0

    asyncio.run(run())


def test_a_chunk_its_verifier_passed_over_is_verified_at_once() -> None:
    """B attested A's later chunk but not the earlier one: B skipped it (faulty, or the chunk was
    bad). C verifies it now, without waiting out any timer. Another origin's later chunk, or a
    chunk only a little later (two are verified at once), says nothing of the kind."""
    async def run() -> None:
        clock = Clock()
        (raws, digest), (near_raws, near), (late_raws, late) = chunks_designated_to(B, A, 3)
        (d_raws, d_digest), = chunks_designated_to(B, D, 1, tag=b"d")
        node = Node(C, clock=clock, wait_s=10.0, max_wait_s=50.0)
        node.gossip.on_chunk(A, raws, digest)
        clock.now = 4.0
        node.gossip.on_chunk(A, near_raws, near)
        clock.now = 8.0
        node.gossip.on_chunk(D, d_raws, d_digest)
        node.gossip.on_attestation(B, near)  # within half the wait of the first: may be reordering
        node.gossip.on_attestation(B, d_digest)  # another origin's: another stream
        await settle()
        assert (A, raws, False) not in node.admitted and node.gossip.waiting == 1
        clock.now = 9.0
        node.gossip.on_chunk(A, late_raws, late)
        node.gossip.on_attestation(B, late)
        await settle()
        assert (A, raws, False) in node.admitted and node.gossip.waiting == 0
        assert node.counts["gossip_attest_skipped"] == 1 and node.counts["gossip_attest_timeouts"] == 0
        node.gossip.close()

    asyncio.run(run())


def test_patience_never_admits_a_chunk_without_f_plus_1_vouchers() -> None:
    """Whatever a faulty B does with its attestations, each chunk C admits is either vouched by
    f + 1 distinct validators (origin and B, for exactly those bytes) or verified by C."""
    async def run() -> None:
        clock = Clock()
        chunks = chunks_designated_to(B, A, 12)
        node = Node(C, clock=clock, wait_s=0.05, max_wait_s=0.2)
        attested: set[bytes] = set()
        for i, (raws, digest) in enumerate(chunks):
            clock.now += 0.03
            node.gossip.on_chunk(A, raws, digest)
            if i % 3 == 1:  # B attests some, late and out of order; never others
                earlier = chunks[i - 1][1]
                node.gossip.on_attestation(B, earlier)
                attested.add(earlier)
            await settle(0.02)
        clock.now += 1.0
        await settle(0.15)
        by_raws = {tuple(raws): digest for raws, digest in chunks}
        assert len(node.admitted) == len(chunks)
        for origin, raws, vouched in node.admitted:
            assert not vouched or by_raws[tuple(raws)] in attested

    asyncio.run(run())


def test_the_origin_waits_for_a_working_verifier_and_releases_what_it_passed_over() -> None:
    async def run() -> None:
        clock = Clock()
        first, second, third = chunks_designated_to(B, A, 3)
        node = Origin(A, clock=clock, wait_s=10.0)
        node.gossip.max_wait_s = 50.0
        node.gossip.track_own(first[1], [b"h1"])
        clock.now = 1.0
        node.gossip.track_own(second[1], [b"h2"])
        clock.now = 20.0
        node.gossip.track_own(third[1], [b"h3"])
        node.gossip.on_attestation(B, second[1])  # B passed over the first (sent 1 s before: reordering)
        assert node.released == [[b"h2"]]
        node.gossip.on_attestation(B, third[1])  # and now clearly: first was sent 20 s before third
        assert node.released == [[b"h2"], [b"h1"], [b"h3"]]
        assert node.counts["gossip_attest_skipped"] == 1 and node.counts["gossip_own_release_timeouts"] == 0

    asyncio.run(run())


def test_the_origin_keeps_its_chunk_while_its_verifier_is_busy() -> None:
    async def run() -> None:
        clock = Clock()
        first, second = chunks_designated_to(B, A, 2)
        node = Origin(A, clock=clock, wait_s=0.05)
        node.gossip.track_own(first[1], [b"h1"])
        node.gossip.track_own(second[1], [b"h2"])
        clock.now = 0.04
        node.gossip.on_attestation(B, first[1])
        clock.now = 0.07
        await settle(0.15)
        assert node.released == [[b"h1"]] and node.counts["gossip_own_release_timeouts"] == 0
        clock.now = 0.2
        await settle(0.15)  # B silent for 0.16 s now: give up
        assert node.released == [[b"h1"], [b"h2"]] and node.counts["gossip_own_release_timeouts"] == 1

    asyncio.run(run())
