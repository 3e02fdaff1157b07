"""Jadechain's contract engines.

Every new ledger runs contracts in ``contracts.vm.WasmRuntime`` (MicroPython compiled to
WebAssembly under wasmtime; its identity recorded at genesis); a node holds an ``EngineSet``
that picks the engine each ledger recorded. See docs/contracts.md.

Deprecated, for ledgers created before the WebAssembly engine only (unsafe: it runs contracts
inside the node's own interpreter):
``SandboxRuntime`` implements ``ledger.contract_api.ContractRuntime``: a deploy-time
AST policy (``policy``), AST instrumentation for deterministic gas (``instrument``),
run-time guards and the gas meter (``sandbox``), the ``self.ctx`` handle
(``handle``) and value conversion at the boundary (``values``); the numbers live in
``limits``.

A contract is one module::

    from jadechain import contract, callable, event

    EVENTS = ["note"]                      # optional: topics emitted with ctx.emit


    @contract
    class Registry:
        @event
        def stored(self, key: str, version: int): ...    # self.stored(key=..., version=...)

        @callable
        def put(self, account: str, key: str, value: str) -> int:
            version = self.ctx.get_version(account, key)           # -1 if absent
            new_version = self.ctx.set(account, key, value, version)
            self.stored(key=key, version=new_version)
            return new_version

        def helper(self, n):                # undecorated methods are private helpers
            return n * 2

``@callable`` parameters are typed with ``str``, ``int``, ``bool``, ``bytes``, ``list``
or ``dict`` (``list[str]`` is read as ``list``) and checked at every invocation.
``self.ctx`` is the only way to the chain; see ``contracts.handle`` for its API.
"""

from contracts.engines import EngineSet
from contracts.limits import DEFAULT_GAS, DEFAULT_LIMITS, GasSchedule, SandboxLimits
from contracts.policy import ContractSpec, validate_source
from contracts.runtime import CompiledContract, SandboxRuntime

__all__ = [
    "EngineSet",
    "DEFAULT_GAS",
    "DEFAULT_LIMITS",
    "CompiledContract",
    "ContractSpec",
    "GasSchedule",
    "SandboxLimits",
    "SandboxRuntime",
    "validate_source",
]
