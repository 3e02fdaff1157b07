"""After a full ``jadechain up`` (network, control plane, both apps) and some use of each, no log or
data file holds a password, a private key or a token outside the one file named for it, and no log
or secret is readable by other users.

The run starts from a user's usual umask (022) so that file modes are the programs' own doing.
One node, the control plane and the apps; about 60 s.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from ledger.crypto import ED25519, decrypt_private_key, generate_keypair, load_keystore, to_base58

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    def user_umask() -> None:
        os.umask(0o022)

    return subprocess.run([sys.executable, "-m", "jadechain.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=dict(os.environ), preexec_fn=user_umask)


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("up-scan") / "local"
    started = _cli("up", "--dir", str(directory), "--nodes", "1", "--crypto", "classic", "--json")
    try:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        summary = json.loads(started.stdout)
        secrets: dict[str, tuple[str, list[bytes]]] = {}
        # The control plane's first admin: sign in (a failed attempt first), mint an API token.
        admin_file = next(directory.rglob("initial-admin-password"))
        password = admin_file.read_text().strip()
        baas = summary["services"]["baas"]
        httpx.post(baas + "/api/v1/auth/login", json={"username": "admin", "password": password + "x"}, timeout=30)
        login = httpx.post(baas + "/api/v1/auth/login", json={"username": "admin", "password": password}, timeout=60)
        assert login.status_code == 200, login.text
        token = httpx.post(baas + "/api/v1/tokens", json={"name": "scan"}, cookies=login.cookies,
                           headers={"X-CSRF-Token": login.json()["csrf_token"]}, timeout=30).json()["token"]
        secrets["control plane admin password"] = (admin_file.name, [password.encode()])
        secrets["API token"] = ("", [token.encode()])
        # The evidence app's write credential, used once.
        token_file = next(directory.rglob("write-token"))
        write_token = token_file.read_text().strip()
        preserved = httpx.post(summary["services"]["evidence"] + "/evidence", timeout=60,
                               headers={"Authorization": f"Bearer {write_token}"},
                               json={"digests": {"sha256": "cd" * 32}, "title": "scan", "type": "other",
                                     "parties": [{"name": "Scanner", "public_key": generate_keypair(ED25519).public.base58}]})
        assert preserved.status_code == 201, preserved.text
        secrets["evidence write credential"] = (token_file.name, [write_token.encode()])
        # Node keys and their keystore password.
        keystore_password = Path(summary["password_file"]).read_text().strip()
        secrets["keystore password"] = (Path(summary["password_file"]).name, [keystore_password.encode()])
        for keystore in Path(summary["keys"]).glob("*.json"):
            raw = decrypt_private_key(load_keystore(str(keystore)), keystore_password).encoded
            forms = [raw.hex().encode(), to_base58(raw).encode(), base64.b64encode(raw), raw[2:].hex().encode()]
            secrets[f"private key {keystore.name}"] = ("", forms)
        yield {"directory": directory, "summary": summary, "secrets": secrets}
    finally:
        _cli("down", "--dir", str(directory), "--json")


def _files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


def test_no_secret_outside_the_file_named_for_it(installation: dict[str, Any]) -> None:
    leaks = []
    for path in _files(installation["directory"]):
        data = path.read_bytes()
        for what, (home, forms) in installation["secrets"].items():
            if home and path.name == home:
                continue
            if any(form in data for form in forms):
                leaks.append(f"{what} in {path.relative_to(installation['directory'])}")
    assert leaks == []


def _readable(directory: Path, traceability: bool) -> list[str]:
    sensitive = []
    for path in _files(directory):
        if ("traceability" in path.relative_to(directory).parts[0] or path.name == "traceability.log") != traceability:
            continue
        name = path.name
        if (name.endswith((".log", ".key", ".db", ".db-wal", ".db-shm", ".ldb", ".sst")) or "password" in name
                or "token" in name or name in ("master.key", "CURRENT", "MANIFEST") or path.parent.name == "keys"):
            sensitive.append(path)
    assert any(p.name.endswith((".log", ".db")) for p in sensitive)
    return [f"{p.relative_to(directory)} {oct(stat.S_IMODE(p.stat().st_mode))}" for p in sensitive
            if stat.S_IMODE(p.stat().st_mode) & 0o077]


def test_logs_and_secrets_are_not_readable_by_others(installation: dict[str, Any]) -> None:
    readable = _readable(installation["directory"], traceability=False)
    assert readable == [], "\n".join(readable)


def test_the_traceability_apps_files_are_not_readable_by_others(installation: dict[str, Any]) -> None:
    readable = _readable(installation["directory"], traceability=True)
    assert readable == [], "\n".join(readable)
