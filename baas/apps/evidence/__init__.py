"""Evidence preservation: file fingerprints on chain with certified time, multi-party signatures,
RFC 3161 timestamps from the network's own TSA, certificates, and offline-verifiable bundles.

* :mod:`records` — the record core, record hash, party signatures, the batch Merkle tree.
* :mod:`tsa` — the network's timestamp authority (RFC 3161 / CMS) and token verification.
* :mod:`service` — records on chain through a gateway (KV entries of an evidence data account).
* :mod:`app` — the HTTP API and the public verification page (``create_app(settings)``).
* :mod:`pdf`, :mod:`bundle` — the certificate and the evidence zip; :func:`verify_evidence_zip`.
* :mod:`client` — a client for parties; :mod:`server` — run the app in a thread.

Run standalone: ``python -m baas.apps.evidence --gateway URL --ledger HASH --key KEYSTORE --port P``.
"""

from baas.apps.evidence.bundle import EvidenceReport, build_evidence_zip, verify_consistency_from, verify_evidence_zip
from baas.apps.evidence.records import EvidenceError
from baas.apps.evidence.service import EvidenceService, EvidenceSettings


def create_app(settings):  # type: ignore[no-untyped-def]
    """The FastAPI app of the evidence service (imported lazily: offline verifiers need no FastAPI).

    ``settings``: :class:`EvidenceSettings`, or the control plane's ``AppMountSettings``."""
    from baas.apps.evidence.app import create_app as _create_app

    return _create_app(settings)


__all__ = [
    "EvidenceError", "EvidenceReport", "EvidenceService", "EvidenceSettings", "build_evidence_zip", "create_app",
    "verify_consistency_from", "verify_evidence_zip",
]
