"""The EPCIS 2.0 REST binding under ``/epcis`` (what a GS1 user's tooling expects), beside our own API.

* ``POST /epcis/capture`` – validated at once (400/403 with a stable code), then written to the chain
  asynchronously: ``202 Accepted``, ``Location: /epcis/capture/{captureID}``; ``GET /epcis/capture/{id}``
  gives ``running`` / ``success`` / ``errors``; ``GET /epcis/capture`` lists the caller's jobs.
* ``GET /epcis/vocabularies``: master data recorded on chain, with the parameters of EPCIS's
  SimpleMasterDataQuery (``vocabularyName``, ``EQ_name``, ``WD_name``, ``HASATTR``, ``EQATTR_<attribute>``,
  ``attributeNames``, ``includeAttributes``, ``includeChildren``, ``maxElementCount``) → ``vocabularyList``
  (``Accept: application/xml``: an XML ``EPCISQueryDocument`` with a ``VocabularyList``).
* ``GET /epcis/events`` (the query language of :meth:`TraceabilityService.query`), ``/epcis/events/{eventID}``,
  ``/epcis/eventTypes[/{type}/events]``, ``/epcis/epcs/{epc}/events``, ``/epcis/bizSteps[/{step}/events]``,
  ``/epcis/bizLocations[/{id}/events]``, ``/epcis/readPoints[/{id}/events]``, ``/epcis/dispositions[...]``.
* Named queries: ``POST /epcis/queries`` ``{"name", "query": {param: value | [values]}}``, ``GET``/``DELETE
  /epcis/queries/{name}``, ``GET /epcis/queries/{name}/events``.
* Subscriptions: ``POST /epcis/queries/{name}/subscriptions`` ``{"dest": URL}`` – every new matching
  event is pushed to ``dest`` as an EPCISQueryDocument (``queryResults.subscriptionID``), in capture
  order, from a cursor stored in the index: a restarted app resumes where it stopped, a failing
  destination is retried with back-off. ``dest`` must be in the operator's allow-list of origins
  (``TraceabilitySettings.webhook_allow``; empty by default: no outbound traffic unless allowed).
* Both bindings: a capture with ``Content-Type: application/xml`` is EPCIS 2.0 XML; a query with
  ``Accept: application/xml`` answers an XML EPCISQueryDocument (:mod:`.xml_binding`).
* Every response carries ``GS1-EPCIS-Version: 2.0.0`` and ``GS1-CBV-Version: 2.0.0``; a request that
  asks for another major version (``GS1-EPCIS-Version: 1.2``) gets ``406 VERSION_NOT_SUPPORTED``.

Reads are public (like the consumer portal); capture, named queries and subscriptions need an
organisation token (``Authorization: Bearer …``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from typing import Any, Callable
from urllib.parse import quote, urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from baas.apps.traceability.identifiers import normalise
from baas.apps.traceability.xml_binding import parse_document, render_query_document, render_vocabulary_query_document
from baas.apps.traceability.service import (
    EVENT_TYPES, CaptureError, TraceabilityService, TraceabilitySettings, prepare_document,
)
from ledger.crypto import address_from_public_key

log = logging.getLogger("jadechain.traceability.epcis")

EPCIS_VERSION = "2.0.0"
CBV_VERSION = "2.0.0"
VERSION_HEADERS = {"GS1-EPCIS-Version": EPCIS_VERSION, "GS1-CBV-Version": CBV_VERSION}
MAX_PER_PAGE = 1000
LISTABLE = {"bizSteps": "biz_step", "bizLocations": "biz_location", "readPoints": "read_point",
            "dispositions": "disposition"}
LIST_FILTER = {"bizSteps": "EQ_bizStep", "bizLocations": "EQ_bizLocation", "readPoints": "EQ_readPoint",
               "dispositions": "EQ_disposition"}
MAX_SUBSCRIPTIONS_PER_OWNER = 100
MAX_QUERIES = 10_000
NOT_SUBSCRIBABLE = ("orderBy", "orderDirection", "eventCountLimit", "maxEventCount", "perPage", "nextPageToken")


def _error(code: str, message: str, status: int, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=VERSION_HEADERS)


def _params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


def _definition_params(query: Any) -> dict[str, list[str]]:
    """A named query's definition ``{param: value | [values]}`` as request parameters; CaptureError if malformed."""
    if not isinstance(query, dict) or not all(isinstance(k, str) for k in query):
        raise CaptureError("INVALID_PARAMETER", "query must be an object of query parameters", 400)
    params: dict[str, list[str]] = {}
    for name, value in query.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
            raise CaptureError("INVALID_PARAMETER", f"query parameter {name!r} must be a string or a list of them", 400)
        params[name] = [str(v) for v in values]
    return params


def encode_token(cursor: tuple[int | None, int]) -> str:
    value, seq = cursor
    return base64.urlsafe_b64encode(f"c{'' if value is None else value}:{seq}".encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[int | None, int]:
    """The (ordering value, seq) a nextPageToken stands for (``s<seq>`` tokens of older servers too)."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if text.startswith("s"):
            return None, int(text[1:])
        if not text.startswith("c"):
            raise ValueError
        value, _, seq = text[1:].partition(":")
        return (int(value) if value else None), int(seq)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CaptureError("INVALID_PARAMETER", "nextPageToken is not one this server issued", 400) from exc


def run_query(svc: TraceabilityService, params: dict[str, list[str]], link_path: str,
              render: Callable[[list[Any], str], dict[str, Any]], query_name: str = "SimpleEventQuery",
              ) -> tuple[dict[str, Any], dict[str, str]]:
    """One page of a query as an EPCISQueryDocument, and the ``Link: rel="next"`` header if there is more."""
    params = dict(params)
    try:
        per_page = int((params.pop("perPage", None) or ["30"])[0])
    except ValueError as exc:
        raise CaptureError("INVALID_PARAMETER", "perPage must be an integer", 400) from exc
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise CaptureError("INVALID_PARAMETER", f"perPage must be 1..{MAX_PER_PAGE}", 400)
    token = (params.pop("nextPageToken", None) or [""])[0]
    after = decode_token(token) if token else (None, 0)
    rows, next_cursor = svc.query(params, per_page, after)
    body = render(rows, query_name)
    headers: dict[str, str] = {}
    if next_cursor is not None:
        next_token = encode_token(next_cursor)
        body["nextPageToken"] = next_token
        query = "&".join(f"{quote(k)}={quote(v)}" for k, vs in params.items() for v in vs)
        headers["Link"] = (f'<{link_path}?{query}{"&" if query else ""}perPage={per_page}'
                           f'&nextPageToken={next_token}>; rel="next"')
    return body, headers


async def read_document(request: Request) -> Any:
    """The capture document of a request: JSON-LD, or EPCIS XML when the Content-Type says XML."""
    body = await request.body()
    if "xml" in request.headers.get("content-type", "").lower():
        return parse_document(body)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise CaptureError("INVALID_JSON", "the body is not JSON (send XML with Content-Type: application/xml)",
                           400) from exc


def wants_xml(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "xml" in accept and "json" not in accept.split("xml")[0]


def query_response(request: Request, body: dict[str, Any], headers: dict[str, str]) -> Response:
    """The query result in the binding the client asked for (``Accept: application/xml`` → XML)."""
    if not wants_xml(request):
        return JSONResponse(body, headers=headers)
    results = body["epcisBody"]["queryResults"]
    xml = render_query_document(results["resultsBody"]["eventList"], body["creationDate"], results["queryName"],
                                subscription_id=results.get("subscriptionID"))
    if "nextPageToken" in body:
        headers = {**headers, "GS1-Next-Page-Token": body["nextPageToken"]}
    return Response(xml, media_type="application/xml", headers=headers)


def origin_allowed(url: str, allow: list[str]) -> bool:
    """Whether ``url`` is an http(s) URL whose scheme, host (and port, if the entry names one) match an
    allow-list entry ``scheme://host[:port]``; user-info in the URL is refused."""
    try:
        target = urlsplit(url)
        port = target.port
    except ValueError:
        return False
    if target.scheme not in ("http", "https") or not target.hostname or "@" in target.netloc:
        return False
    for entry in allow:
        try:
            allowed = urlsplit(entry)
            allowed_port = allowed.port
        except ValueError:
            continue
        if allowed.scheme != target.scheme or (allowed.hostname or "").lower() != target.hostname.lower():
            continue
        if allowed_port is None or allowed_port == (port or (443 if target.scheme == "https" else 80)):
            return True
    return False


class SubscriptionDispatcher:
    """Pushes new events of each subscription's query to its destination, in capture order, resumably."""

    def __init__(self, svc: TraceabilityService, settings: TraceabilitySettings,
                 render: Callable[[list[Any], str], dict[str, Any]]) -> None:
        self.svc = svc
        self.settings = settings
        self.render = render
        self._retry_at: dict[str, float] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
            while True:
                try:
                    await self.deliver_once(client)
                except Exception:  # a bad subscription must not stop the others; logged, retried
                    log.warning("subscription delivery round failed", exc_info=True)
                try:
                    await asyncio.wait_for(self._wake.wait(), self.settings.subscription_poll)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()

    async def deliver_once(self, client: httpx.AsyncClient) -> int:
        """One round over every subscription; returns the number of events delivered."""
        delivered = 0
        for subscription in self.svc.store.subscriptions():
            if time.monotonic() < self._retry_at.get(subscription["id"], 0.0):
                continue
            named = self.svc.store.named_query(subscription["query"])
            if named is None:
                continue
            if not origin_allowed(subscription["destination"], self.settings.webhook_allow):
                self.svc.store.fail_subscription(subscription["id"], "destination no longer in the allow-list")
                self._retry_at[subscription["id"]] = time.monotonic() + 60
                continue
            params = {k: v for k, v in _definition_params(named["query"]).items() if k not in NOT_SUBSCRIBABLE}
            rows, _ = self.svc.query(params, 100, (None, int(subscription["cursor"])))
            if not rows:
                continue
            body = self.render(rows, subscription["query"])
            body["epcisBody"]["queryResults"]["subscriptionID"] = subscription["id"]
            try:
                response = await client.post(subscription["destination"], json=body, headers=VERSION_HEADERS)
                ok = 200 <= response.status_code < 300
                error = "" if ok else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            if ok:
                self.svc.store.advance_subscription(subscription["id"], rows[-1].seq, len(rows))
                self._retry_at.pop(subscription["id"], None)
                delivered += len(rows)
            else:
                self.svc.store.fail_subscription(subscription["id"], error)
                failures = int(subscription["failures"]) + 1
                self._retry_at[subscription["id"]] = time.monotonic() + min(2.0 ** failures, 60.0)
        return delivered


class VersionHeaders:
    """ASGI middleware: ``GS1-EPCIS-Version`` / ``GS1-CBV-Version`` on every response; 406 for an ``/epcis``
    request that asks for another major version. (Plain ASGI: no per-request task as in BaseHTTPMiddleware.)"""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked = next((value.decode("latin-1") for name, value in scope.get("headers", [])
                      if name == b"gs1-epcis-version"), None)
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if asked and not asked.strip().startswith("2.") and (path.startswith(root + "/epcis") or
                                                              path.startswith("/epcis")):
            response = _error("VERSION_NOT_SUPPORTED", f"this server speaks EPCIS {EPCIS_VERSION}, not {asked}", 406)
            await response(scope, receive, send)
            return

        async def send_with_versions(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in VERSION_HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_versions)


def add_epcis_routes(app: FastAPI, settings: TraceabilitySettings, svc: TraceabilityService,
                     render: Callable[[list[Any], str], dict[str, Any]],
                     event_json: Callable[[Any], dict[str, Any]]) -> SubscriptionDispatcher:
    """Mount the EPCIS 2.0 REST binding on ``app``; returns the subscription dispatcher (started by the caller)."""
    dispatcher = SubscriptionDispatcher(svc, settings, render)
    jobs: set[asyncio.Task[None]] = set()

    app.add_middleware(VersionHeaders)

    def _org(request: Request) -> Any:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        key = settings.organisations.get(token)
        if key is None:
            raise CaptureError("UNAUTHORIZED", "a valid organisation token is required (Authorization: Bearer ...)", 401)
        return key

    def _root(request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    def _query_response(request: Request, params: dict[str, list[str]], path: str,
                        query_name: str = "SimpleEventQuery") -> Response:
        body, headers = run_query(svc, params, _root(request) + path, render, query_name)
        return query_response(request, body, headers)

    # --- capture ---------------------------------------------------------------------------------

    @app.post("/epcis/capture", status_code=202, summary="EPCIS 2.0 capture (asynchronous)")
    async def epcis_capture(request: Request) -> JSONResponse:
        org_key = _org(request)
        document = await read_document(request)
        prepared = await run_in_threadpool(prepare_document, document)
        org = address_from_public_key(org_key.public)
        await run_in_threadpool(svc.check_permissions, org, prepared)
        job_id = uuid.uuid4().hex
        svc.store.create_job(job_id, org)

        def work() -> None:
            try:
                result = svc.capture(document, org_key)
                svc.store.finish_job(job_id, "success", result)
            except CaptureError as error:
                svc.store.finish_job(job_id, "failed", {"code": error.code, "message": error.message,
                                                        "details": error.details})
            except Exception as exc:  # the job records it; the client polls GET /epcis/capture/{id}
                log.warning("capture job %s failed", job_id, exc_info=True)
                svc.store.finish_job(job_id, "failed", {"code": "CAPTURE_FAILED", "message": type(exc).__name__})
            dispatcher.wake()

        task = asyncio.create_task(run_in_threadpool(work))
        jobs.add(task)
        task.add_done_callback(jobs.discard)
        location = f"{_root(request)}/epcis/capture/{job_id}"
        return JSONResponse({"captureID": job_id, "running": True}, status_code=202,
                            headers={"Location": location, **VERSION_HEADERS})

    def _job_json(job: dict[str, Any]) -> dict[str, Any]:
        result = job["result"] or {}
        body: dict[str, Any] = {"captureID": job["id"], "createdAt": job["created"], "finishedAt": job["finished"],
                                "running": job["state"] == "running", "success": job["state"] == "success",
                                "captureErrorBehaviour": "rollback", "errors": []}
        if job["state"] == "success":
            body.update({"txHash": result.get("captureID"), "height": result.get("height"),
                         "eventCount": result.get("eventCount"), "eventHashes": result.get("eventHashes")})
        elif job["state"] == "failed":
            body["errors"] = [result]
        return body

    @app.get("/epcis/capture/{capture_id}", summary="A capture job's state")
    def epcis_capture_job(capture_id: str) -> JSONResponse:
        job = svc.store.job(capture_id)
        if job is None:
            return _error("NOT_FOUND", "no such capture job", 404)
        return JSONResponse(_job_json(job))

    @app.get("/epcis/capture", summary="The caller's capture jobs, newest first")
    def epcis_capture_jobs(request: Request) -> JSONResponse:
        org = address_from_public_key(_org(request).public)
        return JSONResponse([_job_json(job) for job in (svc.store.job(i) for i in svc.store.jobs(org)) if job])

    # --- events and the resources they name ---------------------------------------------------

    @app.get("/epcis/events", summary="EPCIS 2.0 query (SimpleEventQuery parameters)")
    async def epcis_events(request: Request) -> Response:
        return _query_response(request, _params(request), "/epcis/events")

    @app.get("/epcis/events/{event_id:path}", summary="One event by its eventID or hash ID")
    async def epcis_event(event_id: str, request: Request) -> Response:
        row = svc.store.get_event_by_id(event_id)
        if row is None:
            return _error("NOT_FOUND", "no event has this eventID or hash ID", 404)
        return query_response(request, render([row], "SimpleEventQuery"), {})

    @app.get("/epcis/vocabularies", summary="Master data (SimpleMasterDataQuery parameters)")
    async def epcis_vocabularies(request: Request) -> Response:
        vocabularies = await run_in_threadpool(svc.vocabulary_query, _params(request))
        body = {**render([], "SimpleMasterDataQuery")}
        if wants_xml(request):
            return Response(render_vocabulary_query_document(vocabularies, body["creationDate"]),
                            media_type="application/xml")
        body.pop("jade:eventHashes", None)
        body["epcisBody"] = {"queryResults": {"queryName": "SimpleMasterDataQuery",
                                              "resultsBody": {"vocabularyList": vocabularies}}}
        return JSONResponse(body)

    @app.get("/epcis/eventTypes", summary="Event types")
    def epcis_event_types() -> JSONResponse:
        return JSONResponse(list(EVENT_TYPES))

    @app.get("/epcis/eventTypes/{event_type}/events")
    async def epcis_events_of_type(event_type: str, request: Request) -> Response:
        if event_type not in EVENT_TYPES:
            return _error("NOT_FOUND", f"no event type {event_type!r}", 404)
        return _query_response(request, {**_params(request), "eventType": [event_type]},
                               f"/epcis/eventTypes/{quote(event_type)}/events")

    @app.get("/epcis/epcs/{epc:path}/events", summary="Events of one EPC (URN or Digital Link)")
    async def epcis_events_of_epc(epc: str, request: Request) -> Response:
        return _query_response(request, {**_params(request), "MATCH_anyEPC": [normalise(epc)]},
                               f"/epcis/epcs/{quote(epc, safe='')}/events")

    for collection, column in LISTABLE.items():
        def make(collection: str = collection, column: str = column) -> None:
            @app.get(f"/epcis/{collection}", summary=f"Every {collection[:-1]} used by an event", name=collection)
            def listing(request: Request) -> JSONResponse:
                try:
                    per_page = min(MAX_PER_PAGE, max(1, int(request.query_params.get("perPage", "100"))))
                except ValueError:
                    return _error("INVALID_PARAMETER", "perPage must be an integer", 400)
                after = request.query_params.get("nextPageToken", "")
                values = svc.store.distinct_values(column, per_page + 1, after)
                headers = {}
                if len(values) > per_page:
                    values = values[:per_page]
                    headers["Link"] = (f'<{_root(request)}/epcis/{collection}?perPage={per_page}'
                                       f'&nextPageToken={quote(values[-1], safe="")}>; rel="next"')
                return JSONResponse(values, headers=headers)

            @app.get(f"/epcis/{collection}/{{value:path}}/events", name=f"{collection}_events")
            async def listing_events(value: str, request: Request) -> Response:
                return _query_response(request, {**_params(request), LIST_FILTER[collection]: [value]},
                                       f"/epcis/{collection}/{quote(value, safe='')}/events")
        make()

    # --- named queries and subscriptions ----------------------------------------------------------

    @app.post("/epcis/queries", status_code=201, summary="Create a named query")
    async def create_query(request: Request) -> JSONResponse:
        owner = address_from_public_key(_org(request).public)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error("INVALID_JSON", "the body is not JSON", 400)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip() \
                or len(body["name"]) > 200 or "/" in body["name"]:
            return _error("INVALID_PARAMETER", "name must be a non-empty string (no '/', at most 200 characters)", 400)
        params = _definition_params(body.get("query", {}))
        svc.query({k: v for k, v in params.items() if k not in ("perPage", "nextPageToken")}, 1)  # validates
        if len(svc.store.named_queries()) >= MAX_QUERIES:
            return _error("LIMIT_REACHED", f"this server keeps at most {MAX_QUERIES} named queries", 409)
        if not svc.store.save_query(body["name"], owner, body.get("query", {})):
            return _error("QUERY_EXISTS", f"a query named {body['name']!r} exists", 409)
        return JSONResponse({"name": body["name"], "query": body.get("query", {})}, status_code=201,
                            headers={"Location": f"{_root(request)}/epcis/queries/{quote(body['name'], safe='')}"})

    @app.get("/epcis/queries", summary="Named queries")
    def list_queries() -> JSONResponse:
        return JSONResponse(svc.store.named_queries())

    def _named(name: str) -> dict[str, Any]:
        named = svc.store.named_query(name)
        if named is None:
            raise CaptureError("NOT_FOUND", f"no query named {name!r}", 404)
        return named

    @app.get("/epcis/queries/{name}")
    def get_query(name: str) -> JSONResponse:
        named = _named(name)
        return JSONResponse({"name": named["name"], "query": named["query"]})

    @app.delete("/epcis/queries/{name}", status_code=204)
    def delete_query(name: str, request: Request) -> Response:
        owner = address_from_public_key(_org(request).public)
        if _named(name)["owner"] != owner:
            raise CaptureError("FORBIDDEN", "only the organisation that created the query may delete it", 403)
        svc.store.delete_query(name)
        return Response(status_code=204, headers=VERSION_HEADERS)

    @app.get("/epcis/queries/{name}/events", summary="Run a named query")
    async def run_named(name: str, request: Request) -> Response:
        params = {**_definition_params(_named(name)["query"]), **_params(request)}
        return _query_response(request, params, f"/epcis/queries/{quote(name, safe='')}/events", name)

    @app.post("/epcis/queries/{name}/subscriptions", status_code=201, summary="Subscribe a webhook to a query")
    async def subscribe(name: str, request: Request) -> JSONResponse:
        owner = address_from_public_key(_org(request).public)
        _named(name)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error("INVALID_JSON", "the body is not JSON", 400)
        destination = body.get("dest") if isinstance(body, dict) else None
        if not isinstance(destination, str) or not origin_allowed(destination, settings.webhook_allow):
            return _error("DESTINATION_NOT_ALLOWED", "dest must be an http(s) URL whose origin the operator allowed "
                          "(TraceabilitySettings.webhook_allow)", 403)
        if sum(1 for s in svc.store.subscriptions() if s["owner"] == owner) >= MAX_SUBSCRIPTIONS_PER_OWNER:
            return _error("LIMIT_REACHED", f"an organisation keeps at most {MAX_SUBSCRIPTIONS_PER_OWNER} "
                          "subscriptions", 409)
        from_start = isinstance(body, dict) and body.get("initialRecordTime") == "all"
        subscription_id = uuid.uuid4().hex
        svc.store.add_subscription(subscription_id, name, owner, destination, 0 if from_start else svc.store.last_seq())
        dispatcher.wake()
        return JSONResponse({"subscriptionID": subscription_id, "query": name, "dest": destination}, status_code=201,
                            headers={"Location": f"{_root(request)}/epcis/queries/{quote(name, safe='')}"
                                                 f"/subscriptions/{subscription_id}"})

    @app.get("/epcis/queries/{name}/subscriptions")
    def list_subscriptions(name: str) -> JSONResponse:
        _named(name)
        return JSONResponse([{k: v for k, v in s.items() if k != "owner"} for s in svc.store.subscriptions(name)])

    @app.delete("/epcis/queries/{name}/subscriptions/{subscription_id}", status_code=204)
    def unsubscribe(name: str, subscription_id: str, request: Request) -> Response:
        owner = address_from_public_key(_org(request).public)
        found = [s for s in svc.store.subscriptions(name) if s["id"] == subscription_id]
        if not found:
            raise CaptureError("NOT_FOUND", "no such subscription", 404)
        if found[0]["owner"] != owner:
            raise CaptureError("FORBIDDEN", "only the subscriber may unsubscribe", 403)
        svc.store.delete_subscription(subscription_id)
        return Response(status_code=204, headers=VERSION_HEADERS)

    return dispatcher
