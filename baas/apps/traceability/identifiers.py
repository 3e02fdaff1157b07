"""GS1 identifiers: EPC URNs ↔ GS1 Digital Link URIs.

Every identifier the app stores, indexes or hashes is first brought to its *canonical* GS1 Digital
Link form (``https://id.gs1.org/01/09521234543213/21/ABC``) – the form the CBV 2.0 event-hash
algorithm prescribes – so that a query given either the URN or any Digital Link spelling (custom
domain, query string, GTIN-13 instead of GTIN-14, extra key qualifiers) finds the same events.

URN → Digital Link needs no outside knowledge. Digital Link → URN needs the GS1 company prefix
length; :func:`to_urn` takes the registered prefixes (the brands' registrations on chain) and
falls back to seven digits, the most common length.

Supported: SGTIN, LGTIN and SGTIN patterns (class level), SSCC, SGLN, PGLN, GRAI, GIAI, GDTI.
Anything else (``geo:`` URIs, private URIs) passes through unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable
from urllib.parse import unquote, urlsplit

DL_ROOT = "https://id.gs1.org"
DEFAULT_PREFIX_LENGTH = 7

# Digital Link primary keys and the qualifiers that keep the finest granularity (CBV 2.0 §8.9 rule 18).
_PRIMARY_KEYS = ("00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017", "8018")
_QUALIFIERS = {"01": ("21", "10", "235"), "414": ("254",), "8006": ("21", "10"), "8010": ("8011",)}
_GTIN_LENGTHS = (8, 12, 13, 14)


class IdentifierError(ValueError):
    """An identifier that claims to be an EPC URN or a GS1 Digital Link URI but is malformed."""


class CheckDigitError(IdentifierError):
    """A GS1 key whose check digit is wrong (a typo that must not silently create a new item)."""


def check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of ``digits`` (the number without its check digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return str((10 - total % 10) % 10)


def _digits(text: str, what: str) -> str:
    if not text.isdigit():
        raise IdentifierError(f"{what} must be digits: {text!r}")
    return text


def urn_to_dl(urn: str) -> str:
    """Canonical Digital Link URI of an EPC URN (``urn:epc:id:``, ``urn:epc:class:``, ``urn:epc:idpat:``)."""
    try:
        _, _, kind, scheme, body = urn.split(":", 4)
    except ValueError as exc:
        raise IdentifierError(f"not an EPC URN: {urn!r}") from exc
    parts = body.split(".")
    if kind == "id" and scheme == "sgtin" and len(parts) == 3:
        return f"{DL_ROOT}/01/{_gtin(parts[0], parts[1])}/21/{parts[2]}"
    if kind == "class" and scheme == "lgtin" and len(parts) == 3:
        return f"{DL_ROOT}/01/{_gtin(parts[0], parts[1])}/10/{parts[2]}"
    if kind == "idpat" and scheme == "sgtin" and len(parts) == 3 and parts[2] == "*":
        return f"{DL_ROOT}/01/{_gtin(parts[0], parts[1])}"
    if kind == "id" and scheme == "sscc" and len(parts) == 2:
        prefix, serial = _digits(parts[0], "company prefix"), _digits(parts[1], "serial reference")
        if len(prefix) + len(serial) != 17:
            raise IdentifierError(f"SSCC must have 17 digits before its check digit: {urn!r}")
        body17 = serial[0] + prefix + serial[1:]
        return f"{DL_ROOT}/00/{body17}{check_digit(body17)}"
    if kind == "id" and scheme in ("sgln", "pgln"):
        prefix, location = _digits(parts[0], "company prefix"), _digits(parts[1], "location reference")
        if len(prefix) + len(location) != 12:
            raise IdentifierError(f"GLN must have 12 digits before its check digit: {urn!r}")
        gln = prefix + location + check_digit(prefix + location)
        if scheme == "pgln":
            return f"{DL_ROOT}/417/{gln}"
        extension = parts[2] if len(parts) > 2 else "0"
        return f"{DL_ROOT}/414/{gln}" + ("" if extension == "0" else f"/254/{extension}")
    if kind == "id" and scheme == "grai" and len(parts) == 3:
        prefix, asset = _digits(parts[0], "company prefix"), _digits(parts[1], "asset type")
        body12 = prefix + asset
        return f"{DL_ROOT}/8003/0{body12}{check_digit('0' + body12)}{parts[2]}"
    if kind == "id" and scheme == "giai" and len(parts) == 2:
        return f"{DL_ROOT}/8004/{_digits(parts[0], 'company prefix')}{parts[1]}"
    if kind == "id" and scheme == "gdti" and len(parts) == 3:
        body12 = _digits(parts[0], "company prefix") + _digits(parts[1], "document type")
        return f"{DL_ROOT}/253/{body12}{check_digit(body12)}{parts[2]}"
    raise IdentifierError(f"unsupported EPC URN: {urn!r}")


def _gtin(prefix: str, indicator_item: str) -> str:
    prefix = _digits(prefix, "company prefix")
    indicator_item = _digits(indicator_item, "indicator and item reference")
    if len(prefix) + len(indicator_item) != 13:
        raise IdentifierError("GTIN must have 13 digits before its check digit")
    body = indicator_item[0] + prefix + indicator_item[1:]
    return body + check_digit(body)


def canonical_dl(uri: str) -> str:
    """Constrained canonical Digital Link: id.gs1.org, no query string, finest key + qualifier, GTIN-14."""
    split = urlsplit(uri)
    segments = [unquote(s) for s in split.path.split("/") if s]
    for index, segment in enumerate(segments):
        if segment in _PRIMARY_KEYS and index + 1 < len(segments):
            break
    else:
        raise IdentifierError(f"no GS1 primary key in Digital Link URI: {uri!r}")
    key, value = segments[index], segments[index + 1]
    pairs = dict(zip(segments[index + 2::2], segments[index + 3::2]))
    if key == "01":
        value = _digits(value, "GTIN")
        if len(value) not in _GTIN_LENGTHS:
            raise IdentifierError(f"GTIN must have 8, 12, 13 or 14 digits: {uri!r}")
        value = value.zfill(14)
        if check_digit(value[:-1]) != value[-1]:
            raise CheckDigitError(f"GTIN check digit is wrong: {uri!r}")
    elif key in ("00", "414", "417") and check_digit(_digits(value, "key")[:-1]) != value[-1]:
        raise CheckDigitError(f"check digit is wrong: {uri!r}")
    path = f"/{key}/{_escape(value)}"
    for qualifier in _QUALIFIERS.get(key, ()):
        if qualifier in pairs:
            path += f"/{qualifier}/{_escape(pairs[qualifier])}"
            break
    return DL_ROOT + path


_UNRESERVED = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@]")


def _escape(value: str) -> str:
    return _UNRESERVED.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), value)


def is_epc_urn(value: str) -> bool:
    return value.startswith(("urn:epc:id:", "urn:epc:class:", "urn:epc:idpat:"))


def is_digital_link(value: str) -> bool:
    if not value.startswith(("https://", "http://")):
        return False
    path = urlsplit(value).path
    return any(f"/{key}/" in path + "/" for key in _PRIMARY_KEYS)


@lru_cache(maxsize=1 << 16)
def normalise(value: str) -> str:
    """The canonical form of an identifier: canonical DL for GS1 keys, anything else trimmed."""
    value = value.strip()
    if is_epc_urn(value):
        return urn_to_dl(value)
    if is_digital_link(value):
        try:
            return canonical_dl(value)
        except CheckDigitError:
            raise
        except IdentifierError:
            return value
    return value


def gs1_key(dl: str) -> tuple[str, str] | None:
    """(application identifier, key value) of a canonical DL URI, e.g. ("01", "09521234543213")."""
    if not dl.startswith(DL_ROOT + "/"):
        return None
    segments = dl[len(DL_ROOT) + 1:].split("/")
    return (segments[0], segments[1]) if len(segments) >= 2 else None


def company_digits(dl: str) -> str | None:
    """The digits of a GS1 key that start with the company prefix (indicator/extension digit dropped).

    The traceability contract applies the same rule on chain to check a brand's prefixes.
    """
    key = gs1_key(dl)
    if key is None:
        return None
    ai, value = key
    if ai in ("01", "00", "8003"):
        return value[1:]
    if ai in ("414", "417", "8004", "253", "255", "401", "402", "8010", "8017", "8018"):
        return value
    return None


def prefix_length(digits: str, prefixes: Iterable[str]) -> int:
    best = 0
    for prefix in prefixes:
        if digits.startswith(prefix) and len(prefix) > best:
            best = len(prefix)
    return best or DEFAULT_PREFIX_LENGTH


def to_urn(dl: str, prefixes: Iterable[str] = ()) -> str | None:
    """The EPC URN of a canonical DL (SGTIN, LGTIN, GTIN class pattern, SSCC, SGLN, PGLN); None otherwise."""
    dl = normalise(dl)
    key = gs1_key(dl)
    if key is None:
        return None
    ai, value = key
    segments = dl[len(DL_ROOT) + 1:].split("/")
    qualifier = dict(zip(segments[2::2], segments[3::2]))
    known = list(prefixes)
    if ai == "01":
        length = prefix_length(value[1:], known)
        prefix, item = value[1:1 + length], value[0] + value[1 + length:13]
        if "21" in qualifier:
            return f"urn:epc:id:sgtin:{prefix}.{item}.{qualifier['21']}"
        if "10" in qualifier:
            return f"urn:epc:class:lgtin:{prefix}.{item}.{qualifier['10']}"
        return f"urn:epc:idpat:sgtin:{prefix}.{item}.*"
    if ai == "00":
        length = prefix_length(value[1:], known)
        return f"urn:epc:id:sscc:{value[1:1 + length]}.{value[0]}{value[1 + length:17]}"
    if ai in ("414", "417"):
        length = prefix_length(value, known)
        scheme = "sgln" if ai == "414" else "pgln"
        urn = f"urn:epc:id:{scheme}:{value[:length]}.{value[length:12]}"
        return urn + (f".{qualifier.get('254', '0')}" if ai == "414" else "")
    return None


def class_of(dl: str) -> str | None:
    """The product class (GTIN-level DL) of an item or lot DL: ``.../01/{gtin}``."""
    key = gs1_key(dl)
    if key is None or key[0] != "01":
        return None
    return f"{DL_ROOT}/01/{key[1]}"


def dl_path(dl: str) -> str:
    """The path of a canonical DL (``/01/.../21/...``): what the consumer portal's ``/t`` routes take."""
    return dl[len(DL_ROOT):] if dl.startswith(DL_ROOT) else dl
