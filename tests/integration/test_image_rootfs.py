"""The image recipe, exercised where no container daemon exists: deploy/image/build-rootfs.sh builds the
image's root filesystem (Debian bookworm minbase from this host's apt mirror, Debian's python3, the
project's wheel and its dependencies installed offline from a wheelhouse built here), and the tests
enter it with chroot as the image's non-root user: ``jadechain --help``, then a one-validator network
on loopback that commits, is ready (caught up and voting) and takes a transaction.

The root filesystem is built once per test session (a few minutes: debootstrap, then pip). Downloaded
.deb files are kept in ``$JADECHAIN_ROOTFS_CACHE`` (default ~/.cache/jadechain/debootstrap) so later
runs do not download them again. Skipped only where the build cannot run: not root, or no
debootstrap / chroot (.ci/run installs debootstrap)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "image" / "build-rootfs.sh"
USER = "10001:10001"
ENVIRONMENT = ["/usr/bin/env", "-i", "PATH=/opt/jadechain/bin:/usr/local/bin:/usr/bin:/bin", "HOME=/data",
               "LANG=C.UTF-8"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(2400),  # the first test also builds the root filesystem (debootstrap + pip)
    pytest.mark.skipif(os.geteuid() != 0, reason="building and entering a root filesystem needs root (debootstrap, chroot)"),
    pytest.mark.skipif(shutil.which("debootstrap") is None, reason="debootstrap is not installed (.ci/run installs it)"),
    pytest.mark.skipif(shutil.which("chroot") is None, reason="chroot is not available"),
]


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest first."""
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == str(root) or point.startswith(str(root) + "/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def processes_in(root: Path) -> list[int]:
    """Processes whose root directory is ``root``: the ones these tests started inside the chroot."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "root") == str(root):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def stop_processes_in(root: Path) -> None:
    for signal_number in (15, 9):
        for pid in processes_in(root):
            try:
                os.kill(pid, signal_number)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        while processes_in(root) and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("image")
    rootfs = base / "rootfs"
    cache = Path(os.environ.get("JADECHAIN_ROOTFS_CACHE", Path.home() / ".cache" / "jadechain" / "debootstrap"))
    try:
        built = subprocess.run(["bash", str(SCRIPT), "--cache-dir", str(cache), str(rootfs)],
                               capture_output=True, text=True, timeout=1800)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        description = json.loads((base / "rootfs.json").read_text())
        # /proc for Python and the node; /dev for /dev/null and /dev/urandom.
        subprocess.run(["mount", "-t", "proc", "proc", str(rootfs / "proc")], check=True)
        subprocess.run(["mount", "--bind", "/dev", str(rootfs / "dev")], check=True)
        yield {**description, "path": rootfs, "stdout": built.stdout}
    finally:
        if rootfs.exists():
            stop_processes_in(rootfs)
            for point in mounts_under(rootfs):
                subprocess.run(["umount", point], check=False)
            for point in mounts_under(rootfs):  # still busy: detach lazily
                subprocess.run(["umount", "-l", point], check=False)
            # Never delete through a mount (a bound /dev would go with it).
            if not mounts_under(rootfs):
                shutil.rmtree(rootfs, ignore_errors=True)


def inside(image: dict[str, Any], *command: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in the root filesystem as the image's user, with only the image's environment."""
    extra = [f"{key}={value}" for key, value in env.items()]
    return subprocess.run(["chroot", f"--userspec={USER}", str(image["path"]), *ENVIRONMENT, *extra, *command],
                          capture_output=True, text=True, timeout=timeout)


def test_the_image_is_tagged_by_version_with_a_content_digest(image):
    from importlib.metadata import version

    assert image["image"] == f"jadechain/node:{version('jadechain')}"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image["digest"])
    marker = (image["path"] / "etc" / "jadechain-image").read_text()
    assert f"JADECHAIN_IMAGE={image['image']}" in marker
    # No wheelhouse, apt lists or package cache left behind; /data belongs to the non-root user, 0700.
    assert not (image["path"] / "tmp" / "wheels").exists()
    assert not list((image["path"] / "var" / "cache" / "apt" / "archives").glob("*.deb"))
    data = (image["path"] / "data").stat()
    assert (data.st_uid, data.st_gid, data.st_mode & 0o777) == (10001, 10001, 0o700)


def test_jadechain_help_runs_inside_as_the_non_root_user(image):
    who = inside(image, "id", "-u")
    assert who.stdout.strip() == "10001"
    python = inside(image, "python", "-c", "import sys; print(sys.version_info[:2], sys.prefix)")
    assert python.stdout.strip() == "(3, 11) /opt/jadechain", python.stderr
    helped = inside(image, "jadechain", "--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("net", "node", "genesis", "baas", "verify"):
        assert command in helped.stdout
    # What the Kubernetes manifests run: the node server module and the control plane.
    for module in ("node.server", "baas.cli"):
        found = inside(image, "python", "-P", "-c", f"import importlib.util, sys; sys.exit(importlib.util.find_spec('{module}') is None)")
        assert found.returncode == 0, (module, found.stderr)


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_a_one_validator_network_runs_inside_and_is_ready(image):
    directory = "/data/net"
    up = inside(image, "jadechain", "net", "up", "--nodes", "1", "--dir", directory, "--json", timeout=600)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    try:
        network = json.loads(up.stdout)
        node = network["nodes"][0]
        assert node["url"].startswith("http://127.0.0.1:")  # loopback only
        status, health = get_json(node["url"] + "/health")
        assert status == 200 and health["ledgers"][network["ledger_hash"]] >= 1
        # Readiness as Kubernetes probes it: caught up and voting (a fresh validator may need a round).
        deadline = time.monotonic() + 120
        while True:
            status, ready = get_json(node["url"] + "/ready")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert (status, ready) == (200, {"status": "ready", "ledgers": [network["ledger_hash"]]}), ready
        # A transaction through the image's own CLI, signed with the node's key, committed.
        password = (image["path"] / directory.lstrip("/") / "keys" / "PASSWORD").read_text().strip()
        registered = inside(image, "jadechain", "tx", "account-register", "--key", "node0", "--json",
                            JADECHAIN_GATEWAY=node["url"], JADECHAIN_KEY_DIR=f"{directory}/keys",
                            JADECHAIN_KEY_PASSWORD=password)
        assert registered.returncode == 0, registered.stdout[-2000:] + registered.stderr[-2000:]
        assert json.loads(registered.stdout)["address"]
        # The node's files are private to its user.
        data_dir = image["path"] / directory.lstrip("/") / "node0"
        assert data_dir.stat().st_uid == 10001 and data_dir.stat().st_mode & 0o077 == 0
    finally:
        down = inside(image, "jadechain", "net", "down", "--dir", directory, timeout=120)
        assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 30
    while processes_in(image["path"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_in(image["path"]) == []
