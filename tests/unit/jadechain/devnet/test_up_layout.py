"""The `up` directory's layout: the control plane's folder cannot pass for a package, and an earlier
layout's ``baas/`` folder moves to ``control-plane/`` with the paths inside its node configs; `down`
reaps what it stops."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from jadechain.devnet import net, up


def old_layout(directory: Path) -> Path:
    legacy = directory / "baas"
    (legacy / "networks" / "tea" / "keys").mkdir(parents=True)
    (legacy / "initial-admin-password").write_text("secret\n")
    (legacy / "networks" / "tea" / "acme-0.toml").write_text(
        f'data_dir = "{legacy}/networks/tea/acme-0"\nkey_file = "{legacy}/networks/tea/keys/acme-0.json"\n'
        f'peer = "{directory}/baasement/x"\n')
    return legacy


def test_a_fresh_directory_gets_a_folder_that_is_no_python_identifier(tmp_path: Path) -> None:
    folder = up.control_plane_dir(tmp_path)
    assert folder == tmp_path / "control-plane" and not folder.name.isidentifier()


def test_an_earlier_baas_folder_moves_and_its_node_configs_follow(tmp_path: Path) -> None:
    legacy = old_layout(tmp_path)
    folder = up.control_plane_dir(tmp_path)
    assert folder == tmp_path / "control-plane" and not legacy.exists()
    assert (folder / "initial-admin-password").read_text() == "secret\n"
    config = (folder / "networks" / "tea" / "acme-0.toml").read_text()
    assert f'data_dir = "{folder}/networks/tea/acme-0"' in config
    assert f'key_file = "{folder}/networks/tea/keys/acme-0.json"' in config
    assert f'peer = "{tmp_path}/baasement/x"' in config  # only whole path components move


def test_a_folder_still_in_use_is_left_where_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = old_layout(tmp_path)
    monkeypatch.setattr(up, "processes_using", lambda directory: [4242] if directory == legacy else [])
    assert up.control_plane_dir(tmp_path) == legacy and legacy.is_dir()
    assert not (tmp_path / "control-plane").exists()


def test_only_our_python_modules_count_as_processes_of_a_directory() -> None:
    assert up._runs_our_module(["/venv/bin/python", "-P", "-m", "node.server", "--config", "/x/a.toml"])
    assert up._runs_our_module(["/venv/bin/python", "-m", "baas.apps.evidence", "--port", "1"])
    assert not up._runs_our_module(["vim", "/x/a.toml"])
    assert not up._runs_our_module(["/venv/bin/python", "-m", "http.server", "/x"])
    assert not up._runs_our_module(["/venv/bin/python", "-m"])


def test_stopping_an_exited_child_started_elsewhere_reaps_it() -> None:
    # `down` stops what a control plane or an app runner started in this process by pid; a child that
    # had already exited must not stay a zombie for the life of the process (tests, a long-lived CLI).
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = Path(f"/proc/{child.pid}/stat")
    deadline = time.monotonic() + 30
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    assert net.terminate(child.pid, timeout=5)
    assert not stat.exists()  # reaped, not a zombie
    assert child.poll() == 0  # its own handle sees it gone, without an error
