"""``SandboxRuntime``: the contract engine the ledger's executor drives.

``validate`` runs the deploy-time policy. ``invoke`` compiles once per code hash
(policy + instrumentation + ``compile``; the cache means a hot contract costs no
re-parse), then for every invocation executes the compiled module in fresh
sandbox globals, so no state survives between invocations or leaks between
nodes whose caches differ. Arguments are checked against the ``@callable``
signature and copied in; the return value is converted to a ``TypedValue`` and
charged per byte.

Every failure leaves as a ``JadechainError`` whose ``details["gas_used"]`` is
what the transaction info records: the engine's own errors (``OutOfGas``,
``ContractLimitExceeded``, ``ContractReverted``, ``ContractFault``), errors of
the chain passed through (``VersionConflict``, ``ContractNotFound``...), and any
Python exception of the contract's own making becomes ``ContractFault``.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import CodeType

from ledger.contract_api import ContractCode, ContractContext, InvocationResult
from ledger.errors import ContractFault, ContractLimitExceeded, JadechainError, OutOfGas

from contracts.handle import ContractHandle
from contracts.instrument import instrument
from contracts.limits import DEFAULT_GAS, DEFAULT_LIMITS, GasSchedule, SandboxLimits
from contracts.policy import ContractSpec, MethodSpec, reject, validate_source
from contracts.sandbox import Meter, Sandbox
from contracts.spec import PARSE_LOCK
from contracts.values import check_plain, copy_plain, encoded_size, to_typed_value

MAX_ERROR_MESSAGE = 512
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
"""Object reprs carry memory addresses; they differ between nodes and must not reach a result."""

_PARAMETER_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool, "bytes": bytes, "list": list, "dict": dict}


@dataclass(frozen=True, slots=True)
class CompiledContract:
    """A validated, instrumented and compiled contract, shared by every invocation of its code hash."""

    code_hash: bytes
    code: CodeType
    spec: ContractSpec


class SandboxRuntime:
    """Implements ``ledger.contract_api.ContractRuntime`` with the Python sandbox."""

    def __init__(
        self,
        gas: GasSchedule = DEFAULT_GAS,
        limits: SandboxLimits = DEFAULT_LIMITS,
        cache_size: int = 256,
    ) -> None:
        self.gas = gas
        self.limits = limits
        self.cache_size = cache_size
        self.compile_count = 0
        """How many times a source was parsed and compiled (tests prove the cache with it)."""
        self._cache: OrderedDict[bytes, CompiledContract] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._local = threading.local()

    # --- deploy --------------------------------------------------------------------

    def validate(self, source: str) -> None:
        """Raise ``ContractRejected`` (line, column, rule in details) if the source breaks the policy.

        Also instruments and compiles, so that a source the compiler cannot take is refused at
        deploy, never discovered at the first invocation.
        """
        validated = validate_source(source, self.limits)
        self._compile_tree(validated.tree, "<contract>")

    def _compile_tree(self, tree: ast.Module, filename: str) -> CodeType:
        try:
            with PARSE_LOCK, warnings.catch_warnings():
                # SyntaxWarnings ("is" with a literal...) must not depend on the host's filters
                warnings.simplefilter("ignore")
                return compile(instrument(tree, self.gas), filename, "exec", dont_inherit=True, optimize=0)
        except (RecursionError, MemoryError, SyntaxError, ValueError) as exc:
            raise reject(f"contract too complex to compile ({type(exc).__name__})", "compiler-limit") from None

    def compile(self, code: ContractCode) -> CompiledContract:
        """The compiled form of ``code``, from the cache when its hash was seen before."""
        with self._cache_lock:
            cached = self._cache.get(code.code_hash)
            if cached is not None:
                self._cache.move_to_end(code.code_hash)
                return cached
        validated = validate_source(code.source, self.limits)
        compiled_code = self._compile_tree(validated.tree, f"<contract {code.address}>")
        compiled = CompiledContract(code.code_hash, compiled_code, validated.spec)
        with self._cache_lock:
            self.compile_count += 1
            self._cache[code.code_hash] = compiled
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return compiled

    # --- invoke --------------------------------------------------------------------------

    def invoke(
        self,
        code: ContractCode,
        method: str,
        args: Sequence[object],
        context: ContractContext,
        gas_limit: int,
    ) -> InvocationResult:
        """Run ``method`` with ``args``; raise a ``JadechainError`` carrying ``gas_used`` on failure."""
        if type(gas_limit) is not int or gas_limit < 0:
            raise ContractFault("gas_limit must be a non-negative int", gas_used=0)
        meter = Meter(gas_limit, self.gas, self.limits, frames=self._frames_base())
        try:
            if context.call_depth > self.limits.max_call_depth:
                raise ContractLimitExceeded(
                    f"contract calls nested deeper than {self.limits.max_call_depth}", limit="max_call_depth"
                )
            compiled = self.compile(code)
            arguments = self._check_arguments(compiled.spec, method, args)
            meter.charge(self.gas.invoke_base + self.gas.argument_byte * encoded_size(arguments))
            value = self._run(compiled, method, arguments, context, meter)
            typed = to_typed_value(value, self.limits, what="return value")
            if len(typed.data) > self.limits.max_return_bytes:
                raise ContractLimitExceeded(
                    f"return value over {self.limits.max_return_bytes} bytes", limit="max_return_bytes"
                )
            meter.charge(self.gas.return_byte * len(typed.data))
        except OutOfGas as exc:
            exc.details["gas_used"] = meter.used
            raise
        except JadechainError as exc:
            exc.details["gas_used"] = meter.used
            raise
        except RecursionError:
            raise ContractLimitExceeded("host recursion limit reached", limit="recursion", gas_used=meter.used) from None
        except MemoryError:
            raise ContractLimitExceeded("host memory exhausted", limit="memory", gas_used=meter.used) from None
        except Exception as exc:  # the contract's own bug: a deterministic Python error
            message = _ADDRESS.sub("", f"{type(exc).__name__}: {exc}"[: 4 * MAX_ERROR_MESSAGE])[:MAX_ERROR_MESSAGE]
            raise ContractFault(message, error=type(exc).__name__, gas_used=meter.used) from None
        return InvocationResult(return_value=typed, gas_used=meter.used)

    def _run(
        self, compiled: CompiledContract, method: str, arguments: list[object], context: ContractContext, meter: Meter
    ) -> object:
        sandbox = Sandbox(meter, compiled.spec)
        sandbox.handle = ContractHandle(context, sandbox, self)
        namespace = sandbox.make_globals()
        stack = self._stack()
        stack.append(meter)
        try:
            exec(compiled.code, namespace)
            cls = sandbox.contract_class
            if cls is None or cls.__name__ != compiled.spec.class_name:
                raise ContractFault("the module did not define its @contract class")
            function = cls.__dict__[method]
            instance: object = object.__new__(cls)
            return function(instance, *arguments)
        finally:
            stack.pop()

    def _check_arguments(self, spec: ContractSpec, method: str, args: Sequence[object]) -> list[object]:
        """Arguments must match the ``@callable`` signature exactly; they are copied in."""
        method_spec: MethodSpec | None = spec.callables.get(method)
        if method_spec is None:
            raise ContractFault(f"contract has no callable method '{method}'", method=method)
        if isinstance(args, (str, bytes)) or len(args) != len(method_spec.parameters):
            raise ContractFault(
                f"'{method}' takes {len(method_spec.parameters)} arguments, got "
                f"{len(args) if not isinstance(args, (str, bytes)) else 'text'}",
                method=method,
            )
        copied: list[object] = []
        for (name, type_name), value in zip(method_spec.parameters, args):
            expected = _PARAMETER_TYPES[type_name]
            if type(value) is tuple and expected is list:
                value = list(value)
            if type(value) is not expected:
                raise ContractFault(
                    f"argument '{name}' of '{method}' must be {type_name}, got {type(value).__name__}",
                    method=method, parameter=name,
                )
            check_plain(value, self.limits, what=f"argument '{name}'")
            copied.append(copy_plain(value))
        return copied

    # --- frames shared across nested calls ---------------------------------------

    def _stack(self) -> list[Meter]:
        stack: list[Meter] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = []
            self._local.stack = stack
        return stack

    def _frames_base(self) -> int:
        base: int | None = getattr(self._local, "frames_base", None)
        if base is not None:
            return base
        stack = self._stack()
        return stack[-1].frames if stack else 0

    @contextmanager
    def nested_frames(self, frames: int) -> Iterator[None]:
        """A nested invocation starts with its caller's live frame count (one budget per call tree)."""
        previous = getattr(self._local, "frames_base", None)
        self._local.frames_base = frames
        try:
            yield
        finally:
            self._local.frames_base = previous
