"""The MicroPython side of the contract ABI: source the engine prepends and appends to a contract.

A contract runs as ``micropython -c <program>`` inside WebAssembly, where ``program`` is::

    PRELUDE  +  EVENTS_LINE (the contract's event fields, from the host-side spec)
             +  the contract source, exactly as deployed
             +  DISPATCH

The only door out of the guest is the ``host`` module of the MicroPython build
(``host.call(name, payload) -> str``, one imported WebAssembly function). The prelude
wraps it as ``self.ctx`` and the ``jadechain`` module (``contract``, ``callable``,
``event``, ``reentrant``). Nothing here is trusted: a contract may rebind or corrupt
every name below and only hurts its own invocation, because the host checks every
call (types, sizes, authority, gas) on its side of the boundary.

Values cross as canonical JSON text: ``["j", value]`` for JSON values, ``["b", hex]``
for bytes.
"""

from __future__ import annotations

PRELUDE = '''import host as _jc_h
import json as _jc_j
import sys as _jc_s
import binascii as _jc_b
_JC = {}
def _jc_call(name, *args):
    return _jc_j.loads(_jc_h.call(name, _jc_j.dumps(args)))
def _jc_enc(v):
    if type(v) is bytes:
        return ["b", _jc_b.hexlify(v).decode()]
    return ["j", v]
def _jc_dec(t):
    if t[0] == "b":
        return _jc_b.unhexlify(t[1])
    return t[1]
class _JcCtx:
    def __init__(self, env):
        self.caller = env["caller"]
        self.signers = env["signers"]
        self.tx_hash = _jc_b.unhexlify(env["tx_hash"])
        self.block_height = env["block_height"]
        self.block_time = env["block_time"]
        self.address = env["address"]
        self.ledger_hash = _jc_b.unhexlify(env["ledger_hash"])
        self.call_depth = env["call_depth"]
    def get(self, account, key, committed=False):
        e = _jc_call("get", account, key, committed)
        return None if e is None else _jc_dec(e[0])
    def get_entry(self, account, key, committed=False):
        e = _jc_call("get", account, key, committed)
        return None if e is None else {"value": _jc_dec(e[0]), "version": e[1]}
    def get_version(self, account, key):
        return _jc_call("version", account, key)
    def get_at(self, account, key, version):
        e = _jc_call("get_at", account, key, version)
        return None if e is None else _jc_dec(e)
    def set(self, account, key, value, expected_version):
        return _jc_call("set", account, key, _jc_enc(value), expected_version)
    def register_data_account(self, address, public_key):
        _jc_call("register", address, _jc_enc(public_key))
    def emit(self, topic, content=None):
        return _jc_call("emit", topic, _jc_enc(content))
    def call(self, address, method, args=None, gas_limit=None):
        return _jc_dec(_jc_call("call", address, method, [_jc_enc(a) for a in (args or [])], gas_limit, False))
    def try_call(self, address, method, args=None, gas_limit=None):
        r = _jc_call("call", address, method, [_jc_enc(a) for a in (args or [])], gas_limit, True)
        if r["ok"]:
            r["value"] = _jc_dec(r["value"])
        return r
    def revert(self, message="reverted"):
        _jc_call("revert", message)
def _jc_emitter(topic, fields):
    def emit(*args, **kwargs):
        if len(args) > len(fields):
            raise TypeError("event '" + topic + "' takes " + str(len(fields)) + " fields")
        c = {}
        for i in range(len(args)):
            c[fields[i]] = args[i]
        for k in kwargs:
            if k not in fields or k in c:
                raise TypeError("event '" + topic + "' has no field '" + k + "' (or it is given twice)")
            c[k] = kwargs[k]
        for f in fields:
            if f not in c:
                raise TypeError("event '" + topic + "' is missing field '" + f + "'")
        return _jc_call("emit", topic, ["j", c])
    return emit
class _JcModule:
    pass
def _jc_contract(cls):
    _JC["cls"] = cls
    return cls
def _jc_mark(f):
    return f
_jc_m = _JcModule()
_jc_m.contract = _jc_contract
_jc_m.callable = _jc_mark
_jc_m.event = _jc_mark
_jc_m.reentrant = _jc_mark
_jc_s.modules["jadechain"] = _jc_m
'''

DISPATCH = '''
def _jc_main():
    req = _jc_j.loads(_jc_h.call("next", ""))
    cls = _JC.get("cls")
    if cls is None:
        raise TypeError("the module did not define its @contract class")
    inst = object.__new__(cls)
    inst.ctx = _JcCtx(req["env"])
    for topic in _JC_EVENTS:
        setattr(inst, topic, _jc_emitter(topic, _JC_EVENTS[topic]))
    fn = getattr(cls, req["method"])
    result = fn(inst, *[_jc_dec(a) for a in req["args"]])
    _jc_h.call("return", _jc_j.dumps(_jc_enc(result)))
try:
    _jc_main()
except BaseException as _jc_e:
    _jc_h.call("fault", _jc_j.dumps([type(_jc_e).__name__, str(_jc_e)[:512]]))
'''

LOAD_ONLY = '''
if _JC.get("cls") is None:
    raise TypeError("the module did not define its @contract class")
'''


def events_line(events: dict[str, tuple[str, ...]]) -> str:
    """``_JC_EVENTS = {...}`` for the prelude; names are identifiers checked by the spec."""
    items = ", ".join(
        '"' + topic + '": (' + "".join('"' + field + '", ' for field in fields) + ")"
        for topic, fields in sorted(events.items())
    )
    return "_JC_EVENTS = {" + items + "}\n"
