"""Host functions of i32 parameters and results, and raw guest-memory and fuel access, bound to
wasmtime without the Python binding's generic layers.

The binding's ``Linker.define_func`` converts every parameter and result through type-generic
``Val`` objects, and each of ``Caller``, ``Memory.read``/``write`` and ``Store.get_fuel`` goes
through several Python wrappers and ctypes pointer objects per call. On the contract ABI's hot
path (``host_call`` and ``host_result_cap`` on every storage access) that churn was most of the
host's share of an invocation, so this module binds a plain Python function
``fn(context, *i32s)`` to wasmtime's *unchecked* C callback (parameters and result as raw
16-byte slots, read and written through one ctypes array), and offers the few C calls a host
call needs -- the calling store's context, the memory's base and size, get/set fuel -- as
pre-bound ctypes functions taking and returning plain integers.

What the guest observes is unchanged: the same i32 values in and out, the same bytes read and
written (every access bounds-checked here against the memory's current size), the same fuel.
An exception raised by ``fn`` is stored where the binding re-raises it when the guest call
returns (``wasmtime._func.LAST_EXCEPTION``), with a trap unwinding the guest, as the binding's
own trampoline does.
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable

import wasmtime
import wasmtime._func as binding
from wasmtime import _ffi as ffi


def _c_function(name: str, restype: Any, *argtypes: Any) -> Any:
    """A private handle on ``name`` (``dll[name]`` is a new object: the binding's own prototypes stay as they are)."""
    function = ffi.dll[name]
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_caller_context = _c_function("wasmtime_caller_context", ctypes.c_void_p, ctypes.c_void_p)
_memory_data = _c_function("wasmtime_memory_data", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
_memory_data_size = _c_function("wasmtime_memory_data_size", ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p)
_get_fuel = _c_function("wasmtime_context_get_fuel", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
_set_fuel = _c_function("wasmtime_context_set_fuel", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64)

_I32_KIND = ffi.WASMTIME_I32.value
_SLOT_I32S = 4
"""A ``wasmtime_val_raw_t`` is 16 bytes: an i32 parameter or result is the first 4 of its slot (little-endian)."""
_SLOTS = [ctypes.c_int32 * (_SLOT_I32S * max(count, 1)) for count in range(9)]


def _finalize(env: object) -> None:
    return None


_NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_finalize)
_UNCHECKED = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)

_BOUND: list[Any] = []
"""The C callbacks handed to wasmtime: kept alive for the life of the process."""


def define_i32_function(
    linker: wasmtime.Linker, module: str, name: str, param_count: int, has_result: bool,
    fn: Callable[..., int | None], with_context: bool = True,
) -> None:
    """Define ``module.name`` as ``fn(context, p0, ..., pN-1) -> i32`` (or no result).

    ``context`` is the calling store's ``wasmtime_context_t *`` as an integer, valid only during
    the call (for ``GuestMemory``, ``get_fuel``, ``set_fuel``), or 0 without ``with_context``
    (one C call fewer); parameters are signed i32s.
    """
    i32 = wasmtime.ValType.i32()
    func_type = wasmtime.FuncType([i32] * param_count, [i32] if has_result else [])
    slots = _SLOTS[param_count]
    stride = range(0, _SLOT_I32S * param_count, _SLOT_I32S)

    def callback(env: object, caller: int, values: int, count: int) -> int:
        try:
            raw = slots.from_address(values)
            value = fn(_caller_context(caller) if with_context else 0, *[raw[i] for i in stride])
            if has_result:
                raw[0] = int(value or 0)
            return 0
        except BaseException as exc:
            binding.LAST_EXCEPTION = exc  # type: ignore[assignment]  # as the binding's own trampoline does
            trap = wasmtime.Trap("python exception")._consume()
            return ctypes.cast(trap, ctypes.c_void_p).value or 0

    c_callback = _UNCHECKED(callback)
    _BOUND.append((c_callback, func_type))
    module_bytes, name_bytes = module.encode(), name.encode()
    error = ffi.dll.wasmtime_linker_define_func_unchecked(
        linker.ptr(), ctypes.create_string_buffer(module_bytes), len(module_bytes),
        ctypes.create_string_buffer(name_bytes), len(name_bytes), func_type.ptr(),
        ctypes.cast(c_callback, ffi.wasmtime_func_unchecked_callback_t), None, _NO_FINALIZER)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)


class GuestMemory:
    """One look at a guest's linear memory inside a host call: bounds-checked reads and writes.

    Taken once per host call (the memory may have grown, and moved, since the last one); raises
    ``IndexError`` for any range outside the memory as it is now.
    """

    __slots__ = ("base", "size")

    def __init__(self, context: int, memory: wasmtime.Memory) -> None:
        handle = ctypes.addressof(memory._memory)
        self.base: int = _memory_data(context, handle) or 0
        self.size: int = _memory_data_size(context, handle)

    def read(self, address: int, length: int) -> bytes:
        if address < 0 or length < 0 or address + length > self.size:
            raise IndexError("guest memory range out of bounds")
        return ctypes.string_at(self.base + address, length) if length else b""

    def write(self, data: bytes, address: int) -> None:
        if address < 0 or address + len(data) > self.size:
            raise IndexError("guest memory range out of bounds")
        ctypes.memmove(self.base + address, data, len(data))


def call_i32_pair(store: wasmtime.Store, func: wasmtime.Func, first: int, second: int) -> None:
    """Call ``func``, of type ``(i32, i32) -> i32`` (the caller has checked it), result discarded.

    ``Func.__call__`` without its generic part (the type looked up again, ``Val`` conversions):
    the same C call in its unchecked form, inside the binding's own ``enter_wasm``, so a trap, an
    exit or a host function's exception surfaces exactly as through ``Func.__call__``.
    """
    values = (ffi.wasmtime_val_raw_t * 2)()
    values[0].i32 = first
    values[1].i32 = second
    with binding.enter_wasm(store) as trap:
        error = ffi.wasmtime_func_call_unchecked(store._context(), ctypes.byref(func._func), values, 2, trap)
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)


def set_i32_global(store: wasmtime.Store, variable: wasmtime.Global, value: int) -> None:
    """``Global.set_value`` for an i32 global, without looking its type up again."""
    raw = ffi.wasmtime_val_t()
    raw.kind = _I32_KIND  # type: ignore[assignment]  # a c_ubyte field: ctypes stores the int
    raw.of.i32 = value
    error = ffi.wasmtime_global_set(store._context(), ctypes.byref(variable._global), ctypes.byref(raw))
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)


def store_context(store: wasmtime.Store) -> int:
    """The store's ``wasmtime_context_t *`` as an integer (for ``get_fuel``/``set_fuel``)."""
    return ctypes.cast(store._context(), ctypes.c_void_p).value or 0


def _raise(error: int) -> None:
    raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t)))


def get_fuel(context: int, out: ctypes.c_uint64) -> int:
    """Fuel left in the store; ``out`` is a caller-owned scratch cell."""
    error = _get_fuel(context, ctypes.addressof(out))
    if error:
        _raise(error)
    return out.value


def set_fuel(context: int, fuel: int) -> None:
    error = _set_fuel(context, fuel)
    if error:
        _raise(error)


__all__ = ["GuestMemory", "call_i32_pair", "define_i32_function", "get_fuel", "set_fuel", "set_i32_global",
           "store_context"]
