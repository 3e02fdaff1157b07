"""The optional compiled build (ledger._accel): loaded only while current, and the same roots as Python.

The equivalence test replays the golden workload (every header hash and root pinned by the
pure-Python code before the build existed) in two fresh interpreters, one with the compiled
build and one with ``JADECHAIN_PURE_PYTHON=1``, and needs both to reproduce the pinned file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ledger.codec
from ledger import _accel
from tests.unit.ledger.replay_workload import HASH_ALGORITHMS, golden

ROOT = Path(__file__).resolve().parents[3]


def fake_build(root: Path) -> Path:
    """Sources for :data:`MODULES` under ``root`` and a build whose manifest matches them."""
    directory = _accel.build_dir(root)
    modules = {}
    for name in _accel.MODULES:
        source = _accel._source(root, name)
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(f"# {name}\n")
        compiled = directory / (name.replace(".", "/") + ".so")
        compiled.parent.mkdir(parents=True, exist_ok=True)
        compiled.write_bytes(b"")
        modules[name] = {"file": str(compiled.relative_to(directory)), "source_sha256": _accel.source_hash(source)}
    manifest = {"modules": modules, "group": {"module": "abc__mypyc", "file": "abc__mypyc.so"}}
    (directory / "abc__mypyc.so").write_bytes(b"")
    (directory / _accel.MANIFEST).write_text(json.dumps(manifest))
    return directory


def test_a_current_build_maps_every_module_and_the_shared_library(tmp_path: Path) -> None:
    directory = fake_build(tmp_path)
    files, reason = _accel.plan(tmp_path)
    assert reason == ""
    assert set(files) == set(_accel.MODULES) | {"abc__mypyc"}
    assert files["ledger.state"] == str(directory / "ledger/state.so")


def test_one_edited_source_makes_the_whole_build_stale(tmp_path: Path) -> None:
    # Compiled modules of one build call each other natively: loading the others would run the
    # edited module's old code through them. So nothing of a stale build is loaded.
    fake_build(tmp_path)
    _accel._source(tmp_path, "ledger.merkle.state_tree").write_text("# edited\n")
    files, reason = _accel.plan(tmp_path)
    assert files == {}
    assert "ledger.merkle.state_tree changed since the build" in reason


@pytest.mark.parametrize("damage", ["no manifest", "garbage", "other modules", "missing file", "file outside"])
def test_a_damaged_build_is_not_loaded_and_says_why(tmp_path: Path, damage: str) -> None:
    directory = fake_build(tmp_path)
    manifest_path = directory / _accel.MANIFEST
    if damage == "no manifest":
        manifest_path.unlink()
    elif damage == "garbage":
        manifest_path.write_text("{not json")
    elif damage == "other modules":
        manifest = json.loads(manifest_path.read_text())
        del manifest["modules"]["ledger.codec"]
        manifest_path.write_text(json.dumps(manifest))
    elif damage == "file outside":  # a manifest never makes the loader run native code from elsewhere
        outside = tmp_path / "elsewhere.so"
        outside.write_bytes(b"")
        manifest = json.loads(manifest_path.read_text())
        manifest["modules"]["ledger.codec"]["file"] = "../../../elsewhere.so"
        manifest_path.write_text(json.dumps(manifest))
    else:
        (directory / "ledger/executor.so").unlink()
    files, reason = _accel.plan(tmp_path)
    assert files == {} and reason


def _run_fresh(script: str, pure: bool) -> dict[str, object]:
    """The last stdout line (JSON) of ``script`` in a new interpreter, compiled build or pure Python."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop(_accel.PURE_ENV, None)
    if pure:
        env[_accel.PURE_ENV] = "1"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _replay(pure: bool) -> dict[str, object]:
    script = (
        "import json\n"
        "from ledger import _accel\n"
        "from tests.unit.ledger.replay_workload import HASH_ALGORITHMS, replay_ledger\n"
        "import ledger.codec, ledger.merkle.state_tree\n"
        "roots = {algorithm: replay_ledger(algorithm) for algorithm in HASH_ALGORITHMS}\n"
        "print(json.dumps({'status': _accel.status(), 'file': ledger.merkle.state_tree.__file__, 'roots': roots}))\n"
    )
    return _run_fresh(script, pure)


_BAD_INPUT_SCRIPT = """
import hashlib, json
from ledger import _accel, codec
from ledger.executor import SignedTransaction, decode_transaction
from ledger.types import Event, Transaction
from tests.unit.ledger.replay_workload import build_workload

valid = codec.encode(build_workload("SHA256").blocks[0][0])
inputs = {"bytes": valid, "bytearray": bytearray(valid), "memoryview": memoryview(valid), "str": valid.hex(),
          "none": None, "int": 12, "list": [1, 2], "empty": b"", "garbage": b"\\x92\\x90\\x90", "truncated": valid[:-1]}
calls = {
    "decode": lambda x: codec.encode(codec.decode(Transaction, x)),
    "decode_split": lambda x: codec.encode(codec.decode_split(Transaction, x)[0]),
    "decode_list": lambda x: codec.encode_list(codec.decode_list(Event, x)),
    "unpack_canonical": lambda x: repr(codec.unpack_canonical(x)).encode(),
    "decode_transaction": lambda x: decode_transaction(x)[1],
    "SignedTransaction.decode": lambda x: SignedTransaction.decode(x, lambda b: hashlib.sha256(b).digest(), 1).encoded,
}
outcomes = {}
for call, function in calls.items():
    for name, value in inputs.items():
        try:
            outcomes[call + " " + name] = "ok " + bytes(function(value)).hex()
        except Exception as exc:
            outcomes[call + " " + name] = type(exc).__name__ + " " + str(getattr(exc, "code", ""))
print(json.dumps({"accelerated": _accel.status()["accelerated"], "outcomes": outcomes}))
"""


def _bad_input_outcomes(pure: bool) -> dict[str, object]:
    return _run_fresh(_BAD_INPUT_SCRIPT, pure)


def test_pure_python_turns_every_bad_input_to_the_codec_into_a_codec_error() -> None:
    pure = _bad_input_outcomes(pure=True)
    outcomes = pure["outcomes"]
    assert isinstance(outcomes, dict)
    for case, outcome in outcomes.items():
        call, kind = case.split()
        if kind in ("bytearray", "memoryview"):  # taken as the bytes they hold
            assert outcome == outcomes[f"{call} bytes"], case
        elif kind in ("str", "none", "int", "list", "empty", "truncated"):
            assert outcome.startswith("CodecError "), (case, outcome)
    assert outcomes["decode bytes"].startswith("ok ") and outcomes["decode_transaction garbage"].startswith("CodecError")


@pytest.mark.skipif(not _accel.plan()[0], reason="no current compiled build (make accel builds it; make test does)")
def test_the_compiled_build_answers_bad_input_exactly_as_python_does() -> None:
    # mypyc checks argument types at a compiled function's boundary: a parameter annotated bytes
    # would turn a str or a memoryview into a TypeError (a 500 for a caller that expects
    # CodecError) before the codec's own check ran. The entry points take object for that reason.
    compiled, pure = _bad_input_outcomes(pure=False), _bad_input_outcomes(pure=True)
    assert compiled["accelerated"] is True and pure["accelerated"] is False
    assert compiled["outcomes"] == pure["outcomes"]


def test_pure_python_replays_the_golden_roots_whatever_is_built() -> None:
    pure = _replay(pure=True)
    assert pure["status"] == {"accelerated": False, "modules": [], "reason": f"{_accel.PURE_ENV} is set"}
    assert str(pure["file"]).endswith(".py")
    assert pure["roots"] == {algorithm: golden()[algorithm]["ledger"] for algorithm in HASH_ALGORITHMS}


@pytest.mark.skipif(not _accel.plan()[0], reason="no current compiled build (make accel builds it; make test does)")
def test_the_compiled_build_is_what_runs_and_replays_the_same_golden_roots() -> None:
    compiled = _replay(pure=False)
    assert compiled["status"] == {"accelerated": True, "modules": list(_accel.MODULES), "reason": ""}
    assert str(compiled["file"]).endswith(".so")
    assert compiled["roots"] == {algorithm: golden()[algorithm]["ledger"] for algorithm in HASH_ALGORITHMS}


@pytest.mark.skipif(not _accel.plan()[0] or _accel.pure_requested(),
                    reason="no current compiled build, or JADECHAIN_PURE_PYTHON is set")
def test_this_test_run_uses_the_compiled_build() -> None:
    # make test builds the compiled modules first, so the whole suite exercises them (and the
    # replay above checks Python against the same pinned roots).
    assert _accel.status()["accelerated"] is True
    assert ledger.codec.__file__ is not None and ledger.codec.__file__.endswith(".so")
