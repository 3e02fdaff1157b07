"""Product traceability on Jadechain: GS1 EPCIS 2.0 events, CBV 2.0 event hashes, proofs for consumers.

Design
======

Model. The five EPCIS 2.0 event types (Object, Aggregation, Transformation, Transaction,
Association) in their JSON-LD form, with what / when / where / why fields (``epcList``,
``quantityList``, ``parentID``/``childEPCs``, input/output lists, ``action``, ``bizStep``,
``disposition``, ``persistentDisposition``, ``readPoint``, ``bizLocation``, ``bizTransactionList``,
sources/destinations, ``sensorElementList``, ``ilmd``, ``certificationInfo``, ``errorDeclaration``).
Documents are validated with our JSON Schema (:mod:`.schema`; GS1's own schema is not packaged on
PyPI). Identifiers may be EPC URNs or GS1 Digital Link URIs and CBV values bare words, URNs or Web
URIs; :mod:`.identifiers` and :mod:`.cbv` normalise them (URN ↔ DL for SGTIN, LGTIN, SSCC, SGLN,
PGLN, GRAI, GIAI, GDTI) so a query in either form finds the same events. The canonical form is the
*Digital Link* (what the CBV 2.0 hash algorithm prescribes and what needs no company-prefix table);
URNs are derived for display with the registered prefix lengths.

Event hash. :mod:`.eventhash` is our implementation of the CBV 2.0 EPCIS event hash ID
(``ni:///sha-256;<hex>?ver=CBV2.0``). It reproduces GS1's published reference vector (the
single-event document of GS1's ``epcis-event-hash-generator``); deviations are listed there.

On chain. One contract (:mod:`.contract`) deployed by the platform admin. A capture is ONE
transaction per EPCIS document invoking ``capture(events)``, so a document is accepted whole or not
at all. Per event the contract receives the hash, the SHA-256 digest of the event's canonical JSON,
the event's GS1 keys and the canonical JSON itself; it writes ``e:<hash hex>`` → ``{d: digest, o:
capturing organisation}`` with expected version -1, so a duplicate is refused by the ledger's
versioning. The sandbox has no hash function, so the contract cannot recompute SHA-256: it checks
the hash's form, uniqueness and permissions; the event JSON is in the transaction body (signed by
the capturing organisation, covered by the transaction accumulator) and every indexer recomputes
hash, digest and GS1 keys from it and refuses records that do not match (a key list that leaves out
one of the event's keys would have dodged the contract's prefix check). EPCIS master data goes on
chain too (``master_data``: the same prefix rule per element, in the capture's transaction when a
document's header carries it); the indexer ignores elements whose id is not in canonical form. The state holds ~150 bytes per
event (not the document), which keeps 10^6 events affordable in the state tree.

Corrections. An EPCIS error declaration repeats the erroneous event plus ``errorDeclaration``; it
has the SAME event hash (``errorDeclaration`` is outside the hash). The contract records it under
``x:<hash hex>`` (once), only for an event already on chain; queries return the event with its
``errorDeclaration`` and the portal shows it struck through. Corrective events are new events.

Permissions. Brands' GS1 company prefixes are registered by the platform admin (``register_brand``,
governed: only the admin key named at deployment may do it); a brand authorises partners per prefix
(``set_partner``). ``capture`` refuses an event whose GS1 key (the company digits of GTIN / SSCC /
GLN / GRAI / GIAI / GDTI ...) has no registered prefix, or whose prefix's brand has not authorised the
signer. Non-GS1 identifiers (private URIs) are not governed. Organisations sign with their own keys;
the app holds them in custody behind per-organisation API tokens.

Genealogy. ``GET /traceability/items/{id}/history`` walks, breadth first: the item's own events;
its containers' events while it was inside them (AggregationEvent ADD … DELETE, recursively: case →
pallet → container); the history of its transformation inputs up to the transformation (also across
events sharing a ``transformationID``); and lot-level events of the lot its creating event assigned
it (ILMD ``lotNumber``), e.g. a lab inspection or a recall of the whole lot.

Index. :mod:`.store` (SQLite, stdlib): an ``events`` table (canonical JSON + filter columns) and a
``keys`` table (identifier, role, event) that makes item / lot / class / parent / input / output
look-ups one B-tree range; columns indexed by bizStep, readPoint, bizLocation and time. The index is
fed by the gateway's SSE stream (``jadechain.sdk`` subscribe, resumable from the stored ``Last-Event-ID``)
and, for read-your-writes, by the capture call itself (idempotent). Deleting the file and replaying
the chain rebuilds it; queries never scan the chain.

APIs. :func:`.app.create_app` (FastAPI): capture, EPCIS query, genealogy, proofs, QR codes, the
consumer portal ``/t/{Digital Link path}`` with a "verified on chain" badge backed by a proof bundle
(``ledger.proofs`` entry bundle of the event's record, checked against the pinned validator set,
downloadable for ``jadechain verify``), and a scan count. Standalone:
``python -m baas.apps.traceability --gateway URL --ledger HASH --key KEYSTORE --port P``.
"""


def create_app(settings, service=None):  # type: ignore[no-untyped-def]
    """The traceability app (FastAPI): what the BaaS control plane mounts (``settings`` is its
    ``AppMountSettings``) and what ``python -m baas.apps.traceability`` serves (a TraceabilitySettings)."""
    from baas.apps.traceability.app import create_app as _create_app

    return _create_app(settings, service)


__all__ = ["create_app"]
