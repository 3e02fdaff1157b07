"""Resetting a used MicroPython instance to a contract image, byte for byte.

Instantiating the module for every invocation (a wasmtime store, the instance, its memory
mapped and unmapped, every page of the image faulted in again) was a fifth of a traceability
capture. ``contracts.vm`` therefore keeps instances that ended an invocation cleanly and lays
the next invocation's image over one of them, through ``reset_memory`` here, so that the guest
starts from exactly the state a fresh instance laid with the same image would have:

* linear memory: every byte of ``[0, pages * 64 KiB)`` is set -- the runs that hold data (the
  module's initial memory, the image's pages) are copied in, every other run is returned to the
  kernel with ``madvise(MADV_DONTNEED)``, which on Linux makes a private anonymous mapping read
  as zeros again (what ``memory.grow`` gives a fresh instance). A memory larger than the image's
  cannot shrink: such an instance is dropped, never reset;
* globals: the stack pointer is set; the module's only other global is immutable;
* the function table and the data and element segments: the module has no instruction that
  changes them (``tests/contracts/test_wasm_instance_reuse.py`` decodes every function body of the
  pinned module to prove it), so they are as instantiation left them.

Nothing else of an instance is visible to the guest; fuel and the watchdog deadline are set per
run on the store. ``tests/contracts/test_wasm_instance_reuse.py`` checks that after a reset the
whole memory equals a fresh instance's, and that a corpus of invocations (traps, out of gas,
MemoryError, huge allocations, faults in host calls) ends with the same outcome, gas and state
on reused and on fresh instances.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from dataclasses import dataclass

import wasmtime

from contracts.host_functions import GuestMemory, set_i32_global

PAGE = 4096
WASM_PAGE = 65536
_MADV_DONTNEED = 4

_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_madvise = getattr(_libc, "madvise", None)
if _madvise is not None:
    _madvise.restype = ctypes.c_int
    _madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

RESET_SUPPORTED = _madvise is not None and mmap.PAGESIZE == PAGE
"""Only where ``MADV_DONTNEED`` is known to zero private anonymous pages (Linux) and the OS page is
the image's page; elsewhere every invocation gets a fresh instance."""


@dataclass(frozen=True, slots=True)
class MemoryLayout:
    """What a contract image is as whole linear memory: the runs to copy in and the runs to zero."""

    pages: int
    """Size of linear memory in 64 KiB WebAssembly pages."""
    content: tuple[tuple[int, bytes], ...]
    """(offset, bytes): the module's initial memory with the image's pages laid over it, and the
    image's pages beyond it, merged into runs."""
    zero: tuple[tuple[int, int], ...]
    """(offset, length): everything else, page-aligned runs that read as zeros."""
    stack_pointer: int


def layout_of(pages: tuple[tuple[int, bytes], ...], memory_pages: int, stack_pointer: int,
              blank: bytes) -> MemoryLayout:
    """The layout of an image of ``pages`` (runs of 4 KiB pages that differ from ``blank``, a fresh
    instance's memory) over ``memory_pages`` WebAssembly pages."""
    size = memory_pages * WASM_PAGE
    if len(blank) % PAGE or len(blank) > size:
        raise ValueError("the blank memory does not fit the image")
    initial = bytearray(blank)
    runs: list[tuple[int, bytes]] = []
    for offset, data in pages:
        if offset % PAGE or len(data) % PAGE or offset + len(data) > size:
            raise ValueError("an image run is not whole pages inside memory")
        inside = max(0, min(len(data), len(blank) - offset))
        initial[offset:offset + inside] = data[:inside]
        if inside < len(data):
            runs.append((offset + inside, data[inside:]))
    content: list[tuple[int, bytes]] = [(0, bytes(initial))] if initial else []
    for offset, data in runs:
        last_offset, last = content[-1] if content else (-1, b"")
        if last_offset + len(last) == offset:
            content[-1] = (last_offset, last + data)
        else:
            content.append((offset, data))
    zero: list[tuple[int, int]] = []
    at = 0
    for offset, data in content + [(size, b"")]:
        if offset > at:
            zero.append((at, offset - at))
        at = offset + len(data)
    return MemoryLayout(memory_pages, tuple(content), tuple(zero), stack_pointer)


def reset_memory(store: wasmtime.Store, context: int, memory: wasmtime.Memory, stack_pointer: wasmtime.Global,
                 layout: MemoryLayout) -> bool:
    """Set ``memory`` and the stack pointer to ``layout``, byte for byte. False (the instance must be
    dropped, nothing was promised) if the memory is larger than the layout's or a run could not be
    zeroed."""
    if _madvise is None:
        return False
    current = memory.size(store)
    if current > layout.pages:
        return False
    if current < layout.pages:
        memory.grow(store, layout.pages - current)
    guest = GuestMemory(context, memory)
    if guest.size != layout.pages * WASM_PAGE or guest.base % PAGE:
        return False
    for offset, length in layout.zero:
        if _madvise(guest.base + offset, length, _MADV_DONTNEED) != 0:
            return False
    for offset, data in layout.content:
        guest.write(data, offset)
    set_i32_global(store, stack_pointer, layout.stack_pointer)
    return True


__all__ = ["MemoryLayout", "RESET_SUPPORTED", "layout_of", "reset_memory"]
