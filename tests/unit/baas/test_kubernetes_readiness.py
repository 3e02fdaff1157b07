"""The readiness the Kubernetes manifests probe (``GET /ready`` on a node's gateway): ready only when
every ledger is caught up with its peers and, on a validator, voting. A node that serves /health but
lags, has halted, diverged or stopped voting must answer 503 with a stable code, so the Service stops
sending it clients and the PodDisruptionBudget stops counting it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from node.gateway.app import create_app
from node.gateway.routers.system import READY_LAG_BLOCKS, READY_VOTE_WINDOW_SECONDS, readiness_problems

LEDGER = "j5LedgerHashAAAAAAAAAAAAAAAAAAA"


@dataclass
class FakeReplica:
    """What the gateway sees of node.replica.Replica: status() and the heights peers reported."""

    height: int = 10
    validator: bool = True
    votes_sent: int = 5
    local_timeouts: int = 0
    round: int = 7
    halted: bool = False
    divergence: str | None = None
    peer_heights: dict[bytes, int] = field(default_factory=dict)
    on_commit: Any = None

    def status(self) -> dict[str, Any]:
        return {"height": self.height, "validator": self.validator, "halted": self.halted, "round": self.round,
                "divergence": self.divergence,
                "consensus": {"votes_sent": self.votes_sent, "local_timeouts": self.local_timeouts}}


@dataclass
class FakeLedger:
    height: int = 10


@dataclass
class FakeRuntime:
    committer: Any
    ledger: Any = field(default_factory=FakeLedger)
    mempool: Any = None


class Gateway:
    """The gateway app in process (ASGI), as node.server serves it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def get(self, path: str) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://gateway") as client:
                return await client.get(path)

        return asyncio.run(go())


def gateway(replica: FakeReplica) -> Gateway:
    return Gateway(create_app({LEDGER: FakeRuntime(replica)}))  # type: ignore[dict-item]


def test_a_voting_caught_up_validator_is_ready_and_a_lagging_one_is_not():
    replica = FakeReplica(peer_heights={b"peer": 10 + READY_LAG_BLOCKS})
    client = gateway(replica)
    answer = client.get("/ready")
    assert answer.status_code == 200 and answer.json() == {"status": "ready", "ledgers": [LEDGER]}
    replica.peer_heights[b"peer"] = 10 + READY_LAG_BLOCKS + 1  # a peer is further ahead than the tolerance
    answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.json()["code"] == "NOT_READY"
    assert "catching up: height 10 of 14" in answer.json()["message"]
    assert answer.headers["Retry-After"] == "5"
    assert client.get("/health").status_code == 200  # alive, just not ready


def test_halted_and_diverged_ledgers_are_not_ready():
    replica = FakeReplica(halted=True)
    client = gateway(replica)
    assert "halted" in client.get("/ready").json()["message"]
    replica.halted, replica.divergence = False, "state root differs at height 9"
    answer = client.get("/ready")
    assert answer.status_code == 503 and "diverged: state root differs at height 9" in answer.json()["message"]


def test_a_validator_that_stops_voting_becomes_unready_and_recovers_when_it_votes():
    replica = FakeReplica(votes_sent=0)
    app = create_app({LEDGER: FakeRuntime(replica)})  # type: ignore[dict-item]
    assert readiness_problems(app, now=1000.0) == {LEDGER: "not voting: no vote or timeout signed in the last 60 s"}
    replica.votes_sent, replica.round = 1, 8
    assert readiness_problems(app, now=1001.0) == {}
    # Nothing new, but still within the window: ready.
    assert readiness_problems(app, now=1001.0 + READY_VOTE_WINDOW_SECONDS) == {}
    # The window passes without a signature: not ready.
    assert LEDGER in readiness_problems(app, now=1002.0 + READY_VOTE_WINDOW_SECONDS)
    replica.votes_sent, replica.round = 2, 9
    assert readiness_problems(app, now=1003.0 + READY_VOTE_WINDOW_SECONDS) == {}


def test_an_idle_network_moved_by_timeout_certificates_stays_ready_but_a_partitioned_validator_does_not():
    replica = FakeReplica(votes_sent=3, round=6)
    app = create_app({LEDGER: FakeRuntime(replica)})  # type: ignore[dict-item]
    assert readiness_problems(app, now=0.0) == {}
    # Idle: no proposals, no votes; the validator signs timeouts and TCs move the round (as a real
    # one-validator node does: round 6 -> 11 in 20 s with votes_sent unchanged).
    for step in range(1, 6):
        replica.local_timeouts += 1
        replica.round += 1
        assert readiness_problems(app, now=step * 50.0) == {}
    # Partitioned: it keeps signing timeouts, but no quorum certificate moves its round.
    for step in range(6, 9):
        replica.local_timeouts += 1
        problems = readiness_problems(app, now=step * 50.0)
    assert problems == {LEDGER: "not voting: no quorum certificate moved the round in the last 60 s"}


def test_an_observer_needs_only_to_be_caught_up_and_a_stopping_node_is_never_ready():
    replica = FakeReplica(validator=False, votes_sent=0)
    app = create_app({LEDGER: FakeRuntime(replica)})  # type: ignore[dict-item]
    assert readiness_problems(app, now=0.0) == {}
    app.state.shutting_down.set()
    assert readiness_problems(app, now=0.0) == {"*": "shutting down"}
    assert Gateway(app).get("/ready").status_code == 503
