"""The evidence app's HTTP API and public verification page (FastAPI).

``create_app(settings)`` returns an app serving, under ``/evidence``:

* ``POST /evidence`` — preserve one file (multipart, streamed, digests computed on the fly) or
  digests only (JSON); ``POST /evidence/batch`` — many files in one transaction under a Merkle root;
  ``POST /evidence/prepare`` — the core and record hash a party signs before submitting.
* ``POST /evidence/{id}/signatures`` — further parties' signatures (PENDING → COMPLETE).
* ``GET /evidence/{id}`` — the record, its status, parties, time and tokens.
* ``POST /evidence/verify`` — a file, a digest or a record id: on chain or not, since when, by whom,
  which digest differs, and the proof; ``GET /evidence/verify`` — the page that hashes the file in
  the browser (Web Crypto), so the file never leaves the user's machine.
* ``GET /evidence/{id}/certificate.pdf`` and ``GET /evidence/{id}/bundle`` (``?member=`` for one file of
  a batch); ``GET /evidence/consistency?old_height=`` — RFC 9162 proof that the ledger only grew.
* ``POST /evidence/tsa`` — the network TSA over RFC 3161 HTTP; ``GET /evidence/tsa/{ca,tsa}.pem``.

Errors are ``{code, message}`` with stable codes, as on the gateway.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ledger.errors import JadechainError
from jadechain.sdk.client import ApiError
from node.gateway.offline_docs import serve_docs_offline

from baas.apps.evidence import records
from baas.apps.evidence.bundle import build_evidence_zip
from baas.apps.evidence.page import VERIFY_PAGE
from baas.apps.evidence.records import EvidenceError
from baas.apps.evidence.service import EvidenceService, settings_from_mount
from baas.apps.evidence.tsa import QUERY_CONTENT_TYPE, REPLY_CONTENT_TYPE
from baas.apps.evidence.upload import ParsedUpload, parse_streaming

log = logging.getLogger("jadechain.evidence")

MAX_JSON_BYTES = 8 << 20
MemberQuery = Annotated[int | None, Query(ge=0, le=records.MAX_BATCH)]


class _Lazy:
    """Starts the service (account registration needs the gateway) on first use, once."""

    def __init__(self, service: EvidenceService) -> None:
        self.service = service
        self._started = False
        self._lock = threading.Lock()

    def get(self) -> EvidenceService:
        if not self._started:
            with self._lock:
                if not self._started:
                    self.service.start()
                    self._started = True
        return self.service


def _json_loads(text: str | None, label: str) -> Any:
    if text is None or text == "":
        return None
    return _parse_json(text, label)


def _parse_json(text: str | bytes, label: str) -> Any:
    """JSON that is also valid UTF-8 text all the way down (no lone surrogates) and not absurdly deep."""
    try:
        data = json.loads(text)
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except RecursionError as exc:
        raise EvidenceError("INVALID_REQUEST", f"{label}: nested too deeply") from exc
    except UnicodeError as exc:
        raise EvidenceError("INVALID_REQUEST", f"{label}: not valid Unicode text (lone surrogate)") from exc
    except ValueError as exc:
        raise EvidenceError("INVALID_REQUEST", f"{label}: not valid JSON") from exc
    return data


def _digest_object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EvidenceError("INVALID_DIGEST", "digests: expected an object {sha256, sm3}")
    return value


def _record_id(record_id: str) -> str:
    """A record id is 64 hex characters; anything else (CR/LF included) names no record."""
    text = record_id.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise EvidenceError("RECORD_NOT_FOUND", "a record id is 64 hex characters", 404)
    return text


# The verification page uses an inline script and styles; nothing is loaded from elsewhere; no framing.
EVIDENCE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")


async def _read_json(request: Request) -> dict[str, Any]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise EvidenceError("REQUEST_TOO_LARGE", f"JSON bodies are limited to {MAX_JSON_BYTES} bytes", 413)
    data = _parse_json(bytes(body) or b"{}", "body")
    if not isinstance(data, dict):
        raise EvidenceError("INVALID_REQUEST", "body: expected a JSON object")
    return data


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


def _optional_int(value: Any, label: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise EvidenceError("INVALID_REQUEST", f"{label}: expected an integer") from exc


def _signatures(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise EvidenceError("INVALID_SIGNATURE", "signatures: expected a list of {public_key, signature}")
    return value


def _file_core(data: dict[str, Any], digests: dict[str, str], size: int | None, file_name: str | None) -> dict[str, Any]:
    metadata = records.normalize_metadata(data.get("title"), data.get("type"), data.get("description"),
                                          file_name or data.get("file_name"))
    return records.build_file_core(digests=digests, metadata=metadata, parties=data.get("parties"), size=size,
                                   created_at=_optional_int(data.get("created_at"), "created_at"),
                                   nonce=data.get("nonce") or None)


def _batch_core(data: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    metadata = records.normalize_metadata(data.get("title"), data.get("type"), data.get("description"))
    return records.build_batch_core(members=members, metadata=metadata, parties=data.get("parties"),
                                    created_at=_optional_int(data.get("created_at"), "created_at"),
                                    nonce=data.get("nonce") or None)


def _form_as_data(upload: ParsedUpload) -> dict[str, Any]:
    data: dict[str, Any] = dict(upload.fields)
    data["parties"] = _json_loads(upload.fields.get("parties"), "parties")
    data["signatures"] = _json_loads(upload.fields.get("signatures"), "signatures")
    return data


def create_app(settings: Any, *, service: EvidenceService | None = None) -> FastAPI:
    """The evidence app for one network (the BaaS control plane mounts it; ``__main__`` serves it).

    ``settings`` is an :class:`EvidenceSettings`, or the control plane's ``AppMountSettings``.
    """
    settings = settings_from_mount(settings)
    app = FastAPI(title="Jadechain evidence preservation", version="1",
                  description="Preserve file fingerprints with certified time, multi-party signatures and "
                              "RFC 3161 timestamps; verify online or offline.")
    serve_docs_offline(app)
    lazy = _Lazy(service or EvidenceService(settings))
    app.state.evidence = lazy

    def svc() -> EvidenceService:
        return lazy.get()

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = EVIDENCE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def writer(request: Request) -> str:
        """The organisation whose credential the request carries (writes need one), else 401."""
        header = request.headers.get("authorization", "")
        secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
        organisation = settings.authorize(secret) if secret and settings.authorize is not None else None
        if organisation is None:
            raise EvidenceError("UNAUTHENTICATED", "writes need the app's write credential: "
                                "Authorization: Bearer <credential issued by the control plane>", 401)
        return organisation

    async def preserve_counted(organisation: str, core: dict[str, Any], signatures: list[Any], *,
                               kept: Any = None, members: Any = None) -> Any:
        service = await run_in_threadpool(svc)
        kept_bytes = kept.digests.size if kept is not None else 0
        service.quotas.reserve(organisation, kept_bytes)
        try:
            return await call(EvidenceService.preserve, core, signatures, members=members,
                              kept_file=kept.kept_path if kept is not None else None)
        except BaseException:
            service.quotas.release(organisation, kept_bytes)
            raise

    async def call(function: Any, *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(lambda: function(svc(), *args, **kwargs))

    @app.exception_handler(EvidenceError)
    async def _evidence_error(_: Request, error: EvidenceError) -> JSONResponse:
        return JSONResponse({"code": error.code, "message": error.message}, status_code=error.status)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        status = error.http_status if error.http_status < 500 else 502
        return JSONResponse({"code": error.code, "message": f"gateway: {error.message}"}, status_code=status)

    @app.exception_handler(JadechainError)
    async def _jadechain_error(_: Request, error: JadechainError) -> JSONResponse:
        return JSONResponse({"code": error.code, "message": error.message}, status_code=error.http_status)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=error)
        return JSONResponse({"code": "INTERNAL_ERROR", "message": "internal error (logged)"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"code": "VALIDATION_ERROR", "message": str(error.errors())[:1000]}, status_code=422)

    async def _parse_upload(request: Request, keep: bool, max_files: int, organisation: str | None = None) -> ParsedUpload:
        service = await run_in_threadpool(svc)
        keep_dir = service.data_dir / "incoming"
        keep_dir.mkdir(exist_ok=True)
        max_bytes = service.settings.max_upload_bytes
        if keep and organisation is not None:
            remaining = service.quotas.remaining_kept_bytes(organisation)
            if remaining < max_bytes:
                # A kept upload stops streaming at the organisation's remaining storage quota.
                try:
                    return await parse_streaming(request.stream(), request.headers["content-type"], keep=keep,
                                                 keep_dir=str(keep_dir), max_bytes=remaining + 64 * 1024,
                                                 max_files=max_files)
                except EvidenceError as error:
                    if error.code == "REQUEST_TOO_LARGE":
                        raise EvidenceError("QUOTA_EXCEEDED", "your organisation's storage quota for kept files "
                                            f"has {remaining} bytes left", 413) from error
                    raise
        return await parse_streaming(request.stream(), request.headers["content-type"], keep=keep,
                                     keep_dir=str(keep_dir), max_bytes=max_bytes, max_files=max_files)

    # --- preserve ---------------------------------------------------------------------------------------

    @app.post("/evidence", status_code=201, summary="Preserve one file (multipart, streamed) or its digests (JSON)")
    async def preserve(request: Request, keep: bool = False) -> Any:
        organisation = writer(request)
        if _is_multipart(request):
            upload = await _parse_upload(request, keep, 1, organisation)
            try:
                data = _form_as_data(upload)
                if upload.files:
                    file = upload.files[0]
                    core = _file_core(data, file.digests.digests(), file.digests.size, file.file_name)
                    kept = file if file.kept_path else None
                else:
                    core = _file_core(data, {n: str(data[n]) for n in records.DIGEST_NAMES if data.get(n)},
                                      _optional_int(data.get("size"), "size"), None)
                    kept = None
                return await preserve_counted(organisation, core, _signatures(data.get("signatures")), kept=kept)
            except BaseException:
                upload.discard()
                raise
        data = await _read_json(request)
        core = _file_core(data, _digest_object(data.get("digests")), _optional_int(data.get("size"), "size"), None)
        return await preserve_counted(organisation, core, _signatures(data.get("signatures")))

    @app.post("/evidence/batch", status_code=201, summary="Preserve many files in one transaction under a Merkle root")
    async def preserve_batch(request: Request) -> Any:
        organisation = writer(request)
        if _is_multipart(request):
            upload = await _parse_upload(request, False, records.MAX_BATCH)
            data = _form_as_data(upload)
            items = [{"name": f.file_name, "size": f.digests.size, **f.digests.digests()} for f in upload.files]
        else:
            data = await _read_json(request)
            items = data.get("items") or []
        if not isinstance(items, list):
            raise EvidenceError("INVALID_BATCH", "items: expected a list")
        members = [records.normalize_member(item) for item in items]
        core = _batch_core(data, members)
        result = await preserve_counted(organisation, core, _signatures(data.get("signatures")), members=members)
        result["members"] = [{"index": i, "name": m["name"], "sha256": m["sha256"]} for i, m in enumerate(members)]
        return result

    @app.post("/evidence/prepare", summary="The core and record hash to sign before preserving (JSON)")
    async def prepare(request: Request) -> Any:
        data = await _read_json(request)
        if data.get("items") is not None:
            if not isinstance(data["items"], list):
                raise EvidenceError("INVALID_BATCH", "items: expected a list")
            members = [records.normalize_member(item) for item in data["items"]]
            core = _batch_core(data, members)
        else:
            core = _file_core(data, _digest_object(data.get("digests")), _optional_int(data.get("size"), "size"), None)
        record_hash = records.record_hash(core)
        return {"id": record_hash.hex(), "record_hash": record_hash.hex(), "core": core,
                "canonical_core": records.canonical_json(core).decode()}

    @app.post("/evidence/{record_id}/signatures", summary="Add parties' signatures over the record hash")
    async def add_signatures(record_id: str, request: Request) -> Any:
        writer(request)
        record_id = _record_id(record_id)
        data = await _read_json(request)
        signatures = _signatures(data.get("signatures") if "signatures" in data else data)
        if not signatures:
            raise EvidenceError("INVALID_SIGNATURE", "no signature given")
        return await call(EvidenceService.add_signatures, record_id, signatures)

    # --- verify ---------------------------------------------------------------------------------------------

    @app.get("/evidence/verify", response_class=HTMLResponse, summary="Public verification page")
    def verify_page() -> HTMLResponse:
        return HTMLResponse(VERIFY_PAGE)

    @app.post("/evidence/verify", summary="Verify a file, a digest or a record id")
    async def verify(request: Request, proof: bool = True) -> Any:
        if _is_multipart(request):
            upload = await _parse_upload(request, False, 1)
            data: dict[str, Any] = dict(upload.fields)
            if upload.files:
                data["digests"] = upload.files[0].digests.digests()
        else:
            data = await _read_json(request)
        digests = dict(_digest_object(data.get("digests")))
        for name in records.DIGEST_NAMES:
            if data.get(name):
                digests[name] = data[name]
        record_id = data.get("id") or None
        if record_id is not None and not isinstance(record_id, str):
            raise EvidenceError("INVALID_REQUEST", "id: expected a record id (64 hex characters)")
        member = _optional_int(data.get("member"), "member")
        generic = data.get("digest")
        if generic and not digests:
            # A bare digest: SHA-256 or SM3, both 32 bytes; try each index.
            value = records.normalize_digest("digest", generic)
            for name in records.DIGEST_NAMES:
                report = await call(EvidenceService.verify, digests={name: value}, record_id=record_id,
                                    member=member, with_proof=proof)
                if report["on_chain"]:
                    return report
            return report
        if not digests and not record_id:
            raise EvidenceError("INVALID_REQUEST", "give a file, a digest (sha256 / sm3) or a record id")
        return await call(EvidenceService.verify, digests=digests or None, record_id=record_id, member=member,
                          with_proof=proof)

    @app.get("/evidence/consistency", summary="RFC 9162 proof that the ledger at new_height extends old_height")
    async def consistency(old_height: Annotated[int, Query(ge=0, le=2**62)],
                          new_height: Annotated[int | None, Query(ge=0, le=2**62)] = None) -> Any:
        return await call(EvidenceService.consistency, old_height, new_height)

    # --- TSA --------------------------------------------------------------------------------------------------

    @app.post("/evidence/tsa", summary="The network's RFC 3161 timestamp authority (application/timestamp-query)")
    async def tsa(request: Request) -> Response:
        writer(request)  # the network TSA signs for credential holders; its tokens verify for anyone
        if request.headers.get("content-type", "").split(";")[0].strip() != QUERY_CONTENT_TYPE:
            raise EvidenceError("UNSUPPORTED_MEDIA_TYPE", f"expected {QUERY_CONTENT_TYPE}", 415)
        body = await request.body()
        reply = await run_in_threadpool(lambda: lazy.service.tsa.respond(body))
        return Response(reply, media_type=REPLY_CONTENT_TYPE)

    @app.get("/evidence/tsa/ca.pem", summary="The network TSA's CA certificate")
    def tsa_ca() -> Response:
        return Response(lazy.service.tsa.ca_pem, media_type="application/x-pem-file")

    @app.get("/evidence/tsa/tsa.pem", summary="The network TSA's certificate")
    def tsa_cert() -> Response:
        return Response(lazy.service.tsa.certificate_pem, media_type="application/x-pem-file")

    # --- records ------------------------------------------------------------------------------------------------

    @app.get("/evidence/{record_id}", summary="A record: status, parties, since when, tokens")
    async def get_record(record_id: str) -> Any:
        return await call(EvidenceService.record_view, _record_id(record_id))

    @app.get("/evidence/{record_id}/certificate.pdf", summary="The evidence certificate (PDF)")
    async def certificate(record_id: str, member: MemberQuery = None) -> Response:
        record_id = _record_id(record_id)
        pdf = await call(_certificate, record_id, member)
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="evidence-{record_id[:16]}.pdf"'})

    @app.get("/evidence/{record_id}/bundle", summary="The offline-verifiable evidence bundle (zip)")
    async def bundle(record_id: str, member: MemberQuery = None) -> Response:
        record_id = _record_id(record_id)
        data = await call(build_evidence_zip, record_id, member)
        name = f"evidence-{record_id[:16]}" + ("" if member is None else f"-{member}") + ".zip"
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return app


def _certificate(service: EvidenceService, record_id: str, member: int | None) -> bytes:
    from baas.apps.evidence.pdf import render_certificate

    state = service.get_record(record_id)
    view = service.describe(state)
    member_view = None
    if member is not None:
        if state.members is None or not 0 <= member < len(state.members):
            raise EvidenceError("INVALID_MEMBER", "no such batch member", 404)
        member_view = {"index": member, **state.members[member], "path": records.BatchTree(state.members).path(member)}
    validators = service.validators()
    return render_certificate(
        view, record=state.record, verify_url=service.verify_url(state.id, member),
        validator_fingerprint=service.validator_fingerprint(validators), hash_algorithm=service.hash_algorithm.name,
        member=member_view,
    )

