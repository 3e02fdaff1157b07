"""Every database key of a ledger, built in one place.

Keys start with a schema version byte and a one-letter table tag; variable
length parts are length-prefixed so that no two keys of different parts can
collide and a prefix scan of one account never sees another's entries. Heights,
versions and indexes are 8-byte big-endian so that key order is numeric order.
"""

from __future__ import annotations

SCHEMA_VERSION = b"\x01"


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def _entry_version(version: int) -> bytes:
    # Versions start at 0 for the first write; -1 never reaches storage.
    return _u64(version)


def _lp(text: str) -> bytes:
    raw = text.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


# meta ---------------------------------------------------------------------------

def make_meta_key(name: str) -> bytes:
    return SCHEMA_VERSION + b"M" + name.encode("ascii")


META_HEIGHT = make_meta_key("height")
META_LEDGER_HASH = make_meta_key("ledger_hash")
META_SETTINGS = make_meta_key("settings")
META_ROOTS = make_meta_key("roots")
"""Execution roots after the last committed block (what the next header must carry)."""
META_TREE_VERSION = make_meta_key("tree_version")
META_COUNTS = make_meta_key("counts")
META_STORAGE_FORMAT = make_meta_key("storage_format")
"""Version of what the values mean (the key layout has SCHEMA_VERSION); absent in format 1 stores."""
STORAGE_FORMAT = 3
"""Format 3: a transaction's info (the accumulator leaf) records its operations' contract return values.
Format 2: accounts, participants and settings carry their owning organisation, the governance policy
and the contract engine identity. Format 1 stores (no marker) were written before that."""
META_HISTORY_START = make_meta_key("history_start")
"""Height of the state snapshot this ledger was started from (absent: full history from genesis)."""
META_VALIDATORS = make_meta_key("validators")
"""The validator set in force (a ValidatorSetRecord)."""
META_ARCHIVE = make_meta_key("archive")
"""The first block height still held here: blocks 1 .. value - 1 are in archive files
(see ledger/archive.py); absent when nothing is archived."""


def make_archive_file_key(first_height: int) -> bytes:
    """Digest of the archive file that holds blocks from ``first_height`` (ledger/archive.py)."""
    return SCHEMA_VERSION + b"Z" + _u64(first_height)


def make_epoch_key(epoch: int) -> bytes:
    """The validator set of one epoch (history, for proofs of old blocks)."""
    return SCHEMA_VERSION + b"O" + _u64(epoch)


def make_epoch_certificate_key(epoch: int) -> bytes:
    """The previous epoch's validators' certificate of the change to ``epoch``."""
    return SCHEMA_VERSION + b"o" + _u64(epoch)


# blocks and transactions ------------------------------------------------------------

def make_header_key(height: int) -> bytes:
    return SCHEMA_VERSION + b"H" + _u64(height)


def make_block_hash_key(block_hash: bytes) -> bytes:
    return SCHEMA_VERSION + b"h" + block_hash


def make_block_txs_key(height: int) -> bytes:
    return SCHEMA_VERSION + b"B" + _u64(height)


def make_block_body_key(height: int) -> bytes:
    """The block's transactions exactly as proposed (for block sync and replay)."""
    return SCHEMA_VERSION + b"b" + _u64(height)


def make_certificate_key(height: int) -> bytes:
    return SCHEMA_VERSION + b"Q" + _u64(height)


def make_height_roots_key(height: int) -> bytes:
    """Roots after executing block ``height`` and the state-tree version holding them."""
    return SCHEMA_VERSION + b"r" + _u64(height)


def make_tx_key(tx_hash: bytes) -> bytes:
    return SCHEMA_VERSION + b"T" + tx_hash


def make_tx_index_key(accumulator_index: int) -> bytes:
    return SCHEMA_VERSION + b"I" + _u64(accumulator_index)


def make_accumulator_node_key(level: int, index: int) -> bytes:
    return SCHEMA_VERSION + b"A" + level.to_bytes(1, "big") + _u64(index)


def make_state_node_key(encoded_node_key: bytes) -> bytes:
    return SCHEMA_VERSION + b"N" + encoded_node_key


STATE_NODE_PREFIX = SCHEMA_VERSION + b"N"


def make_leaf_value_key(value_hash: bytes) -> bytes:
    """Content-addressed bytes of a state leaf's record (for proofs at old heights)."""
    return SCHEMA_VERSION + b"L" + value_hash


# accounts and their data -----------------------------------------------------------------

def make_account_key(address: str) -> bytes:
    return SCHEMA_VERSION + b"C" + address.encode("utf-8")


def make_account_kind_index_key(kind: int, address: str) -> bytes:
    return SCHEMA_VERSION + b"K" + kind.to_bytes(1, "big") + address.encode("utf-8")


def make_account_kind_prefix(kind: int) -> bytes:
    return SCHEMA_VERSION + b"K" + kind.to_bytes(1, "big")


def make_contract_key(address: str) -> bytes:
    return SCHEMA_VERSION + b"X" + address.encode("utf-8")


def make_contract_source_key(address: str, version: int) -> bytes:
    return SCHEMA_VERSION + b"x" + _lp(address) + _u64(version)


def make_entry_key(account: str, key: str, version: int) -> bytes:
    return SCHEMA_VERSION + b"E" + _lp(account) + _lp(key) + _entry_version(version)


def make_entry_versions_prefix(account: str, key: str) -> bytes:
    return SCHEMA_VERSION + b"E" + _lp(account) + _lp(key)


def make_latest_version_key(account: str, key: str) -> bytes:
    return SCHEMA_VERSION + b"e" + _lp(account) + _lp(key)


def make_latest_versions_prefix(account: str) -> bytes:
    return SCHEMA_VERSION + b"e" + _lp(account)


def split_latest_version_key(db_key: bytes, account: str) -> str:
    prefix = make_latest_versions_prefix(account)
    rest = db_key[len(prefix):]
    length = int.from_bytes(rest[:4], "big")
    return rest[4:4 + length].decode("utf-8")


def make_event_key(account: str, topic: str, sequence: int) -> bytes:
    return SCHEMA_VERSION + b"V" + _lp(account) + _lp(topic) + _u64(sequence)


def make_event_topic_prefix(account: str, topic: str) -> bytes:
    return SCHEMA_VERSION + b"V" + _lp(account) + _lp(topic)


def make_topic_head_key(account: str, topic: str) -> bytes:
    return SCHEMA_VERSION + b"v" + _lp(account) + _lp(topic)


def make_topics_prefix(account: str) -> bytes:
    return SCHEMA_VERSION + b"v" + _lp(account)


def split_topic_head_key(db_key: bytes, account: str) -> str:
    rest = db_key[len(make_topics_prefix(account)):]
    length = int.from_bytes(rest[:4], "big")
    return rest[4:4 + length].decode("utf-8")


def make_tx_events_key(tx_hash: bytes) -> bytes:
    return SCHEMA_VERSION + b"W" + tx_hash


# governance -----------------------------------------------------------------------------

def make_role_key(role: str) -> bytes:
    return SCHEMA_VERSION + b"R" + role.encode("utf-8")


ROLE_PREFIX = SCHEMA_VERSION + b"R"


def make_user_roles_key(address: str) -> bytes:
    return SCHEMA_VERSION + b"U" + address.encode("utf-8")


def make_participant_key(address: str) -> bytes:
    return SCHEMA_VERSION + b"P" + address.encode("utf-8")


PARTICIPANT_PREFIX = SCHEMA_VERSION + b"P"


def make_light_client_key(ledger_hash: bytes) -> bytes:
    """This ledger's light client of another ledger (see ledger/light_client.py)."""
    return SCHEMA_VERSION + b"L" + ledger_hash
