"""Streaming multipart parsing: files are hashed chunk by chunk as they arrive, never buffered.

FastAPI's ``UploadFile`` spools the whole upload to a temporary file before the handler runs; an
evidence upload only needs the SM3 and SHA-256 digests, so the body is fed straight from
``request.stream()`` into python-multipart's push parser. A file is written to disk only when the
client asked to keep it (``keep=true`` as a query parameter, or a form field sent before the file).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from python_multipart.multipart import MultipartParser, parse_options_header

from baas.apps.evidence.records import EvidenceError, StreamingDigests

MAX_FIELD_BYTES = 256 << 10
MAX_FIELDS = 64


@dataclass
class UploadedFile:
    field_name: str
    file_name: str
    digests: StreamingDigests = field(default_factory=StreamingDigests)
    kept_path: str | None = None
    _handle: Any = None


@dataclass
class ParsedUpload:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)

    def discard(self) -> None:
        for upload in self.files:
            if upload.kept_path and os.path.exists(upload.kept_path):
                os.unlink(upload.kept_path)


def boundary_of(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise EvidenceError("UNSUPPORTED_MEDIA_TYPE", "expected multipart/form-data with a boundary", 415)
    return options[b"boundary"]


async def parse_streaming(
    stream: AsyncIterator[bytes], content_type: str, *, keep: bool, keep_dir: str, max_bytes: int,
    max_files: int,
) -> ParsedUpload:
    """Parse a multipart body from ``stream``; digests of each file part are computed on the fly."""
    result = ParsedUpload()
    state: dict[str, Any] = {"headers": {}, "header_field": b"", "header_value": b"", "file": None,
                             "field": None, "buffer": bytearray()}
    errors: list[EvidenceError] = []

    def on_part_begin() -> None:
        state.update(headers={}, header_field=b"", header_value=b"", file=None, field=None, buffer=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header_field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["header_value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["header_field"].decode("latin-1").lower()] = state["header_value"]
        state["header_field"], state["header_value"] = b"", b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(state["headers"].get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            if len(result.files) >= max_files:
                errors.append(EvidenceError("TOO_MANY_FILES", f"at most {max_files} files per request", 413))
                return
            upload = UploadedFile(name, os.path.basename(options[b"filename"].decode("utf-8", "replace")))
            if keep or result.fields.get("keep", "").lower() in ("1", "true", "yes", "on"):
                handle = tempfile.NamedTemporaryFile(dir=keep_dir, delete=False, prefix="upload-")
                upload._handle, upload.kept_path = handle, handle.name
            result.files.append(upload)
            state["file"] = upload
        else:
            if len(result.fields) >= MAX_FIELDS:
                errors.append(EvidenceError("TOO_MANY_FIELDS", f"at most {MAX_FIELDS} form fields", 413))
            state["field"] = name

    def on_part_data(data: bytes, start: int, end: int) -> None:
        upload: UploadedFile | None = state["file"]
        if upload is not None:
            chunk = data[start:end]
            upload.digests.update(chunk)
            if upload._handle is not None:
                upload._handle.write(chunk)
            return
        buffer: bytearray = state["buffer"]
        buffer += data[start:end]
        if len(buffer) > MAX_FIELD_BYTES:
            errors.append(EvidenceError("FIELD_TOO_LARGE", f"a form field is limited to {MAX_FIELD_BYTES} bytes", 413))
            buffer.clear()

    def on_part_end() -> None:
        upload: UploadedFile | None = state["file"]
        if upload is not None:
            if upload._handle is not None:
                upload._handle.close()
                upload._handle = None
        elif state["field"] is not None:
            result.fields[state["field"]] = bytes(state["buffer"]).decode("utf-8", "replace")

    parser = MultipartParser(boundary_of(content_type), {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
    })
    received = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if received > max_bytes:
                raise EvidenceError("REQUEST_TOO_LARGE", f"uploads are limited to {max_bytes} bytes", 413)
            parser.write(chunk)
            if errors:
                raise errors[0]
        parser.finalize()
    except EvidenceError:
        for upload in result.files:
            if upload._handle is not None:
                upload._handle.close()
        result.discard()
        raise
    except Exception as exc:  # python-multipart raises its own parse errors
        result.discard()
        raise EvidenceError("INVALID_MULTIPART", f"malformed multipart body: {exc}") from exc
    return result
