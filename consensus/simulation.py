"""Deterministic simulation of a network of replicas, for tests and chaos tooling.

Everything that varies — message delays, drops, reordering, partitions,
crashes — is drawn from one seeded :class:`random.Random` or given as a
schedule, and time is virtual (milliseconds on an event heap), so a seed
reproduces a run exactly and thousands of runs fit in CI time.

Invariants are checked as the run goes:

* **Safety.** Every honest replica's committed chain is a prefix of one global
  chain (same block id at each height), across crashes and restarts.
* **No double vote.** Every signed vote and timeout of an honest replica is
  recorded from its safety storage; two different votes for one round are a
  violation (that is what a restart without persistent safety data would cause).

Twins: an instance may share its signer (its key, its author id) with another
instance. Each of the pair behaves honestly on its own, but together they
equivocate and double-vote like one Byzantine validator. Twin instances are
excluded from the invariants; the honest replicas must stay safe anyway.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from functools import partial
from dataclasses import dataclass, field
from typing import Callable, Sequence

import nacl.exceptions
import nacl.signing

from consensus.block_store import InMemoryConsensusStore
from consensus.interfaces import ProposerElection, ValidatorSet
from consensus.pacemaker import PacemakerConfig
from consensus.round_manager import (
    Action,
    Broadcast,
    CommitBlocks,
    Event,
    LocalTimeout,
    RequestBlocks,
    RoundManager,
    RoundManagerConfig,
    ScheduleTimer,
    SendTo,
    Start,
    event_for_message,
)
from consensus.safety_storage import InMemorySafetyStorage, SafetyData, SafetyStorage
from consensus.types import (
    Author,
    BlockId,
    BlockRetrievalRequest,
    ConsensusMsg,
    VoteData,
    make_genesis_block,
)

# --- crypto for tests ------------------------------------------------------------------


class Ed25519Signer:
    """Ed25519 via PyNaCl; the author id is the 32-byte verify key."""

    def __init__(self, seed: bytes) -> None:
        self._key = nacl.signing.SigningKey(hashlib.sha256(seed).digest())
        self._author = Author(bytes(self._key.verify_key))

    @property
    def author(self) -> Author:
        return self._author

    def sign(self, msg: bytes) -> bytes:
        return bytes(self._key.sign(msg).signature)


class Ed25519Verifier:
    """Verifies Ed25519 signatures, caching verify keys."""

    def __init__(self) -> None:
        self._keys: dict[bytes, nacl.signing.VerifyKey] = {}

    def verify(self, author: Author, msg: bytes, sig: bytes) -> bool:
        try:
            key = self._keys.get(author)
            if key is None:
                key = nacl.signing.VerifyKey(author)
                self._keys[author] = key
            key.verify(msg, sig)
            return True
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError):
            return False


class HashSigner:
    """INSECURE keyed-hash "signatures" (anyone can forge): only for fast bulk simulation."""

    def __init__(self, seed: bytes) -> None:
        self._author = Author(hashlib.sha256(b"author" + seed).digest())

    @property
    def author(self) -> Author:
        return self._author

    def sign(self, msg: bytes) -> bytes:
        return hashlib.sha256(self._author + msg).digest()


class HashVerifier:
    """Counterpart of :class:`HashSigner`."""

    def verify(self, author: Author, msg: bytes, sig: bytes) -> bool:
        return hashlib.sha256(author + msg).digest() == sig


# --- fakes of the node's services ----------------------------------------------------------


class SimExecutionEngine:
    """Deterministic execution: a block's root is H(parent root ‖ payload)."""

    def __init__(self, genesis_id: BlockId, diverge: bool = False) -> None:
        self._roots: dict[BlockId, bytes] = {genesis_id: hashlib.sha256(b"genesis-state").digest()}
        self._diverge = diverge
        self.committed: list[BlockId] = []

    def execute(self, block_id: BlockId, parent_id: BlockId, payload: bytes) -> bytes:
        parent = self._roots[parent_id]
        salt = b"divergent" if self._diverge else b""
        root = hashlib.sha256(parent + payload + salt).digest()
        self._roots[block_id] = root
        return root

    def commit(self, block_ids: Sequence[BlockId]) -> None:
        self.committed.extend(block_ids)

    def state_root_for(self, block_id: BlockId) -> bytes | None:
        return self._roots.get(block_id)


class SimPayloadSource:
    """Hands out numbered, never-repeating payloads named after the instance."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._next = 0

    def pull(self, max_txs: int, max_bytes: int, exclude: Sequence[bytes]) -> bytes:
        self._next += 1
        return f"{self._name}:{self._next}".encode()


class RecordingStorage:
    """Safety storage that records every vote it persists (to detect double votes)."""

    def __init__(self, inner: SafetyStorage, on_save: Callable[[SafetyData], None]) -> None:
        self._inner = inner
        self._on_save = on_save

    def load(self) -> SafetyData:
        return self._inner.load()

    def save(self, data: SafetyData) -> None:
        self._inner.save(data)
        self._on_save(data)


# --- network model -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Partition:
    """Between ``start_ms`` and ``end_ms`` only instances in the same group talk."""

    start_ms: int
    end_ms: int
    groups: tuple[frozenset[str], ...]

    def allows(self, now: int, sender: str, receiver: str) -> bool:
        if not self.start_ms <= now < self.end_ms:
            return True
        return any(sender in g and receiver in g for g in self.groups)


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """Link behaviour."""

    min_delay_ms: int = 1
    max_delay_ms: int = 40
    drop_rate: float = 0.0
    partitions: tuple[Partition, ...] = ()


RoundPartition = Callable[[int, int, str, str], bool]
"""(virtual now, sender's round, sender, receiver) -> delivered? Used by Twins scenarios."""


@dataclass
class Instance:
    """One simulated replica process (an honest replica or half of a twin)."""

    name: str
    signer_seed: bytes
    honest: bool
    storage: SafetyStorage
    """Safety data: always survives restarts (it is the replica's fsynced file)."""
    store: InMemoryConsensusStore
    """Blocks and certificates: survive restarts unless wiped."""
    engine: SimExecutionEngine
    """The ledger: survives restarts unless wiped (then it starts again from genesis)."""
    divergent: bool
    manager: RoundManager
    alive: bool = True
    incarnation: int = 0
    chain: list[BlockId] = field(default_factory=list)
    height: int = 0


@dataclass
class SimulationResult:
    """What a run observed."""

    seed: int
    steps: int
    virtual_ms: int
    min_honest_commits: int
    violations: list[str]
    chains: dict[str, list[BlockId]]
    counters: dict[str, dict[str, int]]


class Simulator:
    """N replicas (plus optional twins) on a seeded virtual network."""

    def __init__(
        self,
        *,
        seed: int,
        n: int = 4,
        twins: Sequence[int] = (),
        network: NetworkConfig | None = None,
        round_partition: RoundPartition | None = None,
        election: Callable[[ValidatorSet], ProposerElection] | None = None,
        pacemaker: PacemakerConfig | None = None,
        secure_crypto: bool = False,
        storage_factory: Callable[[str], SafetyStorage] | None = None,
        divergent: Sequence[str] = (),
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.network = network or NetworkConfig()
        self.round_partition = round_partition
        self.now = 0
        self.steps = 0
        self._seq = 0
        self._queue: list[tuple[int, int, str, int, Event]] = []
        self.violations: list[str] = []
        self._commits_changed = True
        self.global_chain: list[BlockId] = []
        self.votes: dict[tuple[bytes, int], VoteData] = {}
        self.timeouts_signed: dict[tuple[bytes, int], int] = {}
        self._signer_cls = Ed25519Signer if secure_crypto else HashSigner
        self._verifier = Ed25519Verifier() if secure_crypto else HashVerifier()
        seeds = [f"validator-{i}".encode() for i in range(n)]
        self.validators = ValidatorSet(
            epoch=1, authors=tuple(self._signer_cls(s).author for s in seeds)
        )
        self._election_factory = election
        self._config = RoundManagerConfig(
            pacemaker=pacemaker or PacemakerConfig(base_ms=300, max_ms=5000, backoff=1.5),
            propose_empty_blocks=True,
        )
        self._storage_factory = storage_factory or (lambda name: InMemorySafetyStorage(epoch=1))
        self.instances: dict[str, Instance] = {}
        names = [f"r{i}" for i in range(n)] + [f"r{i}-twin" for i in twins]
        for name in names:
            index = int(name[1:].split("-")[0])
            honest = index not in twins
            self._add_instance(name, seeds[index], honest, name in divergent)

    # --- construction ---------------------------------------------------------------------

    def _add_instance(self, name: str, seed: bytes, honest: bool, divergent: bool) -> None:
        instance = Instance(
            name=name,
            signer_seed=seed,
            honest=honest,
            storage=self._storage_factory(name),
            store=InMemoryConsensusStore(),
            engine=SimExecutionEngine(make_genesis_id(self.validators), diverge=divergent),
            divergent=divergent,
            manager=None,  # type: ignore[arg-type]  # set by _boot just below
        )
        self.instances[name] = instance
        self._boot(instance)

    def _boot(self, instance: Instance) -> None:
        signer = self._signer_cls(instance.signer_seed)
        recording = RecordingStorage(instance.storage, partial(self._record_safety, instance))
        election = self._election_factory(self.validators) if self._election_factory else None
        manager = RoundManager(
            validators=self.validators,
            signer=signer,
            verifier=self._verifier,
            safety_storage=recording,
            payload_source=SimPayloadSource(f"{instance.name}#{instance.incarnation}"),
            execution=instance.engine,
            election=election,
            config=self._config,
            store=instance.store,
        )
        instance.manager = manager
        # Heights already committed by the ledger are not committed again.
        instance.height = len(instance.engine.committed)
        self._push(self.now, instance.name, instance.incarnation, Start())

    # --- invariants -------------------------------------------------------------------------

    def _record_safety(self, instance: Instance, data: SafetyData) -> None:
        if not instance.honest or data.last_vote is None:
            return
        vote = data.last_vote
        key = (bytes(vote.author), vote.data.block_round)
        previous = self.votes.get(key)
        if previous is None:
            self.votes[key] = vote.data
        elif previous != vote.data:
            self.violations.append(
                f"double vote by {instance.name} in round {vote.data.block_round}"
            )

    def _record_commit(self, instance: Instance, action: CommitBlocks) -> None:
        for block in action.blocks:
            height = instance.height
            if height < len(instance.chain):
                if instance.chain[height] != block.id:
                    self.violations.append(f"{instance.name} re-committed a different block at {height}")
            else:
                instance.chain.append(block.id)
            instance.height += 1
            if not instance.honest:
                continue
            if height < len(self.global_chain):
                if self.global_chain[height] != block.id:
                    self.violations.append(
                        f"conflicting commit at height {height} by {instance.name} (seed {self.seed})"
                    )
            else:
                self.global_chain.append(block.id)

    # --- event loop -------------------------------------------------------------------------

    def _push(self, at: int, name: str, incarnation: int, event: Event) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, name, incarnation, event))

    def _send(self, sender: Instance, receivers: list[Instance], msg: ConsensusMsg) -> None:
        net = self.network
        sender_round = sender.manager.current_round
        event = event_for_message(sender.manager.author, msg)
        for receiver in receivers:
            if net.drop_rate and self.rng.random() < net.drop_rate:
                continue
            if not all(p.allows(self.now, sender.name, receiver.name) for p in net.partitions):
                continue
            if self.round_partition is not None and not self.round_partition(
                self.now, sender_round, sender.name, receiver.name
            ):
                continue
            delay = self.rng.randint(net.min_delay_ms, net.max_delay_ms)
            self._push(self.now + delay, receiver.name, receiver.incarnation, event)

    def _targets(self, sender: Instance, author: Author | None) -> list[Instance]:
        own = sender.manager.author
        return [
            inst
            for inst in self.instances.values()
            if inst is not sender
            and (author is None and inst.manager.author != own or inst.manager.author == author)
        ]

    def _apply(self, instance: Instance, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                self._send(instance, self._targets(instance, None), action.msg)
            elif isinstance(action, SendTo):
                self._send(instance, self._targets(instance, action.author), action.msg)
            elif isinstance(action, ScheduleTimer):
                self._push(
                    self.now + action.delay_ms,
                    instance.name,
                    instance.incarnation,
                    LocalTimeout(action.round),
                )
            elif isinstance(action, CommitBlocks):
                self._record_commit(instance, action)
                self._commits_changed = True
            elif isinstance(action, RequestBlocks):
                request = BlockRetrievalRequest(action.block_id, action.count)
                self._send(instance, self._targets(instance, action.author), request)

    def crash(self, name: str) -> None:
        """Stop a replica now: its pending timers and inbound messages are lost."""
        instance = self.instances[name]
        instance.alive = False
        instance.incarnation += 1
        self._commits_changed = True

    def restart(self, name: str, wipe: bool = False) -> None:
        """Start a new process for ``name`` with its persisted data.

        ``wipe`` loses the block store and the ledger (a disk replaced), keeping only the
        safety data: the replica must then fetch the whole chain from its peers.
        """
        instance = self.instances[name]
        if wipe:
            instance.store = InMemoryConsensusStore()
            instance.engine = SimExecutionEngine(
                make_genesis_id(self.validators), diverge=instance.divergent
            )
        instance.alive = True
        instance.incarnation += 1
        self._commits_changed = True
        self._boot(instance)

    def step(self) -> bool:
        """Deliver the next event; False when nothing is left."""
        if not self._queue:
            return False
        at, _, name, incarnation, event = heapq.heappop(self._queue)
        self.now = at
        instance = self.instances[name]
        if not instance.alive or incarnation != instance.incarnation:
            return True
        self.steps += 1
        self._apply(instance, instance.manager.on_event(event))
        return True

    def honest_commits(self) -> int:
        honest = [i for i in self.instances.values() if i.honest and i.alive]
        return min((i.height for i in honest), default=0)

    def run(
        self,
        *,
        until_commits: int,
        max_steps: int = 200_000,
        max_ms: int = 10_000_000,
        schedule: Sequence[tuple[int, Callable[[Simulator], None]]] = (),
    ) -> SimulationResult:
        """Run until every live honest replica committed ``until_commits`` blocks, or a bound.

        ``schedule`` holds (virtual time, callback) pairs such as crashes and restarts.
        """
        pending = sorted(schedule, key=lambda item: item[0])
        while self.steps < max_steps and self.now <= max_ms:
            while pending and (not self._queue or self._queue[0][0] >= pending[0][0]):
                at, callback = pending.pop(0)
                self.now = max(self.now, at)
                callback(self)
            if not pending and self._commits_changed:
                self._commits_changed = False
                if self.honest_commits() >= until_commits:
                    break
            if not self.step():
                break
        return SimulationResult(
            seed=self.seed,
            steps=self.steps,
            virtual_ms=self.now,
            min_honest_commits=self.honest_commits(),
            violations=list(self.violations),
            chains={name: list(i.chain) for name, i in self.instances.items()},
            counters={name: dict(i.manager.counters) for name, i in self.instances.items()},
        )


def make_genesis_id(validators: ValidatorSet) -> BlockId:
    """The genesis id the simulated engines are seeded with."""
    return make_genesis_block(validators.epoch, validators.fingerprint()).id


def random_network(rng: random.Random, n: int, horizon_ms: int) -> NetworkConfig:
    """A network drawn from ``rng``: delays, some drops, maybe a partition that heals."""
    max_delay = rng.choice([5, 20, 50, 150])
    drop = rng.choice([0.0, 0.0, 0.02, 0.1])
    partitions: tuple[Partition, ...] = ()
    if rng.random() < 0.5:
        names = [f"r{i}" for i in range(n)]
        rng.shuffle(names)
        cut = rng.randint(1, n - 1)
        start = rng.randint(0, horizon_ms // 2)
        end = start + rng.randint(100, horizon_ms)
        partitions = (Partition(start, end, (frozenset(names[:cut]), frozenset(names[cut:]))),)
    return NetworkConfig(min_delay_ms=1, max_delay_ms=max_delay, drop_rate=drop, partitions=partitions)


def make_ed25519_validators(n: int, epoch: int = 1) -> tuple[list[Ed25519Signer], ValidatorSet]:
    """``n`` Ed25519 signers with fixed seeds and their validator set (for tests)."""
    signers = [Ed25519Signer(f"validator-{i}".encode()) for i in range(n)]
    return signers, ValidatorSet(epoch=epoch, authors=tuple(s.author for s in signers))
