"""Read models: SQL tables projected from the event log, for the questions aggregates answer badly.

An aggregate answers "what is batch X now"; it cannot cheaply answer "what does account A hold",
"which batches can expire" or "what ever happened to serial S". These `rm_` tables, in the ledger's
own database, answer them with indexed queries. They are a cache of the log, never a source of
truth: `rebuild()` drops them and replays every event, and `catch_up()` (which every query calls
first) applies whatever was appended since the tracking position.

Two rules keep the tables right:
- Batch events are applied to real `Batch` aggregates with `event.mutate`, and the tables are
  written from the aggregate's resulting range map and `supply()`. No range arithmetic is
  repeated here, so the read model cannot disagree with the domain about where a serial is.
- Each chunk of notifications is applied in one transaction together with the tracking position,
  so a crash never half-applies a chunk and a restart never applies one twice.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TextClause,
    bindparam,
    column,
    create_engine,
    delete,
    func,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex, CreateTable

from ledger.app import Ledger
from ledger.domain.batch import STATES, Batch, format_range, parse_serial
from ledger.domain.device import Device
from ledger.domain.participant import Account, Participant
from ledger.errors import InvalidInput, LedgerError, NotFound

TRACKING_NAME = "readmodel"
SCHEMA_LOCK = 0x0C1A1C  # PostgreSQL advisory lock id for rm_ schema changes (the log uses 0x0C1A1B)

metadata = MetaData()

tracking = Table(
    "rm_tracking",
    metadata,
    Column("name", String, primary_key=True),
    Column("position", BigInteger, nullable=False),  # last notification id applied; 0 = none
)

batches = Table(
    "rm_batches",
    metadata,
    Column("code", String, primary_key=True),
    Column("instrument", String, nullable=False, index=True),
    Column("quantity", BigInteger, nullable=False),
    Column("tradable", Boolean, nullable=False),
    Column("valid_through", Date, index=True),
    Column("origin", Text, nullable=False),  # JSON
    *(Column(state, BigInteger, nullable=False) for state in STATES),  # units per state
    Column("issued_seq", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),  # the aggregate version these totals reflect
    Column("span_classes", BigInteger, nullable=False),  # bit c set: rm_provenance has rows of span_class c
)

ranges = Table(
    "rm_ranges",
    metadata,
    Column("batch", String, primary_key=True),
    Column("start", BigInteger, primary_key=True),  # 0-based, half-open [start, end)
    Column("end", BigInteger, nullable=False),
    Column("holder", String, nullable=False),
    Column("state", String, nullable=False),
    Column("sales", Integer, nullable=False),
    Index("rm_ranges_holder", "holder", "batch"),
)

provenance = Table(
    "rm_provenance",
    metadata,
    Column("notification_id", BigInteger, primary_key=True),
    Column("start", BigInteger, primary_key=True),
    Column("end", BigInteger, nullable=False),
    Column("batch", String, nullable=False),
    Column("span_class", Integer, nullable=False),  # (end - start).bit_length(): see ReadModel.provenance
    Column("seq", BigInteger, nullable=False),  # the event's leaf index in the tamper-evident log
    Column("type", String, nullable=False),
    Column("detail", Text, nullable=False),  # JSON
    Column("timestamp", String, nullable=False),  # ISO 8601, UTC
    Index("rm_provenance_stab", "batch", "span_class", "start", "end"),
)

participants = Table(
    "rm_participants",
    metadata,
    Column("code", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("role", String, nullable=False),
    Column("province", String, nullable=False),
    Column("city", String, nullable=False),
)

accounts = Table(
    "rm_accounts",
    metadata,
    Column("account", String, primary_key=True),
    Column("owner", String, nullable=False, index=True),
    Column("purpose", String, nullable=False),
)

devices = Table(
    "rm_devices",
    metadata,
    Column("code", String, primary_key=True),
    Column("technology", String, nullable=False),
    Column("capacity_kw", BigInteger, nullable=False),
    Column("province", String, nullable=False),
    Column("city", String, nullable=False),
    Column("owner", String, nullable=False, index=True),
    Column("commissioned_on", String, nullable=False),
    Column("schemes", Text, nullable=False),  # JSON
)

BATCH_TOPICS = f"{Batch.__module__}:{Batch.__qualname__}."  # every Batch event's topic starts so
CREATED_ROWS = {  # created event -> (table, event attributes copied to its row)
    Participant.Registered: (participants, ("code", "name", "role", "province", "city")),
    Account.Opened: (accounts, ("account", "owner", "purpose")),
    Device.Registered: (
        devices,
        ("code", "technology", "capacity_kw", "province", "city", "owner", "commissioned_on", "schemes"),
    ),
}
CREATED_TOPICS = {f"{cls.__module__}:{cls.__qualname__}" for cls in CREATED_ROWS}
NOT_DETAIL = {"originator_id", "originator_version", "originator_topic", "timestamp", "ranges"}


POSITION = select(tracking.c.position).where(tracking.c.name == TRACKING_NAME)
# The tracking position and the log's newest notification id, in one round trip. Every committed
# event has its log_leaves row (same transaction), so this is eventsourcing's max notification id.
LOG_LEAVES = table("log_leaves", column("notification_id"))
HEAD = select(tracking.c.position, select(func.max(LOG_LEAVES.c.notification_id)).scalar_subquery()).where(
    tracking.c.name == TRACKING_NAME
)


def behind(conn: Connection) -> bool:
    position, head = conn.execute(HEAD).one()
    return position < (head or 0)


# The range holding a serial: the last range of its batch starting at or before it (primary key).
LOCATE = (
    select(ranges, batches.c.instrument, batches.c.valid_through, batches.c.origin, batches.c.span_classes)
    .join(batches, batches.c.code == ranges.c.batch)
    .where(ranges.c.batch == bindparam("code"), ranges.c.start <= bindparam("index"))
    .order_by(ranges.c.start.desc())
    .limit(1)
)


@lru_cache(maxsize=4096)
def stabbing_query(span_classes: int) -> TextClause:
    """The rm_provenance rows of batch :code that contain serial :index, for a batch whose rows
    fall in the span classes set in the bit mask `span_classes`.

    Why span classes: with an index on (batch, start) alone, finding the ranges that contain a
    point would scan every row of the batch that starts before it. Rows are therefore grouped by
    c = (end - start).bit_length(): a row of class c that contains serial i starts in
    (i - 2**c, i], so each class costs one bounded range scan of the (batch, span_class, start)
    index, and a row it reads that does not contain i contains serial i - 2**(c-1) instead. The
    cost follows the history of a few serials, not the size of the batch. Plain SQL text, cached
    per mask, because building the same statement with SQLAlchemy's expression language on every
    call costs more than running it."""
    return text(
        " UNION ALL ".join(
            'SELECT seq, "type", "timestamp", "start", "end", detail FROM rm_provenance'
            f' WHERE batch = :code AND span_class = {c} AND "start" <= :index AND "start" > :index - {1 << c}'
            ' AND "end" > :index'
            for c in range(span_classes.bit_length())
            if span_classes >> c & 1
        )
    )


def sqlalchemy_url(db_url: str) -> str:
    """The ledger's URL for SQLAlchemy: PostgreSQL goes through psycopg 3, like eventsourcing."""
    url = make_url(db_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def disjoint(spans: list) -> list[list[int]]:
    """An event's ranges sorted, with overlaps merged (a cancellation may name overlapping spans)."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


class _Chunk:
    """What one transaction changes: provenance rows to insert, and the batches it touched with
    their range maps as they were before the chunk (so each batch's rows are diffed once)."""

    def __init__(self) -> None:
        self.provenance: list[dict] = []
        self.touched: dict[str, tuple[Batch, set[tuple], int]] = {}  # code -> (batch, ranges before, classes)
        self.issued: dict[str, int] = {}  # code -> seq of its Issued event, for batches new in this chunk

    def touch(self, batch: Batch, before: list[list], span_class: int) -> None:
        if batch.code in self.touched:
            _, first, classes = self.touched[batch.code]
        else:
            first, classes = {tuple(r) for r in before}, 0
        self.touched[batch.code] = (batch, first, classes | 1 << span_class)


class ReadModel:
    """Queryable projections of a ledger, kept in the ledger's own database."""

    def __init__(self, ledger: Ledger, *, chunk_size: int = 500, cache_size: int = 1000) -> None:
        self.ledger = ledger
        self.chunk_size = chunk_size
        self.cache_size = cache_size
        self._cache: OrderedDict[UUID, Batch] = OrderedDict()  # LRU of batches at their latest applied version
        self._lock = threading.Lock()
        url = make_url(sqlalchemy_url(ledger.db_url))
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            raise InvalidInput("read models need the ledger in a database file or server", code="DB_URL_INVALID")
        connect_args = {"timeout": 60} if ledger.db_url.startswith("sqlite") else {}
        self.engine = create_engine(url, connect_args=connect_args)
        self._create_tables()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ReadModel:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    @contextmanager
    def _schema_transaction(self) -> Iterator[Connection]:
        """A transaction that serialises schema changes: concurrent CREATE TABLE IF NOT EXISTS
        can still collide on PostgreSQL, so it takes an advisory lock there."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
            yield conn

    def _create_tables(self) -> None:
        with self._schema_transaction() as conn:
            for rm_table in metadata.sorted_tables:
                conn.execute(CreateTable(rm_table, if_not_exists=True))
                for index in rm_table.indexes:
                    conn.execute(CreateIndex(index, if_not_exists=True))
            insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
            conn.execute(insert(tracking).values(name=TRACKING_NAME, position=0).on_conflict_do_nothing())

    def rebuild(self) -> int:
        """Drop the rm_ tables and replay the whole log; returns the notifications processed."""
        with self._schema_transaction() as conn:
            metadata.drop_all(conn)
        self._cache.clear()
        self._create_tables()
        return self.catch_up()

    # ------------------------------------------------------------------ projection

    @property
    def position(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(POSITION).scalar_one()

    def catch_up(self) -> int:
        """Apply the notifications recorded since the tracking position; returns how many.
        Costs one indexed read and no write lock when there is nothing new."""
        with self.engine.connect() as conn:
            if not behind(conn):
                return 0
        total = 0
        with self._lock:  # the aggregate cache is per process; the database serialises processes
            while True:
                done = self._apply_chunk()
                total += done
                if done < self.chunk_size:
                    return total

    def _apply_chunk(self) -> int:
        try:
            with self.engine.begin() as conn:
                # Claim the tracking row before reading anything: concurrent catch-ups (other
                # processes) queue here, and on SQLite this takes the write lock up front.
                claim = tracking.c.name == TRACKING_NAME
                conn.execute(update(tracking).where(claim).values(position=tracking.c.position))
                position = conn.execute(POSITION).scalar_one()
                notifications = self.ledger.recorder.select_notifications(
                    position, self.chunk_size, inclusive_of_start=False
                )
                if not notifications:
                    return 0
                wanted = [n for n in notifications if n.topic.startswith(BATCH_TOPICS) or n.topic in CREATED_TOPICS]
                seqs = self.ledger.log.seqs_for_notifications([n.id for n in wanted])
                chunk = _Chunk()
                for n in wanted:
                    if n.id not in seqs:
                        raise LedgerError(
                            f"event {n.id} has no leaf in the log: run `oneclaim audit verify`", code="LOG_LEAF_MISSING"
                        )
                    event = self.ledger.mapper.to_domain_event(n)
                    if isinstance(event, Batch.Event):
                        self._apply_batch_event(event, n.id, seqs[n.id], chunk)
                    else:
                        target, names = CREATED_ROWS[type(event)]
                        row = {name: getattr(event, name) for name in names}
                        if "schemes" in row:
                            row["schemes"] = dumps(row["schemes"])
                        conn.execute(target.insert().values(row))
                self._write(conn, chunk)
                conn.execute(update(tracking).where(claim).values(position=notifications[-1].id))
                return len(notifications)
        except BaseException:
            self._cache.clear()  # cached aggregates may hold changes that were just rolled back
            raise

    def _batch(self, event: Batch.Event) -> Batch | None:
        """The batch just before `event`: from the LRU if it is at the right version, else
        rebuilt from its stored events up to the version before (nothing before Issued)."""
        if isinstance(event, Batch.Issued):
            return None
        batch = self._cache.get(event.originator_id)
        if batch is None or batch.version != event.originator_version - 1:
            batch = self.ledger.repository.get(event.originator_id, version=event.originator_version - 1)
        return batch

    def _apply_batch_event(self, event: Batch.Event, notification_id: int, seq: int, chunk: _Chunk) -> None:
        before_agg = self._batch(event)
        before = [] if before_agg is None else [list(r) for r in before_agg.ranges]
        batch = event.mutate(before_agg)
        self._cache[batch.id] = batch
        self._cache.move_to_end(batch.id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

        kind = type(event).__name__
        if isinstance(event, Batch.Issued):
            spans, common = [[0, batch.quantity]], {"holder": event.holder}
            chunk.issued[batch.code] = seq
        else:
            spans = disjoint(event.ranges)
            common = {k: v for k, v in vars(event).items() if k not in NOT_DETAIL and v is not None}
        starts = [r[0] for r in before]
        for start, end in spans:
            detail = dict(common)
            if before:  # who held these units when the event happened (first serial's holder)
                detail["held_by"] = before[bisect_right(starts, start) - 1][2]
            span_class = (end - start).bit_length()
            chunk.touch(batch, before, span_class)
            chunk.provenance.append(
                {
                    "notification_id": notification_id,
                    "start": start,
                    "end": end,
                    "batch": batch.code,
                    "span_class": span_class,
                    "seq": seq,
                    "type": kind,
                    "detail": dumps(detail),
                    "timestamp": event.timestamp.isoformat(),
                }
            )

    def _write(self, conn: Connection, chunk: _Chunk) -> None:
        """Write a chunk: its provenance rows, and for each batch it touched, the ranges that
        changed and the new totals."""
        if chunk.provenance:
            conn.execute(provenance.insert(), chunk.provenance)
        for code, (batch, before, classes) in chunk.touched.items():
            after = {tuple(r) for r in batch.ranges}
            gone = [{"b": code, "s": r[0]} for r in before - after]
            if gone:
                conn.execute(
                    delete(ranges).where(ranges.c.batch == bindparam("b"), ranges.c.start == bindparam("s")), gone
                )
            new = [
                {"batch": code, "start": s, "end": e, "holder": h, "state": st, "sales": n}
                for s, e, h, st, n in after - before
            ]
            if new:
                conn.execute(ranges.insert(), new)
            totals = {**batch.supply(), "version": batch.version}
            if code in chunk.issued:
                valid_through = batch.valid_through and date.fromisoformat(batch.valid_through)
                row = {
                    "code": code,
                    "instrument": batch.instrument,
                    "quantity": batch.quantity,
                    "tradable": batch.tradable,
                    "valid_through": valid_through,
                    "origin": dumps(batch.origin),
                    "issued_seq": chunk.issued[code],
                    "span_classes": classes,
                }
                conn.execute(batches.insert().values(**row, **totals))
            else:
                spans = batches.c.span_classes.op("|")(classes)
                conn.execute(update(batches).where(batches.c.code == code).values(**totals, span_classes=spans))

    # ------------------------------------------------------------------ queries

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection to tables that include every event committed before the call. The
        up-to-date check runs on the query's own connection: one round trip when nothing is new."""
        with self.engine.connect() as conn:
            if behind(conn):
                conn.rollback()
                self.catch_up()
            yield conn

    def holdings(self, account: str) -> list[dict]:
        """What an account holds, per batch and state, with its serial ranges."""
        with self._reading() as conn:
            if conn.execute(select(accounts.c.account).where(accounts.c.account == account)).first() is None:
                raise NotFound(f"unknown account {account}", code="ACCOUNT_NOT_FOUND", account=account)
            rows = conn.execute(
                select(ranges.c.batch, batches.c.instrument, ranges.c.state, ranges.c.start, ranges.c.end)
                .join(batches, batches.c.code == ranges.c.batch)
                .where(ranges.c.holder == account)
                .order_by(ranges.c.batch, ranges.c.start)
            ).all()
        out: dict[tuple[str, str], dict] = {}
        for code, instrument, state, start, end in rows:
            entry = out.setdefault(
                (code, state), {"batch": code, "instrument": instrument, "state": state, "units": 0, "ranges": []}
            )
            entry["units"] += end - start
            entry["ranges"].append(format_range(code, start, end))
        return sorted(out.values(), key=lambda e: (e["batch"], STATES.index(e["state"])))

    def serial(self, serial: str) -> dict:
        """Where one serial is now: its batch, holder and state."""
        with self._reading() as conn:
            row, _ = self._locate(conn, serial)
        return {
            "serial": serial,
            "batch": row.batch,
            "instrument": row.instrument,
            "holder": row.holder,
            "state": row.state,
            "sales": row.sales,
            "range": format_range(row.batch, row.start, row.end),
            "valid_through": row.valid_through and row.valid_through.isoformat(),
            "origin": json.loads(row.origin),
        }

    def _locate(self, conn: Connection, serial: str) -> tuple[Any, int]:
        """The rm_ranges row (joined with its batch) holding a serial, and the serial's index."""
        code, index = parse_serial(serial)
        row = conn.execute(LOCATE, {"code": code, "index": index}).first()
        if row is None or row.end <= index:
            raise NotFound(f"no serial {serial} has been issued", code="SERIAL_UNKNOWN", serial=serial)
        return row, index

    def provenance(self, serial: str) -> dict:
        """Every event that touched one serial, in log order, with its seq for an inclusion proof."""
        with self._reading() as conn:
            current, index = self._locate(conn, serial)
            code = current.batch
            rows = conn.execute(stabbing_query(current.span_classes), {"code": code, "index": index}).all()
        events = [
            {
                "seq": row.seq,
                "type": row.type,
                "timestamp": row.timestamp,
                "range": format_range(code, row.start, row.end),
                "detail": json.loads(row.detail),
            }
            for row in sorted(rows, key=lambda r: r.seq)
        ]
        return {
            "serial": serial,
            "batch": code,
            "instrument": current.instrument,
            "origin": json.loads(current.origin),
            "current": {"holder": current.holder, "state": current.state},
            "events": events,
        }

    def supply(self, batch_code: str) -> dict:
        """Units issued and per state: issued = active + frozen + retired + cancelled + expired + exported."""
        with self._reading() as conn:
            row = conn.execute(select(batches).where(batches.c.code == batch_code)).first()
        if row is None:
            raise NotFound(f"unknown batch {batch_code}", code="BATCH_NOT_FOUND", batch=batch_code)
        return {
            "batch": batch_code,
            "instrument": row.instrument,
            "issued": row.quantity,
            **{state: getattr(row, state) for state in STATES},
        }

    def batches(
        self,
        instrument: str | None = None,
        expiring_before: date | None = None,
        with_units_in: tuple[str, ...] | None = ("active", "frozen"),
    ) -> list[str]:
        """Batch codes, sorted. `expiring_before=d` keeps batches whose validity ended before d,
        i.e. exactly those `Batch.expire(d)` acts on; `with_units_in` keeps batches with units in
        any of those states (None or () for all)."""
        unknown = set(with_units_in or ()) - set(STATES)
        if unknown:
            raise InvalidInput(
                f"unknown state(s) {sorted(unknown)}; states are {', '.join(STATES)}", code="STATE_INVALID"
            )
        query = select(batches.c.code).order_by(batches.c.code)
        if instrument is not None:
            query = query.where(batches.c.instrument == instrument)
        if expiring_before is not None:
            query = query.where(batches.c.valid_through < expiring_before)
        if with_units_in:
            query = query.where(or_(*(batches.c[state] > 0 for state in with_units_in)))
        with self._reading() as conn:
            return list(conn.execute(query).scalars())

    def counts(self) -> dict[str, int]:
        """Rows per rm_ table (for status output and tests)."""
        with self.engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables
            }
