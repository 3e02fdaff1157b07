"""Every instruction of a WebAssembly module's function bodies, decoded (for audits in tests).

Covers the features the MicroPython WASI module declares in its ``target_features`` section
(MVP, mutable globals, sign extension, bulk memory, reference types, multi-value, exception
handling, legacy and ``try_table``); anything else raises ``UnknownOpcode`` instead of being
skipped, so an audit over a new module cannot silently miss an instruction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator


class UnknownOpcode(ValueError):
    pass


class _Reader:
    def __init__(self, data: bytes, at: int = 0) -> None:
        self.data, self.at = data, at

    def byte(self) -> int:
        value = self.data[self.at]
        self.at += 1
        return value

    def uleb(self) -> int:
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    def sleb(self) -> int:
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                if byte & 0x40:
                    value -= 1 << shift
                return value

    def block_type(self) -> None:
        if self.data[self.at] in (0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F, 0x69):
            self.at += 1
        else:
            self.sleb()  # a type index (s33)


def sections(wasm: bytes) -> Iterator[tuple[int, bytes]]:
    """(id, body) of every section, in order."""
    reader = _Reader(wasm, 8)
    while reader.at < len(wasm):
        section = reader.byte()
        size = reader.uleb()
        yield section, wasm[reader.at:reader.at + size]
        reader.at += size


_NO_IMMEDIATE = {0x00, 0x01, 0x05, 0x0A, 0x0B, 0x0F, 0x19, 0x1A, 0x1B, 0xD1} | set(range(0x45, 0xC5))
_ONE_INDEX = {0x07, 0x08, 0x09, 0x0C, 0x0D, 0x10, 0x12, 0x14, 0x15, 0x18, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26,
              0x3F, 0x40, 0xD2}
_FC_IMMEDIATES = {0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: 1, 14: 2,
                  15: 1, 16: 1, 17: 1}


def instructions(body: bytes) -> Iterator[tuple[int, ...]]:
    """(opcode,) or (0xFC, sub-opcode) or, for ``global.set``, (0x24, global index), per instruction."""
    reader = _Reader(body)
    for _ in range(reader.uleb()):  # local declarations
        reader.uleb()
        reader.byte()
    while reader.at < len(body):
        op = reader.byte()
        if op in _NO_IMMEDIATE:
            yield (op,)
        elif op in (0x02, 0x03, 0x04, 0x06):
            reader.block_type()
            yield (op,)
        elif op == 0x24:
            yield (op, reader.uleb())
        elif op in _ONE_INDEX:
            reader.uleb()
            yield (op,)
        elif op in (0x11, 0x13):
            reader.uleb()
            reader.uleb()
            yield (op,)
        elif op == 0x0E:
            for _ in range(reader.uleb() + 1):
                reader.uleb()
            yield (op,)
        elif op == 0x1C:
            for _ in range(reader.uleb()):
                reader.byte()
            yield (op,)
        elif op == 0x1F:  # try_table
            reader.block_type()
            for _ in range(reader.uleb()):
                kind = reader.byte()
                if kind in (0, 1):
                    reader.uleb()
                reader.uleb()
            yield (op,)
        elif 0x28 <= op <= 0x3E:
            if reader.uleb() & 0x40:  # alignment with a memory index (multi-memory)
                reader.uleb()
            reader.uleb()
            yield (op,)
        elif op == 0x41:
            reader.sleb()
            yield (op,)
        elif op == 0x42:
            reader.sleb()
            yield (op,)
        elif op in (0x43, 0x44):
            reader.at += 4 if op == 0x43 else 8
            yield (op,)
        elif op == 0xD0:
            reader.block_type()
            yield (op,)
        elif op == 0xFC:
            sub = reader.uleb()
            if sub not in _FC_IMMEDIATES:
                raise UnknownOpcode(f"0xFC {sub}")
            for _ in range(_FC_IMMEDIATES[sub]):
                reader.uleb()
            yield (op, sub)
        else:
            raise UnknownOpcode(hex(op))
    if reader.at != len(body) or body[-1] != 0x0B:
        raise UnknownOpcode("a function body does not end where its size says")


def module_instructions(wasm: bytes) -> Counter[tuple[int, ...]]:
    """How many times each instruction occurs across all function bodies of ``wasm``."""
    counts: Counter[tuple[int, ...]] = Counter()
    for section, body in sections(wasm):
        if section != 10:
            continue
        reader = _Reader(body)
        for _ in range(reader.uleb()):
            size = reader.uleb()
            counts.update(instructions(body[reader.at:reader.at + size]))
            reader.at += size
    return counts
