"""Private records read with a key in custody: the control plane opens one envelope, for its own users.

An organisation that keeps its keys in custody can still be a reader of private records (the
record's envelope is addressed to the organisation's custody key). Custody never sees the
record: the caller sends one envelope (a few dozen bytes read from the ledger) and gets back that
grade's data key, then decrypts locally. Only users of the owning organisation may ask (a
platform administrator may not), only organisation keys answer (never node keys), only a data
key comes back (16 or 32 bytes: custody is not a general decryption oracle), and every opening
and every refusal is in the audit log with what the caller said it was reading.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from baas import audit
from baas.deps import SessionDep, UserDep, client_of, get_or_404, require_org_role
from baas.errors import Forbidden, InvalidRequest
from baas.models import CustodyKey, Organization
from ledger.crypto.envelope import unwrap_key
from ledger.errors import CryptoError

router = APIRouter(prefix="/api/v1/organizations", tags=["keys"])

DATA_KEY_SIZES = (16, 32)
"""SM4 and AES-256 data keys: nothing else is returned."""


class UnwrapRequest(BaseModel):
    wrapped_key_hex: str = Field(min_length=2, max_length=4096, description="One reader envelope, hex")
    context: str = Field("", max_length=300,
                         description="What is being read (ledger, account, key, version, grade): recorded in the audit log")


class EnvelopeNotOpened(InvalidRequest):
    code = "ENVELOPE_NOT_OPENED"


@router.post("/{organization_id}/keys/{key_id}/unwrap",
             summary="Open a private-record envelope addressed to a key in custody (own organisation only; audited)")
def unwrap_envelope(organization_id: int, key_id: int, body: UnwrapRequest, request: Request, session: SessionDep,
                    user: UserDep) -> dict[str, Any]:
    require_org_role(user, organization_id, ("org_admin", "operator", "viewer"), platform_admin=False)
    org: Organization = get_or_404(session, Organization, organization_id, "organisation")
    key: CustodyKey = get_or_404(session, CustodyKey, key_id, "key")
    if key.organization_id != org.id:
        raise Forbidden("that key belongs to another organisation")
    if key.purpose != "organization":
        raise Forbidden("only organisation keys open private-record envelopes")
    try:
        wrapped = bytes.fromhex(body.wrapped_key_hex)
    except ValueError:
        raise InvalidRequest("wrapped_key_hex is not hex") from None
    details = {"context": body.context, "envelope_sha256": hashlib.sha256(wrapped).hexdigest()}
    try:
        data_key = unwrap_key(request.app.state.baas.custody.keypair(key).private, wrapped)
        if len(data_key) not in DATA_KEY_SIZES:
            raise CryptoError("the envelope does not hold a data key")
    except CryptoError as error:
        audit.record(session, user, "key.unwrap_refused", f"key:{key.id}", {**details, "reason": error.message},
                     organization_id=org.id, client=client_of(request))
        raise EnvelopeNotOpened(f"the envelope does not open with this key: {error.message}") from None
    audit.record(session, user, "key.unwrapped", f"key:{key.id}", details, organization_id=org.id,
                 client=client_of(request))
    return {"public_key": key.public_key, "data_key_hex": data_key.hex()}
