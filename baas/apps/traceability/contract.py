"""The traceability contract and how to call it.

The same source runs on both contract engines: the WebAssembly engine (MicroPython under
wasmtime, ``contracts.vm.WasmRuntime``) and the legacy CPython sandbox; a ledger uses the one it
recorded at genesis (``tests/contracts/test_wasm_apps.py`` checks both give the same statuses
and state).

State, in the contract's own account:

* ``admin`` → address of the platform admin (set once by ``init``, in the deploy transaction);
* ``prefix:<GS1 company prefix>`` → ``{"brand", "name", "partners": [addresses]}``;
* ``e:<sha-256 hex of the event hash>`` → ``{"d": sha-256 of the event's canonical JSON, "o": capturing org}``,
  written with expected version -1, so a second capture of the same event fails the whole transaction;
* ``x:<hex>`` → ``{"d", "o", "r": reason}``: the error declaration of that event (at most one), with
  ``"f": true`` when the declared event is not on chain (captured elsewhere; it may be captured here later,
  and ``e:<hex>`` is then written as for any event);
* ``m:<vocabulary type> <element id>`` → ``{"o": describing org, "t": vocabulary type, "a": attributes as
  canonical JSON}``:
  EPCIS master data (``master_data``). A GS1 key's element may be described by its brand or a partner
  (the prefix rule of ``capture``); any other id by the organisation that described it first.

The legacy sandbox has no hash function, so the contract (written for both engines) does not recompute an event hash; it checks the
hash's form, the capturer's right to every GS1 key the event carries (the company prefix rule below,
applied on chain), uniqueness, and that an error declaration comes from an organisation authorised for
the declared event's keys (the event repeated in full in the declaration) – for a recorded event with no
GS1 key, from the organisation that recorded it –, once per event. The canonical event JSON travels in the same invocation's
arguments (so it is on chain, in the transaction body) and every indexer recomputes hash and digest
from it and refuses a record that does not match.
"""

from __future__ import annotations

from typing import Sequence

CONTRACT_SOURCE = '''
from jadechain import contract, callable, event

EVENTS = ["captured", "brand_registered", "partner_changed", "master_data_changed"]

COMPANY_KEY_SKIP = {"01": 1, "00": 1, "8003": 1, "8006": 1, "414": 0, "417": 0, "8004": 0, "253": 0, "255": 0,
                    "401": 0, "402": 0, "8010": 0, "8017": 0, "8018": 0}
HEX = "0123456789abcdef"


@contract
class Traceability:
    @event
    def captured(self, org: str, count: int, corrections: int): ...

    @event
    def brand_registered(self, prefix: str, brand: str, name: str): ...

    @event
    def partner_changed(self, prefix: str, partner: str, authorised: bool): ...

    @event
    def master_data_changed(self, org: str, count: int): ...

    @callable
    def init(self, admin: str) -> str:
        self.ctx.set(self.ctx.address, "admin", admin, -1)
        return admin

    def require_admin(self):
        if self.ctx.caller != self.ctx.get(self.ctx.address, "admin"):
            self.ctx.revert("only the platform admin may register brands")

    @callable
    def register_brand(self, prefix: str, brand: str, name: str) -> int:
        self.require_admin()
        if not prefix.isdigit() or len(prefix) < 4 or len(prefix) > 12:
            self.ctx.revert("a GS1 company prefix has 4 to 12 digits")
        me = self.ctx.address
        key = "prefix:" + prefix
        old = self.ctx.get(me, key)
        partners = [] if old is None else old["partners"]
        version = self.ctx.set(me, key, {"brand": brand, "name": name, "partners": partners},
                               self.ctx.get_version(me, key))
        self.brand_registered(prefix=prefix, brand=brand, name=name)
        return version

    @callable
    def set_partner(self, prefix: str, partner: str, authorised: bool) -> int:
        me = self.ctx.address
        key = "prefix:" + prefix
        record = self.ctx.get(me, key)
        if record is None:
            self.ctx.revert("unknown company prefix " + prefix)
        caller = self.ctx.caller
        if caller != record["brand"] and caller != self.ctx.get(me, "admin"):
            self.ctx.revert("only the brand or the admin may change partners of " + prefix)
        partners = [p for p in record["partners"] if p != partner]
        if authorised:
            partners.append(partner)
        record["partners"] = partners
        version = self.ctx.set(me, key, record, self.ctx.get_version(me, key))
        self.partner_changed(prefix=prefix, partner=partner, authorised=authorised)
        return version

    def company_digits(self, uri: str) -> str:
        root = "https://id.gs1.org/"
        if not uri.startswith(root):
            return ""
        parts = uri[len(root):].split("/")
        if len(parts) < 2 or parts[0] not in COMPANY_KEY_SKIP:
            return ""
        return parts[1][COMPANY_KEY_SKIP[parts[0]]:]

    def check_key(self, uri: str, org: str, cache: dict) -> None:
        digits = self.company_digits(uri)
        if digits == "":
            return
        top = len(digits) if len(digits) < 12 else 12
        if top > 3 and digits[:top] not in cache:
            # a cached longest candidate means every shorter one was read with it
            self.read_prefixes(digits, top, cache)
        for length in range(top, 3, -1):
            prefix = digits[:length]
            record = cache[prefix]
            if record is not None:
                if org == record["brand"] or org in record["partners"]:
                    return
                self.ctx.revert("not authorised for company prefix " + prefix + ": " + uri)
        self.ctx.revert("no registered brand owns " + uri)

    def read_prefixes(self, digits: str, top: int, cache: dict) -> None:
        # every candidate company prefix of these digits not read yet, longest first, in one host call
        unread = [prefix for prefix in [digits[:length] for length in range(top, 3, -1)] if prefix not in cache]
        records = self.ctx.get_many(self.ctx.address, ["prefix:" + prefix for prefix in unread])
        for i in range(len(unread)):
            cache[unread[i]] = records[i]

    def check_hash(self, h: str) -> None:
        # strip(HEX) leaves nothing exactly when every character is a hex digit: one C loop, not 64 steps
        if len(h) != 64 or h.strip(HEX) != "":
            self.ctx.revert("event hash must be 64 hex digits")

    @callable
    def capture(self, events: list) -> int:
        # events: [[hash hex, digest hex, [GS1 keys as canonical DL], canonical JSON, is declaration, reason]]
        me = self.ctx.address
        org = self.ctx.caller
        cache = {}
        corrections = 0
        for item in events:
            h = item[0]
            digest = item[1]
            self.check_hash(h)
            for uri in item[2]:
                self.check_key(uri, org, cache)
            if item[4]:
                if self.ctx.get_version(me, "x:" + h) >= 0:
                    self.ctx.revert("event already declared erroneous: " + h)
                record = {"d": digest, "o": org, "r": item[5]}
                original = self.ctx.get(me, "e:" + h)
                if original is None:
                    record["f"] = True  # the declared event was recorded elsewhere, not on this ledger
                elif len(item[2]) == 0 and original["o"] != org:
                    # no GS1 key, so no brand rule: only the organisation that recorded it may declare it
                    self.ctx.revert("only the capturing organisation may declare this event erroneous: " + h)
                self.ctx.set(me, "x:" + h, record, -1)
                corrections += 1
            else:
                if self.ctx.get_version(me, "e:" + h) >= 0:
                    self.ctx.revert("duplicate event: " + h)
                self.ctx.set(me, "e:" + h, {"d": digest, "o": org}, -1)
        self.captured(org=org, count=len(events), corrections=corrections)
        return len(events)

    @callable
    def master_data(self, elements: list) -> int:
        # elements: [[element id (canonical DL or URI), vocabulary type, attributes as canonical JSON]]
        me = self.ctx.address
        org = self.ctx.caller
        cache = {}
        for item in elements:
            element_id = item[0]
            if len(element_id) == 0 or len(element_id) > 900 or len(item[1]) == 0 or len(item[1]) > 100:
                self.ctx.revert("a master data element has an id of 1 to 900 and a type of 1 to 100 characters")
            key = "m:" + item[1] + " " + element_id
            old = self.ctx.get(me, key)
            if self.company_digits(element_id) != "":
                self.check_key(element_id, org, cache)
            elif old is not None and old["o"] != org:
                self.ctx.revert("another organisation describes " + element_id)
            self.ctx.set(me, key, {"o": org, "t": item[1], "a": item[2]}, self.ctx.get_version(me, key))
        self.master_data_changed(org=org, count=len(elements))
        return len(elements)
'''

CONTRACT_VERSION = 5
"""2: ``master_data`` (EPCIS master data on chain) beside ``capture``; 3: the company-prefix walk reads
its candidate prefixes in one ``ctx.get_many`` (one host call instead of up to nine) and checks an event
hash's hex digits with one ``strip`` instead of a 64-step loop (same answers, less gas); 4: ``capture``
records an error declaration of an event this ledger does not hold (EPCIS 2.0: events are shared
between repositories, so the declaration may reach a repository without the event), marked
``"f": true`` – versions up to 3 refused it – and a recorded event with no GS1 key is declared only by
the organisation that recorded it; 5: the company-prefix walk starts at the longest candidate the
digits have and reads the candidates only when that one is not known yet (the same reads in the same
order, the same answers, about 110 gas less of interpreter work per GS1 key)."""
FOREIGN_DECLARATIONS_SINCE = 4
"""The first contract version whose ``capture`` takes a declaration of an event not on chain."""
GAS_PER_EVENT = 6_000
GAS_PER_MASTER_ELEMENT = 12_000
GAS_BASE = 200_000


def capture_gas(events: list[list[object]]) -> int:
    """A gas limit comfortably above what ``capture`` of these events uses.

    Measured (``tests/integration/test_traceability_large_document.py``, 1,000 events of a few hundred bytes):
    about 5,100 gas per event on the WebAssembly engine (argument bytes included), 3,600 on the
    legacy sandbox. The limit must stay under the ledger's ``default_gas_limit`` (10 M by default)
    for a document of 1,000 events, so this is not a blanket multiple.
    """
    arg_bytes = sum(len(str(item[3])) for item in events)
    return GAS_BASE + GAS_PER_EVENT * len(events) + 2 * arg_bytes


def master_data_gas(elements: Sequence[Sequence[object]]) -> int:
    """A gas limit comfortably above what ``master_data`` of these elements uses."""
    arg_bytes = sum(len(str(part)) for item in elements for part in item)
    return GAS_BASE + GAS_PER_MASTER_ELEMENT * len(elements) + 4 * arg_bytes
