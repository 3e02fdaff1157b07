"""The working state of one block: layered writes over the committed store.

Execution never writes the database directly. Every change goes into the top
layer of a stack: a layer per block, a layer per transaction, and a layer per
nested contract call. A failed transaction or call pops its layer and its writes
vanish; a successful one merges into the layer below. At the end of the block
the block layer holds exactly two things the ledger persists in one batch:

* ``db``: database key -> bytes (or ``None`` to delete), the readable indexes;
* ``state``: state-tree key hash -> value hash (or ``None``), the authenticated view.

Typed accessors (``get_account``, ``put_entry``, ...) keep the two in step, so
that nothing readable escapes the state root.
"""

from __future__ import annotations

from typing import Callable, Protocol, TypeVar

from ledger import codec
from ledger.store import schema
from ledger.types import (
    AccountRecord,
    ContractRecord,
    EntryRecord,
    Event,
    EventHead,
    LedgerSettings,
    ParticipantRecord,
    RoleRecord,
    UserRolesRecord,
    ValidatorSetRecord,
)


_DECODED: dict[tuple[type, bytes], object] = {}
_DECODED_LIMIT = 200_000


def decode_record(tp: type[_R], raw: bytes) -> _R:
    """Decode a stored record, memoised by its bytes.

    Records are immutable, so two reads of the same bytes may share one object;
    execution re-reads the same roles, settings and accounts for every
    transaction, and this keeps that from dominating the block's cost.
    """
    key = (tp, raw)
    found = _DECODED.get(key)
    if found is None:
        if len(_DECODED) >= _DECODED_LIMIT:
            _DECODED.clear()
        found = codec.decode(tp, raw)
        _DECODED[key] = found
    return found  # type: ignore[return-value]


class Reader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


_R = TypeVar("_R")


class _Layer:
    __slots__ = ("db", "state", "leaves")

    def __init__(self) -> None:
        self.db: dict[bytes, bytes | None] = {}
        self.state: dict[bytes, bytes | None] = {}
        self.leaves: dict[bytes, bytes] = {}


def make_state_key(hash_fn: Callable[[bytes], bytes], namespace: str, first: str, second: str) -> bytes:
    """The state-tree key of an object: H(canonical [namespace, account, key])."""
    if type(first) is not str or type(second) is not str:
        raise TypeError("state key parts must be strings")
    # Three strings always pack canonically; skip the generic shape check on this hot path.
    return hash_fn(codec.pack_unchecked([namespace, first, second]))


NS_ENTRY = "E"
NS_ACCOUNT = "A"
NS_CONTRACT = "C"
NS_TOPIC = "V"
NS_ROLE = "R"
NS_USER_ROLES = "U"
NS_PARTICIPANT = "P"
NS_SETTINGS = "S"
NS_VALIDATORS = "Q"
NS_LIGHT_CLIENT = "L"


class WorkingState:
    """Layered reads and writes for executing one block."""

    def __init__(self, committed: Reader, hash_fn: Callable[[bytes], bytes]) -> None:
        self._committed = committed
        self.hash_fn = hash_fn
        self._layers: list[_Layer] = [_Layer()]
        self.authority_generation = 0
        """Moves whenever what permission checks read may have changed: a write of an
        account, role, user's roles, participant, validator set or the settings, and every
        discarded layer (its writes vanish). Caches of those checks (the executor's
        per-block cache) are valid only while it stays the same."""
        # The committed view does not change while a block executes (its writes are
        # applied to the store only after execution), so its reads can be cached.
        self._committed_cache: dict[bytes, bytes | None] = {}
        # A write reads the key's latest version, then moves it: build that key once.
        self._latest_version_keys: dict[tuple[str, str], bytes] = {}

    # --- layers ---------------------------------------------------------------

    def push(self) -> None:
        self._layers.append(_Layer())

    def discard(self) -> None:
        if len(self._layers) == 1:
            raise RuntimeError("cannot discard the block layer")
        self._layers.pop()
        self.authority_generation += 1

    def merge(self) -> _Layer:
        """Merge the top layer into the one below; return the merged layer's content."""
        if len(self._layers) == 1:
            raise RuntimeError("cannot merge the block layer")
        top = self._layers.pop()
        below = self._layers[-1]
        below.db.update(top.db)
        below.state.update(top.state)
        below.leaves.update(top.leaves)
        return top

    @property
    def depth(self) -> int:
        return len(self._layers)

    def top_state_changes(self) -> dict[bytes, bytes | None]:
        return self._layers[-1].state

    def block_layer(self) -> _Layer:
        if len(self._layers) != 1:
            raise RuntimeError("unfinished transaction layers")
        return self._layers[0]

    # --- raw access -----------------------------------------------------------------

    def get_raw(self, key: bytes) -> bytes | None:
        for layer in reversed(self._layers):
            db = layer.db
            if key in db:
                return db[key]
        return self.get_committed_raw(key)

    def get_committed_raw(self, key: bytes) -> bytes | None:
        cache = self._committed_cache
        if key in cache:
            return cache[key]
        value = self._committed.get(key)
        cache[key] = value
        return value

    def put_raw(self, key: bytes, value: bytes | None) -> None:
        self._layers[-1].db[key] = value

    def _put_state(self, state_key: bytes, encoded_record: bytes | None) -> None:
        layer = self._layers[-1]
        if encoded_record is None:
            layer.state[state_key] = None
            return
        value_hash = self.hash_fn(encoded_record)
        layer.state[state_key] = value_hash
        layer.leaves[value_hash] = encoded_record

    def _state_key(self, namespace: str, first: str, second: str = "") -> bytes:
        return make_state_key(self.hash_fn, namespace, first, second)

    # --- typed records --------------------------------------------------------------------

    def get_account(self, address: str) -> AccountRecord | None:
        raw = self.get_raw(schema.make_account_key(address))
        return None if raw is None else decode_record(AccountRecord, raw)

    def put_account(self, record: AccountRecord, *, new: bool) -> None:
        self.authority_generation += 1
        encoded = codec.encode(record)
        self.put_raw(schema.make_account_key(record.address), encoded)
        if new:
            self.put_raw(schema.make_account_kind_index_key(int(record.kind), record.address), b"")
        self._put_state(self._state_key(NS_ACCOUNT, record.address), encoded)

    def get_contract(self, address: str) -> ContractRecord | None:
        raw = self.get_raw(schema.make_contract_key(address))
        return None if raw is None else decode_record(ContractRecord, raw)

    def put_contract(self, record: ContractRecord) -> None:
        encoded = codec.encode(record)
        self.put_raw(schema.make_contract_key(record.address), encoded)
        self.put_raw(
            schema.make_contract_source_key(record.address, record.version),
            record.source.encode("utf-8"),
        )
        self._put_state(self._state_key(NS_CONTRACT, record.address), encoded)

    def _latest_version_key(self, account: str, key: str) -> bytes:
        found = self._latest_version_keys.get((account, key))
        if found is None:
            found = self._latest_version_keys[(account, key)] = schema.make_latest_version_key(account, key)
        return found

    def get_latest_version(self, account: str, key: str, committed: bool = False) -> int:
        db_key = self._latest_version_key(account, key)
        if committed:
            raw = self.get_committed_raw(db_key)
        else:
            for layer in reversed(self._layers):
                db = layer.db
                if db_key in db:
                    raw = db[db_key]
                    break
            else:
                raw = self.get_committed_raw(db_key)
        return -1 if raw is None else int.from_bytes(raw, "big", signed=True)

    def get_entry(self, account: str, key: str, version: int, committed: bool = False) -> EntryRecord | None:
        if version < 0:
            return None
        db_key = schema.make_entry_key(account, key, version)
        raw = self.get_committed_raw(db_key) if committed else self.get_raw(db_key)
        return None if raw is None else decode_record(EntryRecord, raw)

    def put_entry(self, record: EntryRecord) -> None:
        account, key, version = record.account, record.key, record.version
        encoded = codec.encode(record)
        db = self._layers[-1].db
        db[schema.make_entry_key(account, key, version)] = encoded
        db[self._latest_version_key(account, key)] = version.to_bytes(8, "big", signed=True)
        # The entry record itself is the leaf value; it is stored under its entry key,
        # so no content-addressed copy is needed (see Ledger.entry_proof).
        hash_fn = self.hash_fn
        self._layers[-1].state[make_state_key(hash_fn, NS_ENTRY, account, key)] = hash_fn(encoded)

    def get_topic_head(self, account: str, topic: str) -> EventHead | None:
        raw = self.get_raw(schema.make_topic_head_key(account, topic))
        return None if raw is None else decode_record(EventHead, raw)

    def put_event(self, event: Event) -> bytes:
        """Store an event and move its topic head; returns the event's hash."""
        encoded = codec.encode(event)
        event_hash = self.hash_fn(encoded)
        self.put_raw(schema.make_event_key(event.account, event.topic, event.sequence), encoded)
        head = EventHead(event.account, event.topic, event.sequence, event_hash)
        head_encoded = codec.encode(head)
        self.put_raw(schema.make_topic_head_key(event.account, event.topic), head_encoded)
        self._put_state(self._state_key(NS_TOPIC, event.account, event.topic), head_encoded)
        return event_hash

    def get_role(self, role: str) -> RoleRecord | None:
        raw = self.get_raw(schema.make_role_key(role))
        return None if raw is None else decode_record(RoleRecord, raw)

    def put_role(self, record: RoleRecord) -> None:
        self.authority_generation += 1
        encoded = codec.encode(record)
        self.put_raw(schema.make_role_key(record.role), encoded)
        self._put_state(self._state_key(NS_ROLE, record.role), encoded)

    def get_user_roles(self, user: str) -> UserRolesRecord | None:
        raw = self.get_raw(schema.make_user_roles_key(user))
        return None if raw is None else decode_record(UserRolesRecord, raw)

    def put_user_roles(self, record: UserRolesRecord) -> None:
        self.authority_generation += 1
        encoded = codec.encode(record)
        self.put_raw(schema.make_user_roles_key(record.user), encoded)
        self._put_state(self._state_key(NS_USER_ROLES, record.user), encoded)

    def get_participant(self, address: str) -> ParticipantRecord | None:
        raw = self.get_raw(schema.make_participant_key(address))
        return None if raw is None else decode_record(ParticipantRecord, raw)

    def put_participant(self, record: ParticipantRecord) -> None:
        self.authority_generation += 1
        encoded = codec.encode(record)
        self.put_raw(schema.make_participant_key(record.address), encoded)
        self._put_state(self._state_key(NS_PARTICIPANT, record.address), encoded)

    def get_validator_set(self) -> ValidatorSetRecord | None:
        raw = self.get_raw(schema.META_VALIDATORS)
        return None if raw is None else decode_record(ValidatorSetRecord, raw)

    def put_validator_set(self, record: ValidatorSetRecord) -> None:
        self.authority_generation += 1
        encoded = codec.encode(record)
        self.put_raw(schema.META_VALIDATORS, encoded)
        self.put_raw(schema.make_epoch_key(record.epoch), encoded)
        self._put_state(self._state_key(NS_VALIDATORS, "validators"), encoded)

    def get_light_client_raw(self, ledger_hash: bytes) -> bytes | None:
        """The encoded light client of another ledger (decoded by ledger.light_client)."""
        return self.get_raw(schema.make_light_client_key(ledger_hash))

    def put_light_client_raw(self, ledger_hash: bytes, encoded: bytes) -> None:
        self.put_raw(schema.make_light_client_key(ledger_hash), encoded)
        self._put_state(self._state_key(NS_LIGHT_CLIENT, ledger_hash.hex()), encoded)

    def get_settings(self) -> LedgerSettings | None:
        raw = self.get_raw(schema.META_SETTINGS)
        return None if raw is None else decode_record(LedgerSettings, raw)

    def put_settings(self, settings: LedgerSettings) -> None:
        self.authority_generation += 1
        encoded = codec.encode(settings)
        self.put_raw(schema.META_SETTINGS, encoded)
        self._put_state(self._state_key(NS_SETTINGS, "settings"), encoded)

