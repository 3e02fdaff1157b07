"""The MicroPython side of the contract ABI: source the engine prepends and appends to a contract.

A contract's *program* is::

    PRELUDE  +  EVENTS_LINE (the contract's event fields, from the host-side spec)
             +  the contract source, exactly as deployed
             +  IMAGE_TAIL

run once per node as ``micropython -c <program>`` inside WebAssembly to build the contract's
*image* (``contracts.vm``): the interpreter started, the contract compiled and loaded, memory
snapshotted inside the ``image`` host call. Each invocation starts from a copy of that image
and resumes the generator IMAGE_TAIL left behind, which runs exactly one call.

The only door out of the guest is the ``host`` module of the MicroPython build
(``host.call(name, payload) -> str``, one imported WebAssembly function). The prelude
wraps it as ``self.ctx`` and the ``jadechain`` module (``contract``, ``callable``,
``event``, ``reentrant``, and ``Context`` for a contract's type annotations; outside the VM
the same names come from :mod:`jadechain.contract`). Nothing here is trusted: a contract may rebind or corrupt
every name below and only hurts its own invocation, because the host checks every
call (types, sizes, authority, gas) on its side of the boundary.

Values cross as canonical JSON text: ``["j", value]`` for JSON values, ``["b", hex]``
for bytes.
"""

from __future__ import annotations

PRELUDE = '''import host as _jch,json as _jcj,sys as _jcs,binascii as _jcb,gc as _jcg
_jcg.disable()
class _JcGc:
 pass
_jcgs=_JcGc();_jcgs.collect=_jcgs.enable=_jcgs.disable=lambda:None;_jcgs.isenabled=lambda:False
_jcgs.mem_alloc=_jcg.mem_alloc;_jcgs.mem_free=_jcg.mem_free
_jcs.modules["gc"]=_jcgs
_JC={}
_JCOOM='["MemoryError",""]'
def _jcc(n,*a):
 return _jcj.loads(_jch.call(n,_jcj.dumps(a)))
def _jce(v):
 return ["b",_jcb.hexlify(v).decode()] if type(v) is bytes else ["j",v]
def _jcd(t):
 return _jcb.unhexlify(t[1]) if t[0]=="b" else t[1]
class _JcCtx:
 def __init__(s,e):
  s.caller=e["caller"];s.block_height=e["block_height"];s.block_time=e["block_time"];s.address=e["address"]
  s.call_depth=e["call_depth"]
 @property
 def signers(s):
  return _jcc("env","signers")
 @property
 def tx_hash(s):
  return _jcb.unhexlify(_jcc("env","tx_hash"))
 @property
 def ledger_hash(s):
  return _jcb.unhexlify(_jcc("env","ledger_hash"))
 def get(s,a,k,committed=False):
  e=_jcc("get",None if a is s.address else a,k,committed);return None if e is None else _jcd(e[0])
 def get_many(s,a,ks,committed=False):
  return [None if e is None else _jcd(e) for e in _jcc("get_many",None if a is s.address else a,ks,committed)]
 def get_entry(s,a,k,committed=False):
  e=_jcc("get",None if a is s.address else a,k,committed);return None if e is None else {"value":_jcd(e[0]),"version":e[1]}
 def get_version(s,a,k):
  return _jcc("version",None if a is s.address else a,k)
 def get_at(s,a,k,v):
  e=_jcc("get_at",None if a is s.address else a,k,v);return None if e is None else _jcd(e)
 def set(s,a,k,v,x):
  return _jcc("set",None if a is s.address else a,k,_jce(v),x)
 def register_data_account(s,a,p):
  _jcc("register",a,_jce(p))
 def emit(s,t,c=None):
  return _jcc("emit",t,_jce(c))
 def call(s,a,m,args=None,gas_limit=None):
  return _jcd(_jcc("call",a,m,[_jce(x) for x in (args or [])],gas_limit,False))
 def try_call(s,a,m,args=None,gas_limit=None):
  r=_jcc("call",a,m,[_jce(x) for x in (args or [])],gas_limit,True)
  if r["ok"]:r["value"]=_jcd(r["value"])
  return r
 def verified_fact(s,ledger,bundle,expect=None,max_age_ms=0):
  return _jcc("fact",_jce(ledger),_jce(bundle),expect or {},max_age_ms)
 def revert(s,message="reverted"):
  _jcc("revert",message)
def _jcemitter(t,f):
 def emit(_jcself,*a,**k):
  if len(a)>len(f):raise TypeError("event '"+t+"' takes "+str(len(f))+" fields")
  c={}
  for i in range(len(a)):c[f[i]]=a[i]
  for n in k:
   if n not in f or n in c:raise TypeError("event '"+t+"' has no field '"+n+"' (or it is given twice)")
   c[n]=k[n]
  for n in f:
   if n not in c:raise TypeError("event '"+t+"' is missing field '"+n+"'")
  return _jcc("emit",t,["j",c])
 return emit
class _JcModule:
 pass
def _jccontract(c):
 _JC["cls"]=c;return c
def _jcmark(f):
 return f
_jcm=_JcModule();_jcm.contract=_jccontract;_jcm.callable=_jcmark;_jcm.event=_jcmark;_jcm.reentrant=_jcmark
_jcm.Context=_JcCtx
_jcs.modules["jadechain"]=_jcm
'''

IMAGE_TAIL = '''
if _JC.get("cls") is None:
 raise TypeError("the module did not define its @contract class")
for _jct in _JC_EVENTS:setattr(_JC["cls"],_jct,_jcemitter(_jct,_JC_EVENTS[_jct]))
def _jcmain():
 x=_jch.call("next","")
 if not x.endswith("}"):
  p=[x]
  while True:
   x=_jch.call("next","")
   if not x:break
   p.append(x)
  x="".join(p)
 q=_jcj.loads(x);p=x=None;c=_JC["cls"]
 i=object.__new__(c);i.ctx=_JcCtx(q["env"])
 r=getattr(c,q["method"])(i,*[_jcd(a) for a in q["args"]])
 _jch.call("return",_jcj.dumps(_jce(r)))
def _jcloop():
 while True:
  try:
   _jcmain()
  except MemoryError:
   _jch.call("fault",_JCOOM)
  except BaseException as _jcx:
   try:
    _jcx=_jcj.dumps([type(_jcx).__name__,str(_jcx)[:512]])
   except MemoryError:
    _jcx=_JCOOM
   _jch.call("fault",_jcx)
  yield None
_jcentry=[_jcloop()]
_jch.call("image",_jcj.dumps([id(next),id(_jcentry)]))
'''
"""Appended to the contract: after the module has loaded, hand the host what it needs to resume
here. ``id()`` is an address in MicroPython: of the ``next`` builtin (whose function the host
calls through the module's function table) and of a one-item list holding the generator that
runs one invocation per resumption. The host snapshots memory inside the ``image`` call."""


def events_line(events: dict[str, tuple[str, ...]]) -> str:
    """``_JC_EVENTS = {...}`` for the prelude; names are identifiers checked by the spec."""
    items = ", ".join(
        '"' + topic + '": (' + "".join('"' + field + '", ' for field in fields) + ")"
        for topic, fields in sorted(events.items())
    )
    return "_JC_EVENTS = {" + items + "}\n"
