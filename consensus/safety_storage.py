"""Persistent safety data: what a replica must remember across a crash to stay safe.

If a replica forgot its last voted round after a restart it could vote twice
in one round, and two conflicting QCs could form. So the safety rules save
:class:`SafetyData` through a :class:`SafetyStorage` and only then release the
vote or timeout. :class:`FileSafetyStorage` makes that durable: write a temp
file, fsync it, rename it over the old one, fsync the directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import msgpack

from consensus.types import Vote, _unpack, _vote_from, _vote_obj
from ledger.errors import CodecError, StorageError


@dataclass(frozen=True, slots=True)
class SafetyData:
    """The safety rules' whole memory."""

    epoch: int
    """Epoch the data belongs to."""
    last_voted_round: int
    """Highest round this replica voted or timed out in; it never votes at or below it."""
    preferred_round: int
    """Highest QC round seen in a voted block's parent (Jolteon's one-chain round)."""
    last_vote: Vote | None
    """The last vote signed, re-sent as is if the same proposal is seen again after a restart."""
    highest_timeout_round: int
    """Highest round this replica signed a timeout for."""


def initial_safety_data(epoch: int) -> SafetyData:
    return SafetyData(
        epoch=epoch, last_voted_round=0, preferred_round=0, last_vote=None, highest_timeout_round=0
    )


def encode_safety_data(data: SafetyData) -> bytes:
    vote = _vote_obj(data.last_vote) if data.last_vote is not None else None
    packed: bytes = msgpack.packb(
        [1, data.epoch, data.last_voted_round, data.preferred_round, vote, data.highest_timeout_round],
        use_bin_type=True,
    )
    return packed


def decode_safety_data(raw: bytes) -> SafetyData:
    obj = _unpack(raw)
    if not isinstance(obj, list) or len(obj) != 6 or obj[0] != 1:
        raise CodecError("safety data: unknown shape or version")
    ints = [obj[1], obj[2], obj[3], obj[5]]
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ints):
        raise CodecError("safety data: expected unsigned integers")
    vote = None if obj[4] is None else _vote_from(obj[4])
    return SafetyData(
        epoch=obj[1],
        last_voted_round=obj[2],
        preferred_round=obj[3],
        last_vote=vote,
        highest_timeout_round=obj[5],
    )


class SafetyStorage(Protocol):
    """Where safety data lives. ``save`` must be durable when it returns."""

    def load(self) -> SafetyData: ...

    def save(self, data: SafetyData) -> None: ...


class InMemorySafetyStorage:
    """Safety data in memory; survives a simulated restart if the same object is reused."""

    def __init__(self, epoch: int = 1) -> None:
        self._data = initial_safety_data(epoch)
        self.saves = 0

    def load(self) -> SafetyData:
        return self._data

    def save(self, data: SafetyData) -> None:
        self._data = data
        self.saves += 1


class FileSafetyStorage:
    """Safety data in one file, replaced atomically and fsynced before ``save`` returns.

    A crash at any point leaves either the old or the new file, never a torn one:
    the new bytes are fsynced in a temp file, renamed over the old name (atomic on
    POSIX), and the directory is fsynced so the rename itself is durable.
    """

    def __init__(self, path: str | os.PathLike[str], epoch: int = 1) -> None:
        self._path = Path(path)
        self._epoch = epoch
        self.fsyncs = 0

    def load(self) -> SafetyData:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return initial_safety_data(self._epoch)
        except OSError as exc:
            raise StorageError(f"cannot read safety data: {exc}") from exc
        return decode_safety_data(raw)

    def save(self, data: SafetyData) -> None:
        raw = encode_safety_data(data)
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(raw)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._path)
            dir_fd = os.open(self._path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StorageError(f"cannot persist safety data: {exc}") from exc
        self.fsyncs += 2
