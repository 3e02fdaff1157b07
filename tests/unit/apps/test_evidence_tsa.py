"""The network TSA: RFC 3161 tokens that OpenSSL and our own verifier accept, and refusals."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from baas.apps.evidence import tsa as tsa_module
from baas.apps.evidence.tsa import TimestampAuthority, TimestampError, verify_token

DATA = b'{"record":"core bytes"}'


@pytest.fixture(scope="module")
def tsa_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tsa")


@pytest.fixture(scope="module")
def authority(tsa_dir: Path) -> TimestampAuthority:
    return TimestampAuthority.load_or_create(tsa_dir, "unit-net")


def test_tsa_certificate_has_critical_timestamping_eku_and_chains_to_ca(authority: TimestampAuthority) -> None:
    eku = authority.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]
    assert authority.certificate.issuer == authority.ca_certificate.subject
    basic = authority.ca_certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.value.ca


def test_tsa_key_and_certificates_persist(authority: TimestampAuthority, tsa_dir: Path) -> None:
    again = TimestampAuthority.load_or_create(tsa_dir, "unit-net")
    assert again.certificate == authority.certificate
    assert (tsa_dir / "tsa-key.pem").stat().st_mode & 0o077 == 0


def test_token_verifies_in_python_with_its_summary(authority: TimestampAuthority) -> None:
    imprint = hashlib.sha256(DATA).digest()
    token = authority.issue(imprint)
    info = verify_token(token, imprint=imprint, trusted_cas=[authority.ca_certificate])
    assert info.imprint == imprint.hex() and info.hash_algorithm == "sha256"
    assert "Jadechain TSA unit-net" in info.tsa_name and info.gen_time.endswith("Z")
    assert authority.issue(imprint) != token  # fresh serial every time
    assert verify_token(authority.issue(imprint), imprint=imprint, trusted_cas=[authority.ca_certificate]).serial != info.serial


def test_token_refused_for_other_data_other_ca_or_tampering(authority: TimestampAuthority, tmp_path: Path) -> None:
    imprint = hashlib.sha256(DATA).digest()
    token = authority.issue(imprint)
    with pytest.raises(TimestampError, match="imprint"):
        verify_token(token, imprint=hashlib.sha256(b"other").digest(), trusted_cas=[authority.ca_certificate])
    stranger = TimestampAuthority.load_or_create(tmp_path / "other", "other-net")
    with pytest.raises(TimestampError, match="trusted CA"):
        verify_token(token, imprint=imprint, trusted_cas=[stranger.ca_certificate])
    position = token.find(imprint)
    tampered = token[:position] + bytes([imprint[0] ^ 1]) + token[position + 1:]
    with pytest.raises(TimestampError):
        verify_token(tampered, imprint=tampered[position:position + 32], trusted_cas=[authority.ca_certificate])


def test_rfc3161_request_response_round_trip(authority: TimestampAuthority) -> None:
    imprint = hashlib.sha256(DATA).digest()
    request, nonce = tsa_module.make_request(imprint)
    token = tsa_module.token_from_response(authority.respond(request), imprint=imprint, nonce=nonce)
    verify_token(token, imprint=imprint, trusted_cas=[authority.ca_certificate])
    with pytest.raises(TimestampError, match="nonce"):
        tsa_module.token_from_response(authority.respond(request), imprint=imprint, nonce=nonce + 1)
    with pytest.raises(TimestampError, match="refused"):
        tsa_module.token_from_response(authority.respond(b"garbage"), imprint=imprint, nonce=nonce)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_openssl_ts_verify_accepts_token_and_rejects_other_data(authority: TimestampAuthority, tmp_path: Path) -> None:
    data_file, token_file, ca_file = tmp_path / "record-core.json", tmp_path / "token.tsr", tmp_path / "ca.pem"
    data_file.write_bytes(DATA)
    token_file.write_bytes(tsa_module.response_from_token(authority.issue(hashlib.sha256(DATA).digest())))
    ca_file.write_bytes(authority.ca_pem)
    ok = subprocess.run(["openssl", "ts", "-verify", "-data", str(data_file), "-in", str(token_file),
                         "-CAfile", str(ca_file)], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stdout + ok.stderr
    data_file.write_bytes(DATA + b" ")
    bad = subprocess.run(["openssl", "ts", "-verify", "-data", str(data_file), "-in", str(token_file),
                          "-CAfile", str(ca_file)], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0
