"""The sans-IO consensus core: events in, actions out.

The node (or the simulator) drives one :class:`RoundManager` per replica from a
single thread: it turns network messages, timer expiries and mempool signals
into :data:`Event` values, calls :meth:`RoundManager.on_event`, and carries out
the returned :data:`Action` values in order (send, broadcast, arm a timer, hand
committed blocks to the ledger, fetch blocks from a peer). The core never reads
a clock, never does I/O and never draws randomness, so a seeded simulation of
many replicas is exactly reproducible.

State. The round manager owns mutable state — the block tree, pending votes and
timeouts, buffered messages — and mutates it only inside ``on_event``. The parts
with rules worth reading on their own are values: the round state is advanced
by the pure functions of :mod:`consensus.pacemaker`, the safety data is replaced
(never edited) by :mod:`consensus.safety_rules`.

Robustness. Every message is verified before it changes anything (signatures,
quorums, epoch, leader, round sanity). An invalid message is dropped and
counted in :attr:`RoundManager.counters`; nothing a peer sends can raise out of
``on_event``.

Proposing. The leader of a round proposes as soon as it enters the round
(after a QC or a TC of the previous round), extending its highest QC, with a
payload pulled from the :class:`PayloadSource`. An empty payload is proposed
only when it is needed for progress: when an uncommitted ancestor carries
transactions (an empty child is what commits it under the two-chain rule), or
when ``propose_empty_blocks`` is set. Otherwise the leader waits for a
:class:`PayloadReady` event within the round.

Driving the core (what the node's reactor does):

* once at start-up: ``Start()``;
* for each decoded, size-checked message from peer ``author``:
  ``event_for_message(author, msg)`` (proposal, vote, timeout, sync info, block
  request, block response);
* when a timer armed by ``ScheduleTimer(round, delay_ms)`` expires:
  ``LocalTimeout(round)`` (stale rounds are ignored, so timers need no cancelling);
* when the mempool goes from empty to non-empty: ``PayloadReady()``.

and for the actions: ``Broadcast``/``SendTo`` encode with
:func:`consensus.types.encode_message` and send; ``RequestBlocks`` sends a
``BlockRetrievalRequest`` to that peer (its answer arrives as a message like any
other); ``CommitBlocks`` persists the blocks with their commit certificate and
notifies clients (the executor's ``commit`` was already called; after a crash
between the two a block may be committed again: skip heights the ledger has);
``Log`` goes to the log.

Catch-up. When a message refers to a block we do not have, the message is
buffered and a :class:`RequestBlocks` action asks the sender for the missing
chain; the :class:`BlocksFetched` event delivers it, blocks are checked to link
by hash under verified QCs, inserted oldest first, and the buffered messages
are processed again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence, Union

from consensus.block_store import ConsensusStore, InMemoryConsensusStore
from consensus.block_tree import BlockTree
from consensus.errors import ConsensusError, InvalidMessage, SafetyViolation
from consensus.interfaces import (
    ExecutionEngine,
    PayloadSource,
    ProposerElection,
    SignatureVerifier,
    Signer,
    ValidatorSet,
)
from consensus.leader_election import RoundRobinElection
from consensus.pacemaker import PacemakerConfig, RoundState, observe_certificates, round_timeout_ms
from consensus.safety_rules import SafetyRules
from consensus.safety_storage import SafetyStorage
from consensus.types import (
    Author,
    Block,
    BlockId,
    BlockRetrievalRequest,
    BlockRetrievalResponse,
    ConsensusMsg,
    ProposalMsg,
    QuorumCertificate,
    SyncInfo,
    SyncInfoMsg,
    TimeoutCertificate,
    TimeoutMsg,
    TimeoutSignature,
    Vote,
    VoteMsg,
    make_genesis_block,
    make_genesis_qc,
    proposal_signing_bytes,
)
from consensus.verification import MessageVerifier
from ledger.errors import CodecError

# --- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Feed once after construction (and after a restart): arms the first timer, may propose."""


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    """A proposal arrived from ``sender``."""

    sender: Author
    proposal: ProposalMsg


@dataclass(frozen=True, slots=True)
class VoteReceived:
    """A vote arrived (we are presumably the next round's leader)."""

    sender: Author
    message: VoteMsg


@dataclass(frozen=True, slots=True)
class TimeoutReceived:
    """A timeout arrived."""

    sender: Author
    timeout: TimeoutMsg


@dataclass(frozen=True, slots=True)
class SyncInfoReceived:
    """Sync info arrived alone (reply to our stale message, or a periodic gossip)."""

    sender: Author
    sync_info: SyncInfo


@dataclass(frozen=True, slots=True)
class LocalTimeout:
    """A timer armed by ``ScheduleTimer(round, ...)`` fired."""

    round: int


@dataclass(frozen=True, slots=True)
class PayloadReady:
    """The mempool has transactions; a waiting leader proposes now."""


@dataclass(frozen=True, slots=True)
class BlocksFetched:
    """A peer answered our ``RequestBlocks``."""

    sender: Author
    response: BlockRetrievalResponse


@dataclass(frozen=True, slots=True)
class BlockRequestReceived:
    """A peer asks us for blocks; we answer with a ``SendTo`` of a BlockRetrievalResponse."""

    sender: Author
    request: BlockRetrievalRequest


Event = Union[
    Start,
    ProposalReceived,
    VoteReceived,
    TimeoutReceived,
    SyncInfoReceived,
    LocalTimeout,
    PayloadReady,
    BlocksFetched,
    BlockRequestReceived,
]


def event_for_message(sender: Author, msg: ConsensusMsg) -> Event:
    """The event a reactor feeds for a message decoded from the network."""
    if isinstance(msg, ProposalMsg):
        return ProposalReceived(sender, msg)
    if isinstance(msg, VoteMsg):
        return VoteReceived(sender, msg)
    if isinstance(msg, TimeoutMsg):
        return TimeoutReceived(sender, msg)
    if isinstance(msg, SyncInfoMsg):
        return SyncInfoReceived(sender, msg.sync_info)
    if isinstance(msg, BlockRetrievalRequest):
        return BlockRequestReceived(sender, msg)
    return BlocksFetched(sender, msg)


# --- actions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``msg`` to every other validator."""

    msg: ConsensusMsg


@dataclass(frozen=True, slots=True)
class SendTo:
    """Send ``msg`` to one validator."""

    author: Author
    msg: ConsensusMsg


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    """Feed ``LocalTimeout(round)`` after ``delay_ms``; earlier timers may be left to fire."""

    round: int
    delay_ms: int


@dataclass(frozen=True, slots=True)
class CommitBlocks:
    """These blocks are final, oldest first; ``commit_qc`` certifies it (store it with them).

    The core has already called ``ExecutionEngine.commit`` for them.
    """

    blocks: tuple[Block, ...]
    commit_qc: QuorumCertificate


@dataclass(frozen=True, slots=True)
class RequestBlocks:
    """Send ``BlockRetrievalRequest(block_id, count)`` to ``author``; feed the answer as BlocksFetched."""

    author: Author
    block_id: BlockId
    count: int


@dataclass(frozen=True, slots=True)
class Log:
    """Something an operator should see."""

    level: Literal["debug", "info", "warning", "error"]
    message: str


Action = Union[Broadcast, SendTo, ScheduleTimer, CommitBlocks, RequestBlocks, Log]


# --- configuration --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundManagerConfig:
    """Knobs of the core."""

    pacemaker: PacemakerConfig = field(default_factory=PacemakerConfig)
    """Round timers."""
    max_block_txs: int = 1000
    """Batch size limit passed to the payload source."""
    max_block_bytes: int = 1 << 20
    """Batch byte limit passed to the payload source."""
    propose_empty_blocks: bool = False
    """Propose empty blocks even when nothing is pending (useful for heartbeat chains)."""
    fetch_count: int = 128
    """Most blocks asked for or served in one retrieval."""
    max_buffered: int = 256
    """Messages kept while waiting for missing blocks."""
    max_future_rounds: int = 16
    """Timeouts, and votes waiting for their blocks, further ahead than this are ignored (bounds
    memory against spam)."""


MAX_QCS_AWAITING_BLOCK = 8
"""QCs kept while their block is fetched (one per round this replica leads after; a few suffice)."""


# --- the core -------------------------------------------------------------------------


class RoundManager:
    """One replica's protocol state machine. See the module docstring."""

    def __init__(
        self,
        *,
        validators: ValidatorSet,
        signer: Signer,
        verifier: SignatureVerifier,
        safety_storage: SafetyStorage,
        payload_source: PayloadSource,
        execution: ExecutionEngine,
        election: ProposerElection | None = None,
        config: RoundManagerConfig | None = None,
        store: ConsensusStore | None = None,
        payload_validator: Callable[[Block, Sequence[bytes]], str | None] | None = None,
    ) -> None:
        """Build the core; with a ``store`` that holds data, recover the block tree from it.

        ``payload_validator(block, ancestors)`` (optional) is asked before voting for a
        proposal: ``ancestors`` are the payloads of the block's uncommitted ancestors,
        oldest first. It returns None to accept, or the reason to refuse the vote (the
        node checks decoding, size limits and the proposer's clock there).
        """
        self.validators = validators
        self.author = signer.author
        self._signer = signer
        self._config = config or RoundManagerConfig()
        self._election = election or RoundRobinElection(validators)
        self._payloads = payload_source
        self._execution = execution
        self._payload_validator = payload_validator
        self.genesis = make_genesis_block(validators.epoch, validators.fingerprint())
        genesis_qc = make_genesis_qc(self.genesis)
        self._verifier = MessageVerifier(validators, verifier, genesis_qc)
        self._safety = SafetyRules(signer, safety_storage, validators.epoch)
        self._store: ConsensusStore = store if store is not None else InMemoryConsensusStore()
        self.highest_tc: TimeoutCertificate | None = None
        recovery = self._store.recover()
        if recovery is None:
            self._store.save_quorum_certificate(genesis_qc)
            self._store.save_commit([self.genesis], genesis_qc)
            recovery = self._store.recover()
            if recovery is None:
                raise ConsensusError("the consensus store lost the genesis block it just saved")
        self.tree = BlockTree(
            recovery.root, recovery.root_qc, recovery.commit_qc, self._store.committed_block
        )
        for block in recovery.blocks:
            self._insert_block(block)
        for qc in recovery.qcs:
            self.tree.insert_qc(qc)
        self.highest_tc = recovery.highest_tc
        tc_round = self.highest_tc.round if self.highest_tc is not None else 0
        self.round_state = observe_certificates(
            RoundState(),
            qc_round=self.tree.highest_qc.round,
            tc_round=tc_round,
            commit_round=self.tree.root.round,
        )
        self._proposed_round = 0
        self._shared_qc_round = 0
        self._not_proposed: tuple[int, str] = (0, "")
        """(round, why this replica, leading that round, had not proposed in it): for the timeout log."""
        self._proposing = False
        self._propose_again = False
        self._timed_out_round = 0
        self._votes: dict[int, dict[Author, Vote]] = {}
        self._timeouts: dict[int, dict[Author, TimeoutMsg]] = {}
        self._buffered: list[Event] = []
        self._qcs_awaiting_block: dict[BlockId, QuorumCertificate] = {}
        """QCs this replica formed from votes for a block it has not received yet (being fetched)."""
        self._inflight: dict[BlockId, Author] = {}
        self._orphans: dict[BlockId, Block] = {}
        self.counters: dict[str, int] = {}
        self._actions: list[Action] = []

    # --- entry point ------------------------------------------------------------------

    def on_event(self, event: Event) -> list[Action]:
        """Process one event; return the actions to carry out, in order."""
        self._actions = []
        try:
            self._dispatch(event)
            if self._qcs_awaiting_block:
                self._resume_awaiting_qcs()
        except InvalidMessage as exc:
            self._count("dropped_invalid")
            self._log("warning", f"dropped {type(event).__name__}: {exc.message}")
        except CodecError as exc:
            self._count("dropped_malformed")
            self._log("warning", f"dropped {type(event).__name__}: {exc.message}")
        actions, self._actions = self._actions, []
        return actions

    @property
    def current_round(self) -> int:
        return self.round_state.current_round

    def sync_info(self) -> SyncInfo:
        """What we know, in the shape peers use to catch up."""
        tc = self.highest_tc
        if tc is not None and tc.round <= self.tree.highest_qc.round:
            tc = None
        return SyncInfo(self.tree.highest_qc, self.tree.highest_commit_qc, tc)

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, ProposalReceived):
            self._on_proposal(event)
        elif isinstance(event, VoteReceived):
            self._on_vote(event)
        elif isinstance(event, TimeoutReceived):
            self._on_timeout(event)
        elif isinstance(event, SyncInfoReceived):
            self._on_sync_info(event)
        elif isinstance(event, LocalTimeout):
            self._on_local_timeout(event.round)
        elif isinstance(event, BlocksFetched):
            self._on_blocks_fetched(event)
        elif isinstance(event, BlockRequestReceived):
            self._on_block_request(event)
        elif isinstance(event, PayloadReady):
            self._maybe_propose()
        else:
            self._start()

    # --- helpers ------------------------------------------------------------------------

    def _emit(self, action: Action) -> None:
        self._actions.append(action)

    def _log(self, level: Literal["debug", "info", "warning", "error"], message: str) -> None:
        self._actions.append(Log(level, message))

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def _leader(self, round: int) -> Author:
        return self._election.leader(round)

    def _insert_block(self, block: Block) -> bool:
        """Insert a block whose parent is in the tree and execute it speculatively."""
        if not self.tree.insert_block(block):
            return False
        self._store.save_block(block)
        if self._execution.state_root_for(block.id) is None:
            self._execution.execute(block.id, block.parent_id, block.payload)
        return True

    def _fetch(self, sender: Author, block_id: BlockId, round_hint: int) -> None:
        """Ask ``sender`` for the chain ending at ``block_id`` unless already asked."""
        if block_id in self._inflight or sender == self.author:
            return
        self._inflight[block_id] = sender
        count = max(1, min(self._config.fetch_count, round_hint - self.tree.root.round))
        self._count("block_requests")
        self._emit(RequestBlocks(sender, block_id, count))

    def _buffer(self, event: Event) -> None:
        if len(self._buffered) >= self._config.max_buffered:
            self._buffered.pop(0)
            self._count("buffer_overflow")
        self._buffered.append(event)

    # --- certificates --------------------------------------------------------------------

    def _process_qc(self, qc: QuorumCertificate, sender: Author) -> bool:
        """Record a verified QC; commit by it; False if its block must be fetched first."""
        if not self.tree.contains(qc.block_id):
            if qc.round <= self.tree.root.round or self.tree.is_known(qc.block_id):
                return True
            self._fetch(sender, qc.block_id, qc.round)
            return False
        if self.tree.qc_for(qc.block_id) is None:
            self._store.save_quorum_certificate(qc)
        self.tree.insert_qc(qc)
        committed = self.tree.commit(qc)
        if committed:
            self._on_commit(committed, qc)
        return True

    def _process_tc(self, tc: TimeoutCertificate, sender: Author) -> bool:
        if self.highest_tc is None or tc.round > self.highest_tc.round:
            self.highest_tc = tc
            self._store.save_timeout_certificate(tc)
        return self._process_qc(tc.high_qc, sender)

    def _process_sync_info(self, sync_info: SyncInfo, sender: Author) -> bool:
        """Fold a verified sync info in; False if some certified block is missing."""
        complete = self._process_qc(sync_info.highest_commit_qc, sender)
        complete = self._process_qc(sync_info.highest_qc, sender) and complete
        if sync_info.highest_tc is not None:
            complete = self._process_tc(sync_info.highest_tc, sender) and complete
        return complete

    def _on_commit(self, blocks: list[Block], qc: QuorumCertificate) -> None:
        # The ledger first: a crash in between makes the store replay, never skip, blocks.
        self._execution.commit([b.id for b in blocks])
        self._store.save_commit(blocks, qc)
        self.round_state = observe_certificates(self.round_state, commit_round=blocks[-1].round)
        self._count_many("committed_blocks", len(blocks))
        self._emit(CommitBlocks(tuple(blocks), qc))

    def _count_many(self, name: str, amount: int) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    # --- rounds ------------------------------------------------------------------------

    def _start(self) -> None:
        # A recovered QC may commit what the crash interrupted.
        self._process_qc(self.tree.highest_qc, self.author)
        self._emit(ScheduleTimer(self.current_round, self._timeout_ms()))
        self._maybe_propose()

    def _timeout_ms(self) -> int:
        return round_timeout_ms(self.round_state, self._config.pacemaker)

    def _update_round(self) -> None:
        """Move to the round after the highest certificate; arm its timer; propose if leader."""
        old = self.round_state.current_round
        tc_round = self.highest_tc.round if self.highest_tc is not None else 0
        self.round_state = observe_certificates(
            self.round_state, qc_round=self.tree.highest_qc.round, tc_round=tc_round
        )
        new = self.round_state.current_round
        if new <= old:
            return
        self._votes = {r: v for r, v in self._votes.items() if r >= new - 1}
        self._timeouts = {r: t for r, t in self._timeouts.items() if r >= new}
        self._emit(ScheduleTimer(new, self._timeout_ms()))
        self._maybe_propose()

    def _on_local_timeout(self, round: int) -> None:
        if round != self.current_round:
            return
        # Requests lost with the network get one more chance per timeout.
        self._inflight.clear()
        self._emit(ScheduleTimer(round, self._timeout_ms()))
        voted = self._safety.data.last_voted_round >= round
        try:
            timeout = self._safety.sign_timeout(round, self.tree.highest_qc, self.highest_tc)
        except SafetyViolation as exc:
            # Typically a restarted replica whose preferred QC is not known yet: ask peers.
            self._count("timeout_refused")
            self._log("warning", f"not signing timeout for round {round}: {exc.message}")
            self._emit(Broadcast(SyncInfoMsg(self.sync_info())))
            return
        self._timed_out_round = round
        self._count("local_timeouts")
        leader = self._leader(round)
        proposed = self._proposed_round >= round
        why = ""
        if leader == self.author and not proposed:
            why = f" ({self._not_proposed[1] if self._not_proposed[0] == round else 'never asked'})"
        self._log("info", f"round {round} timed out: leader {bytes(leader)[:6].hex()}"
                  f"{' (this replica)' if leader == self.author else ''}, voted in it: {voted}, "
                  f"proposed in it: {proposed}{why}, highest QC round {self.tree.highest_qc.round}")
        self._emit(Broadcast(timeout))
        self._collect_timeout(timeout)

    # --- proposals ---------------------------------------------------------------------

    def _maybe_propose(self) -> None:
        """Propose if we lead the current round — iteratively, never recursively.

        With a single validator (or whenever we lead consecutive rounds) our own vote forms
        the QC that moves us to the next round we lead, which asks to propose again from
        inside the first proposal. A nested call only flags that another attempt is due;
        the outermost call loops, so the call depth stays constant however long the chain.
        """
        if self._proposing:
            self._propose_again = True
            return
        self._proposing = True
        try:
            self._propose_again = True
            while self._propose_again:
                self._propose_again = False
                self._propose_once()
        finally:
            self._proposing = False

    def _propose_once(self) -> None:
        round = self.current_round
        if self._leader(round) != self.author or self._proposed_round >= round:
            return
        if self._safety.data.last_voted_round >= round:
            self._not_proposed = (round, "already voted in the round")
            return  # restarted mid-round: our own proposal could not get our vote anyway
        high_qc = self.tree.highest_qc
        if not self.tree.contains(high_qc.block_id):
            self._not_proposed = (round, "fetching the highest QC's block")
            return  # still fetching it; retried after BlocksFetched
        parent_root = self._execution.state_root_for(high_qc.block_id)
        if parent_root is None:
            self._not_proposed = (round, "no execution root for the highest QC's block")
            return
        pending = self.tree.uncommitted_payloads(high_qc.block_id)
        payload = self._payloads.pull(
            self._config.max_block_txs, self._config.max_block_bytes, tuple(pending)
        )
        needed = any(pending) or self._config.propose_empty_blocks
        if not payload and not needed:
            self._not_proposed = (round, "nothing to order")
            self._share_highest_qc()
            return  # nothing to order: wait for PayloadReady in this round
        block = Block(
            epoch=self.validators.epoch,
            round=round,
            parent_qc=high_qc,
            payload=payload,
            author=self.author,
            parent_execution_root=parent_root,
        )
        proposal = ProposalMsg(
            block=block,
            sync_info=self.sync_info(),
            signature=self._signer.sign(proposal_signing_bytes(block.id)),
        )
        self._proposed_round = round
        self._count("proposals")
        self._emit(Broadcast(proposal))
        self._handle_proposal(self.author, proposal)

    def _share_highest_qc(self) -> None:
        """The leader has nothing to propose: still send on the QC it formed (once per QC).

        The others learn a QC from the next proposal that carries it. At the end of a burst there
        is none: the leader that formed the QC completing the last block's commit was the only
        replica to commit it, and the others waited a round timeout (1 s and more) for a TC.
        """
        qc = self.tree.highest_qc
        if qc.round <= self._shared_qc_round:
            return
        self._shared_qc_round = qc.round
        self._count("idle_qc_shared")
        self._emit(Broadcast(SyncInfoMsg(self.sync_info())))

    def _on_proposal(self, event: ProposalReceived) -> None:
        proposal = event.proposal
        self._verifier.verify_proposal(proposal, self._leader(proposal.block.round))
        if not self._handle_proposal(event.sender, proposal):
            self._buffer(event)

    def _handle_proposal(self, sender: Author, proposal: ProposalMsg) -> bool:
        """Process a verified proposal; False if it must wait for missing blocks."""
        block = proposal.block
        if block.parent_qc is None:  # MessageVerifier refuses these; checked again, never assumed
            raise InvalidMessage("proposal without a parent certificate")
        complete = self._process_sync_info(proposal.sync_info, sender)
        complete = self._process_qc(block.parent_qc, sender) and complete
        self._update_round()
        if block.round < self.current_round:
            self._count("proposal_stale")
            return True
        if block.round > self.current_round:
            if not complete:
                return False  # its justification is being fetched
            # Certificates known and still not our round: the leader skipped ahead unjustified.
            self._count("proposal_round_unjustified")
            return True
        if not self.tree.contains(block.parent_id):
            # Either a fork below our commit (drop) or a parent being fetched (wait).
            return block.parent_round <= self.tree.root.round
        if self._payload_validator is not None and block.author != self.author:
            ancestors = self.tree.uncommitted_payloads(block.parent_id)
            reason = self._payload_validator(block, ancestors)
            if reason is not None:
                self._count("payload_rejected")
                self._log("warning", f"not voting for round {block.round}: {reason}")
                return True
        self._insert_block(block)
        self._vote_for(block)
        return True

    def _vote_for(self, block: Block) -> None:
        mine = self._execution.state_root_for(block.parent_id)
        if mine != block.parent_execution_root:
            self._count("execution_root_mismatch")
            self._log(
                "error",
                f"not voting for round {block.round}: parent execution root differs from ours",
            )
            return
        tc = self.highest_tc
        if tc is not None and tc.round != block.round - 1:
            tc = None
        try:
            vote = self._safety.construct_and_sign_vote(block, tc)
        except SafetyViolation as exc:
            self._count("vote_refused")
            self._log("info", f"not voting in round {block.round}: {exc.message}")
            return
        self._count("votes_sent")
        next_leader = self._leader(block.round + 1)
        if next_leader == self.author:
            self._collect_vote(vote)
        else:
            self._emit(SendTo(next_leader, VoteMsg(vote, self.sync_info())))

    # --- votes ---------------------------------------------------------------------------

    def _on_vote(self, event: VoteReceived) -> None:
        vote = event.message.vote
        self._verifier.verify_vote(vote)
        self._verifier.verify_sync_info(event.message.sync_info)
        complete = self._process_sync_info(event.message.sync_info, event.sender)
        self._update_round()
        round = vote.data.block_round
        if not complete and round > self.current_round and self._leader(round + 1) == self.author:
            # We are behind the voter: the blocks its certificates name are being fetched. Dropped
            # as "stale", these votes were lost, and with them the QC and the round (it timed out
            # everywhere). They count once the blocks are in (retried after BlocksFetched).
            # Bounded like timeouts, and each vote kept once: a faulty validator repeating its
            # votes must not push the buffered proposals out.
            if round <= self.current_round + self._config.max_future_rounds and event not in self._buffered:
                self._count("vote_buffered")
                self._buffer(event)
            return
        self._collect_vote(vote)  # (a vote for another leader is counted there, as before)

    def _collect_vote(self, vote: Vote) -> None:
        round = vote.data.block_round
        if self._leader(round + 1) != self.author:
            self._count("vote_not_for_us")
            return
        if round < self.current_round - 1 or round > self.current_round:
            self._count("vote_stale")
            return
        if self.tree.qc_for(vote.data.block_id) is not None:
            return  # certificate already formed; late vote
        votes = self._votes.setdefault(round, {})
        previous = votes.get(vote.author)
        if previous is not None:
            if previous.data != vote.data:
                self._count("equivocating_votes")
                self._log("warning", f"equivocating votes in round {round}")
            return
        votes[vote.author] = vote
        matching = sorted(
            (v.author, v.signature) for v in votes.values() if v.data == vote.data
        )
        if len(matching) < self.validators.quorum:
            return
        qc = QuorumCertificate(data=vote.data, signatures=tuple(matching))
        self._count("qcs_formed")
        sender = vote.author if vote.author != self.author else self._leader(round)
        if not self._process_qc(qc, sender):
            # The votes came before the block (it is being fetched). Dropped, this QC was lost with
            # the round: no later vote re-forms it, and the round timed out everywhere.
            if len(self._qcs_awaiting_block) >= MAX_QCS_AWAITING_BLOCK:
                del self._qcs_awaiting_block[next(iter(self._qcs_awaiting_block))]
            self._qcs_awaiting_block[qc.block_id] = qc
        self._update_round()

    def _resume_awaiting_qcs(self) -> None:
        """Process the QCs formed before their blocks arrived, once the blocks are in the tree."""
        root_round = self.tree.root.round
        for block_id, qc in list(self._qcs_awaiting_block.items()):
            if qc.round <= root_round:
                del self._qcs_awaiting_block[block_id]  # committed past it meanwhile
            elif self.tree.contains(block_id):
                del self._qcs_awaiting_block[block_id]
                self._process_qc(qc, self.author)
        self._update_round()

    # --- timeouts ------------------------------------------------------------------------

    def _on_timeout(self, event: TimeoutReceived) -> None:
        timeout = event.timeout
        self._verifier.verify_timeout(timeout)
        if timeout.round < self.current_round:
            # The sender is behind: help it catch up.
            self._emit(SendTo(event.sender, SyncInfoMsg(self.sync_info())))
            self._process_qc(timeout.high_qc, event.sender)
            return
        if timeout.round > self.current_round + self._config.max_future_rounds:
            self._count("timeout_too_far_ahead")
            return
        self._process_qc(timeout.high_qc, event.sender)
        self._update_round()
        if timeout.round >= self.current_round:
            self._collect_timeout(timeout)

    def _collect_timeout(self, timeout: TimeoutMsg) -> None:
        round = timeout.round
        timeouts = self._timeouts.setdefault(round, {})
        if timeout.author in timeouts:
            return
        timeouts[timeout.author] = timeout
        # Bracha-style join: f + 1 timeouts mean at least one honest replica gave up.
        if (
            round == self.current_round
            and self._timed_out_round < round
            and len(timeouts) > self.validators.max_faulty
        ):
            self._on_local_timeout(round)
            if round != self.current_round:
                return
        if len(timeouts) < self.validators.quorum or (
            self.highest_tc is not None and self.highest_tc.round >= round
        ):
            return
        shares = sorted(timeouts.values(), key=lambda t: t.author)
        high_qc = max((t.high_qc for t in shares), key=lambda qc: qc.round)
        tc = TimeoutCertificate(
            epoch=self.validators.epoch,
            round=round,
            high_qc=high_qc,
            signatures=tuple(TimeoutSignature(t.author, t.high_qc.round, t.signature) for t in shares),
        )
        self._count("tcs_formed")
        self._process_tc(tc, timeout.author)
        self._update_round()

    # --- sync ---------------------------------------------------------------------------

    def _on_sync_info(self, event: SyncInfoReceived) -> None:
        self._verifier.verify_sync_info(event.sync_info)
        if event.sync_info.highest_round + 1 < self.current_round:
            # The sender is behind us: answer with what we know (it will not answer back).
            self._emit(SendTo(event.sender, SyncInfoMsg(self.sync_info())))
        if not self._process_sync_info(event.sync_info, event.sender):
            self._buffer(event)
        self._update_round()

    def _on_block_request(self, event: BlockRequestReceived) -> None:
        count = min(event.request.count, self._config.fetch_count)
        blocks = self.tree.retrieve(event.request.block_id, count)
        response = BlockRetrievalResponse(event.request.block_id, tuple(blocks))
        self._emit(SendTo(event.sender, response))

    def _on_blocks_fetched(self, event: BlocksFetched) -> None:
        response = event.response
        if self._inflight.get(response.block_id) is None:
            self._count("unsolicited_blocks")
            return
        del self._inflight[response.block_id]
        blocks = response.blocks
        if not blocks or blocks[0].id != response.block_id:
            raise InvalidMessage("block response does not start at the requested block")
        for i, block in enumerate(blocks):
            if block.epoch != self.validators.epoch:
                raise InvalidMessage("fetched block of another epoch")
            if block.parent_qc is None:
                if block != self.genesis:
                    raise InvalidMessage("fetched block without parent certificate")
                continue
            if i + 1 < len(blocks) and blocks[i + 1].id != block.parent_id:
                raise InvalidMessage("fetched blocks do not link by hash")
            self._verifier.verify_qc(block.parent_qc)
        for block in blocks:
            if block.parent_qc is not None and not self.tree.is_known(block.id):
                if len(self._orphans) >= 4 * self._config.fetch_count:
                    self._orphans.clear()
                self._orphans[block.id] = block
        self._connect_orphans()
        oldest = blocks[-1]
        if not self.tree.is_known(oldest.id) and oldest.parent_round > self.tree.root.round:
            self._fetch(event.sender, oldest.parent_id, oldest.parent_round)
        self._retry_buffered()
        self._update_round()

    def _connect_orphans(self) -> None:
        """Insert fetched blocks whose parent is now in the tree, oldest first."""
        progress = True
        while progress:
            progress = False
            ready = sorted(
                (b for b in self._orphans.values() if self.tree.contains(b.parent_id)),
                key=lambda b: b.round,
            )
            for block in ready:
                del self._orphans[block.id]
                if self._insert_block(block) and block.parent_qc is not None:  # the tree takes none without one
                    self._process_qc(block.parent_qc, block.author)
                    progress = True
            stale = [b.id for b in self._orphans.values() if b.round <= self.tree.root.round]
            for block_id in stale:
                del self._orphans[block_id]

    def _retry_buffered(self) -> None:
        buffered, self._buffered = self._buffered, []
        for event in buffered:
            try:
                self._dispatch(event)
            except (InvalidMessage, CodecError):
                self._count("dropped_invalid")
