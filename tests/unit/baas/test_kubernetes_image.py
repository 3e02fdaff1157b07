"""The image recipe and its daemon-less twin stay the same image: the Dockerfile's runtime stage and
deploy/image/build-rootfs.sh install the same Debian packages into the same virtualenv for the same
non-root user the Kubernetes manifests run as; nothing secret can enter the build context."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from baas.provisioners.kubernetes import GATEWAY_PORT, GRPC_PORT, RUN_AS, default_image

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = (REPO / "Dockerfile").read_text()
SCRIPT = (REPO / "deploy" / "image" / "build-rootfs.sh").read_text()


def runtime_stage() -> str:
    return DOCKERFILE[DOCKERFILE.index(" AS runtime"):]


def test_the_dockerfile_and_the_rootfs_script_build_the_same_runtime():
    stage = runtime_stage()
    apt = re.search(r"apt-get install -y --no-install-recommends ([^\\&\n]+)", stage).group(1).split()
    included = re.search(r"--include=(\S+)", SCRIPT).group(1).split(",")
    assert sorted(apt) == sorted(included) == ["ca-certificates", "python3", "python3-venv"]
    assert "FROM debian:${DEBIAN_RELEASE}-slim AS runtime" in DOCKERFILE and "ARG DEBIAN_RELEASE=bookworm" in DOCKERFILE
    assert "suite=bookworm" in SCRIPT and "--variant=minbase" in SCRIPT
    for step in ("python3 -m venv /opt/jadechain", "--no-index --find-links", "pip uninstall",
                 f"--uid {RUN_AS} --gid {RUN_AS}", f"install -d -o {RUN_AS} -g {RUN_AS} -m 0700 /data"):
        assert step in stage, step
        assert step in SCRIPT, step
    assert f"USER {RUN_AS}:{RUN_AS}" in stage
    assert f"EXPOSE {GRPC_PORT} {GATEWAY_PORT}" in stage
    healthcheck = stage[stage.index("HEALTHCHECK"):stage.index("ENTRYPOINT")]
    assert "/health" in healthcheck
    # The tag the recipe documents and labels is the one the renderer defaults to (the package version).
    assert f"docker build -t {default_image()} ." in DOCKERFILE
    assert f"ARG JADECHAIN_VERSION={default_image().rsplit(':', 1)[1]}" in stage


def test_no_secret_can_enter_the_image():
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*"  # deny everything, then admit the sources
    admitted = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    assert sorted(admitted) == ["README.md", "baas", "consensus", "contracts", "jadechain", "ledger", "node", "pyproject.toml"]
    copied = re.findall(r"^COPY (?!--)(\S+)", DOCKERFILE, re.M)
    assert {path.rstrip("/") for path in copied} <= set(admitted)
    # No build argument or environment variable carries a secret.
    for name in re.findall(r"^(?:ARG|ENV)\s+([A-Z_]+)", DOCKERFILE, re.M):
        assert not re.search(r"KEY|PASSWORD|TOKEN|SECRET", name), name
    tracked = subprocess.run(["git", "ls-files", *admitted], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert not re.search(r"\.(key|pem)$|PASSWORD$|master\.key$", tracked, re.M)


def test_the_rootfs_script_refuses_to_run_without_root_or_arguments():
    usage = subprocess.run(["bash", str(REPO / "deploy" / "image" / "build-rootfs.sh")], capture_output=True, text=True,
                           timeout=30)
    assert usage.returncode == 2 and "ROOTFS_DIR" in usage.stdout
    helped = subprocess.run(["bash", str(REPO / "deploy" / "image" / "build-rootfs.sh"), "--help"], capture_output=True,
                            text=True, timeout=30)
    assert helped.returncode == 0 and "--wheelhouse" in helped.stdout
