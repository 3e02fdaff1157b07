"""`up` never adopts a service it did not start: when another process holds the port its service was given
(two `up`s picking the same preferred port at once), the other process answers the readiness check while the
new service exits with "address already in use"; `up` must say so instead of reporting the other's URL."""

from __future__ import annotations

import http.server
import sys
import threading
from pathlib import Path

import pytest

from jadechain.devnet.up import _start_service
from ledger.errors import ConfigError


def test_a_port_held_by_another_process_is_refused(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # The service tries the same port, fails to bind and exits, as uvicorn does. (Should it exit before the
        # readiness check, up reports that instead: either way it refuses.)
        argv = [sys.executable, "-c", f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); time.sleep(60)"]
        with pytest.raises(ConfigError, match="another process holds the port|exited at start"):
            _start_service(tmp_path, "svc", argv, f"http://127.0.0.1:{port}", "/", 30.0)
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "run" / "svc.json").exists()
