"""Invocation arguments larger than one host reply reach the contract intact, in UTF-8-safe pieces."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.vm import HOST_RESULT_BYTES, _utf8_prefix

from tests.contracts.wasm_kit import deploy, wasm_chain

SIZES = '''
from jadechain import contract, callable

@contract
class Sizes:
    @callable
    def measure(self, items: list) -> int:
        return self.ctx.set(self.ctx.address, "measured", [len(items), sum(len(x) for x in items), items[-1]], -1)
'''


def pieces(data: bytes, limit: int) -> list[bytes]:
    out = []
    while True:
        piece = _utf8_prefix(data, limit)
        data = data[len(piece):]
        if not piece:
            return out
        out.append(piece)


@given(st.text(), st.integers(min_value=4, max_value=64))
@settings(max_examples=300)
def test_pieces_reassemble_and_each_is_valid_utf8(text: str, limit: int) -> None:
    data = text.encode("utf-8", errors="surrogatepass")
    parts = pieces(data, limit)
    assert b"".join(parts) == data
    for part in parts:
        assert 0 < len(part) <= limit
        part.decode("utf-8", errors="surrogatepass")


def test_arguments_over_one_host_reply_arrive_whole() -> None:
    chain = wasm_chain()
    address, status = deploy(chain, "request-sizes", SIZES)
    assert status == "SUCCESS"
    items = [f"é{i:05d}€" + "x" * 300 for i in range(1500)]  # ~470 KB of JSON, multi-byte characters throughout
    assert sum(len(s.encode()) for s in items) > 3 * HOST_RESULT_BYTES
    result = chain.commit(chain.tx(lambda b: b.invoke(address, "measure", items, gas_limit=5_000_000)))
    info = result.tx_infos[0]
    assert info.status == "SUCCESS", info
    stored = chain.ledger.get_entry(address, "measured").value.to_python()
    assert stored == [1500, sum(len(s) for s in items), items[-1]]
