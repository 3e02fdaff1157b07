"""`jadechain up` / `jadechain down`: the whole local job a newcomer starts with `make up`.

`up` starts, each as its own background process on 127.0.0.1:

* a network of validator nodes (`jadechain.devnet.net`: keys, genesis ceremony, configs, processes);
* the BaaS control plane (`python -m baas serve`, run as a process: `node` never imports `baas`);
* the apps that are installed (evidence preservation, traceability), pointed at the network;

then submits one transaction, fetches its certified proof bundle, verifies it, and prints
every URL, where the keys are, and where the control plane's first admin password is.
`down` stops all of it. State lives under one directory, so `up` after `down` resumes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from ledger.crypto import load_keypair
from ledger.errors import ConfigError, JadechainError
from ledger.certificate import ValidatorSet
from ledger.crypto import address_from_public_key, generate_keypair
from ledger.proofs import validators_from_json, validators_to_json, verify_bundle
from jadechain.devnet import net
from jadechain.sdk import JadechainClient
from node.subprocesses import child_environment, python_module_command

class NetworkNotReady(JadechainError):
    """The local network did not come up (a node exited or did not commit in time)."""

    code = "NETWORK_NOT_READY"


PREFERRED_PORTS = {"baas": 8700, "evidence": 8200, "traceability": 8300}


@dataclass
class Service:
    name: str
    url: str
    pid: int
    log: str


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_port(preferred: int) -> int:
    if _port_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_dir(directory: Path) -> Path:
    path = directory / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


CONTROL_PLANE_DIR = "control-plane"
"""The control plane's data folder under the ``up`` directory. Not a Python identifier on purpose: a folder
named like one of our packages (``baas/``, earlier) could pass for that package in a child's import path."""

LEGACY_CONTROL_PLANE_DIR = "baas"


def control_plane_dir(directory: Path) -> Path:
    """The control plane's data folder, moving an earlier layout's ``baas/`` to ``control-plane/``.

    The move happens only while nothing runs from the old folder (after ``down``); the node configs the
    control plane wrote name absolute paths, so they are rewritten to the new place. While something
    still runs there, the old folder stays in use (children run in safe-path mode, so its name is harmless).
    """
    current, legacy = directory / CONTROL_PLANE_DIR, directory / LEGACY_CONTROL_PLANE_DIR
    if current.exists() or not legacy.is_dir():
        return current
    if processes_using(legacy):
        return legacy
    legacy.rename(current)
    old_prefix, new_prefix = f"{legacy}{os.sep}", f"{current}{os.sep}"
    for config in current.glob("networks/*/*.toml"):
        text = config.read_text()
        if old_prefix in text:
            config.write_text(text.replace(old_prefix, new_prefix))
    return current


def processes_using(directory: Path) -> list[int]:
    """Pids of this user's Jadechain processes whose command line names a path inside ``directory``.

    That is how the processes an ``up`` directory started are found again, the control plane's own
    node processes included (their ``--config`` lies under its data folder), without a pid file for each.
    """
    inside = f"{directory.resolve()}{os.sep}"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [argument.decode(errors="replace") for argument in arguments]
        if _runs_our_module(words) and any(word.startswith(inside) for word in words[1:]):
            found.append(int(entry.name))
    return sorted(found)


def _runs_our_module(words: list[str]) -> bool:
    """``python [-P] -m node.server|baas...``: one of ours, never a user's editor or shell in that folder."""
    if "-m" not in words[1:4]:
        return False
    module = words[words.index("-m") + 1] if words.index("-m") + 1 < len(words) else ""
    return module.split(".")[0] in ("node", "baas")


def _start_service(directory: Path, name: str, argv: list[str], url: str, ready_path: str, timeout: float) -> Service:
    record_path = _run_dir(directory) / f"{name}.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if _alive(record["pid"]):
            return Service(name, record["url"], record["pid"], record["log"])
    logs = directory / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    # Logs are the operator's alone: a service may print a path to a secret, never for others to read.
    with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log:
        os.fchmod(log.fileno(), 0o600)
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=str(directory), env=child_environment())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"{name} exited at start; see {log_path}")
        try:
            if httpx.get(url + ready_path, timeout=2.0).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        process.terminate()
        raise ConfigError(f"{name} did not come up within {timeout:.0f} s; see {log_path}")
    if not _listens_itself(process, url, deadline):
        # Another process took the port between the pick and the bind (two `up`s at once): it answered the
        # readiness check, and this service exited with "address already in use". Never adopt its answers.
        if process.poll() is None:
            process.terminate()
        raise ConfigError(f"{name} could not listen on {url}: another process holds the port; run up again "
                          f"(see {log_path})")
    service = Service(name, url, process.pid, str(log_path))
    record_path.write_text(json.dumps(service.__dict__))
    return service


def _listens_itself(process: subprocess.Popen[bytes], url: str, deadline: float) -> bool:
    """Whether ``process`` itself listens on the port of ``url`` (waiting until it does, exits or the deadline)."""
    port = httpx.URL(url).port
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            sockets = psutil.Process(process.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in sockets):
            return True
        time.sleep(0.1)
    return False


def _app_argv(module: str, layout: net.NetworkLayout, port: int, data_dir: Path) -> list[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    storage = (["--db", str(data_dir / "index.db"), *_traceability_first_minute(data_dir)]
               if module.endswith("traceability") else ["--data-dir", str(data_dir)])
    argv = python_module_command(module, "--ledger", layout.ledger_hash,
                                 "--key", layout.nodes[0].key_file, "--password-file", layout.password_file,
                                 *storage, "--port", str(port))
    for url in layout.urls:
        argv += ["--gateway", url]
    return argv


TRACEABILITY_DEMO_BRAND = ("Demo Brand", "9521234")
"""The organisation and GS1 company prefix the traceability app registers at its first start under `up`."""


def _traceability_first_minute(data_dir: Path) -> list[str]:
    """A ready-made organisation for the traceability app: its token, key and a first capture document
    (each created once, mode 0600, by the app itself), so a capture works as printed."""
    name, prefix = TRACEABILITY_DEMO_BRAND
    return ["--org-token-file", str(data_dir / "org.token"), "--org-keystore", str(data_dir / "org.keystore"),
            "--org-name", name, "--brand-prefix", prefix, "--admin-token-file", str(data_dir / "admin.token"),
            "--example-document", str(data_dir / "first-capture.jsonld")]


def _traceability_capture_command(url: str, data_dir: Path) -> str:
    """The one-line first capture `up` prints (the app logs the same line when it starts)."""
    return (f'curl -sS -X POST {url}/traceability/capture -H "Authorization: Bearer $(cat {data_dir / "org.token"})" '
            f"-H 'Content-Type: application/json' --data @{data_dir / 'first-capture.jsonld'}")


def _demo_proof(directory: Path, layout: net.NetworkLayout) -> dict[str, str]:
    """One transaction end to end: submit, wait for commit, fetch the certified proof, verify it."""
    password = Path(layout.password_file).read_text().strip()
    admin = load_keypair(layout.nodes[0].key_file, password)
    with JadechainClient(layout.urls) as client:
        ledger = client.ledger(layout.ledger_hash)
        account = generate_keypair(admin.public.algorithm)
        address = address_from_public_key(account.public)
        ledger.submit(ledger.builder().register_data_account(account.public.encoded).sign(admin), wait=True)
        ledger.submit(ledger.builder().kv_set(address, "product/6901234567892",
                                              {"name": "green tea", "lot": "L2026-11"}, -1).sign(admin), wait=True)
        bundle: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                bundle = ledger.entry_proof(address, "product/6901234567892")
                if bundle["header"].get("certificate"):
                    break
            except Exception:  # PROOF_PENDING until the next block certifies the roots
                pass
            time.sleep(0.3)
        report = verify_bundle(bundle, ledger_hash=layout.ledger_hash)
    bundle_path = directory / "proof-product.json"
    validators_path = directory / "validators.json"
    bundle_path.write_text(json.dumps(bundle, indent=2, ensure_ascii=False))
    validators_path.write_text(json.dumps(validators_to_json(report_validators(bundle)), indent=2))
    return {"bundle": str(bundle_path), "validators": str(validators_path),
            "verified": f"{report.signers} validators signed; {len(report.checks)} checks passed",
            "verify_command": f"jadechain verify {bundle_path} --ledger {layout.ledger_hash}"}


def report_validators(bundle: dict[str, Any]) -> ValidatorSet:
    return validators_from_json(bundle["validators"])


def up(directory: Path, nodes: int = 4, crypto: str = "sm", with_apps: bool = True) -> dict[str, Any]:
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        layout = net.net_up(str(directory / "network"), nodes=nodes, crypto=crypto, timeout=120.0)
    except (TimeoutError, RuntimeError) as error:  # a node exited or never committed: its log lines say why
        raise NetworkNotReady(f"{error}") from error
    summary: dict[str, Any] = {
        "ledger_hash": layout.ledger_hash,
        "crypto": layout.crypto,
        "gateways": layout.urls,
        "keys": layout.key_dir,
        "password_file": layout.password_file,
    }
    services: list[Service] = []
    if with_apps and importlib.util.find_spec("baas") is not None:
        for app, module in (("evidence", "baas.apps.evidence"), ("traceability", "baas.apps.traceability")):
            if importlib.util.find_spec(module) is None or importlib.util.find_spec(module + ".__main__") is None:
                continue
            port = _pick_port(PREFERRED_PORTS[app])
            services.append(_start_service(
                directory, app, _app_argv(module, layout, port, directory / app),
                f"http://127.0.0.1:{port}", "/openapi.json", 90.0,
            ))
        # The control plane shows this network, its ledger and these apps in the console (idempotently: a
        # later `up` finds the same ledger and refreshes the addresses), so nobody creates a second network.
        adopt = ["--adopt-network", layout.directory]
        for service in services:
            adopt += ["--adopt-app", f"{service.name}={service.url}"]
        port = _pick_port(PREFERRED_PORTS["baas"])
        baas_dir = control_plane_dir(directory)
        services.insert(0, _start_service(
            directory, "baas",
            python_module_command("baas", "serve", "--data-dir", str(baas_dir), "--port", str(port), *adopt),
            f"http://127.0.0.1:{port}", "/openapi.json", 120.0,
        ))
        admin_file = baas_dir / "initial-admin-password"
        if admin_file.exists():
            # The path, not the secret: terminals and CI logs keep what is printed.
            summary["control_plane_admin"] = f"user 'admin', password in {admin_file} (mode 0600)"
    summary["services"] = {s.name: s.url for s in services}
    if "traceability" in summary["services"]:
        summary["traceability_capture"] = _traceability_capture_command(
            summary["services"]["traceability"], directory / "traceability")
    write_token = directory / "evidence" / "write-token"
    if "evidence" in summary["services"] and write_token.exists():
        # The path, not the credential: the evidence app takes writes only with it (Bearer).
        summary["evidence_write_token"] = str(write_token)
    summary.update(_demo_proof(directory, layout))
    return summary


def down(directory: Path, timeout: float = 20.0) -> dict[str, Any]:
    directory = directory.resolve()
    stopped: dict[str, Any] = {}
    run = directory / "run"
    for record_path in sorted(run.glob("*.json")) if run.exists() else []:
        record = json.loads(record_path.read_text())
        net.terminate(int(record["pid"]), timeout)
        stopped[record["name"]] = True
        record_path.unlink()
    if (directory / "network" / net.LAYOUT_FILE).exists():
        stopped.update(net.net_down(str(directory / "network"), timeout=timeout))
    # What the control plane started (its networks' nodes) runs detached from it; stop that too. It
    # restarts those nodes itself on the next `up`.
    left = processes_using(directory)
    for pid in left:
        net.terminate(pid, timeout)
    if left:
        stopped["control_plane_processes"] = len(left)
    return stopped
