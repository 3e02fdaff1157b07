"""The network's own RFC 3161 timestamp authority, and verification of timestamp tokens.

Each network has a TSA key and a self-issued two-level PKI (ECDSA P-256): a CA certificate and a
TSA certificate signed by it, carrying the *critical* extended key usage id-kp-timeStamping as RFC
3161 §2.3 demands. A token is a CMS SignedData (RFC 5652) whose encapsulated content is a TSTInfo;
its signed attributes are content-type, signing-time, message-digest and ESS signing-certificate-v2
(RFC 5816) naming the TSA certificate, which the token carries, so that

    openssl ts -verify -data FILE -in token.tsr -CAfile ca.pem

accepts it. :func:`verify_token` performs the same checks in Python (imprint, CMS signature, ESS
certificate binding, chain to a trusted CA, EKU, validity at genTime) for offline verifiers.
:class:`TimestampAuthority` also answers RFC 3161 requests over HTTP (``application/timestamp-query``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_POLICY = "1.3.6.1.4.1.55555.1.1"
"""The TSA policy OID put in every TSTInfo (a private-arc OID naming Jadechain's TSA policy)."""
QUERY_CONTENT_TYPE = "application/timestamp-query"
REPLY_CONTENT_TYPE = "application/timestamp-reply"


_OID_SIGNED_DATA = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()
_OID_TST_INFO = core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


class TimestampError(Exception):
    """A token that cannot be issued, fetched, parsed or verified; the message names the check."""


@dataclass(frozen=True)
class TokenInfo:
    """What a verifier reads from a token (``gen_time`` is ISO 8601 UTC)."""

    serial: int
    gen_time: str
    tsa_name: str
    policy: str
    hash_algorithm: str
    imprint: str
    signer: str

    def to_json(self) -> dict[str, Any]:
        return {"serial": str(self.serial), "serial_hex": format(self.serial, "x"), "gen_time": self.gen_time,
                "tsa": self.tsa_name, "policy": self.policy, "hash_algorithm": self.hash_algorithm,
                "imprint": self.imprint, "signer": self.signer}


# --- the authority ------------------------------------------------------------------------------------

def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def create_tsa_pki(network: str, *, valid_days: int = 3650) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, x509.Certificate]:
    """A fresh CA and TSA certificate for ``network``: (TSA private key, TSA certificate, CA certificate)."""
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=valid_days)
    organization = f"Jadechain network {network}"[:64]
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"Jadechain Evidence CA {network}"[:64], organization)
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa_cert = (
        x509.CertificateBuilder().subject_name(_name(f"Jadechain TSA {network}"[:64], organization))
        .issuer_name(ca_name).public_key(tsa_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return tsa_key, tsa_cert, ca_cert


class TimestampAuthority:
    """Issues RFC 3161 tokens with one key and certificate. Thread-safe."""

    def __init__(self, key: Any, certificate: x509.Certificate, ca_certificate: x509.Certificate,
                 policy: str = DEFAULT_POLICY) -> None:
        self.key = key
        self.certificate = certificate
        self.ca_certificate = ca_certificate
        self.policy = policy
        self._cert_der = certificate.public_bytes(serialization.Encoding.DER)
        self._asn1_cert = asn1_x509.Certificate.load(self._cert_der)
        self._lock = threading.Lock()
        self._last_serial = 0
        # Constant DER parts of every token.
        self._tsa_field = _tlv(0xA0, _tlv(0xA4, self._asn1_cert.subject.dump()))
        self._sid = cms.IssuerAndSerialNumber({"issuer": self._asn1_cert.issuer,
                                               "serial_number": self._asn1_cert.serial_number}).dump()
        self._digest_algorithm = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
        self._signature_algorithm_der = algos.SignedDigestAlgorithm({"algorithm": self._signature_algorithm()}).dump()
        self._content_type_attribute = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()
        self._ess_attribute = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [
            {"certs": [{"cert_hash": hashlib.sha256(self._cert_der).digest()}]}]}).dump()

    @classmethod
    def load_or_create(cls, directory: str | os.PathLike[str], network: str) -> "TimestampAuthority":
        """The TSA whose key and certificates live in ``directory`` (created on first use, key mode 0600)."""
        path = Path(directory)
        key_path, cert_path, ca_path = path / "tsa-key.pem", path / "tsa.pem", path / "ca.pem"
        if not key_path.exists():
            path.mkdir(parents=True, exist_ok=True)
            key, cert, ca = create_tsa_pki(network)
            ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), None)
        return cls(loaded, x509.load_pem_x509_certificate(cert_path.read_bytes()),
                   x509.load_pem_x509_certificate(ca_path.read_bytes()))

    @property
    def ca_pem(self) -> bytes:
        return self.ca_certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def name(self) -> str:
        return self.certificate.subject.rfc4514_string()

    def _next_serial(self) -> int:
        # Unique and unpredictable: time in ms in the high bits, 64 random bits below.
        with self._lock:
            serial = (int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000) << 64) | secrets.randbits(64)
            serial = max(serial, self._last_serial + 1)
            self._last_serial = serial
            return serial

    def issue(self, imprint: bytes, hash_algorithm: str = "sha256", *, nonce: int | None = None,
              include_certificate: bool = True, policy: str | None = None) -> bytes:
        """A DER timestamp token (CMS ContentInfo) over ``imprint`` (the hash of the stamped data)."""
        expected = {"sha256": 32, "sha384": 48, "sha512": 64, "sm3": 32}.get(hash_algorithm)
        if expected is None or len(imprint) != expected:
            raise TimestampError(f"unsupported imprint: {hash_algorithm} of {len(imprint)} bytes")
        now = dt.datetime.now(dt.timezone.utc)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        info: dict[str, Any] = {
            "version": "v1",
            "policy": policy or self.policy,
            "message_imprint": {"hash_algorithm": {"algorithm": hash_algorithm}, "hashed_message": imprint},
            "serial_number": self._next_serial(),
            "gen_time": now,
            "accuracy": {"seconds": 1},
        }
        if nonce is not None:
            info["nonce"] = nonce
        # The outer layers are assembled as DER here: asn1crypto re-encodes an embedded certificate
        # field by field (tens of ms per token), while every constant part can be encoded once.
        # TSTInfo's ``tsa`` field ([0] GeneralName) follows ``nonce``, so it is appended to the contents.
        tst_der = _tlv(0x30, tsp.TSTInfo(info).contents + self._tsa_field)
        attributes = sorted([
            self._content_type_attribute,
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time(name="utc_time", value=now)]}).dump(),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]}).dump(),
            self._ess_attribute,
        ])
        signed_attributes = b"".join(attributes)
        signature = self._sign(_tlv(0x31, signed_attributes))
        signer_info = _tlv(0x30, b"\x02\x01\x01" + self._sid + self._digest_algorithm + _tlv(0xA0, signed_attributes)
                           + self._signature_algorithm_der + _tlv(0x04, signature))
        encapsulated = _tlv(0x30, _OID_TST_INFO + _tlv(0xA0, _tlv(0x04, tst_der)))
        certificates = _tlv(0xA0, self._cert_der) if include_certificate else b""
        signed_data = _tlv(0x30, b"\x02\x01\x03" + _tlv(0x31, self._digest_algorithm) + encapsulated + certificates
                           + _tlv(0x31, signer_info))
        return _tlv(0x30, _OID_SIGNED_DATA + _tlv(0xA0, signed_data))

    def _signature_algorithm(self) -> str:
        return "sha256_ecdsa" if isinstance(self.key, ec.EllipticCurvePrivateKey) else "sha256_rsa"

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        raise TimestampError("unsupported TSA key type")

    def respond(self, request_der: bytes) -> bytes:
        """Answer a DER TimeStampReq with a DER TimeStampResp (RFC 3161 §2.4.2)."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            hashed = imprint["hashed_message"].native
            nonce = request["nonce"].native
            token = self.issue(hashed, algorithm, nonce=nonce, include_certificate=bool(request["cert_req"].native),
                               policy=request["req_policy"].native)
        except (ValueError, TypeError, KeyError, TimestampError) as exc:
            status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [str(exc)[:200]],
                                        "fail_info": {"bad_request"}}).dump()
            # TimeStampResp ::= SEQUENCE { status, timeStampToken OPTIONAL } (asn1crypto wants the token)
            return core.Sequence.load(b"\x30" + _der_length(len(status)) + status).dump()
        return tsp.TimeStampResp({"status": {"status": "granted"},
                                  "time_stamp_token": cms.ContentInfo.load(token)}).dump()


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


# --- requests to a TSA --------------------------------------------------------------------------------

def make_request(imprint: bytes, *, nonce: int | None = None, hash_algorithm: str = "sha256") -> tuple[bytes, int]:
    """A DER TimeStampReq asking for the TSA certificate; returns it and its nonce."""
    nonce = nonce if nonce is not None else secrets.randbits(63)
    request = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": hash_algorithm}, "hashed_message": imprint},
        "nonce": nonce,
        "cert_req": True,
    })
    return request.dump(), nonce


def token_from_response(response_der: bytes, *, imprint: bytes, nonce: int | None) -> bytes:
    """The token of a TimeStampResp after checking status, imprint and nonce."""
    try:
        outer = core.Sequence.load(response_der)
        status_info = tsp.PKIStatusInfo.load(outer[0].dump())
        status = status_info["status"].native
    except (ValueError, TypeError, IndexError) as exc:
        raise TimestampError(f"TSA response: not a TimeStampResp ({exc})") from exc
    if status not in ("granted", "granted_with_mods"):
        text = status_info["status_string"].native
        raise TimestampError(f"TSA refused the request: {status} {text or ''}".strip())
    response = tsp.TimeStampResp.load(response_der)
    token = response["time_stamp_token"].dump()
    info = _tst_info(cms.ContentInfo.load(token))
    if info["message_imprint"]["hashed_message"].native != imprint:
        raise TimestampError("TSA response: the token stamps another imprint")
    if nonce is not None and info["nonce"].native != nonce:
        raise TimestampError("TSA response: nonce differs from the request's")
    return token


def response_from_token(token: bytes) -> bytes:
    """A granted TimeStampResp wrapping ``token`` (the usual ``.tsr`` file that ``openssl ts`` reads)."""
    return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": cms.ContentInfo.load(token)}).dump()


def token_from_file(data: bytes) -> bytes:
    """The token in a ``.tsr`` file, which may hold a TimeStampResp or the bare token."""
    try:
        content_info = cms.ContentInfo.load(data)
        if content_info["content_type"].native == "signed_data":
            return data
    except (ValueError, TypeError):
        pass
    response = tsp.TimeStampResp.load(data)
    return response["time_stamp_token"].dump()


MAX_TSA_REPLY_BYTES = 256 * 1024


def fetch_token(url: str, imprint: bytes, *, timeout: float = 10.0) -> bytes:
    """A token over ``imprint`` (SHA-256) from an RFC 3161 TSA at ``url`` (HTTP POST).

    No redirect is followed, the reply is read up to 256 KiB within ``timeout``, and errors say only
    what kind of failure happened — never a status, an address or a socket error (which would turn
    a configurable URL into a port scanner).
    """
    import httpx

    if not url.lower().startswith(("http://", "https://")):
        raise TimestampError("external TSA: only http and https URLs")
    request, nonce = make_request(imprint)
    body = bytearray()
    try:
        with httpx.Client(follow_redirects=False, timeout=httpx.Timeout(timeout), trust_env=False) as client:
            with client.stream("POST", url, content=request, headers={"Content-Type": QUERY_CONTENT_TYPE}) as reply:
                if reply.status_code != 200:
                    raise TimestampError("external TSA: the service did not issue a token")
                for chunk in reply.iter_bytes():
                    body += chunk
                    if len(body) > MAX_TSA_REPLY_BYTES:
                        raise TimestampError("external TSA: the reply is too large")
    except httpx.HTTPError as exc:
        raise TimestampError("external TSA: unreachable or too slow") from exc
    try:
        return token_from_response(bytes(body), imprint=imprint, nonce=nonce)
    except TimestampError:
        raise
    except Exception as exc:
        raise TimestampError("external TSA: the reply is not a valid timestamp response") from exc


# --- reading and verifying tokens -----------------------------------------------------------------------

def _tst_info(content_info: cms.ContentInfo) -> tsp.TSTInfo:
    if content_info["content_type"].native != "signed_data":
        raise TimestampError("token: not a CMS SignedData")
    encap = content_info["content"]["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise TimestampError("token: encapsulated content is not a TSTInfo")
    return encap["content"].parsed


_SHORT_NAMES = {"common_name": "CN", "organization_name": "O", "organizational_unit_name": "OU",
                "country_name": "C", "locality_name": "L", "state_or_province_name": "ST"}


def _rdn_text(name: Any) -> str:
    return ", ".join(f"{_SHORT_NAMES.get(key, key)}={value}" for key, value in reversed(list(name.native.items())))


def _general_name_text(name: Any) -> str:
    if name is None or name.native is None:
        return ""
    if name.name == "directory_name":
        return _rdn_text(name.chosen)
    return str(name.native)


def read_token(token: bytes) -> TokenInfo:
    """The summary of a token (no verification)."""
    try:
        content_info = cms.ContentInfo.load(token)
        info = _tst_info(content_info)
        signer = ""
        signed_data = content_info["content"]
        certificates = signed_data["certificates"].native and list(signed_data["certificates"])
        if certificates:
            signer = _rdn_text(certificates[0].chosen.subject)
        gen_time = info["gen_time"].native.astimezone(dt.timezone.utc)
        return TokenInfo(
            serial=int(info["serial_number"].native), gen_time=gen_time.isoformat().replace("+00:00", "Z"),
            tsa_name=_general_name_text(info["tsa"]) or signer, policy=info["policy"].dotted,
            hash_algorithm=info["message_imprint"]["hash_algorithm"]["algorithm"].native,
            imprint=info["message_imprint"]["hashed_message"].native.hex(), signer=signer,
        )
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TimestampError(f"token: malformed ({exc})") from exc


def _check_cert_signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    public = issuer.public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            assert cert.signature_hash_algorithm is not None
            public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(public, rsa.RSAPublicKey):
            assert cert.signature_hash_algorithm is not None
            public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def verify_token(token: bytes, *, imprint: bytes, trusted_cas: Sequence[x509.Certificate],
                 extra_certificates: Sequence[x509.Certificate] = ()) -> TokenInfo:
    """Check a token over ``imprint`` (SHA-256 of the stamped data) against trusted CA certificates.

    Checks: the message imprint, the CMS message digest of the TSTInfo, the signature over the signed
    attributes, the ESS signing-certificate(-v2) binding, the chain of the TSA certificate to a
    trusted CA (one level, or the TSA certificate trusted directly), its critical timeStamping EKU, and
    its validity at genTime. Raises :class:`TimestampError` naming the first failed check.
    """
    try:
        return _verify_token(token, imprint, trusted_cas, extra_certificates)
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise TimestampError(f"token: malformed ({type(exc).__name__}: {exc})") from exc


def _verify_token(token: bytes, imprint: bytes, trusted_cas: Sequence[x509.Certificate],
                  extra_certificates: Sequence[x509.Certificate]) -> TokenInfo:
    content_info = cms.ContentInfo.load(token)
    info = _tst_info(content_info)
    summary = read_token(token)
    imprint_algorithm = info["message_imprint"]["hash_algorithm"]["algorithm"].native
    if imprint_algorithm != "sha256":
        raise TimestampError(f"token: imprint algorithm {imprint_algorithm}, expected sha256")
    if info["message_imprint"]["hashed_message"].native != imprint:
        raise TimestampError("token: message imprint differs from the record hash")
    signed_data = content_info["content"]
    signer_infos = list(signed_data["signer_infos"])
    if len(signer_infos) != 1:
        raise TimestampError("token: expected exactly one signer")
    signer = signer_infos[0]
    content_bytes = signed_data["encap_content_info"]["content"].contents
    attributes = {attr["type"].native: attr["values"] for attr in signer["signed_attrs"]}
    digest_algorithm = signer["digest_algorithm"]["algorithm"].native
    if digest_algorithm not in ("sha256", "sha384", "sha512"):
        raise TimestampError(f"token: unsupported digest algorithm {digest_algorithm}")
    digest = hashlib.new(digest_algorithm, content_bytes).digest()
    if attributes.get("content_type") is None or attributes["content_type"][0].native != "tst_info":
        raise TimestampError("token: signed content-type attribute is not id-ct-TSTInfo")
    if attributes.get("message_digest") is None or attributes["message_digest"][0].native != digest:
        raise TimestampError("token: message-digest attribute differs from the TSTInfo's digest")

    certificates = [x509.load_der_x509_certificate(c.chosen.dump()) for c in (signed_data["certificates"] or [])
                    if c.name == "certificate"]
    certificates += list(extra_certificates) + list(trusted_cas)
    sid = signer["sid"]
    tsa_cert = None
    for cert in certificates:
        asn1 = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        if sid.name == "issuer_and_serial_number":
            if asn1.issuer == sid.chosen["issuer"] and asn1.serial_number == sid.chosen["serial_number"].native:
                tsa_cert = cert
                break
        elif asn1.key_identifier == sid.chosen.native:
            tsa_cert = cert
            break
    if tsa_cert is None:
        raise TimestampError("token: the signer's certificate is neither in the token nor given")

    signed_bytes = signer["signed_attrs"].dump()
    signed_bytes = b"\x31" + signed_bytes[1:]  # signed over the SET OF encoding, not the [0] tag
    public = tsa_cert.public_key()
    hash_classes: dict[str, type[hashes.SHA256] | type[hashes.SHA384] | type[hashes.SHA512]] = {
        "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
    hash_class = hash_classes[digest_algorithm]
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signer["signature"].native, signed_bytes, ec.ECDSA(hash_class()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signer["signature"].native, signed_bytes, padding.PKCS1v15(), hash_class())
        else:
            raise TimestampError("token: unsupported TSA key type")
    except InvalidSignature as exc:
        raise TimestampError("token: the TSA signature does not verify") from exc

    cert_der = tsa_cert.public_bytes(serialization.Encoding.DER)
    if attributes.get("signing_certificate_v2") is not None:
        ess = attributes["signing_certificate_v2"][0]["certs"][0]
        ess_algorithm = ess["hash_algorithm"]["algorithm"].native
        if ess["cert_hash"].native != hashlib.new(ess_algorithm, cert_der).digest():
            raise TimestampError("token: ESS signing-certificate-v2 names another certificate")
    elif attributes.get("signing_certificate") is not None:
        ess = attributes["signing_certificate"][0]["certs"][0]
        if ess["cert_hash"].native != hashlib.sha1(cert_der).digest():
            raise TimestampError("token: ESS signing-certificate names another certificate")
    else:
        raise TimestampError("token: no ESS signing-certificate attribute")

    try:
        eku = tsa_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as exc:
        raise TimestampError("TSA certificate: no extended key usage") from exc
    if not eku.critical or list(eku.value) != [x509.ObjectIdentifier("1.3.6.1.5.5.7.3.8")]:
        raise TimestampError("TSA certificate: extended key usage is not the critical id-kp-timeStamping alone")
    gen_time = info["gen_time"].native
    if not (tsa_cert.not_valid_before_utc <= gen_time <= tsa_cert.not_valid_after_utc):
        raise TimestampError("TSA certificate: not valid at the token's genTime")
    trusted_ders = {ca.public_bytes(serialization.Encoding.DER) for ca in trusted_cas}
    if cert_der not in trusted_ders and not any(_check_cert_signed_by(tsa_cert, ca) for ca in trusted_cas):
        raise TimestampError("TSA certificate: not issued by a trusted CA")
    return summary


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    return list(x509.load_pem_x509_certificates(pem))


__all__ = [
    "DEFAULT_POLICY", "QUERY_CONTENT_TYPE", "REPLY_CONTENT_TYPE", "TimestampAuthority", "TimestampError",
    "TokenInfo", "create_tsa_pki", "fetch_token", "load_certificates", "make_request", "read_token", "response_from_token", "token_from_file",
    "token_from_response", "verify_token",
]
