"""Stateful schemathesis over the gateway of a real one-node network (``jadechain.devnet.net``, mutual TLS between
nodes, the gateway's default rate limit on), chained through the links schemathesis infers from the
gateway's OpenAPI document.

A gateway authenticates writes by the transaction's signature, so "with auth" means: every other call
addresses the network's real ledger, a data account registered before the run, a committed transaction,
and every other POST carries a fresh transaction signed by the ledger's admin (valid, so it commits);
the other calls keep schemathesis' generated values. Every response: no 5xx, errors as ``{code,
message}`` without a traceback, success bodies matching the documented schema, and every timestamp
in a success body with its time zone.

Bounded by ``JADECHAIN_FUZZ_EXAMPLES`` (default 5 scenarios of at most 6 steps); about 20 s.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from ledger import codec
from ledger.crypto import ED25519, address_from_public_key, decrypt_private_key, generate_keypair
from ledger.crypto import keypair_from_private, load_keystore
from jadechain.devnet.net import create_network, net_down, start_node, wait_for_height
from jadechain.sdk import JadechainClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stateful_kit import ResponseChecks, naive_timestamps, run_checked  # noqa: E402

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = int(os.environ.get("JADECHAIN_FUZZ_EXAMPLES", "5"))
EXCLUDED_PATHS = (r"/stream$", r"^/api/v1/admin/")  # an endless SSE stream; admin needs the node's admin token


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    layout = create_network(tmp_path_factory.mktemp("stateful-gateway") / "net", 1, tls=True)
    start_node(layout, layout.nodes[0].name)
    try:
        wait_for_height(layout, 1, 90)
        password = Path(layout.password_file).read_text().strip()
        admin = keypair_from_private(decrypt_private_key(load_keystore(layout.nodes[0].key_file), password))
        with JadechainClient([layout.nodes[0].url]) as client:
            ledger = client.ledger()
            pair = generate_keypair(ED25519)
            assert ledger.submit(ledger.builder().register_data_account(pair.public.encoded).sign(admin),
                                 wait=True).status == "SUCCESS"
            account = address_from_public_key(pair.public)
            written = ledger.submit(ledger.builder().kv_set(account, "k", "v").sign(admin), wait=True)
            assert written.status == "SUCCESS"

            def fresh_tx(index: int) -> str:
                return codec.encode(ledger.builder().kv_set(account, f"fuzz-{index}", str(index)).sign(admin)).hex()

            yield {"url": layout.nodes[0].url, "ledger": layout.ledger_hash, "account": account,
                   "tx": written.tx_hash, "fresh_tx": fresh_tx}
    finally:
        net_down(layout.directory, timeout=15)


@pytest.mark.timeout(900)
def test_gateway_stateful_with_signed_transactions(gateway: dict[str, Any]) -> None:
    url = gateway["url"]
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    for pattern in EXCLUDED_PATHS:
        schema = schema.exclude(path_regex=pattern)
    base = schema.as_state_machine()
    checks = ResponseChecks()
    calls = {"real": 0, "committed_posts": 0}
    real_values = {"ledger": gateway["ledger"], "address": gateway["account"], "tx_hash": gateway["tx"]}

    submit = schema["/api/v1/ledgers/{ledger}/txs"]["POST"]

    class Gateway(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            # Each scenario starts with a valid signed write (the generated POSTs rarely sign validly).
            calls["committed_posts"] += 1
            case = submit.Case(path_parameters={"ledger": gateway["ledger"]}, query={"wait": "commit"},
                               body={"txs": [gateway["fresh_tx"](-calls["committed_posts"])]},
                               media_type="application/json")
            response = case.call(**self.get_call_kwargs(case))
            self.validate_response(response, case)
            assert response.status_code == 200, response.text[:300]
            [result] = response.json()
            assert result["accepted"] and result["result"]["status"] == "SUCCESS", result

        def before_call(self, case: Any) -> None:
            calls["real"] += 1
            if calls["real"] % 2:
                return  # schemathesis' own values (and the ids its links carried)
            parameters = dict(case.path_parameters or {})
            for name, value in real_values.items():
                if name in parameters:
                    parameters[name] = value
            case.path_parameters = parameters
            if case.method.upper() == "POST" and case.path.endswith("/txs"):
                case.body = {"txs": [gateway["fresh_tx"](calls["real"])]}
                case.media_type = "application/json"
                calls["committed_posts"] += 1

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": url, "timeout": 60}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            checks(response, case)

    run_checked(Gateway, checks, EXAMPLES)
    assert calls["committed_posts"] >= 1, calls


def test_the_timestamp_check_sees_a_naive_timestamp() -> None:
    assert naive_timestamps({"a": [{"t": "2026-01-02T03:04:05"}]}) == ["$.a[0].t=2026-01-02T03:04:05"]
    assert naive_timestamps({"t": "2026-01-02T03:04:05.1+08:00", "u": "2026-01-02T03:04:05Z", "v": "x"}) == []
