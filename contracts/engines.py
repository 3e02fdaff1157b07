"""``EngineSet``: the contract engines a node can run, picked by the ledger's recorded identity.

A ledger records its engine in ``LedgerSettings.contract_engine`` at genesis: empty for the
legacy CPython sandbox, ``contracts.vm.engine_identity()`` for the WebAssembly engine. The
executor asks ``for_engine(recorded)`` (see ``ledger.contract_api.select_contract_engine``);
a node whose engine has another identity refuses to execute rather than diverge.
"""

from __future__ import annotations

import threading
from typing import Any

from ledger.contract_api import ContractEngineMismatch


class EngineSet:
    """Lazily built engines, one per identity this node supports."""

    def __init__(self, legacy: bool = True) -> None:
        self._legacy_allowed = legacy
        self._legacy: Any = None
        self._wasm: Any = None
        self._lock = threading.Lock()

    def wasm(self) -> Any:
        with self._lock:
            if self._wasm is None:
                from contracts.vm import WasmRuntime

                self._wasm = WasmRuntime()
            return self._wasm

    def legacy(self) -> Any:
        with self._lock:
            if self._legacy is None:
                from contracts.runtime import SandboxRuntime

                self._legacy = SandboxRuntime()
            return self._legacy

    def for_engine(self, recorded: str) -> Any:
        if recorded == "":
            if not self._legacy_allowed:
                raise ContractEngineMismatch("this node no longer runs the legacy contract sandbox")
            return self.legacy()
        wasm = self.wasm()
        if recorded != wasm.identity:
            raise ContractEngineMismatch(
                f"this ledger executes contracts with engine {recorded!r}; this node runs {wasm.identity!r}"
            )
        return wasm

    def validate(self, source: str) -> None:
        """Deploy-time check outside a ledger (gateway pre-checks): the WebAssembly engine's rules."""
        self.wasm().validate(source)


_CHECKER = EngineSet()


def validate_for_engine(source: str, recorded: str) -> Any:
    """Deploy-time check outside a ledger, by the rules of the engine the ledger recorded.

    ``recorded`` is ``LedgerSettings.contract_engine``: empty for the deprecated legacy
    sandbox (its AST policy), anything else for the WebAssembly engine (the contract must
    declare a spec and load in MicroPython within the deploy budget). Returns the contract's
    spec (``class_name``, ``callables``); raises ``ContractRejected``. Only a pre-check: the
    ledger validates again with its own engine, and refuses an engine it does not run.
    """
    if recorded == "":
        from contracts.policy import validate_source

        return validate_source(source).spec
    from contracts.spec import extract_spec

    spec = extract_spec(source)
    _CHECKER.wasm().validate(source)
    return spec
