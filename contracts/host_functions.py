"""Host functions of i32 parameters and results, bound to wasmtime without the binding's generic trampoline.

The Python binding's ``Linker.define_func`` converts every parameter and result through
type-generic ``Val`` objects (several ``ValType`` allocations per value); for the contract
ABI's hot calls (``host_call`` and ``host_result_cap``, twice per storage access) that was most
of the host's share of an invocation. This binds a plain Python function ``fn(caller, *i32s)``
directly to wasmtime's C callback, with the binding's own conventions for the rest: the
``Caller`` object, and an exception raised by ``fn`` stored where the binding re-raises it
when the guest call returns (``wasmtime._func.LAST_EXCEPTION``), with a trap unwinding the
guest. What the guest observes is the same i32 values as through ``define_func``.
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable

import wasmtime
import wasmtime._func as binding
from wasmtime import _ffi as ffi

_I32_KIND = ffi.WASMTIME_I32.value


def _finalize(env: object) -> None:
    return None


_NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_finalize)


_BOUND: list[Any] = []
"""The C callbacks handed to wasmtime: kept alive for the life of the process."""


def define_i32_function(
    linker: wasmtime.Linker, module: str, name: str, param_count: int, has_result: bool,
    fn: Callable[..., int | None],
) -> None:
    """Define ``module.name`` as ``fn(caller, p0, ..., pN-1) -> i32`` (or no result)."""
    i32 = wasmtime.ValType.i32()
    func_type = wasmtime.FuncType([i32] * param_count, [i32] if has_result else [])

    def callback(env: object, caller_ptr: Any, params: Any, nparams: int, results: Any, nresults: int) -> Any:
        caller = binding.Caller(caller_ptr)
        try:
            value = fn(caller, *[params[i].of.i32 for i in range(nparams)])
            if nresults == 1:
                results[0].kind = _I32_KIND
                results[0].of.i32 = int(value or 0)
            return 0
        except BaseException as exc:
            binding.LAST_EXCEPTION = exc  # type: ignore[assignment]  # as the binding's own trampoline does
            trap = wasmtime.Trap("python exception")._consume()
            return ctypes.cast(trap, ctypes.c_void_p).value
        finally:
            caller._invalidate()

    c_callback = ffi.wasmtime_func_callback_t(callback)
    _BOUND.append((c_callback, func_type))
    module_bytes, name_bytes = module.encode(), name.encode()
    error = ffi.wasmtime_linker_define_func(
        linker.ptr(), ctypes.create_string_buffer(module_bytes), len(module_bytes),
        ctypes.create_string_buffer(name_bytes), len(name_bytes), func_type.ptr(), c_callback, None, _NO_FINALIZER)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)


__all__ = ["define_i32_function"]
