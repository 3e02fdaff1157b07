"""The app's own index of captured events (SQLite, stdlib), rebuildable from the chain.

One row per event (its canonical JSON, the fields queries filter on, where it is on chain) and one
row per (identifier, role, event) in ``keys`` – a covering B-tree, so "every event of this item" is
one index range scan however many events are stored. Error declarations are kept beside the event
they correct. The stream cursor (``meta.cursor``) makes the chain follower resumable; deleting the
file and replaying the chain from height 0 rebuilds everything.

Connections are per thread (the API serves from a thread pool; the follower writes from its own
thread); WAL mode lets readers proceed while the follower writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable, Sequence

ROLE_EPC, ROLE_CHILD, ROLE_PARENT, ROLE_INPUT, ROLE_OUTPUT = 1, 2, 3, 4, 5
ROLE_CLASS, ROLE_INPUT_CLASS, ROLE_OUTPUT_CLASS = 6, 7, 8
ROLE_NAMES = {ROLE_EPC: "epc", ROLE_CHILD: "child", ROLE_PARENT: "parent", ROLE_INPUT: "input",
              ROLE_OUTPUT: "output", ROLE_CLASS: "class", ROLE_INPUT_CLASS: "input_class",
              ROLE_OUTPUT_CLASS: "output_class"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    action TEXT,
    biz_step TEXT,
    disposition TEXT,
    read_point TEXT,
    biz_location TEXT,
    transformation_id TEXT,
    org TEXT NOT NULL,
    tx_hash TEXT NOT NULL,
    height INTEGER NOT NULL,
    digest TEXT NOT NULL,
    json TEXT NOT NULL,
    error_json TEXT
);
CREATE INDEX IF NOT EXISTS events_time ON events(event_time);
CREATE INDEX IF NOT EXISTS events_step ON events(biz_step, event_time);
CREATE INDEX IF NOT EXISTS events_read_point ON events(read_point, event_time);
CREATE INDEX IF NOT EXISTS events_location ON events(biz_location, event_time);
CREATE INDEX IF NOT EXISTS events_transformation ON events(transformation_id) WHERE transformation_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS keys (
    key TEXT NOT NULL,
    role INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, role, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS brands (prefix TEXT PRIMARY KEY, brand TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partners (prefix TEXT NOT NULL, partner TEXT NOT NULL, PRIMARY KEY (prefix, partner));
CREATE TABLE IF NOT EXISTS organisations (address TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scans (key TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS proofs (hash TEXT PRIMARY KEY, bundle TEXT NOT NULL, verified_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attrs (
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (name, value, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS capture_jobs (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    created INTEGER NOT NULL,
    finished INTEGER,
    state TEXT NOT NULL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS named_queries (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    definition TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    query TEXT NOT NULL,
    owner TEXT NOT NULL,
    destination TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    created INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS fields (
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    number REAL,
    millis INTEGER,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fields_value ON fields(name, value);
CREATE INDEX IF NOT EXISTS fields_number ON fields(name, number) WHERE number IS NOT NULL;
CREATE INDEX IF NOT EXISTS fields_millis ON fields(name, millis) WHERE millis IS NOT NULL;
CREATE TABLE IF NOT EXISTS master_elements (
    id TEXT NOT NULL,
    vocabulary TEXT NOT NULL,
    org TEXT,
    PRIMARY KEY (id, vocabulary)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS master_attributes (
    id TEXT NOT NULL,
    vocabulary TEXT NOT NULL,
    attribute TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (id, vocabulary, attribute)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS master_attributes_by_name ON master_attributes(attribute, value);
CREATE TABLE IF NOT EXISTS master_data (
    id TEXT NOT NULL,
    attribute TEXT NOT NULL,
    value TEXT NOT NULL,
    vocabulary TEXT NOT NULL,
    PRIMARY KEY (id, attribute)
) WITHOUT ROWID;
"""

ADDED_COLUMNS = (("record_time", "INTEGER"), ("event_id", "TEXT"))
"""Columns added after the first release: created on an older index file when it is opened."""

_DECLARED_ONLY_SQL = "SELECT error_json IS NOT NULL, json_type(json, '$.errorDeclaration') IS NOT NULL"
"""(declared?, the row holds only a declaration's copy of the event?) of an events row."""

ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS events_record_time ON events(record_time);
CREATE INDEX IF NOT EXISTS events_event_id ON events(event_id);
"""


@dataclass(frozen=True, slots=True)
class IndexedEvent:
    """One event ready for the index (see ``service.PreparedEvent.indexed``)."""

    hash: str
    event_type: str
    event_time: int
    action: str | None
    biz_step: str | None
    disposition: str | None
    read_point: str | None
    biz_location: str | None
    transformation_id: str | None
    digest: str
    json: str
    keys: tuple[tuple[str, int], ...]
    error_json: str | None = None
    event_id: str | None = None
    """The eventID as the capturer gave it (our hash ID when none was given)."""
    attrs: tuple[tuple[str, str], ...] = ()
    """(name, value) pairs other query parameters match: ``bizTransaction:<type URI>``, ``source:<type>``,
    ``destination:<type>``, ``errorReason``, ``correctiveEventID``, ``persistentDisposition``..."""
    fields: tuple[tuple[str, str, float | None, int | None], ...] = ()
    """Extension field occurrences (``extension_fields.field_rows``): what EQ_/GT_/EXISTS_[INNER_]… match."""


@dataclass(frozen=True)
class EventRow:
    """An indexed event as read back. ``text`` / ``error_text`` are the stored JSON; ``event`` and
    ``error`` parse it on first use only (a history query forwards most events without reading them)."""

    seq: int
    hash: str
    event_type: str
    event_time: int
    org: str
    tx_hash: str
    height: int
    digest: str
    text: str
    error_text: str | None
    record_time: int | None = None
    roles: frozenset[int] = frozenset()
    """The roles (``ROLE_*``) the looked-up identifier has in this event (``events_by_key`` only)."""

    @cached_property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.text))

    @cached_property
    def error(self) -> dict[str, Any] | None:
        return None if self.error_text is None else dict(json.loads(self.error_text))



class TraceStore:
    """SQLite index; every method is safe to call from any thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._connection() as connection:
            connection.executescript(SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(events)")}
            for name, kind in ADDED_COLUMNS:
                if name not in columns:
                    connection.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}")
            connection.executescript(ADDED_INDEXES)
            self._backfill_fields(connection)
            self._migrate_master_data(connection)

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA cache_size=-65536")
            self._local.connection = connection
            self._all_connections().append(connection)
        return connection

    def _all_connections(self) -> list[sqlite3.Connection]:
        if not hasattr(self, "_connections"):
            self._connections: list[sqlite3.Connection] = []
        return self._connections

    def close(self) -> None:
        for connection in self._all_connections():
            try:
                connection.close()
            except sqlite3.ProgrammingError:
                pass
        self._connections = []
        self._local = threading.local()

    # --- writes -------------------------------------------------------------------------------

    def add_events(self, events: Sequence[IndexedEvent], org: str, tx_hash: str, height: int) -> int:
        """Index a committed capture (idempotent: events already indexed are skipped)."""
        added = 0
        with self._write_lock:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                now = int(time.time() * 1000)
                for event in events:
                    if event.error_json is not None:
                        connection.execute("UPDATE events SET error_json = ? WHERE hash = ?",
                                           (event.error_json, event.hash))
                        row = connection.execute("SELECT seq FROM events WHERE hash = ?", (event.hash,)).fetchone()
                        # no row: a declaration of an event recorded elsewhere, indexed (below) from the
                        # copy of the event it carries
                        if row is not None:
                            connection.executemany("INSERT OR IGNORE INTO attrs (name, value, seq) VALUES (?, ?, ?)",
                                                   [(name, value, row[0]) for name, value in event.attrs
                                                    if name in ("errorReason", "correctiveEventID")])
                            connection.execute("DELETE FROM fields WHERE seq = ? AND name LIKE '%ERROR_DECLARATION|%'",
                                               (row[0],))
                            self._insert_fields(connection, row[0], [f for f in event.fields
                                                                     if "ERROR_DECLARATION|" in f[0]])
                            continue
                    cursor = connection.execute(
                        "INSERT OR IGNORE INTO events (hash, event_type, event_time, action, biz_step, disposition,"
                        " read_point, biz_location, transformation_id, org, tx_hash, height, digest, json,"
                        " record_time, event_id, error_json)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (event.hash, event.event_type, event.event_time, event.action, event.biz_step,
                         event.disposition, event.read_point, event.biz_location, event.transformation_id,
                         org, tx_hash, height, event.digest, event.json, now, event.event_id or event.hash,
                         event.error_json),
                    )
                    if cursor.rowcount == 0:
                        # indexed already; if the row holds only a declaration's copy of this event (the
                        # declaration came first), the event as recorded takes its place beside it
                        replaced = connection.execute(
                            "UPDATE events SET json = ?, digest = ?, org = ?, tx_hash = ?, height = ?, event_id = ?"
                            " WHERE hash = ? AND json_type(json, '$.errorDeclaration') IS NOT NULL",
                            (event.json, event.digest, org, tx_hash, height, event.event_id or event.hash, event.hash))
                        if replaced.rowcount:  # a proof of the declaration's record no longer fits the row
                            connection.execute("DELETE FROM proofs WHERE hash = ?", (event.hash,))
                        continue
                    seq = cursor.lastrowid
                    connection.executemany("INSERT OR IGNORE INTO keys (key, role, seq) VALUES (?, ?, ?)",
                                           [(key, role, seq) for key, role in event.keys])
                    connection.executemany("INSERT OR IGNORE INTO attrs (name, value, seq) VALUES (?, ?, ?)",
                                           [(name, value, seq) for name, value in event.attrs])
                    self._insert_fields(connection, seq, event.fields)
                    added += 1
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return added

    @staticmethod
    def _insert_fields(connection: sqlite3.Connection, seq: int | None,
                       rows: Iterable[tuple[str, str, float | None, int | None]]) -> None:
        connection.executemany("INSERT INTO fields (name, value, number, millis, seq) VALUES (?, ?, ?, ?, ?)",
                               [(name, value, number, millis, seq) for name, value, number, millis in rows])

    def _backfill_fields(self, connection: sqlite3.Connection) -> None:
        """Index the extension fields of events indexed before the ``fields`` table existed."""
        from baas.apps.traceability.extension_fields import field_rows

        if connection.execute("SELECT v FROM meta WHERE k = 'fields_indexed'").fetchone() is not None:
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            for seq, text, error in connection.execute("SELECT seq, json, error_json FROM events").fetchall():
                self._insert_fields(connection, seq, field_rows(json.loads(text),
                                                                None if error is None else json.loads(error)))
            connection.execute("INSERT OR REPLACE INTO meta VALUES ('fields_indexed', '1')")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def set_brand(self, prefix: str, brand: str, name: str) -> None:
        with self._write_lock:
            self._connection().execute("INSERT OR REPLACE INTO brands VALUES (?, ?, ?)", (prefix, brand, name))

    def set_partner(self, prefix: str, partner: str, authorised: bool) -> None:
        with self._write_lock:
            if authorised:
                self._connection().execute("INSERT OR IGNORE INTO partners VALUES (?, ?)", (prefix, partner))
            else:
                self._connection().execute("DELETE FROM partners WHERE prefix = ? AND partner = ?", (prefix, partner))

    def set_organisation(self, address: str, name: str) -> None:
        with self._write_lock:
            self._connection().execute("INSERT OR REPLACE INTO organisations VALUES (?, ?)", (address, name))

    def organisation(self, address: str) -> str | None:
        row = self._connection().execute("SELECT name FROM organisations WHERE address = ?", (address,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._write_lock:
            self._connection().execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self._connection().execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def count_scan(self, key: str) -> int:
        with self._write_lock:
            connection = self._connection()
            connection.execute("INSERT INTO scans VALUES (?, 1) ON CONFLICT(key) DO UPDATE SET count = count + 1",
                               (key,))
            row = connection.execute("SELECT count FROM scans WHERE key = ?", (key,)).fetchone()
        return int(row[0])

    def save_proof(self, event_hash: str, bundle: dict[str, Any]) -> None:
        with self._write_lock:
            self._connection().execute("INSERT OR REPLACE INTO proofs VALUES (?, ?, ?)",
                                       (event_hash, json.dumps(bundle), int(time.time())))

    # --- reads --------------------------------------------------------------------------------

    def get_proof(self, event_hash: str) -> dict[str, Any] | None:
        row = self._connection().execute("SELECT bundle FROM proofs WHERE hash = ?", (event_hash,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def brands(self) -> dict[str, tuple[str, str]]:
        rows = self._connection().execute("SELECT prefix, brand, name FROM brands").fetchall()
        return {prefix: (brand, name) for prefix, brand, name in rows}

    def partners(self, prefix: str) -> list[str]:
        rows = self._connection().execute("SELECT partner FROM partners WHERE prefix = ?", (prefix,)).fetchall()
        return [row[0] for row in rows]

    def known_hashes(self, hashes: Iterable[str]) -> dict[str, tuple[bool, bool]]:
        """hash → (has an error declaration, the event itself is recorded), for the hashes indexed.

        A row made from a declaration of an event recorded elsewhere holds the declaration's copy of
        the event (with ``errorDeclaration`` in its JSON) until the event itself is captured."""
        found: dict[str, tuple[bool, bool]] = {}
        connection = self._connection()
        for event_hash in hashes:
            row = connection.execute(_DECLARED_ONLY_SQL + " FROM events WHERE hash = ?", (event_hash,)).fetchone()
            if row is not None:
                found[event_hash] = (bool(row[0]), not row[1])
        return found

    def count_events(self) -> int:
        return int(self._connection().execute("SELECT count(*) FROM events").fetchone()[0])

    def query(self, where: list[str], params: list[Any], after: tuple[int | None, int] | int, limit: int,
              order_by: str | None = None, descending: bool = False) -> list[EventRow]:
        """Events matching ``where`` in (``order_by`` column, seq) order, after the cursor ``after``.

        ``order_by`` is ``event_time`` or ``record_time`` (None: capture order); ``after`` is the last
        row's (ordering value, seq), or a seq for capture order.
        """
        sql = ("SELECT seq, hash, event_type, event_time, org, tx_hash, height, digest, json, error_json, record_time"
               " FROM events e WHERE ")
        direction = "DESC" if descending else "ASC"
        if order_by in ("event_time", "record_time"):
            value, seq = after if isinstance(after, tuple) else (None, 0)
            if value is None:
                cursor_sql, cursor_params = "1", []
            else:
                cursor_sql = f"(COALESCE(e.{order_by}, 0), e.seq) {'<' if descending else '>'} (?, ?)"
                cursor_params = [value, seq]
            order = f" ORDER BY COALESCE(e.{order_by}, 0) {direction}, e.seq {direction}"
        else:
            seq = after[1] if isinstance(after, tuple) else after
            if descending:
                cursor_sql, cursor_params = ("e.seq < ?", [seq]) if seq else ("1", [])
            else:
                cursor_sql, cursor_params = "e.seq > ?", [seq]
            order = f" ORDER BY e.seq {direction}"
        sql += cursor_sql
        if where:
            sql += " AND " + " AND ".join(where)
        sql += order + " LIMIT ?"
        rows = self._connection().execute(sql, [*cursor_params, *params, limit]).fetchall()
        return [_row(row) for row in rows]

    def get_event_by_id(self, event_id: str) -> EventRow | None:
        """The event whose given eventID or hash ID is ``event_id``."""
        row = self._connection().execute(
            "SELECT seq, hash, event_type, event_time, org, tx_hash, height, digest, json, error_json, record_time"
            " FROM events WHERE event_id = ? OR hash = ? ORDER BY seq LIMIT 1", (event_id, event_id)).fetchone()
        return None if row is None else _row(row)

    def distinct_values(self, column: str, limit: int, after: str = "") -> list[str]:
        """Distinct non-null values of an indexed events column (event_type, biz_step, read_point, ...)."""
        if column not in ("event_type", "biz_step", "disposition", "read_point", "biz_location"):
            raise ValueError(f"not a listable column: {column}")
        rows = self._connection().execute(
            f"SELECT DISTINCT {column} FROM events WHERE {column} IS NOT NULL AND {column} > ? ORDER BY {column}"
            " LIMIT ?", (after, limit)).fetchall()
        return [row[0] for row in rows]

    # --- capture jobs, named queries, subscriptions (EPCIS 2.0 REST binding) ------------------------

    def create_job(self, job_id: str, org: str) -> None:
        with self._write_lock:
            self._connection().execute("INSERT INTO capture_jobs (id, org, created, state) VALUES (?, ?, ?, ?)",
                                       (job_id, org, int(time.time() * 1000), "running"))

    def finish_job(self, job_id: str, state: str, result: dict[str, Any]) -> None:
        with self._write_lock:
            self._connection().execute("UPDATE capture_jobs SET state = ?, result = ?, finished = ? WHERE id = ?",
                                       (state, json.dumps(result), int(time.time() * 1000), job_id))

    def job(self, job_id: str) -> dict[str, Any] | None:
        row = self._connection().execute("SELECT id, org, created, finished, state, result FROM capture_jobs"
                                          " WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "org": row[1], "created": row[2], "finished": row[3], "state": row[4],
                "result": None if row[5] is None else json.loads(row[5])}

    def jobs(self, org: str, limit: int = 100) -> list[str]:
        rows = self._connection().execute("SELECT id FROM capture_jobs WHERE org = ? ORDER BY created DESC LIMIT ?",
                                          (org, limit)).fetchall()
        return [row[0] for row in rows]

    def save_query(self, name: str, owner: str, definition: dict[str, Any]) -> bool:
        """Store a named query; False if the name is taken."""
        with self._write_lock:
            cursor = self._connection().execute(
                "INSERT OR IGNORE INTO named_queries (name, owner, definition, created) VALUES (?, ?, ?, ?)",
                (name, owner, json.dumps(definition), int(time.time() * 1000)))
        return cursor.rowcount == 1

    def named_query(self, name: str) -> dict[str, Any] | None:
        row = self._connection().execute("SELECT name, owner, definition FROM named_queries WHERE name = ?",
                                         (name,)).fetchone()
        return None if row is None else {"name": row[0], "owner": row[1], "query": json.loads(row[2])}

    def named_queries(self) -> list[dict[str, Any]]:
        rows = self._connection().execute("SELECT name, definition FROM named_queries ORDER BY name").fetchall()
        return [{"name": name, "query": json.loads(definition)} for name, definition in rows]

    def delete_query(self, name: str) -> None:
        with self._write_lock:
            connection = self._connection()
            connection.execute("DELETE FROM subscriptions WHERE query = ?", (name,))
            connection.execute("DELETE FROM named_queries WHERE name = ?", (name,))

    def add_subscription(self, subscription_id: str, query: str, owner: str, destination: str, cursor: int) -> None:
        with self._write_lock:
            self._connection().execute(
                "INSERT INTO subscriptions (id, query, owner, destination, cursor, created) VALUES (?, ?, ?, ?, ?, ?)",
                (subscription_id, query, owner, destination, cursor, int(time.time() * 1000)))

    def subscriptions(self, query: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT id, query, owner, destination, cursor, created, delivered, failures, last_error"
               " FROM subscriptions")
        params: tuple[Any, ...] = ()
        if query is not None:
            sql += " WHERE query = ?"
            params = (query,)
        names = ("id", "query", "owner", "destination", "cursor", "created", "delivered", "failures", "lastError")
        return [dict(zip(names, row)) for row in self._connection().execute(sql + " ORDER BY created", params)]

    def advance_subscription(self, subscription_id: str, cursor: int, delivered: int) -> None:
        with self._write_lock:
            self._connection().execute(
                "UPDATE subscriptions SET cursor = ?, delivered = delivered + ?, failures = 0, last_error = NULL"
                " WHERE id = ?", (cursor, delivered, subscription_id))

    def fail_subscription(self, subscription_id: str, error: str) -> None:
        with self._write_lock:
            self._connection().execute("UPDATE subscriptions SET failures = failures + 1, last_error = ? WHERE id = ?",
                                       (error[:500], subscription_id))

    def delete_subscription(self, subscription_id: str) -> None:
        with self._write_lock:
            self._connection().execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))

    def last_seq(self) -> int:
        row = self._connection().execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return int(row[0])

    # --- master data ------------------------------------------------------------------------------

    def set_master_data(self, vocabulary: str, element_id: str, attributes: dict[str, str],
                        org: str | None = None) -> None:
        """Replace the master data of one element of one vocabulary (its latest committed description).

        The same id may be described in several vocabularies (a GLN as BusinessLocation and as
        ReadPoint, as in GS1's example 9.8.1); each keeps its own attributes.
        """
        with self._write_lock:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute("DELETE FROM master_attributes WHERE id = ? AND vocabulary = ?",
                                   (element_id, vocabulary))
                connection.executemany(
                    "INSERT INTO master_attributes (id, vocabulary, attribute, value) VALUES (?, ?, ?, ?)",
                    [(element_id, vocabulary, name, value) for name, value in attributes.items()])
                connection.execute("INSERT OR REPLACE INTO master_elements (id, vocabulary, org) VALUES (?, ?, ?)",
                                   (element_id, vocabulary, org))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def _migrate_master_data(self, connection: sqlite3.Connection) -> None:
        """Move master data of an index from before vocabularies were kept apart (table ``master_data``)."""
        if connection.execute("SELECT v FROM meta WHERE k = 'master_attributes'").fetchone() is not None:
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("INSERT OR IGNORE INTO master_attributes (id, vocabulary, attribute, value)"
                               " SELECT id, vocabulary, attribute, value FROM master_data")
            connection.execute("INSERT OR IGNORE INTO master_elements (id, vocabulary, org)"
                               " SELECT DISTINCT id, vocabulary, NULL FROM master_data")
            connection.execute("INSERT OR REPLACE INTO meta VALUES ('master_attributes', '1')")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def master_data_owner(self, vocabulary: str, element_id: str) -> str | None:
        """The organisation whose description of ``element_id`` in ``vocabulary`` is recorded (None: none)."""
        row = self._connection().execute("SELECT org FROM master_elements WHERE id = ? AND vocabulary = ?",
                                         (element_id, vocabulary)).fetchone()
        return None if row is None else row[0]

    def master_data(self, element_id: str) -> dict[str, str]:
        """Every attribute of an element, over all vocabularies that describe it."""
        rows = self._connection().execute("SELECT attribute, value FROM master_attributes WHERE id = ?"
                                          " ORDER BY vocabulary", (element_id,)).fetchall()
        return {name: value for name, value in rows}

    def master_data_attribute(self, element_ids: Sequence[str], attribute: str) -> list[str]:
        """The values of one attribute for several elements (those that have it)."""
        values: list[str] = []
        for start in range(0, len(element_ids), 500):
            chunk = list(element_ids[start:start + 500])
            rows = self._connection().execute(
                f"SELECT value FROM master_attributes WHERE attribute = ? AND id IN ({','.join('?' * len(chunk))})",
                [attribute, *chunk]).fetchall()
            values.extend(value for (value,) in rows)
        return values

    def vocabulary_elements(self, where: list[str], params: list[Any], limit: int) -> list[dict[str, Any]]:
        """Elements ``{type, id, attributes}`` of ``master_elements m`` rows matching ``where``, by (type, id)."""
        sql = "SELECT m.vocabulary, m.id FROM master_elements m"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._connection().execute(sql + " ORDER BY m.vocabulary, m.id LIMIT ?", [*params, limit]).fetchall()
        elements = []
        for vocabulary, element_id in rows:
            attributes = self._connection().execute(
                "SELECT attribute, value FROM master_attributes WHERE id = ? AND vocabulary = ? ORDER BY attribute",
                (element_id, vocabulary)).fetchall()
            elements.append({"type": vocabulary, "id": element_id, "attributes": dict(attributes)})
        return elements

    def events_by_key(self, key: str, roles: Sequence[int], prefix: bool = False) -> list[EventRow]:
        """Events where ``key`` appears in one of ``roles`` (``prefix``: every key under a GTIN), in
        capture order, each with the roles it gives the key (``EventRow.roles``)."""
        marks = ",".join("?" * len(roles))
        if prefix:
            condition = f"(k.key = ? OR (k.key >= ? AND k.key < ?)) AND k.role IN ({marks})"
            params: list[Any] = [key, key + "/", key + "0", *roles]
        else:
            condition = f"k.key = ? AND k.role IN ({marks})"
            params = [key, *roles]
        rows = self._connection().execute(
            "SELECT e.seq, e.hash, e.event_type, e.event_time, e.org, e.tx_hash, e.height, e.digest,"
            f" e.json, e.error_json, e.record_time, group_concat(k.role) FROM keys k JOIN events e ON e.seq = k.seq"
            f" WHERE {condition} GROUP BY e.seq ORDER BY e.seq",
            params,
        ).fetchall()
        return [_row(row[:11], frozenset(int(role) for role in str(row[11]).split(","))) for row in rows]

    def key_roles(self, seq: int) -> list[tuple[str, int]]:
        return [(k, r) for k, r in self._connection().execute(
            "SELECT key, role FROM keys WHERE seq = ?", (seq,)).fetchall()]

    def events_by_transformation(self, transformation_id: str) -> list[EventRow]:
        rows = self._connection().execute(
            "SELECT seq, hash, event_type, event_time, org, tx_hash, height, digest, json, error_json, record_time"
            " FROM events WHERE transformation_id = ? ORDER BY seq", (transformation_id,)).fetchall()
        return [_row(row) for row in rows]

    def get_event(self, event_hash: str) -> EventRow | None:
        row = self._connection().execute(
            "SELECT seq, hash, event_type, event_time, org, tx_hash, height, digest, json, error_json, record_time"
            " FROM events WHERE hash = ?", (event_hash,)).fetchone()
        return None if row is None else _row(row)


def _row(row: tuple[Any, ...], roles: frozenset[int] = frozenset()) -> EventRow:
    return EventRow(
        seq=row[0], hash=row[1], event_type=row[2], event_time=row[3], org=row[4], tx_hash=row[5], height=row[6],
        digest=row[7], text=row[8], error_text=row[9],
        record_time=row[10] if len(row) > 10 else None, roles=roles,
    )
