"""Jadechain's sandboxed Python contract engine.

``SandboxRuntime`` implements ``ledger.contract_api.ContractRuntime``: a deploy-time
AST policy (``policy``), AST instrumentation for deterministic gas (``instrument``),
run-time guards and the gas meter (``sandbox``), the ``self.ctx`` handle
(``handle``) and value conversion at the boundary (``values``).
"""

from contracts.limits import DEFAULT_GAS, DEFAULT_LIMITS, GasSchedule, SandboxLimits
from contracts.policy import ContractSpec, validate_source
from contracts.runtime import CompiledContract, SandboxRuntime

__all__ = [
    "DEFAULT_GAS",
    "DEFAULT_LIMITS",
    "CompiledContract",
    "ContractSpec",
    "GasSchedule",
    "SandboxLimits",
    "SandboxRuntime",
    "validate_source",
]
