"""Archive files (ledger/archive.py): the encoding round-trips, any bytes are an archive or a stable
refusal, and the accumulator frontier an archive carries covers the log with aligned perfect subtrees."""

from __future__ import annotations

from hypothesis import given, strategies as st

from ledger.archive import ArchivedBlock, ArchiveFile, accumulator_frontier, decode_archive, encode_archive
from ledger.errors import ArchiveInvalid

small_bytes = st.binary(max_size=40)
archived_blocks = st.builds(
    lambda header, body, certificate, pairs: ArchivedBlock(
        header, body, certificate, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)),
    small_bytes, small_bytes, small_bytes, st.lists(st.tuples(small_bytes, small_bytes), max_size=3))
archive_files = st.builds(
    ArchiveFile, small_bytes, st.integers(0, 2**40), st.integers(0, 2**40),
    st.lists(st.tuples(st.integers(0, 63), st.integers(0, 2**40), small_bytes), max_size=4).map(tuple),
    st.lists(archived_blocks, max_size=3).map(tuple), small_bytes, small_bytes)


@given(archive_files)
def test_the_archive_encoding_round_trips(archive: ArchiveFile) -> None:
    assert decode_archive(encode_archive(archive)) == archive


@given(st.binary(max_size=300))
def test_any_bytes_decode_to_an_archive_or_a_stable_refusal(raw: bytes) -> None:
    try:
        decode_archive(raw)
    except ArchiveInvalid as error:
        assert error.code == "ARCHIVE_INVALID"


@given(archive_files, st.data())
def test_a_changed_byte_never_decodes_to_the_same_archive(archive: ArchiveFile, data: st.DataObject) -> None:
    raw = encode_archive(archive)
    position = data.draw(st.integers(0, len(raw) - 1))
    changed = bytearray(raw)
    changed[position] ^= data.draw(st.integers(1, 255))
    try:
        assert decode_archive(bytes(changed)) != archive  # canonical decoding: one archive, one encoding
    except ArchiveInvalid:
        pass


@given(st.integers(min_value=0, max_value=2**40))
def test_the_frontier_covers_the_log_with_aligned_perfect_subtrees(size: int) -> None:
    nodes = accumulator_frontier(size)
    covered = 0
    for level, index in nodes:
        assert index << level == covered  # each starts where the previous ended, aligned to its width
        covered += 1 << level
    assert covered == size and len(nodes) == bin(size).count("1")


def test_a_string_where_an_array_belongs_is_refused() -> None:
    # Found by CI: the empty frontier array (0x90) changed to an empty string (0xa0) decoded as "no frontier".
    raw = bytearray(encode_archive(ArchiveFile(b"", 0, 65536, (), (), b"", b"")))
    raw[raw.index(0x90)] = 0xA0
    try:
        decode_archive(bytes(raw))
    except ArchiveInvalid as error:
        assert error.code == "ARCHIVE_INVALID"
    else:
        raise AssertionError("an archive with a string for its frontier decoded")
