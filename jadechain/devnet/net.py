"""A local network of validator processes on 127.0.0.1: create, start, watch, stop.

``create_network(dir, nodes, crypto)`` lays out a network in ``dir``::

    dir/network.json          the layout (what the other functions read)
    dir/keys/nodeN.json       encrypted consensus keys; dir/keys/PASSWORD (0600)
    dir/ledger.toml           the genesis configuration; dir/genesis.json the assembled genesis
    dir/nodeN/                data directory (ledgers/<hash>/, consensus/<hash>/)
    dir/nodeN.toml            the node's configuration (see node.config)
    dir/logs/nodeN.log        the node's JSON log; dir/run/nodeN.pid its process id

``add_node`` / ``remove_node`` change the validator set of a running network by governance
transactions signed by a majority of the current validators (their keys are in ``dir/keys``):
the new node starts as a follower, syncs by itself, and votes from the epoch its activation
opens; a removed node is deactivated on chain, then stopped.

``start_node`` launches ``python -m node.server --config dir/nodeN.toml`` detached (its own
session, so it outlives the CLI); ``stop_node`` sends SIGTERM and SIGKILLs after a timeout.
The control plane reuses these functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ledger.errors import ConfigError
from node.subprocesses import SOURCE_ROOT, child_environment, python_module_command

__all__ = [
    "NetworkLayout",
    "add_node",
    "remove_node",
    "rotate_key",
    "NodeLayout",
    "create_network",
    "load_layout",
    "net_down",
    "net_up",
    "network_status",
    "node_alive",
    "start_node",
    "stop_node",
    "wait_for_height",
    "write_node_config",
]

LAYOUT_FILE = "network.json"
REPO_ROOT = SOURCE_ROOT


@dataclass
class NodeLayout:
    name: str
    data_dir: str
    key_file: str
    public_key: str
    grpc_port: int
    http_port: int
    config: str
    log: str
    pid_file: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


@dataclass
class NetworkLayout:
    directory: str
    ledger_hash: str
    crypto: str
    password_file: str
    key_dir: str
    nodes: list[NodeLayout] = field(default_factory=list)
    consensus: dict[str, Any] = field(default_factory=dict)

    def node(self, name: str) -> NodeLayout:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ConfigError(f"no node {name} in the network at {self.directory}")

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def save(self) -> None:
        Path(self.directory, LAYOUT_FILE).write_text(json.dumps(asdict(self), indent=2))


def load_layout(directory: str | os.PathLike[str]) -> NetworkLayout:
    path = Path(directory, LAYOUT_FILE)
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"no network in {directory} (missing {LAYOUT_FILE}); run `jadechain net up` first") from exc
    nodes = [NodeLayout(**item) for item in raw.pop("nodes")]
    return NetworkLayout(nodes=nodes, **raw)


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _toml_string(value: str) -> str:
    return json.dumps(value)


def write_node_config(
    layout: NetworkLayout, name: str, peer_addresses: dict[str, str] | None = None,
    consensus: dict[str, Any] | None = None,
) -> str:
    """(Re)write ``nodeN.toml``; ``peer_addresses`` overrides where peers are reached (e.g. proxies)."""
    node = layout.node(name)
    overrides = peer_addresses or {}
    settings = {**layout.consensus, **(consensus or {})}
    lines = [
        "[node]",
        f"name = {_toml_string(node.name)}",
        f"data_dir = {_toml_string(node.data_dir)}",
        f"key_file = {_toml_string(node.key_file)}",
        f"password_file = {_toml_string(layout.password_file)}",
        "",
        "[network]",
        'grpc_host = "127.0.0.1"',
        f"grpc_port = {node.grpc_port}",
        "",
        "[gateway]",
        'host = "127.0.0.1"',
        f"port = {node.http_port}",
        "",
    ]
    tls_dir = Path(layout.directory) / "tls"
    if (tls_dir / "ca.key").exists():  # a network with a consortium CA: mutual TLS between its nodes
        from node.tls import issue_certificate

        if not (tls_dir / f"{name}.pem").exists():
            issue_certificate(tls_dir, name, node.public_key)
        lines += ["[tls]", f"ca_file = {_toml_string(str(tls_dir / 'ca.pem'))}",
                  f"cert_file = {_toml_string(str(tls_dir / f'{name}.pem'))}",
                  f"key_file = {_toml_string(str(tls_dir / f'{name}.key'))}", ""]
    if settings:
        lines.append("[consensus]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in sorted(settings.items())]
        lines.append("")
    lines += ["[[ledgers]]", f"hash = {_toml_string(layout.ledger_hash)}", ""]
    for peer in layout.nodes:
        if peer.name == name:
            continue
        lines += [
            "[[peers]]",
            f"name = {_toml_string(peer.name)}",
            f"public_key = {_toml_string(peer.public_key)}",
            f"address = {_toml_string(overrides.get(peer.name, peer.grpc_address))}",
            "",
        ]
    Path(node.config).write_text("\n".join(lines))
    return node.config


def create_network(
    directory: str | os.PathLike[str], nodes: int, crypto: str = "classic", base_port: int | None = None,
    consensus: dict[str, Any] | None = None, tls: bool = False,
) -> NetworkLayout:
    """Keys, genesis ceremony for ``nodes`` founding organisations, data dirs and node configs.

    ``tls``: create the network's consortium CA (``tls/``), a certificate per node bound to its key,
    and a client certificate for operators' gRPC tools (``tls/client.pem``); nodes then talk over
    mutual TLS (node.tls)."""
    from ledger.crypto import load_keypair
    from jadechain.devnet.genesis import create_dev_network

    if nodes < 1:
        raise ConfigError("a network needs at least one node")
    root = Path(directory).resolve()
    if (root / LAYOUT_FILE).exists():
        raise ConfigError(f"{root} already holds a network; use `jadechain net down` and another --dir")
    root.mkdir(parents=True, exist_ok=True)
    info = create_dev_network(root, nodes, crypto)
    password = Path(info["password_file"]).read_text().strip()
    if base_port is not None:
        ports = [base_port + i for i in range(2 * nodes)]
    else:
        ports = _free_ports(2 * nodes)
    (root / "logs").mkdir(exist_ok=True)
    (root / "run").mkdir(exist_ok=True)
    layout = NetworkLayout(
        directory=str(root), ledger_hash=info["ledger_hash"], crypto=crypto,
        password_file=info["password_file"], key_dir=info["key_dir"], consensus=dict(consensus or {}),
    )
    for index, item in enumerate(info["nodes"]):
        pair = load_keypair(item["key"], password)
        name = item["name"]
        layout.nodes.append(NodeLayout(
            name=name, data_dir=item["data_dir"], key_file=item["key"], public_key=pair.public.base58,
            grpc_port=ports[index], http_port=ports[nodes + index],
            config=str(root / f"{name}.toml"), log=str(root / "logs" / f"{name}.log"),
            pid_file=str(root / "run" / f"{name}.pid"),
        ))
    if tls:
        from node.tls import create_consortium_ca, issue_certificate

        create_consortium_ca(root / "tls", root.name)
        issue_certificate(root / "tls", "client", None)
    for node in layout.nodes:
        write_node_config(layout, node.name)
    layout.save()
    return layout


# --- processes -----------------------------------------------------------------------------

_children: dict[int, subprocess.Popen[bytes]] = {}


def _read_pid(node: NodeLayout) -> int | None:
    try:
        return int(Path(node.pid_file).read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            # Exited. If it is a child of this process started elsewhere (a control plane's node, an
            # app), collect it here: whoever sees it gone reaps it, or it stays a zombie for as long as
            # this process lives. (A Popen that owns it then reads the status as 0; ECHILD is not an error.)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        return state != "Z"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


def node_alive(node: NodeLayout) -> bool:
    pid = _read_pid(node)
    return pid is not None and _pid_alive(pid)


def start_node(layout: NetworkLayout, name: str) -> int:
    """Start one node process detached; return its pid (the running one if already up)."""
    node = layout.node(name)
    pid = _read_pid(node)
    if pid is not None and _pid_alive(pid):
        return pid
    # The log is the operator's only: readable by this user, whatever the umask.
    with os.fdopen(os.open(node.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log_file:
        os.chmod(node.log, 0o600)
        process = subprocess.Popen(
            python_module_command("node.server", "--config", node.config),
            stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=str(REPO_ROOT), env=child_environment(),
        )
    _children[process.pid] = process
    Path(node.pid_file).write_text(str(process.pid))
    return process.pid


def stop_node(layout: NetworkLayout, name: str, timeout: float = 20.0) -> bool:
    """SIGTERM, wait up to ``timeout``, then SIGKILL. True if it stopped gracefully (or was down)."""
    node = layout.node(name)
    pid = _read_pid(node)
    graceful = pid is None or terminate(pid, timeout)
    _forget(node, pid)
    return graceful


def terminate(pid: int, timeout: float = 20.0) -> bool:
    """SIGTERM a process (SIGCONT first: a paused one cannot handle it), wait up to ``timeout``, then SIGKILL
    and wait until it is gone. True if it was down already or stopped gracefully."""
    if not _pid_alive(pid):
        return True
    with _suppress_lookup():
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    with _suppress_lookup():
        os.kill(pid, signal.SIGKILL)
    while _pid_alive(pid):
        time.sleep(0.05)
    return False


def kill_node(layout: NetworkLayout, name: str, sig: int = signal.SIGKILL) -> None:
    """Send a signal to a node (fault injection: SIGKILL, SIGSTOP, SIGCONT)."""
    pid = _read_pid(layout.node(name))
    if pid is not None:
        with _suppress_lookup():
            os.kill(pid, sig)
        if sig == signal.SIGKILL:
            while _pid_alive(pid):
                time.sleep(0.02)
            _forget(layout.node(name), pid)


class _suppress_lookup:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, value: Any, tb: Any) -> bool:
        return kind is ProcessLookupError


def _forget(node: NodeLayout, pid: int | None) -> None:
    if pid is not None:
        child = _children.pop(pid, None)
        if child is not None:
            child.poll()
    try:
        os.unlink(node.pid_file)
    except OSError:
        pass


# --- watching --------------------------------------------------------------------------

def _get_json(url: str, timeout: float = 2.0) -> Any:
    response = httpx.get(url, timeout=timeout)
    response.raise_for_status()
    return response.json()


def node_height(node: NodeLayout, ledger_hash: str) -> int | None:
    try:
        heights = _get_json(f"{node.url}/health", 1.0)["ledgers"]
        return int(heights.get(ledger_hash, -1))
    except Exception:
        return None


def wait_for_height(layout: NetworkLayout, height: int, timeout: float = 60.0, names: list[str] | None = None) -> None:
    """Wait until every (named) node's gateway reports at least ``height``; raises TimeoutError."""
    deadline = time.monotonic() + timeout
    wanted = [layout.node(n) for n in names] if names else layout.nodes
    while True:
        lagging = []
        for node in wanted:
            reached = node_height(node, layout.ledger_hash)
            if reached is None or reached < height:
                lagging.append(f"{node.name}={reached}")
        if not lagging:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nodes did not reach height {height}: {', '.join(lagging)}")
        for node in wanted:
            if not node_alive(node):
                tail = _tail(node.log)
                raise RuntimeError(f"{node.name} exited; last log lines:\n{tail}")
        time.sleep(0.2)


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def network_status(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Per node: pid alive, height, round, connected peers (from its status endpoint)."""
    layout = load_layout(directory)
    nodes = []
    for node in layout.nodes:
        pid = _read_pid(node)
        item: dict[str, Any] = {
            "name": node.name, "pid": pid, "alive": pid is not None and _pid_alive(pid), "url": node.url,
            "grpc": node.grpc_address, "height": None, "round": None, "peers_connected": None, "halted": None,
        }
        if item["alive"]:
            try:
                status = _get_json(f"{node.url}/api/v1/node/status", 2.0)
                replica = status["ledgers"][layout.ledger_hash]
                item.update(height=replica["height"], round=replica["round"],
                            peers_connected=replica["peers_connected"], halted=replica["halted"],
                            mempool=replica["mempool"], epoch=replica.get("epoch"), validator=replica.get("validator"))
            except Exception as exc:
                item["error"] = f"status unavailable: {type(exc).__name__}"
        nodes.append(item)
    return {"directory": layout.directory, "ledger_hash": layout.ledger_hash, "crypto": layout.crypto, "nodes": nodes}


def net_up(
    directory: str | os.PathLike[str], nodes: int = 4, crypto: str = "classic", base_port: int | None = None,
    timeout: float = 60.0, consensus: dict[str, Any] | None = None, tls: bool = True,
) -> NetworkLayout:
    """Create the network if ``directory`` has none, start every node, wait until all commit (height ≥ 1).

    A new network gets its consortium CA and mutual TLS between nodes unless ``tls`` is False."""
    if Path(directory, LAYOUT_FILE).exists():
        layout = load_layout(directory)
    else:
        layout = create_network(directory, nodes, crypto, base_port, consensus, tls=tls)
    for node in layout.nodes:
        start_node(layout, node.name)
    try:
        wait_for_height(layout, 1, timeout)
    except (TimeoutError, RuntimeError):
        net_down(layout.directory, timeout=5.0)
        raise
    return layout


def net_down(directory: str | os.PathLike[str], timeout: float = 20.0) -> dict[str, bool]:
    """Stop every node (SIGTERM, SIGKILL after ``timeout``); name → stopped gracefully."""
    layout = load_layout(directory)
    return {node.name: stop_node(layout, node.name, timeout) for node in layout.nodes}


# --- membership: add / remove a validator by governance ------------------------------------------

def _validator_keys(layout: NetworkLayout, validators: set[bytes]) -> list[Any]:
    """The key pairs in ``dir/keys`` that belong to current validators."""
    from ledger.crypto import load_keypair

    password = Path(layout.password_file).read_text().strip()
    pairs = []
    for path in sorted(Path(layout.key_dir).glob("*.json")):
        try:
            pair = load_keypair(path, password)
        except Exception:
            continue
        if pair.public.encoded in validators:
            pairs.append(pair)
    return pairs


def _node_status(node: NodeLayout, ledger_hash: str) -> dict[str, Any] | None:
    try:
        status: dict[str, Any] = _get_json(f"{node.url}/api/v1/node/status", 2.0)["ledgers"][ledger_hash]
        return status
    except Exception:
        return None


def _usable_signers(layout: NetworkLayout, ledger: Any, validators: set[bytes], exclude: bytes | None) -> list[Any]:
    """The validators' key pairs in ``dir/keys`` that may sign (registered, normal users), but ``exclude``."""
    from ledger.crypto import address_from_public_key

    signers = []
    for pair in _validator_keys(layout, validators):
        if pair.public.encoded == exclude:
            continue
        try:  # an endpoint signer must be a registered user (JD Chain rule)
            account = ledger.get_account(str(address_from_public_key(pair.public)))
        except Exception:
            continue
        if account.kind == "USER" and account.state == "NORMAL":
            signers.append(pair)
    return signers


def _governance_submit(layout: NetworkLayout, urls: list[str], operations: list[Any], exclude: bytes | None,
                       timeout: float) -> dict[str, Any]:
    """Sign ``operations`` with the current validators' keys (all but ``exclude``) and wait for the commit."""
    from jadechain.sdk import JadechainClient

    with JadechainClient(urls, retry_timeout=timeout, timeout=10) as client:
        ledger = client.ledger(layout.ledger_hash)
        validators = set(ledger.validators().public_keys)
        signers = _usable_signers(layout, ledger, validators, exclude)
        needed = len(validators) // 2 + 1
        if len(signers) < needed:
            raise ConfigError(
                f"a validator-set change needs {needed} of {len(validators)} validators' signatures; "
                f"{layout.key_dir} holds {len(signers)} usable validator key(s)"
            )
        builder = ledger.builder()
        for operation in operations:
            builder.add(operation)
        tx = builder.sign(*signers)
        result = ledger.submit(tx, wait=True, timeout=timeout)
    if not result.committed:
        raise TimeoutError(f"governance transaction {result.tx_hash} did not commit within {timeout:.0f}s")
    if result.status != "SUCCESS":
        raise ConfigError(f"governance transaction {result.tx_hash} failed on chain: {result.status}")
    return {"tx_hash": result.tx_hash, "height": result.height}


def _wait_epoch(layout: NetworkLayout, names: list[str], epoch: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        behind = [n for n in names if ((_node_status(layout.node(n), layout.ledger_hash) or {}).get("epoch", -1)) < epoch]
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nodes did not enter epoch {epoch}: {', '.join(behind)}")
        time.sleep(0.2)


def add_node(
    directory: str | os.PathLike[str], name: str | None = None, timeout: float = 90.0, activate: bool = True,
) -> dict[str, Any]:
    """Add a validator to a running network.

    Creates the node's key (``dir/keys/NAME.json``), data directory and ``NAME.toml``; registers it
    on chain with its gRPC address (RegisterParticipant, signed by a majority of the validators);
    starts it — it runs as a follower and syncs certified blocks by itself; once it has caught up,
    activates it (UpdateParticipantState CONSENSUS): the next block opens a new epoch in which it
    votes. Returns what happened (heights, epoch, node).
    """
    from ledger.crypto import ED25519, SM2, address_from_public_key, encrypt_private_key, generate_keypair, save_keystore
    from ledger.store.directory import create_ledger
    from ledger.types import Block as LedgerBlock
    from ledger import codec
    from ledger.types import ParticipantState, RegisterParticipant, RegisterUser, UpdateParticipantState

    layout = load_layout(directory)
    root = Path(layout.directory)
    taken = {node.name for node in layout.nodes} | {p.stem for p in Path(layout.key_dir).glob("*.json")}
    if name is None:
        index = 0
        while f"node{index}" in taken:
            index += 1
        name = f"node{index}"
    elif name in taken or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"node name {name!r} is taken or not a simple name")
    live = [node.url for node in layout.nodes if node_alive(node)]
    if not live:
        raise ConfigError(f"no node of the network in {layout.directory} is running; `jadechain net up` first")
    password = Path(layout.password_file).read_text().strip()
    pair = generate_keypair(SM2 if layout.crypto == "sm" else ED25519)
    key_file = Path(layout.key_dir) / f"{name}.json"
    save_keystore(key_file, encrypt_private_key(pair.private, password))
    genesis = json.loads((root / "genesis.json").read_text())
    data_dir = root / name
    create_ledger(str(data_dir), codec.decode(LedgerBlock, bytes.fromhex(genesis["block"]))).close()
    grpc_port, http_port = _free_ports(2)
    node = NodeLayout(
        name=name, data_dir=str(data_dir), key_file=str(key_file), public_key=pair.public.base58,
        grpc_port=grpc_port, http_port=http_port, config=str(root / f"{name}.toml"),
        log=str(root / "logs" / f"{name}.log"), pid_file=str(root / "run" / f"{name}.pid"),
    )
    layout.nodes.append(node)
    write_node_config(layout, name)
    try:
        # The node's key also becomes a ledger user, so that it can co-sign later governance changes.
        registered = _governance_submit(
            layout, live,
            [RegisterUser(pair.public.encoded, name), RegisterParticipant(name, pair.public.encoded, node.grpc_address)],
            None, timeout,
        )
    except BaseException:
        # nothing happened on chain: leave no half-made node behind
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
        for leftover in (key_file, Path(node.config)):
            leftover.unlink(missing_ok=True)
        raise
    layout.save()
    start_node(layout, name)
    # it follows the chain first: activation waits until it has caught up with the registration
    wait_for_height(layout, int(registered["height"]), timeout, names=[name])
    result: dict[str, Any] = {"node": asdict(node), "url": node.url, "registered": registered}
    if activate:
        address = str(address_from_public_key(pair.public))
        activated = _governance_submit(layout, live, [UpdateParticipantState(address, ParticipantState.CONSENSUS)],
                                       None, timeout)
        result["activated"] = activated
        epochs = [(_node_status(n, layout.ledger_hash) or {}).get("epoch") for n in layout.nodes if n.name != name]
        known = [int(e) for e in epochs if e is not None]
        result["epoch"] = max(known) if known else None
        if result["epoch"] is not None:
            _wait_epoch(layout, [name], result["epoch"], timeout)
    return result


def remove_node(directory: str | os.PathLike[str], name: str, timeout: float = 90.0) -> dict[str, Any]:
    """Deactivate a validator by governance transaction (signed by a majority of the validators,
    the leaving one excepted), wait until the others are in the new epoch, then stop the process.
    The node leaves the layout; its data directory and key stay."""
    from ledger.crypto import PublicKey, address_from_public_key, from_base58
    from ledger.types import ParticipantState, UpdateParticipantState

    layout = load_layout(directory)
    node = layout.node(name)
    others = [n for n in layout.nodes if n.name != name]
    live = [n.url for n in others if node_alive(n)]
    if not live:
        raise ConfigError("no other running node to submit the change through")
    public = PublicKey.from_encoded(from_base58(node.public_key))
    address = str(address_from_public_key(public))
    deactivated = _governance_submit(
        layout, live, [UpdateParticipantState(address, ParticipantState.DEACTIVATED)], public.encoded, timeout,
    )
    epoch = None
    for other in others:
        status = _node_status(other, layout.ledger_hash)
        if status is not None:
            epoch = int(status["epoch"])
            break
    if epoch is not None:
        _wait_epoch(layout, [n.name for n in others if node_alive(n)], epoch, timeout)
    graceful = stop_node(layout, name)
    layout.nodes = others
    layout.save()
    return {"node": name, "deactivated": deactivated, "epoch": epoch, "stopped_gracefully": graceful}


def _propose_and_vote(layout: NetworkLayout, urls: list[str], operations: list[Any], proposer: Any, reason: str,
                      timeout: float) -> dict[str, Any]:
    """A proposal by ``proposer``'s organisation, then votes by the other validators' organisations,
    one at a time, until the ledger's policy is met and the operations run (``EXECUTED``)."""
    from jadechain.sdk import JadechainClient
    from jadechain.sdk.client import proposal_key_of

    def committed(result: Any, what: str) -> Any:
        if not result.committed:
            raise TimeoutError(f"{what} {result.tx_hash} did not commit within {timeout:.0f}s")
        if result.status != "SUCCESS":
            raise ConfigError(f"{what} {result.tx_hash} failed on chain: {result.status}")
        return result

    with JadechainClient(urls, retry_timeout=timeout, timeout=10) as client:
        ledger = client.ledger(layout.ledger_hash)
        voters = _usable_signers(layout, ledger, set(ledger.validators().public_keys), proposer.public.encoded)
        proposed = committed(ledger.submit(ledger.builder().propose(operations, reason).sign(proposer),
                                           wait=True, timeout=timeout), "proposal")
        proposal_id = proposal_key_of(proposed.tx_hash)
        votes = []
        for voter in voters:
            if ledger.proposal(proposal_id).status != "OPEN":
                break
            vote = committed(ledger.submit(ledger.builder().vote(proposal_id).sign(voter), wait=True, timeout=timeout),
                             "vote")
            votes.append({"tx_hash": vote.tx_hash, "height": vote.height})
        outcome = ledger.proposal(proposal_id)
    if outcome.status != "EXECUTED":
        raise ConfigError(f"proposal {proposal_id} ended {outcome.status}: {outcome.result or 'too few votes'}")
    return {"proposal": proposal_id, "proposed_at": proposed.height, "votes": votes,
            "executed_at": votes[-1]["height"] if votes else proposed.height}


def rotate_key(directory: str | os.PathLike[str], name: str, timeout: float = 90.0) -> dict[str, Any]:
    """Move a running validator to a new consensus key through a governed change.

    1. A new key pair for the node (``dir/keys/NAME-keyN.json``, same algorithm and password).
    2. The node's organisation proposes :func:`ledger.governance.key_rotation_operations` (signed by
       the node's current key, which is also its organisation's user); the other validators'
       organisations vote until the ledger's policy is met. The block that executes it ends the
       epoch: from the next height the validator set holds the new key instead of the old one, and
       the old key's votes and signatures are refused like an outsider's.
    3. Once the other nodes are in the new epoch (they keep committing: the node is one of n), the
       node is restarted with the new key (its config and the network's layout point to it; its
       data and consensus safety files stay). It votes with the new key from then on.
    """
    from ledger.crypto import PublicKey, address_from_public_key, from_base58, generate_keypair, load_keypair, save_keypair
    from ledger.governance import key_rotation_operations
    from ledger.types import ParticipantRecord, ParticipantState, RolesPolicy, UserRolesRecord

    layout = load_layout(directory)
    node = layout.node(name)
    live = [n.url for n in layout.nodes if node_alive(n)]
    if not node_alive(node) or len(live) < 2:
        raise ConfigError(f"{name} and the rest of the network must be running to rotate its key")
    password = Path(layout.password_file).read_text().strip()
    old = load_keypair(node.key_file, password)
    if old.public.base58 != node.public_key:
        raise ConfigError(f"{node.key_file} does not hold {name}'s key {node.public_key}")
    from jadechain.sdk import ApiError, JadechainClient

    with JadechainClient(live, retry_timeout=timeout, timeout=10) as client:
        ledger = client.ledger(layout.ledger_hash)
        participants = client.request("GET", f"{ledger.base}/participants")
        record = next((p for p in participants if p["public_key"] == node.public_key), None)
        epoch_before = ledger.validators().epoch
        try:  # the roles of the node key's user, which the new key's user takes over
            roles = client.request("GET", f"{ledger.base}/users/{address_from_public_key(old.public)}/roles")
        except ApiError:
            roles = {"roles": []}  # the node key is not a user of the ledger
    old_roles = (UserRolesRecord(roles["user"], tuple(roles["roles"]), RolesPolicy[roles["policy"]])
                 if roles["roles"] else None)
    if record is None or record["state"] != "CONSENSUS":
        raise ConfigError(f"{name}'s key {node.public_key} is not an active validator of the ledger")
    participant = ParticipantRecord(
        record["address"], record["name"], PublicKey.from_encoded(from_base58(node.public_key)).encoded,
        ParticipantState.CONSENSUS, int(record["registered_height"]), node.grpc_address, record["organization"])
    new = generate_keypair(old.public.algorithm)
    index = 2
    while (Path(layout.key_dir) / f"{name}-key{index}.json").exists():
        index += 1
    key_file = Path(layout.key_dir) / f"{name}-key{index}.json"
    save_keypair(key_file, new, password)
    operations = list(key_rotation_operations(participant, new.public.encoded, f"{name} key {index}", old_roles))
    # On a failure the new key file stays: a proposal or vote that timed out here may still commit,
    # and then the ledger's validator set names that key.
    decided = _propose_and_vote(layout, live, operations, old, f"rotate {name}'s consensus key", timeout)
    epoch = epoch_before + 1
    _wait_epoch(layout, [n.name for n in layout.nodes if n.name != name and node_alive(n)], epoch, timeout)
    graceful = stop_node(layout, name)
    node.key_file, node.public_key = str(key_file), new.public.base58
    tls_dir = Path(layout.directory) / "tls"
    for stale in (tls_dir / f"{name}.pem", tls_dir / f"{name}.key"):
        stale.unlink(missing_ok=True)  # its certificate names the old key; write_node_config issues one for the new
    for each in layout.nodes:
        write_node_config(layout, each.name)
    layout.save()
    start_node(layout, name)
    deadline = time.monotonic() + timeout
    while True:
        status = _node_status(node, layout.ledger_hash) or {}
        if status.get("validator") is True and status.get("epoch", -1) >= epoch:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} did not come back as a validator of epoch {epoch} with its new key")
        time.sleep(0.2)
    return {"node": name, "epoch": epoch, "old_public_key": old.public.base58, "new_public_key": new.public.base58,
            "key_file": str(key_file), "restarted_gracefully": graceful, **decided}
