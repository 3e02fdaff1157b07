"""Streaming multipart parsing: digests computed chunk by chunk, files kept only on request."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import AsyncIterator

import httpx
import pytest

from baas.apps.evidence.records import EvidenceError
from baas.apps.evidence.upload import parse_streaming


def _multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", data=fields, files=[(n, (fn, d)) for n, fn, d in files])
    return request.read(), request.headers["content-type"]


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def _parse(body: bytes, content_type: str, tmp_path: Path, *, keep: bool = False, chunk: int = 1000,
           max_bytes: int = 1 << 30, max_files: int = 10):
    return asyncio.run(parse_streaming(_chunks(body, chunk), content_type, keep=keep, keep_dir=str(tmp_path),
                                       max_bytes=max_bytes, max_files=max_files))


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_digests_and_fields_whatever_the_chunking(tmp_path: Path, chunk: int) -> None:
    data = bytes(range(256)) * 40 + b"\r\n--boundary-like\r\n"
    body, content_type = _multipart({"title": "合同 contract", "type": "contract"}, [("file", "a/b/合同.pdf", data)])
    parsed = _parse(body, content_type, tmp_path, chunk=chunk)
    assert parsed.fields == {"title": "合同 contract", "type": "contract"}
    [upload] = parsed.files
    assert upload.file_name == "合同.pdf" and upload.digests.size == len(data)
    assert upload.digests.digests() == {"sha256": hashlib.sha256(data).hexdigest(),
                                        "sm3": hashlib.new("sm3", data).hexdigest()}
    assert upload.kept_path is None and list(tmp_path.iterdir()) == []


def test_file_written_only_when_kept(tmp_path: Path) -> None:
    body, content_type = _multipart({}, [("file", "x.bin", b"keep me")])
    parsed = _parse(body, content_type, tmp_path, keep=True)
    assert Path(parsed.files[0].kept_path).read_bytes() == b"keep me"
    parsed.discard()
    assert list(tmp_path.iterdir()) == []


def test_limits_and_bad_bodies_have_codes(tmp_path: Path) -> None:
    body, content_type = _multipart({}, [("files", "1", b"a"), ("files", "2", b"b")])
    with pytest.raises(EvidenceError) as many:
        _parse(body, content_type, tmp_path, max_files=1)
    assert many.value.code == "TOO_MANY_FILES"
    with pytest.raises(EvidenceError) as large:
        _parse(body, content_type, tmp_path, max_bytes=10)
    assert large.value.code == "REQUEST_TOO_LARGE"
    with pytest.raises(EvidenceError) as media:
        _parse(body, "application/json", tmp_path)
    assert media.value.status == 415
