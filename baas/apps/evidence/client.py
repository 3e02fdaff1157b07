"""A small client of the evidence app for parties: hash locally, sign the record hash, submit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import httpx

from ledger.crypto import KeyPair

from baas.apps.evidence import records
from baas.apps.evidence.records import EvidenceError


class EvidenceClient:
    """``EvidenceClient(url).preserve_file(path, title=..., type=..., parties=[...], signer=key)``."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 60.0) -> None:
        """``token``: the app's write credential (needed to preserve and sign; verifying needs none)."""
        self.base = base_url.rstrip("/") + "/evidence"
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.http = httpx.Client(timeout=timeout, headers=headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "EvidenceClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _json(self, response: httpx.Response) -> Any:
        data = response.json()
        if response.status_code >= 400:
            raise EvidenceError(data.get("code", "HTTP_ERROR"), data.get("message", ""), response.status_code)
        return data

    @staticmethod
    def parties(*named: tuple[str, KeyPair]) -> list[dict[str, str]]:
        return [{"name": name, "public_key": pair.public.base58} for name, pair in named]

    def preserve_file(
        self, path: str | os.PathLike[str], *, title: str, type: str, parties: Sequence[dict[str, str]],
        signer: KeyPair | None = None, description: str | None = None, keep: bool = False,
    ) -> dict[str, Any]:
        """Upload (streamed) a file; the signer's signature is computed over the same core locally."""
        digests, size = records.digest_file(path)
        metadata = records.normalize_metadata(title, type, description, Path(path).name)
        core = records.build_file_core(digests=digests, metadata=metadata, parties=list(parties), size=size)
        form: dict[str, str] = {"title": title, "type": type, "parties": records.canonical_json(list(parties)).decode(),
                                "created_at": str(core["created_at"]), "nonce": core["nonce"]}
        if description:
            form["description"] = description
        if signer is not None:
            form["signatures"] = records.canonical_json([records.sign_record(records.record_hash(core), signer)]).decode()
        with open(path, "rb") as handle:
            response = self.http.post(self.base, data=form, files={"file": (Path(path).name, handle)},
                                      params={"keep": "true"} if keep else None)
        return self._json(response)

    def preserve_digests(self, digests: dict[str, str], *, title: str, type: str, parties: Sequence[dict[str, str]],
                         signer: KeyPair | None = None, size: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"title": title, "type": type, "parties": list(parties), "digests": digests, "size": size}
        prepared = self._json(self.http.post(self.base + "/prepare", json=body))
        body.update(created_at=prepared["core"]["created_at"], nonce=prepared["core"]["nonce"])
        if signer is not None:
            body["signatures"] = [records.sign_record(bytes.fromhex(prepared["record_hash"]), signer)]
        return self._json(self.http.post(self.base, json=body))

    def preserve_batch(self, items: Sequence[dict[str, Any]], *, title: str, type: str,
                       parties: Sequence[dict[str, str]], signer: KeyPair | None = None) -> dict[str, Any]:
        """A batch of already hashed files (``{name, sha256, sm3, size}``) in one transaction."""
        body: dict[str, Any] = {"title": title, "type": type, "parties": list(parties), "items": list(items)}
        prepared = self._json(self.http.post(self.base + "/prepare", json=body))
        body.update(created_at=prepared["core"]["created_at"], nonce=prepared["core"]["nonce"])
        if signer is not None:
            body["signatures"] = [records.sign_record(bytes.fromhex(prepared["record_hash"]), signer)]
        return self._json(self.http.post(self.base + "/batch", json=body))

    def sign(self, record_id: str, signer: KeyPair) -> dict[str, Any]:
        """Add ``signer``'s signature to a record (the record hash is its id)."""
        signature = records.sign_record(bytes.fromhex(record_id), signer)
        return self._json(self.http.post(f"{self.base}/{record_id}/signatures", json={"signatures": [signature]}))

    def get(self, record_id: str) -> dict[str, Any]:
        return self._json(self.http.get(f"{self.base}/{record_id}"))

    def verify_file(self, path: str | os.PathLike[str], record_id: str | None = None, *, proof: bool = True) -> dict[str, Any]:
        data = {"id": record_id} if record_id else {}
        with open(path, "rb") as handle:
            return self._json(self.http.post(self.base + "/verify", data=data, files={"file": (Path(path).name, handle)},
                                             params={"proof": str(proof).lower()}))

    def verify(self, *, proof: bool = True, **body: Any) -> dict[str, Any]:
        return self._json(self.http.post(self.base + "/verify", json=body, params={"proof": str(proof).lower()}))

    def certificate(self, record_id: str, member: int | None = None) -> bytes:
        response = self.http.get(f"{self.base}/{record_id}/certificate.pdf", params={"member": member} if member is not None else None)
        if response.status_code != 200:
            self._json(response)
        return response.content

    def bundle(self, record_id: str, member: int | None = None) -> bytes:
        response = self.http.get(f"{self.base}/{record_id}/bundle", params={"member": member} if member is not None else None)
        if response.status_code != 200:
            self._json(response)
        return response.content
