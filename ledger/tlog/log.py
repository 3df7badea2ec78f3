"""The tamper-evident log, built into eventsourcing's own recorders.

Every event eventsourcing records gets, in the same database transaction:
- a global sequence number `seq` (0-based, gap-free: the event's leaf index in the Merkle tree);
- `leaf = SHA-256(0x00 || canonical event bytes)` (see `ledger.tlog.canonical`);
- `chain = SHA-256(chain_{seq-1} || leaf)`, with 32 zero bytes before the first event;
- the interior nodes of the RFC 9162 Merkle tree that the new leaf completes.

So no committed event ever sits outside the chain, and any tree root, inclusion proof or
consistency proof is built from O(log n) stored nodes, never from all leaves.

The recorders subclass eventsourcing's SQLite and PostgreSQL application recorders and are
selected with eventsourcing's own `APPLICATION_RECORDER_TOPIC` setting (the PostgreSQL one lives
in `ledger.tlog.log_postgres`, so that a SQLite ledger never imports psycopg). eventsourcing already
serialises writers (SQLite's write lock; an EXCLUSIVE table lock on PostgreSQL), and this module
relies on that: the head of the log read inside the insert transaction cannot move under us.
"""

from __future__ import annotations

import threading
from base64 import b64encode
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ledger.errors import InvalidInput, LedgerError, NotFound
from ledger.tlog.canonical import canonical_event, originator_hex
from ledger.tlog.merkle import (
    ZERO_CHAIN,
    CompactRange,
    chain_hash,
    consistency_proof,
    frontier_nodes,
    inclusion_proof,
    leaf_hash,
    root,
)

SCHEMA_LOCK = 0x0C1A1B  # PostgreSQL advisory lock id for schema creation

_LOG_TABLES = ("log_leaves", "log_nodes", "log_checkpoints", "log_cosignatures", "log_published")


def sqlite_schema(events_table: str) -> list[str]:
    """Log tables, and triggers that refuse UPDATE and DELETE on them and on the events."""
    return [
        "CREATE TABLE IF NOT EXISTS log_leaves ("
        " seq INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL UNIQUE,"
        " leaf BLOB NOT NULL, chain BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS log_nodes ("
        " level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
        " PRIMARY KEY (level, idx)) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS log_checkpoints ("
        " tree_size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL,"
        " signed_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS log_cosignatures ("
        " tree_size INTEGER NOT NULL, witness TEXT NOT NULL, key_id INTEGER NOT NULL, line TEXT NOT NULL,"
        " timestamp INTEGER NOT NULL, PRIMARY KEY (tree_size, witness, key_id))",
        "CREATE TABLE IF NOT EXISTS log_published (tree_size INTEGER PRIMARY KEY, published_at TEXT NOT NULL)",
        *(
            f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
            f"BEGIN SELECT RAISE(ABORT, 'OneClaim log tables are append-only'); END"
            for t in (events_table, *_LOG_TABLES)
            for op in ("UPDATE", "DELETE")
        ),
    ]


def postgres_schema(events_table: str) -> list[str]:
    """Log tables, and triggers that refuse UPDATE, DELETE and TRUNCATE on them and the events."""
    return [
        "CREATE TABLE IF NOT EXISTS log_leaves ("
        " seq BIGINT PRIMARY KEY, notification_id BIGINT NOT NULL UNIQUE,"
        " leaf BYTEA NOT NULL, chain BYTEA NOT NULL)",
        "CREATE TABLE IF NOT EXISTS log_nodes ("
        " level INTEGER NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL,"
        " PRIMARY KEY (level, idx))",
        "CREATE TABLE IF NOT EXISTS log_checkpoints ("
        " tree_size BIGINT PRIMARY KEY, root BYTEA NOT NULL, note TEXT NOT NULL,"
        " signed_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS log_cosignatures ("
        " tree_size BIGINT NOT NULL, witness TEXT NOT NULL, key_id BIGINT NOT NULL, line TEXT NOT NULL,"
        " timestamp BIGINT NOT NULL, PRIMARY KEY (tree_size, witness, key_id))",
        "CREATE TABLE IF NOT EXISTS log_published (tree_size BIGINT PRIMARY KEY, published_at TEXT NOT NULL)",
        "CREATE OR REPLACE FUNCTION oneclaim_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'OneClaim log tables are append-only (% on %)',"
        " TG_OP, TG_TABLE_NAME; END $$",
        *(
            f"CREATE OR REPLACE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE"
            f" ON {t} FOR EACH STATEMENT EXECUTE FUNCTION oneclaim_append_only()"
            for t in (events_table, *_LOG_TABLES)
        ),
    ]


@dataclass(frozen=True)
class LeafRecord:
    seq: int
    notification_id: int
    leaf: bytes
    chain: bytes


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    root_hash: bytes
    hashes: list[bytes]

    def to_json(self) -> dict:
        """The form `oneclaim log prove-inclusion` prints: hashes in base64."""
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": b64encode(self.leaf_hash).decode(),
            "root_hash": b64encode(self.root_hash).decode(),
            "hashes": [b64encode(h).decode() for h in self.hashes],
        }


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    hashes: list[bytes]

    def to_json(self) -> dict:
        """The form `oneclaim log prove-consistency` prints: hashes in base64."""
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": b64encode(self.old_root).decode(),
            "new_root": b64encode(self.new_root).decode(),
            "hashes": [b64encode(h).decode() for h in self.hashes],
        }


@dataclass(frozen=True)
class StoredCheckpoint:
    tree_size: int
    root: bytes
    note: str
    signed_at: str


Cursor = Any  # an eventsourcing SQLite cursor or a psycopg cursor with dict rows


class LogStore:
    """Reads and appends the log tables. SQL is written with `?` and adapted per dialect."""

    def __init__(
        self,
        dialect: str,
        read_cursor: Callable[[], AbstractContextManager[Cursor]],
        write_cursor: Callable[[], AbstractContextManager[Cursor]],
        events_table: str = "stored_events",
    ) -> None:
        self.dialect = dialect
        self.events_table = events_table
        self._read_cursor = read_cursor
        self._write_cursor = write_cursor
        self._lock = threading.Lock()
        # (size, chain, frontier) after this process's last append; checked against the
        # database head before use, so a rolled-back append or another writer only costs a reload.
        self._frontier: tuple[int, bytes, CompactRange] | None = None

    def _sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    # ----------------------------------------------------------------- write path

    def append(self, cur: Cursor, items: Sequence[tuple[int, bytes]]) -> list[int]:
        """Give each (notification_id, canonical_bytes) its seq, leaf and chain, in `cur`'s
        transaction, which must be the one inserting the events."""
        with self._lock:
            size, chain = self._head(cur)
            frontier = self._load_frontier(cur, size, chain)
            leaves, nodes = [], []

            def on_node(level: int, index: int, digest: bytes) -> None:
                nodes.append((level, index, digest))

            first = size
            for notification_id, data in items:
                leaf = leaf_hash(data)
                chain = chain_hash(chain, leaf)
                leaves.append((size, notification_id, leaf, chain))
                frontier.append(leaf, on_node)
                size += 1
            cur.executemany(
                self._sql("INSERT INTO log_leaves (seq, notification_id, leaf, chain) VALUES (?,?,?,?)"),
                leaves,
            )
            if nodes:
                cur.executemany(self._sql("INSERT INTO log_nodes (level, idx, hash) VALUES (?,?,?)"), nodes)
            self._frontier = (size, chain, frontier)
            return list(range(first, size))

    def _head(self, cur: Cursor) -> tuple[int, bytes]:
        cur.execute(self._sql("SELECT seq, chain FROM log_leaves ORDER BY seq DESC LIMIT 1"))
        row = cur.fetchone()
        if row is None:
            return 0, ZERO_CHAIN
        return row["seq"] + 1, bytes(row["chain"])

    def _load_frontier(self, cur: Cursor, size: int, chain: bytes) -> CompactRange:
        cached = self._frontier
        if cached is not None and cached[0] == size and cached[1] == chain:
            return cached[2]
        return CompactRange.from_frontier(size, self._get_nodes(cur, frontier_nodes(size)))

    # ----------------------------------------------------------------- read path

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        with self._read_cursor() as cur:
            yield cur

    def _get_nodes(self, cur: Cursor, addresses: list[tuple[int, int]]) -> list[bytes]:
        """Fetch perfect-subtree hashes by (level, index) in one or two indexed queries."""
        found: dict[tuple[int, int], bytes] = {}
        seqs = sorted({i for level, i in addresses if level == 0})
        pairs = sorted({(level, i) for level, i in addresses if level > 0})
        if seqs:
            marks = ",".join("?" * len(seqs))
            cur.execute(self._sql(f"SELECT seq, leaf FROM log_leaves WHERE seq IN ({marks})"), seqs)
            found.update(((0, r["seq"]), bytes(r["leaf"])) for r in cur.fetchall())
        if pairs:
            # One point-lookup branch per level, so both SQLite and PostgreSQL use the primary key.
            by_level: dict[int, list[int]] = {}
            for level, i in pairs:
                by_level.setdefault(level, []).append(i)
            branches, params = [], []
            for level, idxs in by_level.items():
                marks = ",".join("?" * len(idxs))
                branches.append(f"SELECT level, idx, hash FROM log_nodes WHERE level = ? AND idx IN ({marks})")
                params += [level, *idxs]
            cur.execute(self._sql(" UNION ALL ".join(branches)), params)
            found.update(((r["level"], r["idx"]), bytes(r["hash"])) for r in cur.fetchall())
        missing = [a for a in addresses if a not in found]
        if missing:
            raise LedgerError(
                f"the log is missing Merkle node(s) {missing[:3]}: the database was altered; "
                "run `oneclaim audit verify`",
                code="LOG_NODE_MISSING",
            )
        return [found[a] for a in addresses]

    def size(self) -> int:
        with self.reading() as cur:
            return self._head(cur)[0]

    def head(self) -> tuple[int, bytes, bytes]:
        """(tree size, chain hash, root hash) read in one transaction."""
        with self.reading() as cur:
            size, chain = self._head(cur)
            return size, chain, root(size, lambda a: self._get_nodes(cur, a))

    def root(self, size: int) -> bytes:
        with self.reading() as cur:
            self._check_size(cur, size)
            return root(size, lambda a: self._get_nodes(cur, a))

    def _check_size(self, cur: Cursor, size: int | None) -> int:
        """A tree size the log can prove against (None: the current size), read in one query."""
        current = self._head(cur)[0]
        if size is None:
            return current
        if not 0 <= size <= current:
            raise InvalidInput(
                f"tree size {size} is out of range: the log holds {current} events",
                code="TREE_SIZE_OUT_OF_RANGE",
                tree_size=size,
                log_size=current,
            )
        return size

    def leaf(self, seq: int) -> LeafRecord:
        with self.reading() as cur:
            cur.execute(
                self._sql("SELECT seq, notification_id, leaf, chain FROM log_leaves WHERE seq = ?"),
                [seq],
            )
            row = cur.fetchone()
        if row is None:
            raise NotFound(f"no event with sequence number {seq}", code="SEQ_NOT_FOUND", seq=seq)
        return LeafRecord(row["seq"], row["notification_id"], bytes(row["leaf"]), bytes(row["chain"]))

    def hashes(self, level: int, start: int, end: int) -> list[bytes]:
        """The perfect-subtree hashes at `level` with indexes in [start, end), in order (level 0:
        the leaves). Fewer if the tree does not hold them all yet."""
        with self.reading() as cur:
            if level == 0:
                sql = "SELECT leaf AS hash FROM log_leaves WHERE seq >= ? AND seq < ? ORDER BY seq"
                cur.execute(self._sql(sql), [start, end])
            else:
                sql = "SELECT hash FROM log_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx"
                cur.execute(self._sql(sql), [level, start, end])
            return [bytes(r["hash"]) for r in cur.fetchall()]

    def entries(self, start: int, end: int) -> list[bytes]:
        """The canonical bytes of the events with seq in [start, end), in order: exactly the
        bytes whose RFC 6962 leaf hash is each one's leaf."""
        key = "rowid" if self.dialect == "sqlite" else "notification_id"
        with self.reading() as cur:
            cur.execute(
                self._sql(
                    "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM log_leaves l"
                    f" JOIN {self.events_table} e ON e.{key} = l.notification_id"
                    " WHERE l.seq >= ? AND l.seq < ? ORDER BY l.seq"
                ),
                [start, end],
            )
            rows = cur.fetchall()
        return [
            canonical_event(originator_hex(r["originator_id"]), r["originator_version"], r["topic"], bytes(r["state"]))
            for r in rows
        ]

    def seq_of(self, originator_id: Any, originator_version: int) -> int | None:
        """The sequence number of one aggregate event, or None if it is not in the log."""
        key = "rowid" if self.dialect == "sqlite" else "notification_id"
        oid = originator_id.hex if self.dialect == "sqlite" else originator_id
        with self.reading() as cur:
            cur.execute(
                self._sql(
                    f"SELECT l.seq FROM log_leaves l JOIN {self.events_table} e ON e.{key} = l.notification_id"
                    " WHERE e.originator_id = ? AND e.originator_version = ?"
                ),
                [oid, originator_version],
            )
            row = cur.fetchone()
        return None if row is None else row["seq"]

    def versions_of(self, originator_id: Any, after_version: int, limit: int) -> list[tuple[int, int, str]]:
        """(version, seq, topic) of one aggregate's events after `after_version`, oldest first, at
        most `limit`."""
        key = "rowid" if self.dialect == "sqlite" else "notification_id"
        oid = originator_id.hex if self.dialect == "sqlite" else originator_id
        with self.reading() as cur:
            cur.execute(
                self._sql(
                    f"SELECT e.originator_version, l.seq, e.topic FROM {self.events_table} e"
                    f" JOIN log_leaves l ON l.notification_id = e.{key}"
                    " WHERE e.originator_id = ? AND e.originator_version > ? ORDER BY e.originator_version LIMIT ?"
                ),
                [oid, after_version, limit],
            )
            return [(r["originator_version"], r["seq"], r["topic"]) for r in cur.fetchall()]

    def seqs_for_notifications(self, notification_ids: Sequence[int]) -> dict[int, int]:
        if not notification_ids:
            return {}
        marks = ",".join("?" * len(notification_ids))
        with self.reading() as cur:
            cur.execute(
                self._sql(f"SELECT notification_id, seq FROM log_leaves WHERE notification_id IN ({marks})"),
                list(notification_ids),
            )
            return {r["notification_id"]: r["seq"] for r in cur.fetchall()}

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        with self.reading() as cur:
            size = self._check_size(cur, tree_size)
            if not 0 <= seq < size:
                raise InvalidInput(
                    f"sequence number {seq} is not in a tree of size {size}",
                    code="SEQ_OUT_OF_RANGE",
                    seq=seq,
                    tree_size=size,
                )
            get = lambda a: self._get_nodes(cur, a)  # noqa: E731
            return InclusionProof(
                leaf_index=seq,
                tree_size=size,
                leaf_hash=get([(0, seq)])[0],
                root_hash=root(size, get),
                hashes=inclusion_proof(seq, size, get),
            )

    def consistency_proof(self, old_size: int, new_size: int) -> ConsistencyProof:
        with self.reading() as cur:
            self._check_size(cur, new_size)
            if not 1 <= old_size <= new_size:
                # RFC 9162 defines consistency proofs for 0 < old size <= new size only.
                raise InvalidInput(
                    f"old size {old_size} must be between 1 and the new size {new_size}",
                    code="TREE_SIZE_OUT_OF_RANGE",
                    old_size=old_size,
                    new_size=new_size,
                )
            get = lambda a: self._get_nodes(cur, a)  # noqa: E731
            return ConsistencyProof(
                old_size=old_size,
                new_size=new_size,
                old_root=root(old_size, get),
                new_root=root(new_size, get),
                hashes=consistency_proof(old_size, new_size, get),
            )

    # ----------------------------------------------------------------- checkpoints

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self.reading() as cur:
            cur.execute("SELECT tree_size, root, note, signed_at FROM log_checkpoints ORDER BY tree_size")
            return [
                StoredCheckpoint(r["tree_size"], bytes(r["root"]), r["note"], r["signed_at"]) for r in cur.fetchall()
            ]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.reading() as cur:
            cur.execute("SELECT tree_size, root, note, signed_at FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1")
            r = cur.fetchone()
        return None if r is None else StoredCheckpoint(r["tree_size"], bytes(r["root"]), r["note"], r["signed_at"])

    # ----------------------------------------------------------------- witnesses' cosignatures

    def add_cosignatures(
        self, tree_size: int, cosignatures: Sequence[tuple[str, int, str, int]], *, publish: bool = False
    ) -> None:
        """Keep verified cosignature lines (witness key name, key ID, line, timestamp) of the
        checkpoint of `tree_size` (a witness's second line for one size keeps the first) and,
        with `publish`, record in the same transaction that it met the witness quorum."""
        with self._write_cursor() as cur:
            if cosignatures:
                cur.executemany(
                    self._sql(
                        "INSERT INTO log_cosignatures (tree_size, witness, key_id, line, timestamp)"
                        " VALUES (?,?,?,?,?) ON CONFLICT (tree_size, witness, key_id) DO NOTHING"
                    ),
                    [(tree_size, name, key_id, line, ts) for name, key_id, line, ts in cosignatures],
                )
            if publish:
                cur.execute(
                    self._sql(
                        "INSERT INTO log_published (tree_size, published_at) VALUES (?,?)"
                        " ON CONFLICT (tree_size) DO NOTHING"
                    ),
                    [tree_size, _now()],
                )

    def witness_sizes(self) -> dict[tuple[str, int], int]:
        """The largest size each witness (key name, key ID) has cosigned for this log."""
        with self.reading() as cur:
            cur.execute("SELECT witness, key_id, MAX(tree_size) AS size FROM log_cosignatures GROUP BY witness, key_id")
            return {(r["witness"], r["key_id"]): r["size"] for r in cur.fetchall()}

    def published_size(self) -> int | None:
        with self.reading() as cur:
            cur.execute("SELECT MAX(tree_size) AS size FROM log_published")
            r = cur.fetchone()
        return None if r is None else r["size"]

    def cosigned(self, cp: StoredCheckpoint) -> StoredCheckpoint:
        """The checkpoint with every cosignature line kept for it after the log's signature."""
        with self.reading() as cur:
            cur.execute(
                self._sql("SELECT line FROM log_cosignatures WHERE tree_size = ? ORDER BY witness, key_id"),
                [cp.tree_size],
            )
            lines = [r["line"] for r in cur.fetchall()]
        return StoredCheckpoint(cp.tree_size, cp.root, cp.note + "".join(lines), cp.signed_at)

    def current_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint readers are given, with its cosignatures: once a checkpoint has met a
        witness quorum, the latest that has (a newer one is not current until its quorum is met);
        before any, the latest signed."""
        published = self.published_size()
        if published is None:
            latest = self.latest_checkpoint()
        else:
            latest = next(cp for cp in self.checkpoints_between(published, published))
        return None if latest is None else self.cosigned(latest)

    def tlog_proof(self, seq: int, tree_size: int | None = None, *, with_event: bool = True) -> str:
        """A C2SP tlog-proof of entry `seq` (ledger/tlog/tlogproof.py): the event's canonical
        bytes (unless not `with_event`), its inclusion proof, and the checkpoint with its
        cosignatures; against the current checkpoint, or the signed one of `tree_size`."""
        from ledger.tlog.tlogproof import TlogProof

        if tree_size is None:
            cp = self.current_checkpoint()
            if cp is None:
                raise NotFound("no checkpoint has been signed yet", code="NO_CHECKPOINT")
        else:
            found = list(self.checkpoints_between(tree_size, tree_size))
            if not found:
                raise NotFound(f"no checkpoint of tree size {tree_size} is signed", code="CHECKPOINT_NOT_FOUND")
            cp = self.cosigned(found[0])
        if not 0 <= seq < cp.tree_size:
            raise InvalidInput(
                f"entry {seq} is not in the checkpoint of size {cp.tree_size}; a later published checkpoint"
                " will cover it",
                code="SEQ_NOT_COVERED",
            )
        proof = self.inclusion_proof(seq, cp.tree_size)
        event = self.entries(seq, seq + 1)[0] if with_event else None
        return TlogProof(seq, proof.hashes, cp.note, event).text()

    def checkpoints_between(self, lo: int, hi: int) -> Iterator[StoredCheckpoint]:
        with self.reading() as cur:
            cur.execute(
                self._sql(
                    "SELECT tree_size, root, note, signed_at FROM log_checkpoints"
                    " WHERE tree_size >= ? AND tree_size <= ? ORDER BY tree_size"
                ),
                [lo, hi],
            )
            rows = cur.fetchall()
        return iter([StoredCheckpoint(r["tree_size"], bytes(r["root"]), r["note"], r["signed_at"]) for r in rows])

    def add_checkpoint(self, tree_size: int, root_hash: bytes, note: str) -> StoredCheckpoint:
        """Store a signed checkpoint; storing the same tree size twice keeps the first."""
        signed_at = _now()
        conflict = "ON CONFLICT (tree_size) DO NOTHING"
        with self._write_cursor() as cur:
            cur.execute(
                self._sql(
                    f"INSERT INTO log_checkpoints (tree_size, root, note, signed_at) VALUES (?,?,?,?) {conflict}"
                ),
                [tree_size, root_hash, note, signed_at],
            )
        with self.reading() as cur:
            cur.execute(
                self._sql("SELECT tree_size, root, note, signed_at FROM log_checkpoints WHERE tree_size = ?"),
                [tree_size],
            )
            r = cur.fetchone()
        return StoredCheckpoint(r["tree_size"], bytes(r["root"]), r["note"], r["signed_at"])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _canonical_items(notification_ids: Sequence[int], stored_events: Sequence[StoredEvent]):
    return [
        (
            nid,
            canonical_event(originator_hex(s.originator_id), s.originator_version, s.topic, s.state),
        )
        for nid, s in zip(notification_ids, stored_events, strict=True)
    ]


class SQLiteLogRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder, plus the log tables in the same transaction."""

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        self.log = LogStore(
            "sqlite",
            lambda: self.datastore.transaction(commit=False),
            lambda: self.datastore.transaction(commit=True),
            self.events_table_name,
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            *sqlite_schema(self.events_table_name),
        ]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any):
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        self.log.append(c, _canonical_items(notification_ids, stored_events))
        return notification_ids
