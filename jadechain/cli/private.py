"""``jadechain private ...``: encrypted records with per-reader keys, and ``verify --disclosure``.

Every command decrypts or encrypts on this machine with a key file you hold (password from the
environment variable named by ``--password-env``, ``JADECHAIN_KEY_PASSWORD`` by default); the
gateway only ever sees ciphertext. See ``docs/privacy.md``.

    jadechain private put ACCOUNT KEY --record record.json --key-file owner.json --gateway URL
    jadechain private get ACCOUNT KEY --key-file reader.json [--version N]
    jadechain private grant ACCOUNT KEY --reader PUBKEY --key-file owner.json [--version N] [--grade G]
    jadechain private revoke ACCOUNT KEY --reader PUBKEY --key-file owner.json
    jadechain private disclose ACCOUNT KEY FIELD --key-file reader.json --out disclosure.json
    jadechain verify --disclosure disclosure.json --ledger LEDGER_HASH

``record.json``: ``{"grades": {"public": {"fields": {...}, "readers": ["<base58 public key>", ...]}, ...}}``
(the signer is a reader of every grade).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console

from ledger.crypto import KeyPair, PublicKey, load_keypair
from ledger.errors import JadechainError, ProofError
from ledger.private import GradeSpec, PrivateRecordError, verify_disclosure

__all__ = ["private_app", "verify_disclosure_file"]

private_app = typer.Typer(help="Encrypted records: put, get, grant, revoke, disclose.", no_args_is_help=True)
console = Console(soft_wrap=True)  # never break a URL or a path across lines
error_console = Console(stderr=True, soft_wrap=True)
PASSWORD_ENV = "JADECHAIN_KEY_PASSWORD"

GATEWAY = typer.Option(["http://127.0.0.1:8080"], "--gateway", "-g", help="Gateway URL (repeat for failover).")
KEY_FILE = typer.Option(..., "--key-file", help="Your encrypted key file (never sent anywhere).")
PASSWORD = typer.Option(PASSWORD_ENV, "--password-env", help="Environment variable holding the key file's password.")
AS_JSON = typer.Option(False, "--json", help="Print JSON (for scripts).")


def _fail(code: str, message: str) -> None:
    error_console.print(f"[bold red]{code}[/]: {message}")
    raise typer.Exit(1)


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _key(path: Path, password_env: str) -> KeyPair:
    password = os.environ.get(password_env)
    if password is None:
        _fail("PASSWORD_REQUIRED", f"set {password_env} to the password of {path}")
    return load_keypair(str(path), str(password))


def _public(text: str) -> PublicKey:
    return PublicKey.from_base58(text.strip())


class _Session:
    """Runs one command: a client on the gateways, errors as ``CODE: message`` and exit 1."""

    def __init__(self, gateways: List[str]) -> None:
        self.gateways = gateways

    def __enter__(self) -> Any:
        from jadechain.sdk import JadechainClient

        self.client = JadechainClient(self.gateways)
        return self.client.ledger()

    def __exit__(self, kind: Any, error: Any, trace: Any) -> bool:
        if hasattr(self, "client"):
            self.client.close()
        if isinstance(error, JadechainError):
            _fail(error.code, error.message)
        if isinstance(error, (OSError, ValueError)):
            _fail("INVALID_INPUT", str(error))
        return False


def _result(result: Any, as_json: bool) -> None:
    data = {"tx_hash": result.tx_hash, "committed": result.committed, "status": result.status, "height": result.height}
    if as_json:
        _emit(data)
    else:
        console.print(f"{result.status or 'PENDING'} tx {result.tx_hash} at height {result.height}")
    if result.status not in (None, "SUCCESS"):
        raise typer.Exit(1)


def _grades(path: Path) -> list[GradeSpec]:
    document = json.loads(path.read_text())
    grades = document.get("grades") if isinstance(document, dict) else None
    if not isinstance(grades, dict) or not grades:
        raise PrivateRecordError('the record file must be {"grades": {NAME: {"fields": {...}, "readers": [...]}}}')
    specs = []
    for name, grade in grades.items():
        if not isinstance(grade, dict) or not isinstance(grade.get("fields"), dict):
            raise PrivateRecordError(f"grade {name!r} needs a fields object")
        specs.append(GradeSpec(name, grade["fields"], [_public(k) for k in grade.get("readers", [])]))
    return specs


@private_app.command("put")
def put_command(
    account: str = typer.Argument(...), key: str = typer.Argument(...),
    record: Path = typer.Option(..., "--record", help="JSON: {grades: {NAME: {fields, readers}}}."),
    key_file: Path = KEY_FILE, password_env: str = PASSWORD, gateway: List[str] = GATEWAY, as_json: bool = AS_JSON,
) -> None:
    """Encrypt a record (a fresh data key per grade), wrap the keys for its readers and write it."""
    with _Session(gateway) as ledger:
        signer = _key(key_file, password_env)
        result = ledger.put_private(account, key, _grades(record), signer)
    _result(result, as_json)


@private_app.command("get")
def get_command(
    account: str = typer.Argument(...), key: str = typer.Argument(...),
    version: Optional[int] = typer.Option(None, "--version", min=0),
    key_file: Path = KEY_FILE, password_env: str = PASSWORD, gateway: List[str] = GATEWAY, as_json: bool = AS_JSON,
) -> None:
    """Decrypt every grade your key opens; the others are listed as sealed."""
    with _Session(gateway) as ledger:
        view = ledger.get_private(account, key, _key(key_file, password_env), version)
    data = {"account": view.account, "key": view.key, "version": view.version, "height": view.height,
            "grades": view.grades, "sealed": view.sealed}
    if as_json:
        _emit(data)
        return
    console.print(f"{key} v{view.version} (height {view.height})")
    for name, values in view.grades.items():
        console.print(f"  [green]{name}[/]: {json.dumps(values, ensure_ascii=False)}")
    for name in view.sealed:
        console.print(f"  [yellow]{name}[/]: sealed (no key for you)")


@private_app.command("grant")
def grant_command(
    account: str = typer.Argument(...), key: str = typer.Argument(...),
    reader: str = typer.Option(..., "--reader", help="The new reader's public key (base58)."),
    version: Optional[int] = typer.Option(None, "--version", min=0, help="The version to open (default: latest)."),
    grade: Optional[List[str]] = typer.Option(None, "--grade", help="Grades to grant (default: all you can open)."),
    key_file: Path = KEY_FILE, password_env: str = PASSWORD, gateway: List[str] = GATEWAY, as_json: bool = AS_JSON,
) -> None:
    """Give a reader the keys of an existing version, without re-encrypting it."""
    with _Session(gateway) as ledger:
        result = ledger.grant(account, key, _public(reader), _key(key_file, password_env), version=version,
                              grades=grade or None)
    _result(result, as_json)


@private_app.command("revoke")
def revoke_command(
    account: str = typer.Argument(...), key: str = typer.Argument(...),
    reader: str = typer.Option(..., "--reader", help="The reader's public key (base58)."),
    key_file: Path = KEY_FILE, password_env: str = PASSWORD, gateway: List[str] = GATEWAY, as_json: bool = AS_JSON,
) -> None:
    """Write a new version under fresh keys without the reader (earlier versions stay as they were)."""
    with _Session(gateway) as ledger:
        result = ledger.revoke(account, key, _public(reader), _key(key_file, password_env))
    _result(result, as_json)


@private_app.command("disclose")
def disclose_command(
    account: str = typer.Argument(...), key: str = typer.Argument(...), field: str = typer.Argument(...),
    out: Path = typer.Option(..., "--out", help="Where to write the disclosure (JSON)."),
    grade: Optional[str] = typer.Option(None, "--grade"), version: Optional[int] = typer.Option(None, "--version", min=0),
    key_file: Path = KEY_FILE, password_env: str = PASSWORD, gateway: List[str] = GATEWAY,
) -> None:
    """Write one field's value with its proof and commitment opening, for a third party to verify."""
    with _Session(gateway) as ledger:
        document = ledger.disclose(account, key, field, _key(key_file, password_env), grade=grade, version=version)
        out.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    console.print(f"wrote {out}: check it with  jadechain verify --disclosure {out} --ledger {ledger.ledger_hash}")


def verify_disclosure_file(path: Path, ledger: Optional[str], as_json: bool) -> None:
    """``jadechain verify --disclosure FILE --ledger HASH``: the proof, then the opening; exit 1 if either fails."""
    if ledger is None:
        error_console.print("[bold red]TRUST_ANCHOR_REQUIRED[/]: jadechain verify --disclosure FILE --ledger LEDGER_HASH "
                            "(the hash its operators published, not one read from the file)")
        raise typer.Exit(2)
    try:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ProofError(f"cannot read {path}: {exc}") from None
        report = verify_disclosure(document, ledger_hash=ledger)
    except JadechainError as error:
        if as_json:
            _emit({"valid": False, "code": error.code, "message": error.message})
            raise typer.Exit(1)
        _fail(error.code, error.message)
        return
    data = {"valid": True, "ledger_hash": report.ledger_hash, "account": report.account, "key": report.key,
            "version": report.version, "height": report.height, "grade": report.grade, "field": report.field,
            "value": report.value, "checks": report.checks}
    if as_json:
        _emit(data)
        return
    console.print(f"[bold green]VALID[/] disclosure of {report.grade}.{report.field} in {report.key!r} "
                  f"v{report.version} of {report.account} on ledger {report.ledger_hash}")
    for check in report.checks:
        console.print(f"  [green]✓[/] {check}")
    console.print(json.dumps(report.value, indent=2, ensure_ascii=False))
