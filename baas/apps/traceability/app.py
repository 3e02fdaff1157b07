"""HTTP API and consumer portal of the traceability app (FastAPI).

* ``POST /traceability/capture`` – an EPCIS 2.0 ``EPCISDocument`` (JSON-LD); ``Authorization: Bearer
  <organisation token>``; 201 with ``captureID`` and ``txHashes``; errors ``{code, message, details}``.
* ``GET /traceability/capture/{captureID}`` – the capture's status on chain.
* ``GET /traceability/events`` – EPCIS SimpleEventQuery parameters → ``EPCISQueryDocument``; paging by
  ``perPage`` and ``nextPageToken`` (also announced in a ``Link: rel="next"`` header).
* ``GET /traceability/events/{eventID}/proof`` – the proof bundle of the event's on-chain record
  (download; ``jadechain verify`` checks it offline).
* ``GET /traceability/items/{id}/history`` – genealogy (aggregation + transformation) of an item.
* ``GET /traceability/items/{id}/qr.png|.svg`` – QR code of the item's portal URL.
* ``GET /t/{GS1 Digital Link path}`` – the consumer page (what the QR code points to).
* ``POST /traceability/admin/brands`` / ``/partners`` / ``/organisations`` – governance (admin token;
  partners also by the brand's own token).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import html
import io
import json
import threading
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from baas.apps.traceability import cbv
from baas.apps.traceability.epcis_rest import add_epcis_routes, query_response, read_document, run_query
from baas.apps.traceability.eventhash import EventHashError
from baas.apps.traceability.identifiers import DL_ROOT, IdentifierError, class_of, dl_path, normalise, to_urn
from baas.apps.traceability.service import (
    EPC_CONTEXT, CaptureError, TraceabilityService, settings_from_mount,
)
from baas.apps.traceability.store import EventRow
from baas.apps.traceability.xml_binding import XmlBindingError
from ledger.crypto import PublicKey, address_from_public_key
from jadechain.sdk.client import ApiError
from node.gateway.offline_docs import serve_docs_offline

MAX_PER_PAGE = 1000


def _error(code: str, message: str, status: int, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status)


def _event_json(row: EventRow) -> dict[str, Any]:
    """The event as captured (with its eventID, and its inline @context if it uses extensions), so that
    sha-256 of its canonical JSON is the digest recorded on chain; plus its errorDeclaration, if any."""
    event = dict(row.event)
    if row.error is not None:
        event["errorDeclaration"] = row.error
    return event


def _event_text(row: EventRow) -> str:
    """``_event_json(row)`` as JSON text: the stored text itself unless a declaration is to be added."""
    return row.text if row.error_text is None else _compact(_event_json(row))


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _iso(millis: int) -> str:
    return dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


JADE_NAMESPACE = "https://jadechain.example/epcis/"


def _query_event(row: EventRow) -> dict[str, Any]:
    """An event in a query result: as captured, plus its recordTime (outside the hash) and any declaration."""
    event = _event_json(row)
    if row.record_time is not None and "recordTime" not in event:
        event["recordTime"] = _iso(row.record_time)
    return event


def query_document(rows: list[EventRow], query_name: str = "SimpleEventQuery") -> dict[str, Any]:
    """An EPCISQueryDocument; ``jade:eventHashes`` gives our CBV 2.0 hash ID of each event, in order
    (an event captured with its own eventID keeps it; the hash ID is what the chain records)."""
    return {
        "@context": [EPC_CONTEXT, {"jade": JADE_NAMESPACE}],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": _iso(int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)),
        "epcisBody": {"queryResults": {"queryName": query_name,
                                       "resultsBody": {"eventList": [_query_event(row) for row in rows]}}},
        "jade:eventHashes": [row.hash for row in rows],
    }


def create_app(settings: Any, service: TraceabilityService | None = None) -> FastAPI:
    """The traceability app; ``settings`` is a :class:`TraceabilitySettings` or the BaaS control plane's
    ``AppMountSettings``. ``service`` (started) may be given; else one is made and started on startup –
    or, when the app is mounted inside another app (no lifespan of its own), at its first request."""
    settings = settings_from_mount(settings)
    owned = service is None
    svc = service or TraceabilityService(settings)
    state: dict[str, Any] = {"started": not owned, "delivery": None}
    start_lock = threading.Lock()

    def start_once() -> None:
        with start_lock:
            if not state["started"]:
                svc.start()
                state["started"] = True

    async def ensure_started() -> None:
        if not state["started"]:
            await run_in_threadpool(start_once)
        if state["delivery"] is None:
            state["delivery"] = asyncio.create_task(dispatcher.run())

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        await ensure_started()
        try:
            yield
        finally:
            delivery = state["delivery"]
            if delivery is not None:
                delivery.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await delivery
            if owned and state["started"]:
                await run_in_threadpool(svc.stop)

    app = FastAPI(title="Jadechain traceability (EPCIS 2.0)", lifespan=lifespan)
    serve_docs_offline(app)
    app.state.service = svc
    dispatcher = add_epcis_routes(app, settings, svc, query_document, _event_json)
    app.state.dispatcher = dispatcher

    class StartOnFirstRequest:
        """ASGI middleware: a mounted app (no lifespan of its own) starts at its first request; while the
        ledger is unreachable each request gets 503 CHAIN_UNAVAILABLE and the next one tries again."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and (not state["started"] or state["delivery"] is None):
                try:
                    await ensure_started()
                except Exception as exc:
                    response = _error("CHAIN_UNAVAILABLE", "the traceability app cannot reach its ledger yet "
                                      f"({type(exc).__name__})", 503)
                    await response(scope, receive, send)
                    return
            await self.inner(scope, receive, send)

    app.add_middleware(StartOnFirstRequest)

    @app.exception_handler(CaptureError)
    async def capture_error(request: Request, exc: CaptureError) -> JSONResponse:
        return _error(exc.code, exc.message, exc.status, exc.details)

    @app.exception_handler(EventHashError)
    async def time_error(request: Request, exc: EventHashError) -> JSONResponse:
        return _error("INVALID_PARAMETER", str(exc), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHORIZED", 403: "FORBIDDEN"}
        return _error(codes.get(exc.status_code, "HTTP_ERROR"), str(exc.detail), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error("INVALID_REQUEST", "the request does not match the API", 400,
                      [{"loc": [str(part) for part in error.get("loc", ())], "message": str(error.get("msg", ""))}
                       for error in exc.errors()][:20])

    @app.exception_handler(ApiError)
    async def chain_error(request: Request, exc: ApiError) -> JSONResponse:
        status = exc.http_status if 400 <= exc.http_status < 500 else 502
        return _error(exc.code, exc.message, status)

    @app.exception_handler(XmlBindingError)
    async def xml_error(request: Request, exc: XmlBindingError) -> JSONResponse:
        return _error(exc.code, str(exc), 400)

    @app.exception_handler(IdentifierError)
    async def identifier_error(request: Request, exc: IdentifierError) -> JSONResponse:
        return _error("INVALID_IDENTIFIER", str(exc), 400)

    def _bearer(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header[7:].strip() if header.lower().startswith("bearer ") else None

    def _require_admin(request: Request) -> None:
        token = _bearer(request)
        if settings.admin_token is not None and token is not None and hmac.compare_digest(token, settings.admin_token):
            return
        if token and settings.admin_check is not None and settings.admin_check(token):
            return
        raise CaptureError("UNAUTHORIZED", "admin token required", 401)

    # --- capture ---------------------------------------------------------------------------------

    @app.post("/traceability/capture", status_code=201, summary="Capture an EPCIS 2.0 document (all or nothing)")
    async def capture(request: Request) -> JSONResponse:
        token = _bearer(request)
        org_key = settings.organisations.get(token or "")
        if org_key is None:
            return _error("UNAUTHORIZED", "a valid organisation token is required (Authorization: Bearer ...)", 401)
        document = await read_document(request)
        result = await run_in_threadpool(svc.capture, document, org_key)
        return JSONResponse(result, status_code=201, headers={"Location": f"/traceability/capture/{result['captureID']}"})

    @app.get("/traceability/capture/{capture_id}")
    def capture_status(capture_id: str) -> dict[str, Any]:
        return svc.capture_status(capture_id)

    # --- governance --------------------------------------------------------------------------------

    async def _body(request: Request, required: dict[str, type]) -> dict[str, Any]:
        """The JSON object body with ``required`` fields of the given types; CaptureError 400 otherwise."""
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise CaptureError("INVALID_JSON", "the body is not JSON", 400) from exc
        if not isinstance(body, dict):
            raise CaptureError("INVALID_REQUEST", "the body must be a JSON object", 400)
        for name, kind in required.items():
            if not isinstance(body.get(name), kind) or isinstance(body.get(name), bool) and kind is not bool:
                raise CaptureError("INVALID_REQUEST", f"{name} is required ({kind.__name__})", 400)
        if "prefix" in required and not (str(body["prefix"]).isdigit() and 4 <= len(str(body["prefix"])) <= 12):
            raise CaptureError("INVALID_REQUEST", "prefix is a GS1 company prefix: 4 to 12 digits", 400)
        if "name" in body and not isinstance(body["name"], str):
            raise CaptureError("INVALID_REQUEST", "name must be a string", 400)
        return body

    @app.post("/traceability/admin/organisations", status_code=201)
    async def register_organisation(request: Request) -> dict[str, Any]:
        _require_admin(request)
        body = await _body(request, {"publicKey": str})
        try:
            key = PublicKey.from_base58(body["publicKey"])
        except Exception as exc:  # any malformed key text: a clear 400
            raise CaptureError("INVALID_REQUEST", "publicKey is not a base58 public key", 400) from exc
        address = await run_in_threadpool(svc.register_organisation, key, body.get("name", ""))
        return {"address": address}

    @app.post("/traceability/admin/brands", status_code=201)
    async def register_brand(request: Request) -> dict[str, Any]:
        _require_admin(request)
        body = await _body(request, {"prefix": str, "brand": str})
        return await run_in_threadpool(svc.register_brand, str(body["prefix"]), body["brand"], body.get("name", ""))

    @app.post("/traceability/partners", status_code=201)
    async def set_partner(request: Request) -> dict[str, Any]:
        token = _bearer(request)
        signer = settings.organisations.get(token or "")
        if signer is None and token is not None and token == settings.admin_token:
            signer = settings.admin_key
        if signer is None:
            raise CaptureError("UNAUTHORIZED", "the brand's token (or the admin token) is required", 401)
        body = await _body(request, {"prefix": str, "partner": str})
        return await run_in_threadpool(svc.set_partner, signer, str(body["prefix"]), body["partner"],
                                       bool(body.get("authorised", True)))

    @app.post("/traceability/masterdata", status_code=201, summary="EPCIS master data: product and location names")
    async def post_master_data(request: Request) -> dict[str, Any]:
        org_key = settings.organisations.get(_bearer(request) or "")
        if org_key is None:
            raise CaptureError("UNAUTHORIZED", "a valid organisation token is required (Authorization: Bearer ...)", 401)
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise CaptureError("INVALID_JSON", "the body is not JSON", 400) from exc
        vocabulary_list = body.get("vocabularyList") if isinstance(body, dict) else None
        return await run_in_threadpool(svc.save_master_data, org_key, vocabulary_list)

    @app.get("/traceability/masterdata/{element_id:path}", summary="Master data of one GTIN, lot, GLN...")
    def get_master_data(element_id: str) -> dict[str, Any]:
        key = normalise(element_id)
        attributes = svc.store.master_data(key)
        if not attributes:
            raise CaptureError("NOT_FOUND", "no master data for this identifier", 404)
        return {"id": key, "attributes": attributes}

    @app.get("/traceability/brands")
    def brands() -> list[dict[str, Any]]:
        return [{"prefix": p, "brand": b, "name": n, "partners": svc.store.partners(p)}
                for p, (b, n) in sorted(svc.store.brands().items())]

    # --- queries -------------------------------------------------------------------------------------

    # The two query endpoints run on the event loop: they are a few SQLite index look-ups (sub-ms),
    # cheaper than a hop to the thread pool, which dominates their latency otherwise.
    @app.get("/traceability/events", summary="EPCIS 2.0 SimpleEventQuery → EPCISQueryDocument")
    async def events(request: Request) -> Response:
        params: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            params.setdefault(name, []).append(value)
        body, headers = run_query(svc, params, f'{request.scope.get("root_path", "")}/traceability/events',
                                  query_document)
        return query_response(request, body, headers)

    @app.get("/traceability/events/{event_id:path}/proof", summary="Proof bundle of the event's on-chain record")
    def event_proof(event_id: str) -> Response:
        bundle = svc.proof(event_id)
        name = event_id.split(";")[-1].split("?")[0][:16]
        return Response(json.dumps(bundle, indent=1), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="event-{name}.proof.json"'})

    @app.get("/traceability/items/{item_id:path}/history", summary="Genealogy of an item")
    async def item_history(item_id: str) -> Response:
        history = svc.history(item_id)
        # the stored events are canonical JSON already: spliced in as text, not parsed and re-encoded
        head = _compact({"item": history["item"], "urn": history["urn"], "links": history["links"]})
        events = ",".join(
            _compact({"via": via, "eventHash": row.hash, "org": row.org, "txHash": row.tx_hash,
                      "height": row.height})[:-1] + ',"event":' + _event_text(row) + "}"
            for row, via in history["events"])
        return Response(head[:-1] + ',"events":[' + events + "]}", media_type="application/json")

    def _portal_url(item: str) -> str:
        return settings.public_url.rstrip("/") + "/t" + dl_path(normalise(item))

    @app.get("/traceability/items/{item_id:path}/qr.png", summary="QR code (PNG) of the item's portal URL")
    def qr_png(item_id: str) -> Response:
        import segno

        buffer = io.BytesIO()
        segno.make(_portal_url(item_id), error="m").save(buffer, kind="png", scale=6, border=2)
        return Response(buffer.getvalue(), media_type="image/png")

    @app.get("/traceability/items/{item_id:path}/qr.svg", summary="QR code (SVG) of the item's portal URL")
    def qr_svg(item_id: str) -> Response:
        import segno

        buffer = io.BytesIO()
        segno.make(_portal_url(item_id), error="m").save(buffer, kind="svg", scale=6, border=2)
        return Response(buffer.getvalue(), media_type="image/svg+xml")

    # --- consumer portal ---------------------------------------------------------------------------------

    @app.get("/t/{dl:path}", response_class=HTMLResponse, summary="Consumer page (GS1 Digital Link resolver)")
    def portal(dl: str, request: Request) -> HTMLResponse:
        item = normalise(DL_ROOT + "/" + dl.strip("/"))
        history = svc.history(item)
        scans = svc.store.count_scan(item)
        verified: dict[str, bool] = {}
        for row, _ in history["events"]:
            try:
                svc.proof(row.hash, wait=2.0)
                verified[row.hash] = True
            except (CaptureError, Exception):  # an unverifiable record shows without the badge
                verified[row.hash] = False
        names = {row.org: svc.organisation_name(row.org) for row, _ in history["events"]}
        root = request.scope.get("root_path", "")  # mounted under a prefix by the BaaS control plane
        lots = [link["lot"] for link in history["links"] if link.get("type") == "lot" and link.get("item") == item]
        product = product_info(svc.store.master_data, [item, *lots, class_of(item) or ""])
        places = {}
        for row, _ in history["events"]:
            for field in ("bizLocation", "readPoint"):
                place = (row.event.get(field) or {}).get("id")
                if place:
                    key = normalise(place)
                    label = location_label(svc.store.master_data(key))
                    if label:
                        places[key] = label
        return HTMLResponse(render_portal(item, history, scans, names, verified, root,
                                          ledger_hash=svc.settings.ledger_hash, product=product, places=places))

    return app


PRODUCT_NAME_ATTRIBUTES = ("https://gs1.org/voc/productName", "gs1:productName", "urn:epcglobal:cbv:mda#descriptionShort",
                           "urn:epcglobal:cbv:mda#name", "name")
PRODUCT_IMAGE_ATTRIBUTES = ("https://gs1.org/voc/image", "gs1:image", "https://gs1.org/voc/referencedFileURL",
                            "urn:epcglobal:cbv:mda#image", "image")
LOCATION_NAME_ATTRIBUTES = ("urn:epcglobal:cbv:mda#name", "https://gs1.org/voc/name", "gs1:name",
                            "https://gs1.org/voc/organizationName", "gs1:organizationName", "name")
LOCATION_CITY_ATTRIBUTES = ("urn:epcglobal:cbv:mda#city", "https://gs1.org/voc/addressLocality", "gs1:addressLocality")


def _first(attributes: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((attributes[name] for name in names if attributes.get(name)), None)


def product_info(lookup: Any, keys: list[str]) -> dict[str, str]:
    """Name and image of a product from the master data of the item, its lot, then its GTIN (first found)."""
    info: dict[str, str] = {}
    for key in keys:
        if not key:
            continue
        attributes = lookup(key)
        name, image = _first(attributes, PRODUCT_NAME_ATTRIBUTES), _first(attributes, PRODUCT_IMAGE_ATTRIBUTES)
        if name and "name" not in info:
            info["name"] = name
        if image and "image" not in info and image.startswith(("https://", "http://")):
            info["image"] = image
    return info


def location_label(attributes: dict[str, str]) -> str | None:
    """``Jade Tea Estate, Hangzhou`` from a location's master data; None if it has no name."""
    name = _first(attributes, LOCATION_NAME_ATTRIBUTES)
    if not name:
        return None
    city = _first(attributes, LOCATION_CITY_ATTRIBUTES)
    return f"{name}, {city}" if city else name


def _display_time(value: str, offset: str | None = None) -> str:
    """``2026-03-02 09:00 (UTC+08:00)``: the local time where the event happened.

    ``eventTime`` may be written in any zone (often UTC); ``eventTimeZoneOffset`` says the local one.
    """
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if offset and len(offset) == 6 and offset[0] in "+-":
        try:
            sign = 1 if offset[0] == "+" else -1
            zone = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
            moment = moment.astimezone(zone)
        except (ValueError, OverflowError):
            pass
    text = moment.strftime("%z")
    return moment.strftime("%Y-%m-%d %H:%M") + (f" (UTC{text[:3]}:{text[3:]})" if text else "")


def _place(event: dict[str, Any], places: dict[str, str] | None = None) -> str:
    place = (event.get("bizLocation") or event.get("readPoint") or {}).get("id")
    if not place:
        return ""
    try:
        key = normalise(place)
    except IdentifierError:
        key = place
    if places and key in places:
        return places[key]
    urn = to_urn(key) if key.startswith(DL_ROOT) else None
    return urn or place


def render_portal(item: str, history: dict[str, Any], scans: int, names: dict[str, str],
                  verified: dict[str, bool], root: str = "", ledger_hash: str = "",
                  product: dict[str, str] | None = None, places: dict[str, str] | None = None) -> str:
    rows = history["events"]
    all_verified = bool(rows) and all(verified.get(row.hash) for row, _ in rows)
    entries = []
    for row, via in rows:
        event = row.event
        step = cbv.step_label(event.get("bizStep"))
        when = event.get("eventTime", "")
        place = _place(event, places)
        org = names.get(row.org, row.org)
        certificates = event.get("certificationInfo")
        certificates = certificates if isinstance(certificates, list) else [certificates] if certificates else []
        relation = {"parent": "container", "input": "ingredient", "lot": "lot"}.get(via.split(":", 1)[0], "")
        note = "" if via == "item" else (
            f"<div class='via'>via {relation} {html.escape(via.split(':', 1)[1][len(DL_ROOT):])}</div>")
        error = ""
        if row.error is not None:
            reason = cbv.short("errorReason", str(row.error.get("reason", ""))) or "declared erroneous"
            error = f"<div class='error'>Corrected: {html.escape(reason)}</div>"
        badge = (f"<a class='badge ok' data-testid='event-verified' href='{root}/traceability/events/{quote(row.hash, safe='')}/proof'"
                 f" download>✔ on chain</a>" if verified.get(row.hash) else "<span class='badge'>pending</span>")
        certs = "".join(f"<div class='cert'>Certificate: <a href='{html.escape(c)}'>{html.escape(c)}</a></div>"
                        for c in certificates)
        entries.append(
            f"<li class='step{' struck' if row.error else ''}' data-testid='timeline-step'>"
            f"<div class='title'>{html.escape(step)}</div>"
            f"<div class='meta'><time datetime='{html.escape(when)}'>"
            f"{html.escape(_display_time(when, event.get('eventTimeZoneOffset')))}</time></div>"
            f"<div class='meta'><span class='label'>Where</span> {html.escape(place)}</div>"
            f"<div class='meta'><span class='label'>Who</span> {html.escape(org)}</div>{certs}{note}{error}"
            f"<div class='meta'>{badge} <span class='hash'>block {row.height}</span></div></li>")
    header_badge = (
        "<div class='verified' data-testid='verified-badge'>✔ Verified on chain</div>" if all_verified else
        "<div class='unverified' data-testid='unverified-badge'>Not yet verified</div>")
    download = ""
    if rows:
        latest = rows[-1][0].hash
        download = (f"<a class='download' data-testid='proof-download' href='{root}/traceability/events/"
                    f"{quote(latest, safe='')}/proof' download>Download proof (jadechain verify)</a>"
                    f"<div class='meta' data-testid='verify-command'>Check it offline: "
                    f"<code>jadechain verify proof.json --ledger {html.escape(ledger_hash)}</code></div>")
    urn = history.get("urn") or ""
    product = product or {}
    product_header = (f"<h1 data-testid='product-name'>{html.escape(product['name'])}</h1>" if product.get("name")
                      else "<h1>Product history</h1>")
    if product.get("image"):
        product_header = (f"<img class='product' data-testid='product-image' alt='' src='{html.escape(product['image'])}'>"
                          + product_header)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Product history – {html.escape(item)}</title>
<style>
body{{font-family:system-ui,-apple-system,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}}
header{{background:#0b6e4f;color:#fff;padding:16px}}
header h1{{font-size:1.2rem;margin:0 0 4px}} img.product{{max-width:96px;max-height:96px;float:right;border-radius:6px}} header .id{{font-size:.8rem;word-break:break-all;opacity:.9}}
.verified{{display:inline-block;margin-top:8px;background:#fff;color:#0b6e4f;border-radius:14px;padding:4px 10px;font-weight:600}}
.unverified{{display:inline-block;margin-top:8px;background:#ffe8b3;color:#6b4e00;border-radius:14px;padding:4px 10px}}
main{{padding:12px;max-width:640px;margin:auto}}
ol{{list-style:none;padding:0;margin:0;border-left:3px solid #0b6e4f}}
li.step{{background:#fff;margin:0 0 12px 12px;padding:10px 12px;border-radius:8px;box-shadow:0 1px 2px #0002;position:relative}}
li.step:before{{content:'';position:absolute;left:-20px;top:14px;width:11px;height:11px;border-radius:50%;background:#0b6e4f}}
li.struck .title{{text-decoration:line-through}}
.label{{display:inline-block;min-width:3.2em;font-size:.7rem;text-transform:uppercase;color:#8a949e}}
.title{{font-weight:600}} .meta{{font-size:.85rem;color:#4a5561;margin-top:2px;word-break:break-all}}
.via{{font-size:.8rem;color:#7a5c00}} .error{{color:#a1001c;font-size:.85rem}} .cert{{font-size:.8rem}}
.badge{{font-size:.75rem;border-radius:10px;padding:1px 8px;background:#eee;color:#555;text-decoration:none}}
.badge.ok{{background:#d7f5e8;color:#0b6e4f}} .hash{{font-size:.75rem;color:#8a949e}}
.download{{display:block;margin:16px 0;text-align:center}} footer{{text-align:center;font-size:.8rem;color:#6b7580;padding:12px}}
</style></head>
<body><header>{product_header}<div class="id">{html.escape(item)}<br>{html.escape(urn)}</div>
{header_badge}</header>
<main><ol data-testid="timeline">{''.join(entries) or '<li class="step">No events recorded yet.</li>'}</ol>
{download}</main>
<footer>Scanned <span data-testid="scan-count">{scans}</span> time{'s' if scans != 1 else ''} · records on Jadechain</footer>
</body></html>"""


__all__ = ["create_app", "query_document", "render_portal"]
