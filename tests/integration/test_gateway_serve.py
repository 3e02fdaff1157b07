"""``serve_solo`` as a real process: SIGTERM shuts it down gracefully and a restart resumes the ledger."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ledger.crypto import ED25519, address_from_public_key, generate_keypair
from ledger.proofs import verify_bundle
from ledger.store.directory import open_ledger
from jadechain.sdk import JadechainClient
from jadechain.devnet.solo import create_dev_solo

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(dev, port: int) -> subprocess.Popen[bytes]:
    code = (
        "import asyncio, sys; from node.solo import serve_solo; "
        "asyncio.run(serve_solo(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], '127.0.0.1', int(sys.argv[5]), idle_block_ms=10))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, dev.data_dir, dev.ledger_hash, dev.key_file, dev.password, str(port)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    _, stderr = process.communicate()
    raise AssertionError(f"node did not start: {stderr.decode()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    stderr = ""
    if process.stderr is not None:
        stderr = process.stderr.read().decode()
        process.stderr.close()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr


def test_sigterm_is_graceful_and_a_restart_resumes(tmp_path) -> None:
    dev = create_dev_solo(str(tmp_path))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start(dev, port)
    try:
        with JadechainClient([url], retry_timeout=30) as client:
            ledger = client.ledger()
            pair = generate_keypair(ED25519)
            ledger.submit(ledger.builder().register_data_account(pair.public.encoded).sign(dev.key))
            account = address_from_public_key(pair.public)
            written = ledger.submit(ledger.builder().kv_set(account, "k", "before restart").sign(dev.key))
            assert written.status == "SUCCESS"
            # Stream open while the node stops: shutdown must not hang on it.
            with httpx.stream("GET", f"{url}{ledger.base}/stream", timeout=5):
                stop(process)
            # Closed cleanly: the ledger opens, the last block is sealed and certified.
            closed = open_ledger(dev.data_dir, dev.ledger_hash)
            try:
                height = closed.height
                assert height > written.height
                assert closed.get_certificate(height) is not None
            finally:
                closed.close()
            process = start(dev, port)
            assert ledger.get_entry(account, "k").value == "before restart"
            again = ledger.submit(ledger.builder().kv_set(account, "k", "after restart", 0).sign(dev.key))
            assert again.status == "SUCCESS" and again.height > height
            # entry_proof waits (up to 30 s) for a certified header covering the write
            report = verify_bundle(ledger.entry_proof(account, "k", 0), trusted_validators=ledger.validators(),
                                   require_certificate=True)
            assert report.certified
    finally:
        if process.poll() is None:
            stop(process)
