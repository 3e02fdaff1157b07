"""The ``jadechain`` command line: keys, the genesis ceremony, ledgers and offline verification.

Every command that prints a result accepts ``--json`` for scripts; errors print
``code: message`` and exit with status 1 (2 for usage errors), never a traceback.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from ledger import codec
from ledger.crypto import (
    algorithm_by_name,
    decrypt_private_key,
    encrypt_private_key,
    from_base58,
    generate_keypair,
    keypair_from_private,
    load_keystore,
    save_keystore,
    to_base58,
)
from ledger.errors import ConfigError, JadechainError, ProofError
from ledger.genesis import (
    GenesisConfig,
    assemble_genesis,
    build_genesis_content,
    genesis_ledger_hash,
    genesis_tx_hash,
    parse_genesis_config,
    sign_genesis,
)
from ledger.proofs import parse_ledger_hash, validators_from_json, verify_bundle
from ledger.types import EndpointSignature
from jadechain.cli.archive import ledger_archive_app
from jadechain.cli.bench import bench_app
from jadechain.cli.contract import contract_app
from jadechain.cli.net import net_app, node_app
from jadechain.cli.private import private_app
from jadechain.cli.tx import query_app, tx_app
from jadechain.devnet.genesis import GENESIS_FORMAT, create_dev_network, default_contract_engine, read_genesis_file

app = typer.Typer(help="Jadechain: a consortium blockchain with national cryptography.", no_args_is_help=True)
keys_app = typer.Typer(help="Create and inspect encrypted key files.", no_args_is_help=True)
genesis_app = typer.Typer(help="The genesis ceremony: propose, sign, assemble, init.", no_args_is_help=True)
ledger_app = typer.Typer(help="Inspect ledgers in a data directory.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(genesis_app, name="genesis")
app.add_typer(ledger_app, name="ledger")
ledger_app.registered_commands += ledger_archive_app.registered_commands
app.add_typer(tx_app, name="tx")
app.add_typer(query_app, name="query")
app.add_typer(net_app, name="net")
app.add_typer(node_app, name="node")
app.add_typer(bench_app, name="bench")
app.add_typer(private_app, name="private")
app.add_typer(contract_app, name="contract")


def _mount_plugins() -> None:
    """Mount sub-commands that packages to the right of ``node`` register (``jadechain.cli``).

    ``node`` never imports the control plane; the control plane registers its Typer app as
    an entry point instead, so ``jadechain baas ...`` appears once it is installed.
    """
    for entry in importlib.metadata.entry_points(group="jadechain.cli"):
        try:
            sub_app = entry.load()
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            error_console.print(f"[yellow]warning[/]: cannot load the '{entry.name}' commands: {exc}")
            continue
        app.add_typer(sub_app, name=entry.name)


console = Console(soft_wrap=True)  # never break a URL or a path across lines
error_console = Console(stderr=True, soft_wrap=True)
_mount_plugins()

DEFAULT_KEY_DIR = os.environ.get("JADECHAIN_KEY_DIR") or os.path.join(os.path.expanduser("~"), ".jadechain", "keys")
PASSWORD_ENV = "JADECHAIN_KEY_PASSWORD"
PROPOSAL_FORMAT = "jadechain-genesis-proposal/1"


def _fail(error: JadechainError) -> None:
    error_console.print(f"[bold red]{error.code}[/]: {error.message}")
    raise typer.Exit(1)


def _emit(data: Any, as_json: bool) -> bool:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return as_json


def _password(password_env: str, confirm: bool = False) -> str:
    value = os.environ.get(password_env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise ConfigError(f"no password: set {password_env} or run in a terminal")
    return str(typer.prompt("Key password", hide_input=True, confirmation_prompt=confirm))


def _key_path(name_or_path: str, key_dir: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".json" or candidate.exists():
        return candidate
    return Path(key_dir) / f"{name_or_path}.json"


# --- keys -------------------------------------------------------------------------------

@keys_app.command("new")
def keys_new(
    name: str = typer.Argument(..., help="Name of the key file (NAME.json in the key directory)."),
    algorithm: str = typer.Option("ed25519", "--algorithm", "-a", help="ed25519, sm2 or ecdsa."),
    key_dir: str = typer.Option(DEFAULT_KEY_DIR, "--dir", "--key-dir", help="Key directory (env JADECHAIN_KEY_DIR)."),
    password_env: str = typer.Option(PASSWORD_ENV, help="Environment variable holding the password."),
    cipher: str = typer.Option("SM4-GCM", help="SM4-GCM or AES-GCM."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Generate a key pair and store the private key encrypted."""
    try:
        path = Path(key_dir) / f"{name}.json"
        if path.exists():
            raise ConfigError(f"{path} exists; choose another name")
        pair = generate_keypair(algorithm_by_name(algorithm))
        document = encrypt_private_key(pair.private, _password(password_env, confirm=True), cipher=cipher)  # type: ignore[arg-type]
        path.parent.mkdir(parents=True, exist_ok=True)
        save_keystore(path, document)
    except JadechainError as error:
        _fail(error)
        return
    info = {"name": name, "file": str(path), "algorithm": document["algorithm"],
            "public_key": document["public_key"], "address": document["address"]}
    if not _emit(info, as_json):
        console.print(f"created [bold]{name}[/] ({info['algorithm']})\n  address    {info['address']}\n"
                      f"  public key {info['public_key']}\n  file       {path}")


@keys_app.command("show")
def keys_show(
    name: str,
    key_dir: str = typer.Option(DEFAULT_KEY_DIR, "--dir", "--key-dir", help="Key directory (env JADECHAIN_KEY_DIR)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a key's public half (never the private key)."""
    try:
        document = load_keystore(_key_path(name, key_dir))
    except JadechainError as error:
        _fail(error)
        return
    info = {k: document[k] for k in ("algorithm", "public_key", "address")}
    if not _emit(info, as_json):
        for k, v in info.items():
            console.print(f"{k:11} {v}")


@keys_app.command("list")
def keys_list(
    key_dir: str = typer.Option(DEFAULT_KEY_DIR, "--dir", "--key-dir", help="Key directory (env JADECHAIN_KEY_DIR)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List the key files of a directory."""
    rows = []
    for path in sorted(Path(key_dir).glob("*.json")) if Path(key_dir).is_dir() else []:
        try:
            document = load_keystore(path)
        except JadechainError:
            continue
        rows.append({"name": path.stem, "algorithm": document["algorithm"], "address": document["address"]})
    if not _emit(rows, as_json):
        table = Table("name", "algorithm", "address")
        for row in rows:
            table.add_row(row["name"], row["algorithm"], row["address"])
        console.print(table)


def _load_private(key: str, key_dir: str, password_env: str) -> Any:
    document = load_keystore(_key_path(key, key_dir))
    return decrypt_private_key(document, _password(password_env))


# --- genesis -----------------------------------------------------------------------------

def with_contract_engine(text: str) -> str:
    """``text`` with ``[ledger] contract_engine`` set to this node's WebAssembly engine if it names none.

    An explicit ``contract_engine = ""`` keeps the deprecated legacy sandbox (old ledgers only).
    The identity is written into the config text itself, so that every founder signs it.
    """
    import re
    import tomllib

    try:
        ledger = tomllib.loads(text).get("ledger")
    except tomllib.TOMLDecodeError:
        return text  # parse_genesis_config reports it
    if not isinstance(ledger, dict) or "contract_engine" in ledger:
        return text
    header = re.search(r"^[ \t]*\[[ \t]*ledger[ \t]*\][ \t]*(#[^\r\n]*)?\r?$", text, re.MULTILINE)
    if header is None:
        raise ConfigError('write [ledger] as a table header, or set [ledger] contract_engine explicitly')
    line = f"contract_engine = {json.dumps(default_contract_engine())}\n"
    return text[: header.end()] + "\n" + line + text[header.end() + 1:]


def _read_proposal(path: Path) -> tuple[dict[str, Any], GenesisConfig]:
    try:
        proposal = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read proposal {path}: {exc}") from exc
    if proposal.get("format") != PROPOSAL_FORMAT:
        raise ConfigError(f"{path} is not a genesis proposal")
    config = parse_genesis_config(proposal["config"])
    expected = to_base58(genesis_tx_hash(config, build_genesis_content(config)))
    if proposal.get("tx_hash") != expected:
        raise ConfigError("proposal's transaction hash does not match its config (edited?)")
    return proposal, config


@genesis_app.command("propose")
def genesis_propose(
    config: Path = typer.Option(..., "--config", "-c", help="Ledger init TOML."),
    out: Path = typer.Option(Path("genesis-proposal.json"), "--out", "-o"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Turn a ledger init config into a proposal that every founder signs."""
    try:
        text = with_contract_engine(config.read_text())
        parsed = parse_genesis_config(text)
    except OSError as exc:
        _fail(ConfigError(f"cannot read {config}: {exc}"))
        return
    except JadechainError as error:
        _fail(error)
        return
    tx_hash = to_base58(genesis_tx_hash(parsed, build_genesis_content(parsed)))
    proposal = {
        "format": PROPOSAL_FORMAT,
        "ledger_name": parsed.ledger_name,
        "config": text,
        "tx_hash": tx_hash,
        "founders": [{"name": f.name, "public_key": to_base58(f.public_key)} for f in parsed.founders],
        "signatures": [],
    }
    out.write_text(json.dumps(proposal, indent=2))
    if not _emit({"proposal": str(out), "tx_hash": tx_hash}, as_json):
        console.print(f"proposal written to {out}; every founder now runs [bold]jadechain genesis sign {out}[/]")


@genesis_app.command("sign")
def genesis_sign(
    proposal_path: Path = typer.Argument(..., help="The proposal file (updated in place)."),
    key: str = typer.Option(..., "--key", "-k", help="Key name or keystore path of a founder."),
    key_dir: str = typer.Option(DEFAULT_KEY_DIR, "--dir", "--key-dir", help="Key directory (env JADECHAIN_KEY_DIR)."),
    password_env: str = typer.Option(PASSWORD_ENV),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Sign the proposal with a founder's key."""
    try:
        proposal, config = _read_proposal(proposal_path)
        private = _load_private(key, key_dir, password_env)
        pair = keypair_from_private(private)
        signature = sign_genesis(config, pair.private, pair.public)
    except JadechainError as error:
        _fail(error)
        return
    entry = {"public_key": to_base58(signature.public_key), "signature": to_base58(signature.signature)}
    proposal["signatures"] = [s for s in proposal["signatures"] if s["public_key"] != entry["public_key"]]
    proposal["signatures"].append(entry)
    proposal_path.write_text(json.dumps(proposal, indent=2))
    signed = {s["public_key"] for s in proposal["signatures"]}
    missing = [f["name"] for f in proposal["founders"] if f["public_key"] not in signed]
    if not _emit({"signed_by": pair.public.base58, "missing": missing}, as_json):
        console.print(f"signed; still missing: {', '.join(missing) or 'nobody'}")


@genesis_app.command("assemble")
def genesis_assemble(
    proposal_path: Path = typer.Argument(...),
    out: Path = typer.Option(Path("genesis.json"), "--out", "-o"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Build the genesis block once every founder has signed; prints the ledger hash."""
    try:
        proposal, config = _read_proposal(proposal_path)
        signatures = [
            EndpointSignature(from_base58(s["public_key"]), from_base58(s["signature"]))
            for s in proposal["signatures"]
        ]
        block = assemble_genesis(config, signatures)
    except JadechainError as error:
        _fail(error)
        return
    ledger_hash = to_base58(genesis_ledger_hash(block, config))
    out.write_text(json.dumps({"format": GENESIS_FORMAT, "ledger_hash": ledger_hash,
                               "block": codec.encode(block).hex()}, indent=2))
    if not _emit({"ledger_hash": ledger_hash, "genesis": str(out)}, as_json):
        console.print(f"ledger hash [bold]{ledger_hash}[/]\ngenesis block written to {out}")


@genesis_app.command("init")
def genesis_init(
    genesis: Path = typer.Option(..., "--genesis", "-g"),
    data_dir: Path = typer.Option(..., "--data-dir", "-d"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create the ledger database of a node from the genesis file."""
    from ledger.store.directory import create_ledger

    try:
        ledger = create_ledger(str(data_dir), read_genesis_file(genesis))
    except JadechainError as error:
        _fail(error)
        return
    info = {"ledger_hash": to_base58(ledger.ledger_hash), "data_dir": str(data_dir), "height": ledger.height}
    ledger.close()
    if not _emit(info, as_json):
        console.print(f"ledger {info['ledger_hash']} created in {data_dir}")


@genesis_app.command("dev")
def genesis_dev(
    directory: Path = typer.Option(Path(".jadechain"), "--dir"),
    nodes: int = typer.Option(1, "--nodes", "-n", min=1, max=32),
    crypto: str = typer.Option("classic", "--crypto", help="classic (Ed25519 + SHA-256) or sm (SM2 + SM3)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One-shot local ledger: founder keys, the whole ceremony, and a database per node."""
    try:
        info = create_dev_network(directory, nodes, crypto)
    except JadechainError as error:
        _fail(error)
        return
    if not _emit(info, as_json):
        console.print(f"ledger [bold]{info['ledger_hash']}[/] ({crypto}, {nodes} founder(s))")
        console.print(f"  keys      {info['key_dir']} (password in {info['password_file']})")
        for node in info["nodes"]:
            console.print(f"  {node['name']:9} {node['data_dir']}")


# --- ledgers ---------------------------------------------------------------------------------

@ledger_app.command("info")
def ledger_info(
    data_dir: Path = typer.Option(..., "--data-dir", "-d"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Height, hash and roots of every ledger in a data directory."""
    from ledger.store.directory import list_ledgers, open_ledger

    rows = []
    try:
        for name in list_ledgers(str(data_dir)):
            ledger = open_ledger(str(data_dir), name)
            try:
                rows.append({
                    "ledger_hash": name,
                    "height": ledger.height,
                    "hash_algorithm": ledger.hash_algorithm.name,
                    "state_root": ledger.roots.state_root.hex(),
                    "accumulator_root": ledger.roots.accumulator_root.hex(),
                    "transactions": ledger.roots.accumulator_size,
                    "participants": [p.name for p in ledger.list_participants()],
                })
            finally:
                ledger.close()
    except JadechainError as error:
        _fail(error)
        return
    if not _emit(rows, as_json):
        table = Table("ledger", "height", "hash", "transactions", "participants")
        for row in rows:
            table.add_row(row["ledger_hash"], str(row["height"]), row["hash_algorithm"],
                          str(row["transactions"]), ", ".join(row["participants"]))
        console.print(table)


# --- verify ---------------------------------------------------------------------------------------

@app.command("verify")
def verify_command(
    bundle_path: Optional[Path] = typer.Argument(None, help="A proof bundle (JSON), or a zip holding proof/*.json (e.g. an evidence bundle)."),
    ledger: Optional[str] = typer.Option(
        None, "--ledger", help="The ledger hash you expect (base58), learnt from its operators — not from the bundle.",
    ),
    validators: Optional[Path] = typer.Option(
        None, "--validators", help="Trusted validator set: JSON {epoch, public_keys: [base58...]}."
    ),
    require_certificate: bool = typer.Option(
        True, "--require-certificate", hidden=True, help="Kept for old scripts: certificates are always required."
    ),
    as_json: bool = typer.Option(False, "--json"),
    disclosure: Optional[Path] = typer.Option(
        None, "--disclosure", help="A disclosure of one private-record field (jadechain private disclose): check its proof and opening."
    ),
) -> None:
    """Check a proof bundle offline, with no node; say what it proves or which check failed.

    You must pin what you trust. With --ledger HASH the validators are derived from the
    bundle's genesis block (bound to that hash) and its certified epoch changes; with
    --validators FILE the header's certificate is checked against that set. Every header
    but genesis must carry a valid commit certificate.
    """
    del require_certificate
    if disclosure is not None:  # private records: the bundle inside plus the commitment opening
        from jadechain.cli.private import verify_disclosure_file

        verify_disclosure_file(disclosure, ledger, as_json)
        return
    if bundle_path is None:
        error_console.print("[bold red]USAGE[/]: jadechain verify BUNDLE --ledger HASH, or --disclosure FILE --ledger HASH")
        raise typer.Exit(2)
    if ledger is None and validators is None:
        error_console.print(
            "[bold red]TRUST_ANCHOR_REQUIRED[/]: say which ledger you trust: "
            "jadechain verify BUNDLE --ledger LEDGER_HASH (the hash its operators published, e.g. "
            "printed by `make up` or `jadechain ledger info`), or --validators FILE "
            "(a validator set you obtained yourself, e.g. `jadechain query validators --out FILE`). "
            "The ledger hash inside the bundle proves nothing: anyone can make a ledger of their own."
        )
        raise typer.Exit(2)
    try:
        bundles = _read_bundles(bundle_path)
        trusted = None
        if validators is not None:
            trusted = validators_from_json(json.loads(validators.read_text()))
        pinned = None if ledger is None else parse_ledger_hash(ledger)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        _fail(ProofError(f"cannot read {bundle_path}: {exc}"))
        return
    except JadechainError as error:
        _fail(error)
        return
    results = []
    failed: JadechainError | None = None
    for name, bundle in bundles:
        try:
            report = verify_bundle(bundle, ledger_hash=pinned, trusted_validators=trusted)
        except JadechainError as error:
            failed = error
            results.append({"file": name, "valid": False, "code": error.code, "message": error.message})
            break
        results.append({"file": name, "valid": True, "kind": report.kind, "ledger_hash": report.ledger_hash,
                        "height": report.height, "certified": report.certified, "signers": report.signers,
                        "anchor": report.anchor, "checks": report.checks, "warnings": report.warnings,
                        "claim": report.claim})
    if as_json:
        document: Any = results[0] if len(results) == 1 and not bundle_path.suffix == ".zip" else {
            "valid": failed is None, "bundles": results}
        if failed is not None and "code" not in document:
            document["code"], document["message"] = failed.code, failed.message
        _emit(document, True)
        if failed is not None:
            raise typer.Exit(1)
        return
    for result in results:
        if not result["valid"]:
            continue
        label = f" ({result['file']})" if len(bundles) > 1 or bundle_path.suffix == ".zip" else ""
        console.print(f"[bold green]VALID[/] {result['kind']} proof on ledger {result['ledger_hash']}{label}")
        console.print(f"  trusted: {result['anchor']}")
        for check in result["checks"]:
            console.print(f"  [green]✓[/] {check}")
        for warning in result["warnings"]:
            console.print(f"  [yellow]![/] {warning}")
        console.print(json.dumps(result["claim"], indent=2, ensure_ascii=False))
    if failed is not None:
        _fail(failed)


def _read_bundles(path: Path) -> list[tuple[str, Any]]:
    """One bundle from a JSON file, or every proof/*.json of a zip (in name order)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.startswith("proof/") and n.endswith(".json"))
            if not names:
                raise ProofError(f"{path} holds no proof/*.json")
            return [(name, json.loads(archive.read(name))) for name in names]
    return [(path.name, json.loads(path.read_text()))]


# --- up / down: the local job of `make up` ------------------------------------------------------

@app.command("up")
def up_command(
    directory: Path = typer.Option(Path(".jadechain"), "--dir"),
    nodes: int = typer.Option(4, "--nodes", "-n", min=1, max=16),
    crypto: str = typer.Option("sm", "--crypto", help="sm (SM2 + SM3) or classic (Ed25519 + SHA-256)."),
    apps: bool = typer.Option(True, "--apps/--no-apps", help="Also start the control plane and the apps."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Start a local network, the control plane and the apps; prove one transaction end to end.

    Everything runs in the background on 127.0.0.1 until `jadechain down --dir DIR`.
    """
    from jadechain.devnet.up import up

    try:
        summary = up(directory, nodes=nodes, crypto=crypto, with_apps=apps)
    except JadechainError as error:
        _fail(error)
        return
    if _emit(summary, as_json):
        return
    console.print(f"[bold]Jadechain is up[/] in {directory.resolve()} ({summary['crypto']}, {len(summary['gateways'])} validators)")
    console.print(f"  ledger             {summary['ledger_hash']}")
    for index, url in enumerate(summary["gateways"]):
        console.print(f"  node{index} gateway      {url}  (API docs {url}/docs)")
    for name, url in summary.get("services", {}).items():
        label = {"baas": "control plane", "evidence": "evidence app", "traceability": "traceability"}.get(name, name)
        suffix = "/ui/" if name == "baas" else "/docs"
        console.print(f"  {label:18} {url}{suffix}")
    if "control_plane_admin" in summary:
        console.print(f"  [bold yellow]console login[/]      {summary['control_plane_admin']}")
    if "traceability_capture" in summary:
        console.print(f"  first capture      {summary['traceability_capture']}", soft_wrap=True)
    if "evidence_write_token" in summary:
        console.print(f"  evidence writes    Authorization: Bearer $(cat {summary['evidence_write_token']})")
    console.print(f"  keys               {summary['keys']} (password in {summary['password_file']})")
    console.print(f"  proof              {summary['bundle']} ({summary['verified']})")
    console.print(f"\nverify offline:  {summary['verify_command']}")
    console.print(f"stop everything: jadechain down --dir {directory}")


@app.command("down")
def down_command(
    directory: Path = typer.Option(Path(".jadechain"), "--dir"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Stop what `jadechain up` started (apps, control plane, nodes); data stays for the next `up`."""
    from jadechain.devnet.up import down

    try:
        stopped = down(directory)
    except JadechainError as error:
        _fail(error)
        return
    if not _emit(stopped, as_json):
        console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command("demo")
def demo_command(
    directory: Path = typer.Option(Path(".jadechain-demo"), "--dir"),
    crypto: str = typer.Option("sm", "--crypto"),
) -> None:
    """In-process tour of the ledger alone: a dev ledger, certified blocks, a proof checked offline."""
    from jadechain.devnet.local import run_local_demo

    try:
        summary = run_local_demo(directory, crypto)
    except JadechainError as error:
        _fail(error)
        return
    console.print(f"[bold]Jadechain ledger demo[/] ({crypto}) in {directory}")
    for key, value in summary.items():
        console.print(f"  {key:18} {value}")
    console.print(f"\nverify offline:  jadechain verify {summary['bundle']} --validators {summary['validators']}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
