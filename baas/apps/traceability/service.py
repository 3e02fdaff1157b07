"""Capture, chain follower, queries and genealogy: everything the HTTP layer calls.

``TraceabilityService`` holds a gateway client, the contract address and the index
(:class:`~baas.apps.traceability.store.TraceStore`). Capture prepares every event of a document
(event hash, canonical JSON and its digest, identifiers), pre-checks it against the index (clear
errors for duplicates and prefixes), then submits ONE transaction invoking ``capture`` – the chain
accepts the whole document or nothing – and indexes it once committed. The follower thread reads
the gateway's SSE stream (resumable through ``Last-Event-ID``, cursor kept in the index), so events
captured through any instance of the app, or replayed from height 0, land in the same index.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote

from baas.apps.traceability import cbv, units
from baas.apps.traceability.contract import (
    CONTRACT_SOURCE, CONTRACT_VERSION, FOREIGN_DECLARATIONS_SINCE, capture_gas, master_data_gas,
)
from baas.apps.traceability.eventhash import EventHashError, event_hash, hash_hex, normalise_time, time_millis
from baas.apps.traceability.extension_fields import field_rows, parse_parameter, sql_condition
from baas.apps.traceability.identifiers import (
    IdentifierError, class_of, company_digits, gs1_key, normalise, to_urn,
)
from baas.apps.traceability.schema import schema_errors
from baas.apps.traceability.store import (
    ROLE_CHILD, ROLE_CLASS, ROLE_EPC, ROLE_INPUT, ROLE_INPUT_CLASS, ROLE_OUTPUT, ROLE_OUTPUT_CLASS, ROLE_PARENT,
    EventRow, IndexedEvent, TraceStore,
)
from ledger import codec
from ledger.crypto import ED25519, KeyPair, address_from_public_key, from_base58, generate_keypair
from ledger.proofs import validators_to_json, verify_bundle
from jadechain.sdk import JadechainClient
from jadechain.sdk.client import ApiError, LedgerClient

log = logging.getLogger("jadechain.traceability")

ALL_ROLES = (ROLE_EPC, ROLE_CHILD, ROLE_PARENT, ROLE_INPUT, ROLE_OUTPUT, ROLE_CLASS, ROLE_INPUT_CLASS,
             ROLE_OUTPUT_CLASS)
EPC_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
MAX_HISTORY_EVENTS = 2000
MAX_CAPTURE_TX_BYTES = 720 * 1024
"""Largest capture or master-data transaction the app sends. The contract parses its arguments in
MicroPython's fixed 4 MiB heap, which does not collect garbage during a call (engine ABI 4: a
collection there was not safe, see docs/contracts.md): a document of 1,000 shipping events of about
730 bytes (a 713 KiB transaction) is captured, one of 1,050 ends on chain as CONTRACT_LIMIT_EXCEEDED.
Refusing it here says so before anything reaches the chain
(tests/integration/test_traceability_large_document.py)."""


class CaptureError(Exception):
    """A refused capture: a stable ``code``, an HTTP ``status`` and details for the client."""

    def __init__(self, code: str, message: str, status: int, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details


@dataclass(frozen=True)
class PreparedEvent:
    hash_id: str
    digest: str
    canonical: str
    gs1_keys: tuple[str, ...]
    """The canonical DL URIs of the event's 'what' identifiers: what the contract checks prefixes of."""
    declaration: dict[str, Any] | None
    indexed: IndexedEvent

    def chain_item(self) -> list[Any]:
        """The contract's argument for this event: [hash hex, digest, GS1 keys, canonical JSON, declaration?, reason]."""
        reason = "" if self.declaration is None else str(self.declaration.get("reason", ""))
        return [hash_hex(self.hash_id), self.digest, list(self.gs1_keys), self.canonical,
                self.declaration is not None, reason]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _keys_of(event: Mapping[str, Any]) -> list[tuple[str, int]]:
    keys: list[tuple[str, int]] = []
    for name, role in (("epcList", ROLE_EPC), ("childEPCs", ROLE_CHILD), ("inputEPCList", ROLE_INPUT),
                       ("outputEPCList", ROLE_OUTPUT)):
        keys.extend((normalise(epc), role) for epc in event.get(name) or [])
    if event.get("parentID"):
        keys.append((normalise(event["parentID"]), ROLE_PARENT))
    for name, role in (("quantityList", ROLE_CLASS), ("childQuantityList", ROLE_CLASS),
                       ("inputQuantityList", ROLE_INPUT_CLASS), ("outputQuantityList", ROLE_OUTPUT_CLASS)):
        keys.extend((normalise(q["epcClass"]), role) for q in event.get(name) or [])
    return list(dict.fromkeys(keys))


def prepare_event(event: Mapping[str, Any], document_context: Any = None) -> PreparedEvent:
    """Hash, canonicalise and index one event (raises EventHashError / IdentifierError)."""
    body = dict(event)
    if "@context" not in body and isinstance(document_context, list) and any(
            isinstance(item, dict) for item in document_context):
        body["@context"] = document_context  # inline namespaces travel with the event: re-hashable alone
    hash_id = event_hash(body, document_context)
    declaration = body.get("errorDeclaration")
    given_id = body.get("eventID")
    body.setdefault("eventID", hash_id)
    canonical = canonical_json(body)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    keys = _keys_of(body)
    gs1_keys = tuple(dict.fromkeys(key for key, _ in keys if gs1_key(key) is not None))
    read_point = (body.get("readPoint") or {}).get("id")
    biz_location = (body.get("bizLocation") or {}).get("id")
    indexed = IndexedEvent(
        hash=hash_id,
        event_type=str(body.get("type")),
        event_time=time_millis(str(body["eventTime"])),
        action=body.get("action"),
        biz_step=cbv.full_uri("bizStep", body["bizStep"]) if body.get("bizStep") else None,
        disposition=cbv.full_uri("disposition", body["disposition"]) if body.get("disposition") else None,
        read_point=normalise(read_point) if read_point else None,
        biz_location=normalise(biz_location) if biz_location else None,
        transformation_id=body.get("transformationID"),
        digest=digest,
        json=canonical,
        keys=tuple(keys),
        error_json=canonical_json(declaration) if declaration is not None else None,
        event_id=str(given_id).strip() if given_id else hash_id,
        attrs=tuple(dict.fromkeys(_attrs_of(body))),
        fields=field_rows(body, declaration if isinstance(declaration, Mapping) else None),
    )
    return PreparedEvent(hash_id, digest, canonical, gs1_keys, declaration, indexed)


def _attrs_of(event: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """The (name, value) pairs of the ``attrs`` index: typed lists, persistent dispositions, corrections."""
    for name, element, vocabulary in (("bizTransactionList", "bizTransaction", "bizTransactionType"),
                                      ("sourceList", "source", "sourceDestType"),
                                      ("destinationList", "destination", "sourceDestType")):
        for item in event.get(name) or []:
            kind = cbv.full_uri(vocabulary, str(item["type"])) if item.get("type") else ""
            value = normalise(str(item[element]))
            yield f"{element}:{kind}", value
            yield f"{element}:*", value
    persistent = event.get("persistentDisposition") or {}
    for key in ("set", "unset"):
        for value in persistent.get(key) or []:
            yield f"persistentDisposition:{key}", cbv.full_uri("disposition", str(value))
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping):
        if declaration.get("reason"):
            yield "errorReason", cbv.full_uri("errorReason", str(declaration["reason"]))
        for corrective in declaration.get("correctiveEventIDs") or []:
            yield "correctiveEventID", str(corrective).strip()


def prepared_from_chain_item(item: Sequence[Any]) -> PreparedEvent:
    """Rebuild an event from the arguments recorded on chain, checking hash and digest."""
    event = json.loads(item[3])
    prepared = prepare_event(event)
    if hash_hex(prepared.hash_id) != item[0]:
        raise EventHashError(f"event hash on chain {item[0]} does not match the recorded event")
    if prepared.digest != item[1]:
        raise EventHashError(f"digest on chain {item[1]} does not match the recorded event")
    if not isinstance(item[2], list) or not set(prepared.gs1_keys) <= set(item[2]):
        # the contract checked the brand prefixes of the keys listed in item[2] only
        raise EventHashError("the GS1 keys on chain do not cover the event's keys: its prefixes were not checked")
    if bool(item[4]) != (prepared.declaration is not None):
        raise EventHashError("the declaration flag on chain does not match the recorded event")
    return prepared


def prepare_document(document: Any) -> list[PreparedEvent]:
    """Validate a capture document and prepare its events; CaptureError (4xx, stable code) if it is refused."""
    errors = schema_errors(document)
    if errors:
        rules = {error.get("rule") for error in errors}
        if "TIME-INVALID" in rules:
            raise CaptureError("TIME_INVALID", "the document has a timestamp that is not a valid date and time "
                               "with a time zone", 400, errors)
        if rules & {"EPCIS-SCHEMA", "JADE-SCHEMA"}:
            raise CaptureError("SCHEMA_INVALID", "the document is not a valid EPCIS 2.0 EPCISDocument", 400, errors)
        if rules == {"IDENTIFIER-INVALID"}:
            raise CaptureError("EVENT_INVALID", errors[0]["message"], 400, errors)
        raise CaptureError("DOCUMENT_INVALID", "the document breaks an EPCIS 2.0 / CBV 2.0 rule", 400, errors)
    context = document.get("@context")
    prepared = []
    for index, event in enumerate(document["epcisBody"]["eventList"]):
        try:
            prepared.append(prepare_event(event, context))
        except (EventHashError, IdentifierError) as exc:
            raise CaptureError("EVENT_INVALID", f"event {index}: {exc}", 400) from exc
    seen: dict[tuple[str, bool], int] = {}
    for index, event in enumerate(prepared):
        marker = (event.hash_id, event.declaration is not None)
        if marker in seen:
            raise CaptureError("DUPLICATE_EVENT", f"events {seen[marker]} and {index} are the same event", 409,
                               [event.hash_id])
        seen[marker] = index
    return prepared


@dataclass
class TraceabilitySettings:
    """How the app reaches the chain and what it may sign with."""

    gateway_urls: list[str]
    ledger_hash: str
    admin_key: KeyPair
    """The platform admin: deploys the contract, registers organisations and brands' prefixes."""
    db_path: str
    contract_address: str | None = None
    """None: read it from the index, or deploy a new contract."""
    public_url: str = "http://127.0.0.1:8200"
    """Base URL the QR codes point to (the consumer portal's host)."""
    organisations: dict[str, KeyPair] = field(default_factory=dict)
    """API token → the organisation's signing key (keys held in custody by the app)."""
    admin_token: str | None = None
    follow: bool = True
    """Run the chain follower thread (the index then also learns captures made elsewhere)."""
    trusted_validators: Any = None
    """Pinned ValidatorSet for proof checks; None: fetched from the gateway once at start."""
    webhook_allow: list[str] = field(default_factory=list)
    """Origins (``scheme://host[:port]``) subscriptions may push to; empty: subscriptions are refused."""
    subscription_poll: float = 0.5
    """Seconds between subscription delivery rounds (a capture through this app also wakes it at once)."""
    admin_check: Any = None
    """Optional ``admin_check(bearer token) -> bool`` beside ``admin_token`` (the mounted app: the owner's credential)."""
    bootstrap: list[tuple[KeyPair, str, str | None]] = field(default_factory=list)
    """(organisation key, name, GS1 company prefix or None) registered at start, idempotently: an
    organisation that can capture from the first minute (``make up``)."""


class MountedOrganisations(Mapping[str, KeyPair]):
    """Token → signing key for the credentials the BaaS control plane issued to the app's organisation.

    ``authorize(secret)`` (the control plane's) names the organisation a credential belongs to; only
    the organisation the app was started for signs, with its key held in the control plane's custody.
    """

    def __init__(self, authorize: Any, organisation: str, keypair: Any) -> None:
        self._authorize = authorize
        self._organisation = organisation
        self._keypair = keypair

    def get(self, token: Any, default: Any = None) -> Any:
        if isinstance(token, str) and token and self._authorize is not None and self._keypair is not None \
                and self._authorize(token) == self._organisation:
            return self._keypair()
        return default

    def __getitem__(self, token: str) -> KeyPair:
        key = self.get(token)
        if key is None:
            raise KeyError(token)
        return key  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def settings_from_mount(mount: Any) -> "TraceabilitySettings":
    """TraceabilitySettings from the control plane's ``AppMountSettings`` (or a TraceabilitySettings as is).

    The organisation the app was started for is its admin (it deploys the contract and registers
    prefixes) and its only signer; writes need a credential the control plane issued for the app.
    """
    if isinstance(mount, TraceabilitySettings):
        return mount
    data_dir = Path(mount.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    organisations = MountedOrganisations(mount.authorize, mount.organization, mount.keypair)
    if mount.keypair is None:
        raise ValueError("the traceability app needs the organisation's key (AppMountSettings.keypair)")
    public = str((mount.extra or {}).get("public_url", "")).rstrip("/")
    return TraceabilitySettings(
        gateway_urls=list(mount.gateway_urls), ledger_hash=mount.ledger_hash, admin_key=mount.keypair(),
        db_path=str(data_dir / "traceability.sqlite3"), public_url=public + mount.mount_path,
        organisations=organisations,  # type: ignore[arg-type]
        admin_check=lambda token: organisations.get(token) is not None,
    )


class TraceabilityService:
    def __init__(self, settings: TraceabilitySettings) -> None:
        self.settings = settings
        self.store = TraceStore(settings.db_path)
        self.client = JadechainClient(settings.gateway_urls)
        self.ledger: LedgerClient = self.client.ledger(settings.ledger_hash)
        self.contract_address = settings.contract_address or self.store.get_meta("contract")
        self._validators = settings.trusted_validators
        self._follower: threading.Thread | None = None
        self._follow_client: JadechainClient | None = None
        self._stopping = threading.Event()
        self._registered_users: set[str] = set()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> "TraceabilityService":
        if self.contract_address is None:
            self.contract_address = self.deploy_contract()
            self.store.set_meta("contract_version", str(CONTRACT_VERSION))
        elif self.settings.contract_address is None and self.store.get_meta("contract_version") is None:
            self.store.set_meta("contract_version", "1")  # deployed before versions were recorded: no master_data
        self.store.set_meta("contract", self.contract_address)
        if self._validators is None:
            self._validators = self.ledger.validators()
        for key, name, prefix in self.settings.bootstrap:
            address = self.register_organisation(key.public, name)
            if prefix and prefix not in self.store.brands():
                self.register_brand(prefix, address, name)
        if self.settings.follow:
            self._stopping.clear()
            self._follower = threading.Thread(target=self._follow, name="trace-follower", daemon=True)
            self._follower.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._follow_client is not None:
            self._follow_client.close()
        if self._follower is not None:
            self._follower.join(10)
            self._follower = None
        self.client.close()
        self.store.close()

    # --- governance -------------------------------------------------------------------------------

    def _submit(self, tx: Any, what: str) -> Any:
        result = self.ledger.submit(tx, wait=True, timeout=60)
        if not result.committed or result.status != "SUCCESS":
            raise CaptureError(result.status or "NOT_COMMITTED", f"{what} failed on chain: {result.status}", 409)
        return result

    def deploy_contract(self) -> str:
        """Deploy the contract and make the admin its admin, in one transaction."""
        contract_key = generate_keypair(ED25519)
        address = address_from_public_key(contract_key.public)
        admin = address_from_public_key(self.settings.admin_key.public)
        tx = (self.ledger.builder().deploy_contract(contract_key.public.encoded, CONTRACT_SOURCE, CONTRACT_VERSION)
              .invoke(address, "init", admin).sign(self.settings.admin_key))
        self._submit(tx, "contract deployment")
        return address

    def register_organisation(self, public_key: Any, name: str) -> str:
        """Register an organisation's key as a ledger user (admin-signed); returns its address."""
        address = address_from_public_key(public_key)
        if address in self._registered_users:
            return address
        try:
            self.ledger.get_account(address)
        except ApiError as error:
            if error.code != "NOT_FOUND":
                raise
            self._submit(self.ledger.builder().register_user(public_key.encoded, name).sign(self.settings.admin_key),
                         "organisation registration")
        self._registered_users.add(address)
        self.store.set_organisation(address, name)
        return address

    def organisation_name(self, address: str) -> str:
        """Display name of an organisation: its brand name, else its ledger user name (cached)."""
        for brand, brand_name in self.store.brands().values():
            if brand == address and brand_name:
                return brand_name
        name = self.store.organisation(address)
        if name is None:
            try:
                name = self.ledger.get_account(address).name
            except ApiError:
                name = ""
            self.store.set_organisation(address, name)
        return name or address[:10] + "…"

    def register_brand(self, prefix: str, brand_address: str, name: str) -> dict[str, Any]:
        """Governed registration of a GS1 company prefix to a brand (signed by the platform admin)."""
        tx = self.ledger.builder().invoke(self._contract(), "register_brand", prefix, brand_address, name).sign(
            self.settings.admin_key)
        result = self._submit(tx, "brand registration")
        self.store.set_brand(prefix, brand_address, name)
        return {"prefix": prefix, "brand": brand_address, "name": name, "txHash": result.tx_hash}

    def set_partner(self, signer: KeyPair, prefix: str, partner: str, authorised: bool) -> dict[str, Any]:
        tx = self.ledger.builder().invoke(self._contract(), "set_partner", prefix, partner, authorised).sign(signer)
        result = self._submit(tx, "partner change")
        self.store.set_partner(prefix, partner, authorised)
        return {"prefix": prefix, "partner": partner, "authorised": authorised, "txHash": result.tx_hash}

    def master_data_on_chain(self) -> bool:
        """Whether this app's contract has ``master_data`` (version 2+); version 1 contracts keep the
        app's older behaviour: master data in the index only."""
        return self.store.get_meta("contract_version") != "1"

    def declarations_of_unrecorded_events(self) -> bool:
        """Whether this app's contract records an error declaration of an event it does not hold
        (version 4+); older contracts refuse it, so the app answers 409 UNKNOWN_EVENT first."""
        return int(self.store.get_meta("contract_version") or "1") >= FOREIGN_DECLARATIONS_SINCE

    def _contract(self) -> str:
        if self.contract_address is None:
            raise RuntimeError("the traceability service is not started")
        return self.contract_address

    # --- capture ---------------------------------------------------------------------------------

    def prepare_document(self, document: Any) -> list[PreparedEvent]:
        return prepare_document(document)

    def check_permissions(self, org: str, prepared: Sequence[PreparedEvent]) -> None:
        """The contract's prefix rule, applied to the mirrored registrations for a clear early error."""
        brands = self.store.brands()
        for event in prepared:
            for key in event.gs1_keys:
                digits = company_digits(key)
                if not digits:
                    continue
                owner = next((digits[:n] for n in range(12, 3, -1) if digits[:n] in brands and len(digits) >= n),
                             None)
                if owner is None:
                    raise CaptureError("PREFIX_NOT_REGISTERED", f"no registered brand owns {key}", 403, [key])
                if org != brands[owner][0] and org not in self.store.partners(owner):
                    raise CaptureError("PREFIX_NOT_AUTHORISED",
                                       f"organisation {org} may not capture events for prefix {owner} ({key})", 403,
                                       [key])

    def capture(self, document: Any, org_key: KeyPair) -> dict[str, Any]:
        """Capture one EPCIS document in one transaction (all events or none)."""
        prepared = self.prepare_document(document)
        org = address_from_public_key(org_key.public)
        known = self.store.known_hashes(event.hash_id for event in prepared)
        duplicates = [e.hash_id for e in prepared if e.declaration is None and known.get(e.hash_id, (False, False))[1]]
        if duplicates:
            raise CaptureError("DUPLICATE_EVENT", f"{len(duplicates)} event(s) already captured", 409, duplicates)
        unknown = [e.hash_id for e in prepared if e.declaration is not None and not known.get(e.hash_id, (False, False))[1]
                   and e.hash_id not in {p.hash_id for p in prepared if p.declaration is None}]
        if unknown and not self.declarations_of_unrecorded_events():
            raise CaptureError("UNKNOWN_EVENT", "an error declaration names an event that was never captured (this "
                               f"app's contract predates version {FOREIGN_DECLARATIONS_SINCE})", 409, unknown)
        redeclared = [e.hash_id for e in prepared if e.declaration is not None and known.get(e.hash_id, (False, False))[0]]
        if redeclared:
            raise CaptureError("ALREADY_DECLARED", "event(s) already declared erroneous", 409, redeclared)
        self.check_permissions(org, prepared)
        header = document.get("epcisHeader") if isinstance(document, Mapping) else None
        master = header.get("epcisMasterData") if isinstance(header, Mapping) else None
        master_data = self.check_master_data(org, master.get("vocabularyList") or []) \
            if isinstance(master, Mapping) else []
        items = [event.chain_item() for event in prepared]
        builder = self.ledger.builder()
        master_on_chain = bool(master_data) and self.master_data_on_chain()
        if items or not master_on_chain:
            builder = builder.invoke(self._contract(), "capture", items, gas_limit=capture_gas(items))
        if master_on_chain:  # one transaction: the document's events and its master data commit together
            elements = master_data_items(master_data)
            builder = builder.invoke(self._contract(), "master_data", elements, gas_limit=master_data_gas(elements))
        tx = builder.sign(org_key)
        size = len(codec.encode(tx))
        if size > MAX_CAPTURE_TX_BYTES:
            raise CaptureError("DOCUMENT_TOO_LARGE", f"the capture transaction would be {size} bytes, more than "
                               f"{MAX_CAPTURE_TX_BYTES}; split the document (about 1,000 events of a few hundred "
                               "bytes per capture)", 413)
        try:
            result = self.ledger.submit(tx, wait=True, timeout=60)
        except ApiError as error:
            raise CaptureError(error.code, error.message, error.http_status) from error
        if not result.committed:
            raise CaptureError("NOT_COMMITTED", "the capture transaction did not commit in time", 504,
                               {"txHash": result.tx_hash})
        if result.status != "SUCCESS":
            raise CaptureError("REJECTED_ON_CHAIN", f"the chain rejected the capture: {result.status}", 409,
                               {"txHash": result.tx_hash, "status": result.status})
        assert result.height is not None
        self.store.add_events([e.indexed for e in prepared], org, result.tx_hash, result.height)
        for vocabulary, element_id, attributes in master_data:
            self.store.set_master_data(vocabulary, element_id, attributes, org)
        return {
            "captureID": result.tx_hash, "txHashes": [result.tx_hash], "height": result.height,
            "eventCount": len(prepared), "eventHashes": [e.hash_id for e in prepared],
            "errorDeclarations": sum(1 for e in prepared if e.declaration is not None),
        }

    # --- master data ------------------------------------------------------------------------------

    def save_master_data(self, org_key: KeyPair, vocabulary_list: Any) -> dict[str, Any]:
        """Record EPCIS master data (``vocabularyList``: names, images, addresses per GTIN, lot or GLN)
        on chain, signed by the organisation, and index it once committed.

        An element whose id is a GS1 key may only be described by the brand owning its prefix or a
        partner the brand authorised (the capture rule); any other id by the organisation that
        described it first. The contract checks both; this pre-check gives the clear error first.
        """
        org = address_from_public_key(org_key.public)
        elements = self.check_master_data(org, vocabulary_list)
        if not elements:
            raise CaptureError("MASTER_DATA_INVALID", "the vocabularyList has no element", 400)
        if not self.master_data_on_chain():
            log.warning("this app's contract (version 1) has no master_data method: master data kept in the index only")
            for vocabulary, element_id, attributes in elements:
                self.store.set_master_data(vocabulary, element_id, attributes, org)
            return {"elements": len(elements), "onChain": False}
        items = master_data_items(elements)
        tx = self.ledger.builder().invoke(self._contract(), "master_data", items,
                                          gas_limit=master_data_gas(items)).sign(org_key)
        size = len(codec.encode(tx))
        if size > MAX_CAPTURE_TX_BYTES:
            raise CaptureError("DOCUMENT_TOO_LARGE", f"the master data transaction would be {size} bytes, more than "
                               f"{MAX_CAPTURE_TX_BYTES}; send it in parts", 413)
        result = self._submit(tx, "master data")
        for vocabulary, element_id, attributes in elements:
            self.store.set_master_data(vocabulary, element_id, attributes, org)
        return {"elements": len(elements), "onChain": True, "txHash": result.tx_hash, "height": result.height}

    def check_master_data(self, org: str, vocabulary_list: Any) -> list[tuple[str, str, dict[str, str]]]:
        """The elements of a ``vocabularyList`` if ``org`` may describe every one of them; CaptureError if not."""
        elements = list(_master_data_elements(vocabulary_list))
        brands = self.store.brands()
        for vocabulary, element_id, _ in elements:
            digits = company_digits(element_id)
            if not digits:
                owner_org = self.store.master_data_owner(vocabulary, element_id)
                if owner_org is not None and owner_org != org:
                    raise CaptureError("MASTER_DATA_OWNED", f"another organisation describes {element_id}", 403,
                                       [element_id])
                continue
            owner = next((digits[:n] for n in range(12, 3, -1) if digits[:n] in brands and len(digits) >= n), None)
            if owner is None or (org != brands[owner][0] and org not in self.store.partners(owner)):
                raise CaptureError("PREFIX_NOT_AUTHORISED", f"organisation {org} may not describe {element_id}", 403,
                                   [element_id])
        return elements

    def capture_status(self, capture_id: str) -> dict[str, Any]:
        if not _BASE58.fullmatch(capture_id):
            raise CaptureError("NOT_FOUND", "no capture with this ID (a capture ID is a transaction hash)", 404)
        try:
            tx = self.ledger.get_tx(capture_id)
        except ApiError as error:
            if error.code in ("NOT_FOUND", "INVALID_ARGUMENT", "INVALID_REQUEST", "BAD_REQUEST") or \
                    400 <= error.http_status < 500:
                raise CaptureError("NOT_FOUND", "no capture with this ID", 404) from error
            raise CaptureError(error.code, error.message, 502) from error
        return {"captureID": capture_id, "running": False, "success": tx.ok,
                "status": tx.status, "height": tx.height, "txHashes": [capture_id]}

    # --- following the chain -------------------------------------------------------------------

    def index_transaction(self, tx_hash: str) -> int:
        """Index the capture transaction ``tx_hash`` from the chain (used by the follower and rebuilds)."""
        tx = self.ledger.get_tx(tx_hash)
        if not tx.ok or not tx.signers:
            return 0
        added = 0
        for operation in tx.operations:
            if operation.get("type") != "InvokeContract" or operation.get("address") != self.contract_address \
                    or operation.get("method") not in ("capture", "master_data"):
                continue
            arguments = codec.unpack_canonical(from_base58(operation["args"]))
            if operation["method"] == "master_data":
                self._index_master_data(arguments[0], tx.signers[0])
                continue
            events = []
            for item in arguments[0]:
                try:
                    events.append(prepared_from_chain_item(item).indexed)
                except (EventHashError, IdentifierError, ValueError, KeyError) as exc:
                    log.warning("skipping an event of tx %s that does not verify: %s", tx_hash, exc)
            added += self.store.add_events(events, tx.signers[0], tx_hash, tx.height)
        return added

    def _index_master_data(self, elements: Sequence[Any], org: str) -> None:
        """Index the master data elements a committed ``master_data`` invocation recorded."""
        for item in elements:
            try:
                attributes = json.loads(item[2])
                if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
                    raise ValueError("attributes are not a map of strings")
                if normalise(str(item[0])) != item[0]:
                    # the contract governs GS1 keys in their canonical Digital Link form only; another
                    # spelling (a URN sent to the chain directly) could dodge the brand's prefix rule
                    raise ValueError(f"element id {item[0]!r} is not in canonical form")
                self.store.set_master_data(str(item[1]), str(item[0]), attributes, org)
            except (ValueError, TypeError, IndexError, IdentifierError) as exc:
                log.warning("skipping a master data element that does not read: %s", exc)

    def _follow(self) -> None:
        client = self._follow_client = JadechainClient(self.settings.gateway_urls, retry_timeout=3600)
        ledger = client.ledger(self.settings.ledger_hash)
        while not self._stopping.is_set():
            cursor = self.store.get_meta("cursor")
            try:
                for message in ledger.subscribe(from_height=0 if cursor is None else None, last_event_id=cursor,
                                                kinds=("event",)):
                    if self._stopping.is_set():
                        return
                    self._on_event(message.data)
                    self.store.set_meta("cursor", message.id)
            except Exception:  # a closed client while stopping, or a gateway problem: retry
                if self._stopping.is_set():
                    return
                log.warning("chain follower interrupted; resuming", exc_info=True)
                self._stopping.wait(1.0)

    def _on_event(self, data: Mapping[str, Any]) -> None:
        if data.get("account") != self.contract_address:
            return
        topic = data.get("topic")
        content = (data.get("content") or {}).get("value") or {}
        if topic in ("captured", "master_data_changed"):
            self.index_transaction(data["tx_hash"])
        elif topic == "brand_registered":
            self.store.set_brand(content["prefix"], content["brand"], content["name"])
        elif topic == "partner_changed":
            self.store.set_partner(content["prefix"], content["partner"], bool(content["authorised"]))

    def wait_indexed(self, height: int, timeout: float = 10.0) -> bool:
        """Wait until the follower has processed blocks up to ``height`` (tests, rebuilds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cursor = self.store.get_meta("cursor")
            if cursor is not None and int(cursor.split(":")[0]) >= height:
                return True
            time.sleep(0.02)
        return False

    # --- queries ---------------------------------------------------------------------------------

    def query(self, params: Mapping[str, list[str]], per_page: int,
              after: tuple[int | None, int] = (None, 0)) -> tuple[list[EventRow], tuple[int | None, int] | None]:
        """EPCIS 2.0 SimpleEventQuery over the index: rows of one page and the cursor of the next (or None).

        Values of one parameter are ORed (repeat it, or separate values with ``|``); different
        parameters are ANDed, as the EPCIS 2.0 query language says.
        """
        where: list[str] = []
        values: list[Any] = []
        order_by: str | None = None
        descending = False
        limit_total: int | None = None
        max_count: int | None = None

        def any_of(column: str, items: Iterable[Any]) -> None:
            items = list(items)
            where.append(f"{column} IN ({','.join('?' * len(items))})")
            values.extend(items)

        def attr(name: str, items: Iterable[str]) -> None:
            items = list(items)
            where.append(f"e.seq IN (SELECT a.seq FROM attrs a WHERE a.name = ? AND a.value IN "
                         f"({','.join('?' * len(items))}))")
            values.extend([name, *items])

        def integer(name: str, text: str) -> int:
            try:
                number = int(text)
            except ValueError:
                number = -1
            if number < 1:
                raise CaptureError("INVALID_PARAMETER", f"{name} must be a positive integer", 400)
            return number

        for name, raw in params.items():
            items = [v for value in raw for v in value.split("|") if v]
            if not items and not name.startswith("EXISTS_"):  # EXISTS_ parameters carry no value
                continue
            if name == "eventType":
                any_of("e.event_type", items)
            elif name in TIME_PARAMETERS:
                column, operator = TIME_PARAMETERS[name]
                where.append(f"e.{column} {operator} ?")
                values.append(time_millis(items[0]))
            elif name == "EQ_bizStep":
                any_of("e.biz_step", [cbv.full_uri("bizStep", v) for v in items])
            elif name == "EQ_disposition":
                any_of("e.disposition", [cbv.full_uri("disposition", v) for v in items])
            elif name == "EQ_readPoint":
                any_of("e.read_point", [normalise(v) for v in items])
            elif name == "EQ_bizLocation":
                any_of("e.biz_location", [normalise(v) for v in items])
            elif name in ("WD_readPoint", "WD_bizLocation"):
                column = "e.read_point" if name == "WD_readPoint" else "e.biz_location"
                any_of(column, sorted(self._with_descendants([normalise(v) for v in items])))
            elif name in QUANTITY_OPERATORS:
                number = finite_number(name, items[0])
                lists = " OR ".join(f"t.path GLOB '$.{q}[[]*]'" for q in QUANTITY_LISTS)
                where.append("EXISTS (SELECT 1 FROM json_tree(e.json) t WHERE t.key = 'quantity' AND "
                             f"t.type IN ('integer', 'real') AND ({lists}) AND t.value {QUANTITY_OPERATORS[name]} ?)")
                values.append(number)
            elif name.split("_", 2)[0] in SENSOR_OPERATORS and name.split("_", 2)[1:2] == ["quantity"] \
                    and len(name.split("_", 2)) == 3 and name.split("_", 2)[2]:
                operator, _, uom = name.split("_", 2)
                condition, arguments = _unit_condition(name, operator, items[0], uom, "q.value", "quantity")
                where.append("(" + " OR ".join(f"EXISTS (SELECT 1 FROM json_each(e.json, '$.{q}') q WHERE {condition})"
                                               for q in QUANTITY_LISTS) + ")")
                for _ in QUANTITY_LISTS:
                    values.extend(arguments)
            elif name == "EXISTS_sensorElementList":
                where.append("json_type(e.json, '$.sensorElementList') = 'array'")
            elif name == "EQ_type":
                forms = [f for v in items for f in _sensor_type_forms(v)]
                where.append("EXISTS (SELECT 1 FROM json_each(e.json, '$.sensorElementList') s, "
                             "json_each(s.value, '$.sensorReport') r WHERE json_extract(r.value, '$.type') IN "
                             f"({','.join('?' * len(forms))}))")
                values.extend(forms)
            elif _sensor_number_parameter(name) is not None:
                operator, field, uom = _sensor_number_parameter(name)  # type: ignore[misc]
                condition, arguments = _unit_condition(name, operator, items[0], uom, "r.value", field)
                where.append("EXISTS (SELECT 1 FROM json_each(e.json, '$.sensorElementList') s, "
                             f"json_each(s.value, '$.sensorReport') r WHERE {condition})")
                values.extend(arguments)
            elif name in SENSOR_TEXT_FIELDS:
                field = name[3:]
                booleans = {"true": 1, "false": 0}
                if field == "booleanValue" and any(v not in booleans for v in items):
                    raise CaptureError("INVALID_PARAMETER", "EQ_booleanValue takes true or false", 400)
                wanted = [booleans[v] for v in items] if field == "booleanValue" else items
                marks = ",".join("?" * len(wanted))
                where.append("EXISTS (SELECT 1 FROM json_each(e.json, '$.sensorElementList') s, "
                             "json_each(s.value, '$.sensorReport') r WHERE "
                             f"json_extract(r.value, '$.{field}') IN ({marks})"
                             + (f" OR json_extract(s.value, '$.sensorMetadata.{field}') IN ({marks})"
                                if field in SENSOR_METADATA_TEXT else "") + ")")
                values.extend(wanted)
                if field in SENSOR_METADATA_TEXT:
                    values.extend(wanted)
            elif name in SENSOR_TIME_PARAMETERS:
                field, operator = SENSOR_TIME_PARAMETERS[name]
                moment = julian_day(name, items[0])
                where.append("EXISTS (SELECT 1 FROM json_each(e.json, '$.sensorElementList') s, "
                             "json_each(s.value, '$.sensorReport') r WHERE "
                             f"julianday(json_extract(r.value, '$.{field}')) {operator} julianday(?) OR "
                             f"julianday(json_extract(s.value, '$.sensorMetadata.{field}')) {operator} julianday(?))")
                values.extend([moment, moment])
            elif name in PERC_RANK_OPERATORS:
                number = finite_number(name, items[0])
                where.append("EXISTS (SELECT 1 FROM json_each(e.json, '$.sensorElementList') s, "
                             "json_each(s.value, '$.sensorReport') r WHERE json_type(r.value, '$.percRank') IN "
                             f"('integer', 'real') AND json_extract(r.value, '$.percRank') {PERC_RANK_OPERATORS[name]} ?)")
                values.append(number)
            elif name in ("GE_errorDeclarationTime", "LT_errorDeclarationTime", "GE_errorDeclaration_Time",
                          "LT_errorDeclaration_Time"):
                operator = ">=" if name.startswith("GE_") else "<"
                where.append(f"julianday(json_extract(e.error_json, '$.declarationTime')) {operator} julianday(?)")
                values.append(julian_day(name, items[0]))
            elif name == "EQ_action":
                if any(v not in ("ADD", "OBSERVE", "DELETE") for v in items):
                    raise CaptureError("INVALID_PARAMETER", "EQ_action takes ADD, OBSERVE or DELETE", 400)
                any_of("e.action", items)
            elif name == "EQ_transformationID":
                any_of("e.transformation_id", items)
            elif name in MATCH_ROLES:
                clauses = []
                roles = MATCH_ROLES[name]
                marks = ",".join("?" * len(roles))
                for item in items:
                    key = normalise(item)
                    if _is_class_pattern(key):
                        clauses.append(f"(k.key = ? OR (k.key >= ? AND k.key < ?)) AND k.role IN ({marks})")
                        values.extend([key, key + "/", key + "0", *roles])
                    else:
                        clauses.append(f"k.key = ? AND k.role IN ({marks})")
                        values.extend([key, *roles])
                where.append("e.seq IN (SELECT k.seq FROM keys k WHERE " + " OR ".join(f"({c})" for c in clauses) + ")")
            elif name == "EQ_eventID":
                marks = ",".join("?" * len(items))
                where.append(f"(e.event_id IN ({marks}) OR e.hash IN ({marks}))")
                values.extend([*items, *items])
            elif name == "EXISTS_errorDeclaration":
                where.append("e.error_json IS NOT NULL")
            elif name == "EQ_errorReason":
                attr("errorReason", [cbv.full_uri("errorReason", v) for v in items])
            elif name == "EQ_correctiveEventID":
                attr("correctiveEventID", items)
            elif name in ("EQ_persistentDisposition", "EQ_persistentDisposition_set"):
                attr("persistentDisposition:set", [cbv.full_uri("disposition", v) for v in items])
            elif name == "EQ_persistentDisposition_unset":
                attr("persistentDisposition:unset", [cbv.full_uri("disposition", v) for v in items])
            elif name.startswith(("EQ_bizTransaction_", "EQ_source_", "EQ_destination_")):
                _, element, kind = name.split("_", 2)
                vocabulary = "bizTransactionType" if element == "bizTransaction" else "sourceDestType"
                attr(f"{element}:{cbv.full_uri(vocabulary, kind)}", [normalise(v) for v in items])
            elif name.startswith(("HASATTR_", "EQ_ATTR_", "EQATTR_")):
                equals = not name.startswith("HASATTR_")
                field, _, attribute = name.partition("ATTR_")[2].partition("_")
                if (field not in ATTRIBUTE_FIELDS and field not in ATTRIBUTE_KEY_ROLES) or (equals and not attribute):
                    raise CaptureError("INVALID_PARAMETER", f"{name}: master data attributes can be matched for "
                                       f"{', '.join([*ATTRIBUTE_FIELDS, *ATTRIBUTE_KEY_ROLES])} (HASATTR_<field>, "
                                       "EQ_ATTR_<field>_<attribute>)", 400)
                marks = ",".join("?" * len(items))
                described = (f"SELECT a.id FROM master_attributes a WHERE a.attribute IN ({marks})" if not equals else
                             f"SELECT a.id FROM master_attributes a WHERE a.attribute = ? AND a.value IN ({marks})")
                described_values = items if not equals else [attribute, *items]
                if field in ATTRIBUTE_FIELDS:
                    where.append(ATTRIBUTE_FIELDS[field].format(ids=described))
                    values.extend(described_values)
                else:
                    # an identifier is described by its own element or one above it in the Digital Link
                    # hierarchy (its lot, its GTIN): keys equal to a described id or under it
                    roles = ATTRIBUTE_KEY_ROLES[field]
                    role_marks = ",".join("?" * len(roles))
                    where.append(f"e.seq IN (SELECT k.seq FROM ({described}) d JOIN keys k ON k.key = d.id "
                                 f"WHERE k.role IN ({role_marks}) UNION ALL SELECT k.seq FROM ({described}) d "
                                 f"JOIN keys k ON k.key >= d.id || '/' AND k.key < d.id || '0' WHERE k.role IN ({role_marks}))")
                    values.extend([*described_values, *roles, *described_values, *roles])
            elif parse_parameter(name) is not None:
                try:
                    condition, arguments = sql_condition(parse_parameter(name), items)  # type: ignore[arg-type]
                except ValueError as exc:
                    raise CaptureError("INVALID_PARAMETER", f"{name}: {exc}", 400) from exc
                where.append(condition)
                values.extend(arguments)
            elif name == "orderBy":
                order_by = ORDER_COLUMNS.get(items[0])
                if order_by is None:
                    raise CaptureError("INVALID_PARAMETER", "orderBy takes eventTime or recordTime", 400)
            elif name == "orderDirection":
                if items[0] not in ("ASC", "DESC"):
                    raise CaptureError("INVALID_PARAMETER", "orderDirection takes ASC or DESC", 400)
                descending = items[0] == "DESC"
            elif name == "eventCountLimit":
                limit_total = integer(name, items[0])
            elif name == "maxEventCount":
                max_count = integer(name, items[0])
            else:
                raise CaptureError("INVALID_PARAMETER", f"unsupported query parameter {name!r}; supported: "
                                   + ", ".join(QUERY_PARAMETERS), 400)
        if order_by is not None and "orderDirection" not in params:
            descending = True  # EPCIS 2.0: orderDirection defaults to DESC when orderBy is given
        if limit_total is not None and max_count is not None:
            raise CaptureError("INVALID_PARAMETER", "eventCountLimit and maxEventCount exclude each other", 400)
        if max_count is not None and after == (None, 0):
            found = self.store.query(where, values, (None, 0), max_count + 1, None)
            if len(found) > max_count:
                raise CaptureError("QUERY_TOO_LARGE", f"more than maxEventCount={max_count} events match", 413)
        page = per_page if limit_total is None else min(per_page, limit_total)
        cursor: Any = after[1] if order_by is None else after
        rows = self.store.query(where, values, cursor, page + 1, order_by, descending)
        more = len(rows) > page and limit_total is None
        rows = rows[:page]
        next_cursor: tuple[int | None, int] | None = None
        if more and rows:
            last = rows[-1]
            value = None if order_by is None else (last.event_time if order_by == "event_time" else last.record_time or 0)
            next_cursor = (value, last.seq)
        return rows, next_cursor

    def _with_descendants(self, ids: Iterable[str]) -> set[str]:
        """``ids`` and every direct or indirect child the master data names (EPCIS 2.0 §6.5 hierarchies)."""
        found = set(ids)
        frontier = list(found)
        while frontier and len(found) < DESCENDANTS_LIMIT:
            children = self.store.master_data_attribute(frontier, CHILDREN_ATTRIBUTE)
            frontier = []
            for text in children:
                for child in json.loads(text):
                    if child not in found:
                        found.add(child)
                        frontier.append(child)
        return found

    def vocabulary_query(self, params: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """EPCIS SimpleMasterDataQuery over the master data recorded on chain: a ``vocabularyList``."""
        where: list[str] = []
        values: list[Any] = []
        include_attributes = include_children = True
        attribute_names: list[str] | None = None
        limit = MASTER_DATA_LIMIT
        max_count: int | None = None

        def flag(name: str, text: str) -> bool:
            if text not in ("true", "false"):
                raise CaptureError("INVALID_PARAMETER", f"{name} takes true or false", 400)
            return text == "true"

        def count(name: str, text: str) -> int:
            number = int(finite_number(name, text))
            if number < 1 or str(number) != text.strip():
                raise CaptureError("INVALID_PARAMETER", f"{name} must be a positive integer", 400)
            return number

        def has_attribute(attribute: str | None, items: list[str]) -> None:
            marks = ",".join("?" * len(items))
            condition = f"a.attribute IN ({marks})" if attribute is None else f"a.attribute = ? AND a.value IN ({marks})"
            where.append("EXISTS (SELECT 1 FROM master_attributes a WHERE a.id = m.id AND a.vocabulary = m.vocabulary"
                         f" AND {condition})")
            values.extend(items if attribute is None else [attribute, *items])

        for name, raw in params.items():
            items = [v for value in raw for v in value.split("|") if v]
            if not items:
                continue
            if name == "vocabularyName":
                where.append(f"m.vocabulary IN ({','.join('?' * len(items))})")
                values.extend(items)
            elif name in ("EQ_name", "WD_name"):
                ids = [normalise(v) for v in items]
                if name == "WD_name":
                    ids = sorted(self._with_descendants(ids))
                where.append(f"m.id IN ({','.join('?' * len(ids))})")
                values.extend(ids)
            elif name == "includeAttributes":
                include_attributes = flag(name, items[0])
            elif name == "includeChildren":
                include_children = flag(name, items[0])
            elif name == "attributeNames":
                attribute_names = items
            elif name == "HASATTR":
                has_attribute(None, items)
            elif name.startswith(("EQATTR_", "EQ_ATTR_")) and name.partition("ATTR_")[2]:
                has_attribute(name.partition("ATTR_")[2], items)
            elif name == "maxElementCount":
                max_count = count(name, items[0])
            elif name == "perPage":
                limit = min(limit, count(name, items[0]))
            else:
                raise CaptureError("INVALID_PARAMETER", f"unsupported master data query parameter {name!r}; "
                                   "supported: " + ", ".join(MASTER_DATA_QUERY_PARAMETERS), 400)
        elements = self.store.vocabulary_elements(where, values, (max_count or limit) + 1)
        if max_count is not None and len(elements) > max_count:
            raise CaptureError("QUERY_TOO_LARGE", f"more than maxElementCount={max_count} elements match", 413)
        vocabularies: dict[str, list[dict[str, Any]]] = {}
        for element in elements[:limit]:
            attributes = element["attributes"]
            children = json.loads(attributes.pop(CHILDREN_ATTRIBUTE, "[]"))
            entry: dict[str, Any] = {"id": element["id"]}
            if include_attributes:
                entry["attributes"] = [{"id": key, "attribute": value} for key, value in attributes.items()
                                       if attribute_names is None or key in attribute_names]
            if include_children and children:
                entry["children"] = children
            vocabularies.setdefault(element["type"], []).append(entry)
        return [{"type": kind, "vocabularyElementList": entries} for kind, entries in vocabularies.items()]

    def history(self, item: str) -> dict[str, Any]:
        """The full genealogy of an item: its own events, its containers' events while it was inside
        them (aggregation), and the history of what it was made from (transformation inputs).

        One indexed range scan per identifier visited; only aggregations, transformations and events
        with ILMD are parsed (the others are forwarded as stored)."""
        root = normalise(item)
        found: dict[int, tuple[EventRow, str]] = {}
        visited: set[str] = set()
        queue: list[tuple[str, int | None, int | None, str, int]] = [(root, None, None, "item", 0)]
        links: list[dict[str, Any]] = []
        while queue and len(found) < MAX_HISTORY_EVENTS:
            key, start, end, via, depth = queue.pop(0)
            if key in visited or depth > 8:
                continue
            visited.add(key)
            rows = self.store.events_by_key(key, ALL_ROLES, prefix=_is_class_pattern(key))
            for row in rows:
                if (start is not None and row.event_time < start) or (end is not None and row.event_time > end):
                    continue
                if row.seq not in found:
                    found[row.seq] = (row, via)
                if row.event_type == "AggregationEvent" and ROLE_CHILD in row.roles:
                    event = row.event
                    if event.get("parentID") and event.get("action") in ("ADD", "OBSERVE"):
                        parent = normalise(event["parentID"])
                        until = _disaggregated_at(rows, parent, row.event_time)
                        links.append({"type": "aggregation", "child": key, "parent": parent,
                                      "from": row.event_time, "until": until})
                        queue.append((parent, row.event_time, until if end is None else min(end, until or end),
                                      f"parent:{parent}", depth + 1))
                elif row.event_type == "TransformationEvent":
                    self._queue_inputs(row, key, queue, links, depth)
                lot = _lot_of(key, row.event) if '"ilmd"' in row.text else None
                if lot is not None and lot not in visited:
                    links.append({"type": "lot", "item": key, "lot": lot})
                    queue.append((lot, None, None, f"lot:{lot}", depth + 1))
        ordered = sorted(found.values(), key=lambda pair: (pair[0].event_time, pair[0].seq))
        return {"item": root, "urn": _urn_of(root, tuple(sorted(self.store.brands()))), "events": ordered,
                "links": links}

    def _queue_inputs(self, row: EventRow, key: str, queue: list[Any], links: list[dict[str, Any]], depth: int) -> None:
        events = [row]
        transformation_id = row.event.get("transformationID")
        if transformation_id:
            events = self.store.events_by_transformation(transformation_id) or [row]
        outputs = {k for r in events for k, role in self.store.key_roles(r.seq) if role in (ROLE_OUTPUT, ROLE_OUTPUT_CLASS)}
        if key not in outputs and not any(_covers(key, output) for output in outputs):
            return
        for source in events:
            for input_key, role in self.store.key_roles(source.seq):
                if role in (ROLE_INPUT, ROLE_INPUT_CLASS):
                    links.append({"type": "transformation", "output": key, "input": input_key,
                                  "at": source.event_time, "transformationID": transformation_id})
                    queue.append((input_key, None, source.event_time, f"input:{input_key}", depth + 1))

    # --- proofs -------------------------------------------------------------------------------------

    def proof(self, event_hash_id: str, wait: float = 5.0) -> dict[str, Any]:
        """The event's on-chain record with a proof bundle, verified against the pinned validators."""
        cached = self.store.get_proof(event_hash_id)
        if cached is not None:
            return cached
        row = self.store.get_event(event_hash_id)
        if row is None:
            raise CaptureError("NOT_FOUND", "no such event", 404)
        deadline = time.monotonic() + wait
        while True:
            try:
                # a row holding only a declaration's copy of the event proves the declaration's record
                record_key = "x:" if "errorDeclaration" in row.event else "e:"
                bundle = self.ledger.entry_proof(self._contract(), record_key + hash_hex(event_hash_id))
                break
            except ApiError as error:
                if error.code != "PROOF_PENDING" or time.monotonic() > deadline:
                    raise CaptureError(error.code, error.message, 503 if error.code == "PROOF_PENDING" else 502)
                time.sleep(0.05)
        report = verify_bundle(bundle, trusted_validators=self._validators, require_certificate=True)
        record = (report.claim.get("value") or {}).get("value") or {}
        if record.get("d") != row.digest:
            raise CaptureError("PROOF_MISMATCH", "the on-chain digest differs from the indexed event", 502)
        self.store.save_proof(event_hash_id, bundle)
        return bundle

    def validators_json(self) -> Any:
        return validators_to_json(self.ledger.validators())


_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{16,128}")

EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")

QUERY_PARAMETERS = ("eventType", "GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime", "EQ_action",
                    "EQ_bizStep", "EQ_disposition", "EQ_persistentDisposition", "EQ_persistentDisposition_unset",
                    "EQ_readPoint", "EQ_bizLocation", "WD_readPoint", "WD_bizLocation", "EQ_quantity",
                    "GT_quantity", "GE_quantity", "LT_quantity", "LE_quantity",
                    "EQ_/GT_/GE_/LT_/LE_quantity_<uom>", "EXISTS_sensorElementList", "EQ_type",
                    "EQ_/GT_/GE_/LT_/LE_{value,minValue,maxValue,meanValue,sDev,percValue}_<uom>", "GT_/GE_/LT_/LE_percRank",
                    "EQ_deviceID", "EQ_dataProcessingMethod", "EQ_microorganism", "EQ_chemicalSubstance",
                    "EQ_bizRules", "EQ_stringValue", "EQ_booleanValue", "EQ_hexBinaryValue", "EQ_uriValue",
                    "GE_/LT_time", "GE_/LT_startTime", "GE_/LT_endTime", "GE_/LT_errorDeclarationTime",
                    "EQ_/GT_/GE_/LT_/LE_/EXISTS_[INNER_][ILMD_|SENSORELEMENT_|SENSORMETADATA_|SENSORREPORT_|"
                    "ERROR_DECLARATION_|readPoint_|bizLocation_]<prefix:field or namespace#field>",
                    "HASATTR_<field>", "EQ_ATTR_<field>_<attribute> (also EQATTR_; <field>: readPoint, bizLocation,"
                    " source, destination, epcList, childEPCs, parentID, inputEPCList, outputEPCList, anyEPC,"
                    " epcClass, quantityList, childQuantityList, inputQuantityList, outputQuantityList)",
                    "EQ_transformationID", "EQ_eventID", "EXISTS_errorDeclaration",
                    "EQ_errorReason", "EQ_correctiveEventID", "EQ_bizTransaction_<type>", "EQ_source_<type>",
                    "EQ_destination_<type>", "MATCH_epc", "MATCH_anyEPC", "MATCH_parentID", "MATCH_inputEPC",
                    "MATCH_outputEPC", "MATCH_epcClass", "MATCH_inputEPCClass", "MATCH_outputEPCClass",
                    "MATCH_anyEPCClass", "orderBy", "orderDirection", "eventCountLimit", "maxEventCount", "perPage",
                    "nextPageToken")
"""Every parameter GET /events understands (EPCIS 2.0 query language subset; docs/traceability.md)."""

TIME_PARAMETERS = {"GE_eventTime": ("event_time", ">="), "LT_eventTime": ("event_time", "<"),
                   "GE_recordTime": ("record_time", ">="), "LT_recordTime": ("record_time", "<")}
ORDER_COLUMNS = {"eventTime": "event_time", "recordTime": "record_time"}

MATCH_ROLES = {
    "MATCH_epc": (ROLE_EPC, ROLE_CHILD),
    "MATCH_anyEPC": (ROLE_EPC, ROLE_CHILD, ROLE_PARENT, ROLE_INPUT, ROLE_OUTPUT),
    "MATCH_parentID": (ROLE_PARENT,),
    "MATCH_inputEPC": (ROLE_INPUT,),
    "MATCH_outputEPC": (ROLE_OUTPUT,),
    "MATCH_epcClass": (ROLE_CLASS,),
    "MATCH_inputEPCClass": (ROLE_INPUT_CLASS,),
    "MATCH_outputEPCClass": (ROLE_OUTPUT_CLASS,),
    "MATCH_anyEPCClass": (ROLE_CLASS, ROLE_INPUT_CLASS, ROLE_OUTPUT_CLASS),
}


ATTRIBUTE_FIELDS = {
    "readPoint": "e.read_point IN ({ids})", "bizLocation": "e.biz_location IN ({ids})",
    "source": "e.seq IN (SELECT x.seq FROM attrs x WHERE x.name = 'source:*' AND x.value IN ({ids}))",
    "destination": "e.seq IN (SELECT x.seq FROM attrs x WHERE x.name = 'destination:*' AND x.value IN ({ids}))",
}
"""Event fields HASATTR_ / EQ_ATTR_ look up in master data: SQL selecting the events whose field is one
of the described ``{ids}``."""
ATTRIBUTE_KEY_ROLES = {
    "epcList": (ROLE_EPC,), "childEPCs": (ROLE_CHILD,), "parentID": (ROLE_PARENT,), "inputEPCList": (ROLE_INPUT,),
    "outputEPCList": (ROLE_OUTPUT,), "anyEPC": (ROLE_EPC, ROLE_CHILD, ROLE_PARENT, ROLE_INPUT, ROLE_OUTPUT),
    "epcClass": (ROLE_CLASS, ROLE_INPUT_CLASS, ROLE_OUTPUT_CLASS), "quantityList": (ROLE_CLASS,),
    "childQuantityList": (ROLE_CLASS,), "inputQuantityList": (ROLE_INPUT_CLASS,),
    "outputQuantityList": (ROLE_OUTPUT_CLASS,),
}
"""Identifier fields HASATTR_ / EQ_ATTR_ match through the keys index: an EPC or class is described by
master data of itself or of an element above it in the Digital Link hierarchy (a lot, a GTIN)."""
MASTER_DATA_QUERY_PARAMETERS = ("vocabularyName", "includeAttributes", "includeChildren", "attributeNames",
                                "EQ_name", "WD_name", "HASATTR", "EQATTR_<attribute>", "maxElementCount", "perPage")
MASTER_DATA_LIMIT = 10_000
MAX_ATTRIBUTE_TEXT = 2000
MAX_ELEMENT_ID = 900
"""The contract's limit on a master data element id (a state key ``m:<id>``)."""
CHILDREN_ATTRIBUTE = "children"
"""Where an element's ``children`` (the master-data hierarchy WD_readPoint / WD_bizLocation follow) is kept."""
DESCENDANTS_LIMIT = 10_000
SENSOR_OPERATORS = {"EQ": "=", "GT": ">", "GE": ">=", "LT": "<", "LE": "<="}
GS1_VOC = "https://gs1.org/voc/"


def _sensor_type_forms(value: str) -> list[str]:
    """The spellings a sensor report ``type`` may be stored in: bare, ``gs1:`` CURIE, GS1 Web URI."""
    bare = value[len(GS1_VOC):] if value.startswith(GS1_VOC) else value[4:] if value.startswith("gs1:") else None
    if bare is None and ":" in value:
        return [value]
    term = bare if bare is not None else value
    return [term, f"gs1:{term}", GS1_VOC + term]


SENSOR_NUMBERS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percValue")
"""Sensor report numbers filtered as ``EQ_/GT_/GE_/LT_/LE_<field>_<uom>``."""
SENSOR_TEXT_FIELDS = {f"EQ_{field}" for field in ("deviceID", "dataProcessingMethod", "microorganism",
                                                  "chemicalSubstance", "bizRules", "stringValue", "booleanValue",
                                                  "hexBinaryValue", "uriValue")}
SENSOR_METADATA_TEXT = ("deviceID", "dataProcessingMethod", "bizRules")
"""Fields that may sit in a sensor element's metadata as well as in its reports."""
SENSOR_TIME_PARAMETERS = {f"{op}_{field}": (field, sql) for field in ("time", "startTime", "endTime")
                          for op, sql in (("GE", ">="), ("LT", "<"))}
PERC_RANK_OPERATORS = {f"{op}_percRank": sql for op, sql in SENSOR_OPERATORS.items() if op != "EQ"}


def _sensor_number_parameter(name: str) -> tuple[str, str, str] | None:
    """(operator, report field, uom) of ``GE_value_CEL``-style parameters, else None."""
    parts = name.split("_", 2)
    if len(parts) == 3 and parts[0] in SENSOR_OPERATORS and parts[1] in SENSOR_NUMBERS and parts[2]:
        return parts[0], parts[1], parts[2]
    return None


def _unit_condition(name: str, operator: str, text: str, uom: str, element: str, field: str) -> tuple[str, list[Any]]:
    """SQL (and its arguments) matching a JSON element whose ``field`` in its own ``uom`` satisfies
    ``operator text uom`` after exact conversion (``units``); a unit of another dimension never matches.
    A standard deviation converts by scale only (no zero offset)."""
    try:
        bounds = units.unit_bounds(operator, text, uom, affine=field != "sDev")
    except units.UnitError as exc:
        raise CaptureError("INVALID_PARAMETER", f"{name} takes a number: {exc}", 400) from exc
    if not bounds:
        return "0", []
    clauses = " OR ".join(f"(json_extract({element}, '$.uom') = ? AND json_extract({element}, '$.{field}') {sql} ?)"
                          for _, sql, _ in bounds)
    return (f"json_type({element}, '$.{field}') IN ('integer', 'real') AND ({clauses})",
            [part for code, _, bound in bounds for part in (code, bound)])


def finite_number(name: str, text: str) -> float:
    """A query parameter's number; 400 INVALID_PARAMETER for anything else (NaN and infinities too)."""
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if number != number or number in (float("inf"), float("-inf")):
        raise CaptureError("INVALID_PARAMETER", f"{name} takes a number", 400)
    return number


def julian_day(name: str, text: str) -> str:
    """A time parameter as the UTC text SQLite's ``julianday`` reads; 400 if it is not a time with a zone."""
    try:
        return normalise_time(text)
    except EventHashError as exc:
        raise CaptureError("INVALID_PARAMETER", f"{name} takes a date and time with a zone: {exc}", 400) from exc


QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
QUANTITY_OPERATORS = {"EQ_quantity": "=", "GT_quantity": ">", "GE_quantity": ">=", "LT_quantity": "<",
                      "LE_quantity": "<="}


def _master_data_elements(vocabulary_list: Any) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(vocabulary type, normalised element id, {attribute id: text}) of an EPCIS ``vocabularyList``."""
    if not isinstance(vocabulary_list, list):
        raise CaptureError("MASTER_DATA_INVALID", "vocabularyList must be a list", 400)
    count = 0
    for vocabulary in vocabulary_list:
        if not isinstance(vocabulary, Mapping) or not isinstance(vocabulary.get("type"), str) \
                or not 0 < len(vocabulary["type"]) <= 100:
            raise CaptureError("MASTER_DATA_INVALID", "every vocabulary needs a type (at most 100 characters)", 400)
        for element in vocabulary.get("vocabularyElementList") or []:
            if not isinstance(element, Mapping) or not isinstance(element.get("id"), str):
                raise CaptureError("MASTER_DATA_INVALID", "every vocabulary element needs an id", 400)
            attributes: dict[str, str] = {}
            for attribute in element.get("attributes") or []:
                if not isinstance(attribute, Mapping) or not isinstance(attribute.get("id"), str):
                    raise CaptureError("MASTER_DATA_INVALID", "every attribute needs an id", 400)
                value = attribute.get("attribute")
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                if len(text) > MAX_ATTRIBUTE_TEXT:
                    raise CaptureError("MASTER_DATA_INVALID", f"attribute {attribute['id']!r} is longer than "
                                       f"{MAX_ATTRIBUTE_TEXT} characters", 400)
                attributes[attribute["id"]] = text
            children = element.get("children")
            if children is not None:
                if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
                    raise CaptureError("MASTER_DATA_INVALID", "children must be a list of identifiers", 400)
                try:
                    attributes[CHILDREN_ATTRIBUTE] = json.dumps(sorted({normalise(c) for c in children}))
                except IdentifierError as exc:
                    raise CaptureError("MASTER_DATA_INVALID", str(exc), 400) from exc
            count += 1
            if count > MASTER_DATA_LIMIT:
                raise CaptureError("MASTER_DATA_INVALID", f"at most {MASTER_DATA_LIMIT} elements at once", 413)
            try:
                element_id = normalise(element["id"])
            except IdentifierError as exc:
                raise CaptureError("MASTER_DATA_INVALID", str(exc), 400) from exc
            if len(element_id) > MAX_ELEMENT_ID:
                raise CaptureError("MASTER_DATA_INVALID", f"an element id has at most {MAX_ELEMENT_ID} characters", 400)
            yield vocabulary["type"], element_id, attributes


def master_data_items(elements: Sequence[tuple[str, str, dict[str, str]]]) -> list[list[str]]:
    """The ``master_data`` contract argument: [element id, vocabulary type, attributes as canonical JSON]."""
    return [[element_id, vocabulary, canonical_json(attributes)] for vocabulary, element_id, attributes in elements]


def _lot_of(key: str, event: Mapping[str, Any]) -> str | None:
    """The lot (LGTIN DL) an event's ILMD assigns to the serialised item ``key`` it creates, if any."""
    ilmd = event.get("ilmd")
    if not isinstance(ilmd, Mapping) or "/21/" not in key or class_of(key) is None:
        return None
    created = {normalise(epc) for name in ("epcList", "outputEPCList") for epc in event.get(name) or []}
    if key not in created:
        return None
    for name, value in ilmd.items():
        if (name == "lotNumber" or name.endswith(":lotNumber")) and isinstance(value, str) and value:
            try:
                return normalise(f"{class_of(key)}/10/{quote(value, safe='')}")
            except IdentifierError:
                return None
    return None


def _disaggregated_at(rows: Sequence[EventRow], parent: str, after: int) -> int | None:
    """When the child the ``rows`` were looked up by left ``parent``: the first AggregationEvent DELETE
    naming it as a child (``rows`` are every event naming it) at or after ``after``."""
    for row in rows:
        if row.event_type == "AggregationEvent" and ROLE_CHILD in row.roles and row.event_time >= after \
                and row.event.get("action") == "DELETE" and normalise(row.event.get("parentID", "")) == parent:
            return row.event_time
    return None


@functools.lru_cache(maxsize=4096)
def _urn_of(item: str, prefixes: tuple[str, ...]) -> str | None:
    """``to_urn`` of an item, remembered per set of registered prefixes (the same items are asked for again)."""
    return to_urn(item, prefixes)


def _is_class_pattern(key: str) -> bool:
    """A GTIN-level DL (``…/01/{gtin}``) stands for every lot and serial of that GTIN."""
    return class_of(key) == key


def _covers(item: str, output: str) -> bool:
    """An output given at class level (GTIN or lot) covers the serialised items of that class."""
    if _is_class_pattern(output):
        return item.startswith(output + "/")
    return False


__all__ = ["EVENT_TYPES", "CaptureError", "MountedOrganisations", "PreparedEvent", "settings_from_mount", "TraceabilityService", "TraceabilitySettings", "canonical_json",
           "prepare_document", "prepare_event"]
