"""GS1 identifiers: EPC URNs ↔ GS1 Digital Link URIs, for every GS1 key of the Tag Data Standard 2.x.

Every identifier the app stores, indexes or hashes is first brought to its *canonical* GS1 Digital
Link form (``https://id.gs1.org/01/09521234543213/21/ABC``) – the form the CBV 2.0 event-hash
algorithm prescribes – so that a query given either the URN or any Digital Link spelling (custom
domain, query string, GTIN-13 instead of GTIN-14, extra key qualifiers) finds the same events.

Parsing and checking of the EPC URNs themselves is delegated to ``epcpy`` (the TDS schemes, their
partition tables and GS3A3 escapes: SGTIN, SSCC, SGLN, GRAI, GIAI, GSRN, GSRNP, GDTI, CPI, SGCN,
GINC, GSIN, ITIP, UPUI, PGLN, LGTIN): it turns a URN into a GS1 element string and back, given the
company prefix length. This module only maps element strings to Digital Link paths, handles the
class patterns (``urn:epc:idpat:…:*``) that epcpy does not, and checks check digits.

URN → Digital Link needs no outside knowledge. Digital Link → URN needs the GS1 company prefix
length; :func:`to_urn` takes the registered prefixes (the brands' registrations on chain) and falls
back to seven digits, the most common length. Anything that is neither (``geo:`` URIs, private
URIs) passes through unchanged.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache
from typing import Any, Iterable
from urllib.parse import quote, unquote, urlsplit

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from epcpy.epc_schemes import (
        CPI, GDTI, GIAI, GINC, GRAI, GSIN, GSRN, GSRNP, ITIP, LGTIN, PGLN, SGCN, SGLN, SGTIN, SSCC, UPUI,
    )
    from epcpy.utils.common import ConvertException

DL_ROOT = "https://id.gs1.org"
DEFAULT_PREFIX_LENGTH = 7

SCHEMES: dict[str, Any] = {
    "sgtin": SGTIN, "sscc": SSCC, "sgln": SGLN, "grai": GRAI, "giai": GIAI, "gsrn": GSRN, "gsrnp": GSRNP,
    "gdti": GDTI, "cpi": CPI, "sgcn": SGCN, "ginc": GINC, "gsin": GSIN, "itip": ITIP, "upui": UPUI, "pgln": PGLN,
}
"""EPC pure-identity schemes of TDS 2.x (``urn:epc:id:<scheme>:``) that are GS1 keys."""

CLASS_PATTERNS = ("sgtin", "grai", "gdti", "sgcn", "cpi", "itip", "upui")
"""Schemes with a class-level pattern (``urn:epc:idpat:<scheme>:…*``) that has a Digital Link form."""

# Digital Link primary keys and the qualifiers that keep the finest granularity (CBV 2.0 §8.9 rule 18).
_PRIMARY_KEYS = ("00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017", "8018")
_QUALIFIERS = {"01": ("21", "10", "235"), "414": ("254",), "8006": ("21",), "8010": ("8011",)}
_GTIN_LENGTHS = (8, 12, 13, 14)
_FIXED_CHECKED = {"00": 18, "414": 13, "417": 13, "8017": 18, "8018": 18, "402": 17}
"""Keys that are exactly N digits ending in a check digit."""
_PREFIX_CHECKED = {"253": 13, "255": 13, "8003": 14, "8006": 14}
"""Keys whose first N digits end in a check digit (a serial or component part follows)."""

COMPANY_KEY_SKIP = {"01": 1, "00": 1, "8003": 1, "8006": 1, "414": 0, "417": 0, "8004": 0, "253": 0, "255": 0,
                    "401": 0, "402": 0, "8010": 0, "8017": 0, "8018": 0}
"""AI → digits before the company prefix; the same table the traceability contract applies on chain."""


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


# --- URN → element string → Digital Link ---------------------------------------------------------------

_ELEMENT = re.compile(r"^\((\d{2,4})\)")


def _split_element_string(element: str) -> list[tuple[str, str]]:
    """``(01)123…(21)ABC`` → [("01", "123…"), ("21", "ABC")]; a value may hold any character but '(AI)'."""
    match = _ELEMENT.match(element)
    if not match:
        raise IdentifierError(f"not a GS1 element string: {element!r}")
    ai, rest = match.group(1), element[match.end():]
    if ai in _QUALIFIERS:
        for qualifier in _QUALIFIERS[ai]:
            marker = f"({qualifier})"
            position = rest.find(marker)
            if position > 0:
                return [(ai, rest[:position]), (qualifier, rest[position + len(marker):])]
    return [(ai, rest)]


def _escape(value: str) -> str:
    """Percent-encode a Digital Link path segment (GS1 Digital Link 1.2 table 7-1; uppercase hex)."""
    return quote(value, safe="-._~';=")


def _dl_of_pairs(pairs: list[tuple[str, str]]) -> str:
    return DL_ROOT + "".join(f"/{ai}/{_escape(value)}" for ai, value in pairs)


def _element_string(urn: str) -> str:
    scheme = urn.split(":")[3] if urn.count(":") >= 4 else ""
    kind = urn.split(":")[2] if urn.count(":") >= 4 else ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "class" and scheme == "lgtin":
                return str(LGTIN(urn).gs1_element_string())
            if kind == "id" and scheme in SCHEMES:
                return str(SCHEMES[scheme](urn).gs1_element_string())
    except (ConvertException, ValueError, IndexError) as exc:
        raise IdentifierError(f"malformed EPC URN {urn!r}: {exc}") from exc
    raise IdentifierError(f"unsupported EPC URN: {urn!r}")


# A serial that every scheme with a class pattern accepts (digits only, no leading zero: SGCN, CPI).
_PATTERN_SERIAL = "1"


def _class_pattern_to_dl(urn: str) -> str:
    """``urn:epc:idpat:<scheme>:<prefix>.<class>[.…].*`` → the Digital Link of the class (no serial)."""
    scheme, body = urn.split(":", 4)[3:]
    if scheme not in CLASS_PATTERNS or not body.endswith(".*") or "*" in body[:-2]:
        raise IdentifierError(f"unsupported EPC class pattern: {urn!r} (only <prefix>.<class>.* of "
                              f"{', '.join(CLASS_PATTERNS)})")
    pairs = _split_element_string(_element_string(f"urn:epc:id:{scheme}:{body[:-1]}{_PATTERN_SERIAL}"))
    ai, value = pairs[0]
    if ai in ("253", "255"):
        value = value[:13]
    elif ai == "8003":
        value = value[:14]
    return _dl_of_pairs([(ai, value)])


def urn_to_dl(urn: str) -> str:
    """Canonical Digital Link URI of an EPC URN (``urn:epc:id:``, ``urn:epc:class:lgtin:``, ``urn:epc:idpat:``)."""
    if urn.startswith("urn:epc:idpat:"):
        return _class_pattern_to_dl(urn)
    pairs = _split_element_string(_element_string(urn))
    if pairs[0][0] == "414" and len(pairs) > 1 and pairs[1] == ("254", "0"):
        pairs = pairs[:1]  # SGLN extension 0 is the GLN itself
    return _dl_of_pairs(pairs)


# --- Digital Link --------------------------------------------------------------------------------------

def _check(ai: str, value: str, uri: str) -> None:
    if ai in _FIXED_CHECKED:
        if not value.isdigit() or len(value) != _FIXED_CHECKED[ai]:
            raise IdentifierError(f"AI {ai} must be {_FIXED_CHECKED[ai]} digits: {uri!r}")
        if check_digit(value[:-1]) != value[-1]:
            raise CheckDigitError(f"check digit is wrong: {uri!r}")
    elif ai in _PREFIX_CHECKED:
        size = _PREFIX_CHECKED[ai]
        if len(value) < size or not value[:size].isdigit():
            raise IdentifierError(f"AI {ai} must start with {size} digits: {uri!r}")
        if check_digit(value[:size - 1]) != value[size - 1]:
            raise CheckDigitError(f"check digit is wrong: {uri!r}")


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
        if not value.isdigit():
            raise IdentifierError(f"GTIN must be digits: {uri!r}")
        if len(value) not in _GTIN_LENGTHS:
            raise IdentifierError(f"GTIN must have 8, 12, 13 or 14 digits: {uri!r}")
        value = value.zfill(14)
        if check_digit(value[:-1]) != value[-1]:
            raise CheckDigitError(f"GTIN check digit is wrong: {uri!r}")
    else:
        _check(key, value, uri)
    path = f"/{key}/{_escape(value)}"
    for qualifier in _QUALIFIERS.get(key, ()):
        if qualifier in pairs:
            if not (key == "414" and pairs[qualifier] == "0"):
                path += f"/{qualifier}/{_escape(pairs[qualifier])}"
            break
    return DL_ROOT + path


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
    return (segments[0], unquote(segments[1])) if len(segments) >= 2 else None


def company_digits(dl: str) -> str | None:
    """The digits of a GS1 key that start with the company prefix (indicator/extension digit dropped).

    The traceability contract applies the same rule (:data:`COMPANY_KEY_SKIP`) on chain.
    """
    key = gs1_key(dl)
    if key is None or key[0] not in COMPANY_KEY_SKIP:
        return None
    ai, value = key
    return value[COMPANY_KEY_SKIP[ai]:]


def prefix_length(digits: str, prefixes: Iterable[str]) -> int:
    best = 0
    for prefix in prefixes:
        if digits.startswith(prefix) and len(prefix) > best:
            best = len(prefix)
    return best or DEFAULT_PREFIX_LENGTH


# --- Digital Link → URN --------------------------------------------------------------------------------

_SCHEME_OF_KEY = {"00": "sscc", "414": "sgln", "417": "pgln", "8004": "giai", "8017": "gsrnp", "8018": "gsrn",
                  "401": "ginc", "402": "gsin", "255": "sgcn", "253": "gdti", "8003": "grai", "8010": "cpi"}


def _scheme_of(ai: str, value: str, qualifier: str | None) -> tuple[str, str]:
    """(kind, scheme) of the URN a canonical DL corresponds to."""
    if ai == "01":
        return {"21": ("id", "sgtin"), "10": ("class", "lgtin"), "235": ("id", "upui")}.get(
            qualifier or "", ("idpat", "sgtin"))
    if ai == "8006":
        return ("id", "itip") if qualifier == "21" else ("idpat", "itip")
    if ai == "8010":
        return ("id", "cpi") if qualifier == "8011" else ("idpat", "cpi")
    if ai in ("253", "255") and len(value) == 13:
        return "idpat", _SCHEME_OF_KEY[ai]
    if ai == "8003" and len(value) == 14:
        return "idpat", "grai"
    return "id", _SCHEME_OF_KEY[ai]


def to_urn(dl: str, prefixes: Iterable[str] = ()) -> str | None:
    """The EPC URN of a GS1 Digital Link (every TDS 2.x GS1 key and class pattern); None for other URIs."""
    try:
        dl = normalise(dl)
    except IdentifierError:
        return None
    key = gs1_key(dl)
    if key is None:
        return None
    ai, value = key
    segments = dl[len(DL_ROOT) + 1:].split("/")
    qualifier = (segments[2], unquote(segments[3])) if len(segments) >= 4 else None
    kind, scheme = _scheme_of(ai, value, qualifier[0] if qualifier else None)
    digits = value[COMPANY_KEY_SKIP.get(ai, 1 if ai in ("01", "8006") else 0):]
    length = max(6, min(12, prefix_length(digits, list(prefixes))))
    if kind == "idpat":
        serial = {"sgtin": "(21)1", "itip": "(21)1", "upui": "(235)1", "cpi": "(8011)1"}.get(scheme, _PATTERN_SERIAL)
        element = f"({ai}){value}{serial}"
        if ai == "01" and scheme == "sgtin":
            element = f"(01){value}(21)1"
    else:
        element = f"({ai}){value}" + (f"({qualifier[0]}){qualifier[1]}" if qualifier else "")
        if ai == "414" and not qualifier:
            element += "(254)0"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls = LGTIN if scheme == "lgtin" else SCHEMES[scheme]
            urn = str(cls.from_gs1_element_string(element, length).epc_uri)
    except (ConvertException, ValueError, IndexError, KeyError):
        return None
    if kind == "idpat":
        return "urn:epc:idpat:" + urn.split(":", 3)[3].rsplit(".", 1)[0] + ".*"
    return urn


def class_of(dl: str) -> str | None:
    """The product class (GTIN-level DL) of an item or lot DL: ``.../01/{gtin}``."""
    key = gs1_key(dl)
    if key is None or key[0] != "01":
        return None
    return f"{DL_ROOT}/01/{key[1]}"


def dl_path(dl: str) -> str:
    """The path of a canonical DL (``/01/.../21/...``): what the consumer portal's ``/t`` routes take."""
    return dl[len(DL_ROOT):] if dl.startswith(DL_ROOT) else dl
