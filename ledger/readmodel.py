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
from ledger.domain.batch import MAX_UNITS, STATES, Batch, visible
from ledger.domain.case import Case
from ledger.domain.device import Device
from ledger.domain.participant import Account, Participant
from ledger.domain.serials import format_range, parse_serial
from ledger.domain.values import SerialRange
from ledger.errors import InvalidInput, LedgerError, NotFound

TRACKING_NAME = "readmodel"
SCHEMA_LOCK = 0x0C1A1C  # PostgreSQL advisory lock id for rm_ schema changes (the log uses 0x0C1A1B)

metadata = MetaData()

rm_tracking = Table(
    "rm_tracking",
    metadata,
    Column("name", String, primary_key=True),
    Column("position", BigInteger, nullable=False),  # last notification id applied; 0 = none
)

rm_batches = Table(
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

rm_ranges = Table(
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

rm_provenance = Table(
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

rm_participants = Table(
    "rm_participants",
    metadata,
    Column("code", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("role", String, nullable=False),
    Column("province", String, nullable=False),
    Column("city", String, nullable=False),
)

rm_accounts = Table(
    "rm_accounts",
    metadata,
    Column("account", String, primary_key=True),
    Column("owner", String, nullable=False, index=True),
    Column("purpose", String, nullable=False),
)

rm_devices = Table(
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

rm_cases = Table(
    "rm_cases",
    metadata,
    Column("code", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("subject", String, nullable=False, index=True),  # device (overlapping claim) or batch (sold twice)
    Column("overlap_kwh", BigInteger, nullable=False),
    Column("source", String, nullable=False),  # the registry or platform reporting the other claim
    Column("status", String, nullable=False, index=True),  # open | resolved
    Column("opened_seq", BigInteger, nullable=False),
)

rm_retirements = Table(  # every retirement (核销), by beneficiary: what an enterprise's carbon account reads
    "rm_retirements",
    metadata,
    Column("retirement_id", String, primary_key=True),
    Column("batch", String, nullable=False),
    Column("instrument", String, nullable=False),
    Column("beneficiary", String, nullable=False),
    Column("purpose", String, nullable=False),
    Column("reporting_period", String, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("retired_on", String, nullable=False),
    Column("account", String, nullable=False),
    Column("seq", BigInteger, nullable=False),  # the Retired event's leaf index
    Column("used_by", Text),  # JSON {kind, ref} of the claim or surrender it backs, once it does
    Column("used_seq", BigInteger),
    Index("rm_retirements_beneficiary", "beneficiary", "reporting_period"),
)

BATCH_TOPICS = f"{Batch.__module__}:{Batch.__qualname__}."  # every Batch event's topic starts so
CREATED_ROWS = {  # created event -> (table, event attributes copied to its row)
    Participant.Registered: (rm_participants, ("code", "name", "role", "province", "city")),
    Account.Opened: (rm_accounts, ("account", "owner", "purpose")),
    Device.Registered: (
        rm_devices,
        ("code", "technology", "capacity_kw", "province", "city", "owner", "commissioned_on", "schemes"),
    ),
}
CASE_EVENTS = (Case.Opened, Case.Resolved)
CREATED_TOPICS = {f"{cls.__module__}:{cls.__qualname__}" for cls in (*CREATED_ROWS, *CASE_EVENTS)}
NOT_DETAIL = {"originator_id", "originator_version", "originator_topic", "timestamp", "ranges"}


POSITION = select(rm_tracking.c.position).where(rm_tracking.c.name == TRACKING_NAME)
# The tracking position and the log's newest notification id, in one round trip. Every committed
# event has its log_leaves row (same transaction), so this is eventsourcing's max notification id.
LOG_LEAVES = table("log_leaves", column("notification_id"))
HEAD = select(rm_tracking.c.position, select(func.max(LOG_LEAVES.c.notification_id)).scalar_subquery()).where(
    rm_tracking.c.name == TRACKING_NAME
)


def case_code_of(ledger: Ledger, event: Case.Event) -> str:
    return ledger.repository.get(event.originator_id, version=1).code


def behind(conn: Connection) -> bool:
    position, head = conn.execute(HEAD).one()
    return position < (head or 0)


DELETE_RANGE = delete(rm_ranges).where(
    rm_ranges.c.batch == bindparam("b_batch"), rm_ranges.c.start == bindparam("b_start")
)
# Executed with many rows: keys named like columns (the totals, version) become SET clauses.
UPDATE_BATCH = (
    update(rm_batches)
    .where(rm_batches.c.code == bindparam("b_code"))
    .values(span_classes=rm_batches.c.span_classes.op("|")(bindparam("b_classes")))
)
# Executed with many rows: used_by and used_seq become SET clauses.
USE_RETIREMENT = update(rm_retirements).where(rm_retirements.c.retirement_id == bindparam("r_id"))
# The range holding a serial: the last range of its batch starting at or before it (primary key).
LOCATE = (
    select(
        rm_ranges, rm_batches.c.instrument, rm_batches.c.valid_through, rm_batches.c.origin, rm_batches.c.span_classes
    )
    .join(rm_batches, rm_batches.c.code == rm_ranges.c.batch)
    .where(rm_ranges.c.batch == bindparam("code"), rm_ranges.c.start <= bindparam("index"))
    .order_by(rm_ranges.c.start.desc())
    .limit(1)
)


# The rm_provenance rows of batch :code that contain serial :index ("stabbing" query).
#
# Why span classes: with an index on (batch, start) alone, finding the ranges that contain a point
# scans every row of the batch that starts before it, which grows with the batch's history. So
# each row carries c = (end - start).bit_length(). A row of class c that contains serial i starts
# in (i - 2**c, i], so each class is one bounded range scan of the (batch, span_class, start, end)
# index, and a row it reads that does not contain i contains serial i - 2**(c-1) instead: the cost
# follows the history of a few serials, never the size of the batch. :mask (rm_batches.span_classes)
# skips the classes the batch has none of. One fixed statement, so drivers prepare it once.
STAB = text(
    f"""
    WITH RECURSIVE classes(c) AS (SELECT 1 UNION ALL SELECT c + 1 FROM classes WHERE c < {MAX_UNITS.bit_length()})
    SELECT p.seq, p."type", p."timestamp", p."start", p."end", p.detail
    FROM classes JOIN rm_provenance p
      ON p.batch = :code AND p.span_class = classes.c AND p."start" <= :index
     AND p."start" > :index - (CAST(1 AS BIGINT) << classes.c) AND p."end" > :index
    WHERE (CAST(:mask AS BIGINT) >> classes.c) & 1 = 1
    """
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
    """An event's ranges sorted, with overlaps merged: cancellations recorded before the domain
    checked their spans (f46d0ab) could name one serial twice."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


class _Chunk:
    """What one transaction changes: provenance rows to insert, and the batches it touched with
    their range maps as they were before the chunk, so each batch's rows are diffed once."""

    def __init__(self) -> None:
        self.provenance: list[dict] = []
        self.batches: dict[str, Batch] = {}  # code -> the batch after its last event in the chunk
        self.before: dict[str, set[SerialRange]] = {}  # code -> its ranges before the chunk
        self.classes: dict[str, int] = {}  # code -> span classes of its new provenance rows (bit set)
        self.issued: dict[str, int] = {}  # code -> seq of its Issued event, for batches new in this chunk
        self.retired: list[dict] = []  # rm_retirements rows of Retired events
        self.used: list[dict] = []  # RetirementUsed: the rows' new used_by

    def touch(self, batch: Batch, before: list[SerialRange]) -> None:
        if batch.code not in self.before:
            self.before[batch.code] = set(before)
        self.batches[batch.code] = batch


class ReadModel:
    """Queryable projections of a ledger, kept in the ledger's own database."""

    def __init__(self, ledger: Ledger, *, chunk_size: int = 500, cache_size: int = 10_000) -> None:
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
        from sqlalchemy import inspect

        with self._schema_transaction() as conn:
            existing = inspect(conn)
            if existing.has_table(rm_batches.name):  # read models of an older version: rebuilt from the log
                older = any(
                    not existing.has_table(t.name)
                    or not {c.name for c in t.columns} <= {c["name"] for c in existing.get_columns(t.name)}
                    for t in metadata.sorted_tables
                )
                if older:
                    metadata.drop_all(conn)
                    self._cache.clear()
        with self._schema_transaction() as conn:
            for rm_table in metadata.sorted_tables:
                conn.execute(CreateTable(rm_table, if_not_exists=True))
                for index in rm_table.indexes:
                    conn.execute(CreateIndex(index, if_not_exists=True))
            insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
            conn.execute(insert(rm_tracking).values(name=TRACKING_NAME, position=0).on_conflict_do_nothing())

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
        """Read a chunk of notifications and compute its rows with no lock held, then write
        them in one short transaction that first claims the tracking row and checks that no
        other catch-up applied the chunk meanwhile (if one did, the work is dropped and the
        next chunk read). Nothing is read from the ledger while the read model's write lock
        is held: on SQLite that lock is the database's, and a writer of the ledger waiting
        for it while this waited for a ledger connection would stall both."""
        try:
            with self.engine.connect() as conn:
                position = conn.execute(POSITION).scalar_one()
            notifications = self.ledger.recorder.select_notifications(
                position, self.chunk_size, inclusive_of_start=False
            )
            if not notifications:
                return 0
            wanted = [n for n in notifications if n.topic.startswith(BATCH_TOPICS) or n.topic in CREATED_TOPICS]
            seqs = self.ledger.log.seqs_for_notifications([n.id for n in wanted])
            chunk, statements = _Chunk(), []
            for n in wanted:
                if n.id not in seqs:
                    raise LedgerError(
                        f"event {n.id} has no leaf in the log: run `oneclaim audit verify`", code="LOG_LEAF_MISSING"
                    )
                event = self.ledger.mapper.to_domain_event(n)
                if isinstance(event, Batch.Event):
                    self._apply_batch_event(event, n.id, seqs[n.id], chunk)
                elif isinstance(event, Case.Opened):
                    row = {k: getattr(event, k) for k in ("code", "kind", "subject", "overlap_kwh")}
                    source = event.theirs.get("source", "")
                    statements.append(
                        rm_cases.insert().values({**row, "source": source, "status": "open", "opened_seq": seqs[n.id]})
                    )
                elif isinstance(event, Case.Resolved):
                    resolved = update(rm_cases).where(rm_cases.c.code == case_code_of(self.ledger, event))
                    statements.append(resolved.values(status="resolved"))
                else:
                    target, names = CREATED_ROWS[type(event)]
                    row = {name: getattr(event, name) for name in names}
                    if "schemes" in row:
                        row["schemes"] = dumps(row["schemes"])
                    statements.append(target.insert().values(row))
            with self.engine.begin() as conn:
                # Claim the tracking row first: concurrent catch-ups (other processes) queue here.
                claim = rm_tracking.c.name == TRACKING_NAME
                conn.execute(update(rm_tracking).where(claim).values(position=rm_tracking.c.position))
                if conn.execute(POSITION).scalar_one() != position:  # another catch-up applied it
                    self._cache.clear()
                    return self.chunk_size  # read on from where it got to
                for statement in statements:
                    conn.execute(statement)
                self._write(conn, chunk)
                conn.execute(update(rm_tracking).where(claim).values(position=notifications[-1].id))
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
        previous = self._batch(event)
        before = [] if previous is None else list(previous.ranges)
        batch = event.mutate(previous)
        chunk.touch(batch, before)
        self._cache[batch.id] = batch
        self._cache.move_to_end(batch.id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

        kind = type(event).__name__
        if kind == "Retired":
            record = batch.retirements[event.retirement_id]
            chunk.retired.append({
                "retirement_id": event.retirement_id, "batch": batch.code, "instrument": batch.instrument,
                "beneficiary": record["beneficiary"], "purpose": record["purpose"],
                "reporting_period": record["reporting_period"], "units": sum(e - s for s, e in record["ranges"]),
                "retired_on": record["on"], "account": record["account"], "seq": seq,
            })  # fmt: skip
        elif kind == "RetirementUsed":
            chunk.used.append({"r_id": event.retirement_id, "used_by": dumps(event.use), "used_seq": seq})
        if isinstance(event, Batch.Issued):
            spans, common = [[0, batch.quantity]], {"holder": event.holder}
            chunk.issued[batch.code] = seq
        else:
            spans = disjoint(getattr(event, "ranges", []))
            common = {k: v for k, v in vars(event).items() if k not in NOT_DETAIL and v is not None}
            if isinstance(common.get("request"), dict):  # a client's request: its id, not its echo of the parameters
                common["request_id"] = common.pop("request")["id"]
        starts = [r.start for r in before]
        for start, end in spans:
            detail = dict(common)
            if before:  # who held these units when the event happened (first serial's holder)
                detail["held_by"] = before[bisect_right(starts, start) - 1].holder
            span_class = (end - start).bit_length()
            chunk.classes[batch.code] = chunk.classes.get(batch.code, 0) | 1 << span_class
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
        """Write a chunk in a handful of statements however many batches it touched: its
        provenance rows, the ranges that changed, and the new totals of each batch."""
        gone, new, issued, changed = [], [], [], []
        for code, batch in chunk.batches.items():
            before, after, classes = chunk.before[code], set(batch.ranges), chunk.classes.get(code, 0)
            gone += ({"b_batch": code, "b_start": r.start} for r in before - after)
            new += (
                {"batch": code, "start": r.start, "end": r.end, "holder": r.holder, "state": r.state, "sales": r.sales}
                for r in after - before
            )
            totals = {**batch.totals(), "version": batch.version}
            if code in chunk.issued:
                issued.append(
                    {
                        "code": code,
                        "instrument": batch.instrument,
                        "quantity": batch.quantity,
                        "tradable": batch.tradable,
                        "valid_through": batch.valid_through and date.fromisoformat(batch.valid_through),
                        "origin": dumps(batch.origin),
                        "issued_seq": chunk.issued[code],
                        "span_classes": classes,
                        **totals,
                    }
                )
            else:
                changed.append({"b_code": code, "b_classes": classes, **totals})
        for statement, rows in (
            (rm_provenance.insert(), chunk.provenance),
            (DELETE_RANGE, gone),
            (rm_ranges.insert(), new),
            (rm_batches.insert(), issued),
            (UPDATE_BATCH, changed),
            (rm_retirements.insert(), chunk.retired),
            (USE_RETIREMENT, chunk.used),
        ):
            if rows:
                conn.execute(statement, rows)

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
            if conn.execute(select(rm_accounts.c.account).where(rm_accounts.c.account == account)).first() is None:
                raise NotFound(f"unknown account {account}", code="ACCOUNT_NOT_FOUND", account=account)
            rows = conn.execute(
                select(
                    rm_ranges.c.batch, rm_batches.c.instrument, rm_ranges.c.state, rm_ranges.c.start, rm_ranges.c.end
                )
                .join(rm_batches, rm_batches.c.code == rm_ranges.c.batch)
                .where(rm_ranges.c.holder == account)
                .order_by(rm_ranges.c.batch, rm_ranges.c.start)
            ).all()
        out: dict[tuple[str, str], dict] = {}
        for code, instrument, state, start, end in rows:
            entry = out.setdefault(
                (code, state), {"batch": code, "instrument": instrument, "state": state, "units": 0, "serials": []}
            )
            entry["units"] += end - start
            entry["serials"].append(format_range(code, start, end))
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

    def provenance(self, serial: str, *, reveal: bool = True) -> dict:
        """Every event that touched one serial, in log order, with its seq for an inclusion proof.
        A retirement's beneficiary and location are what the log records, commitments
        (ledger/personal.py), unless `reveal`: then the values kept beside the log, for the operator."""
        with self._reading() as conn:
            current, index = self._locate(conn, serial)
            code = current.batch
            rows = conn.execute(STAB, {"code": code, "index": index, "mask": current.span_classes}).all()
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
        answer = {
            "serial": serial,
            "batch": code,
            "instrument": current.instrument,
            "origin": json.loads(current.origin),
            "current": {"holder": current.holder, "state": current.state},
            "events": events,
        }
        return self.ledger.personal.reveal(answer) if reveal else answer

    def supply(self, batch_code: str) -> dict:
        """Units issued and per state: issued = active + frozen + retired + cancelled + expired + exported
        (+ in_transit, named while units are in transit)."""
        with self._reading() as conn:
            row = conn.execute(select(rm_batches).where(rm_batches.c.code == batch_code)).first()
        if row is None:
            raise NotFound(f"unknown batch {batch_code}", code="BATCH_NOT_FOUND", batch=batch_code)
        return {
            "batch": batch_code,
            "instrument": row.instrument,
            "issued": row.quantity,
            **visible({state: getattr(row, state) for state in STATES}),
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
        query = select(rm_batches.c.code).order_by(rm_batches.c.code)
        if instrument is not None:
            query = query.where(rm_batches.c.instrument == instrument)
        if expiring_before is not None:
            query = query.where(rm_batches.c.valid_through < expiring_before)
        if with_units_in:
            query = query.where(or_(*(rm_batches.c[state] > 0 for state in with_units_in)))
        with self._reading() as conn:
            return list(conn.execute(query).scalars())

    def retirements(self, beneficiary: str, period: str | None = None) -> list[dict]:
        """The retirements made for `beneficiary` (in `period`, if given), oldest first, each with
        the log seq of its Retired event and what it backs (`used_by`), if anything. The log and
        this table hold the beneficiary's commitment (older ledgers: the text itself)."""
        named = (beneficiary, self.ledger.personal.commitment(beneficiary))
        query = select(rm_retirements).where(rm_retirements.c.beneficiary.in_(named))
        if period is not None:
            query = query.where(rm_retirements.c.reporting_period == period)
        with self._reading() as conn:
            rows = conn.execute(query.order_by(rm_retirements.c.seq)).mappings().all()
        opened = self.ledger.personal.openings({row["beneficiary"] for row in rows})  # one query
        return [{**row, "beneficiary": opened[row["beneficiary"]]["value"] if row["beneficiary"] in opened
                 else row["beneficiary"], "used_by": row["used_by"] and json.loads(row["used_by"])}
                for row in rows]  # fmt: skip

    def cases(self, status: str | None = None) -> list[dict]:
        """Double-counting cases in the order they opened, optionally only open or resolved ones."""
        if status not in (None, "open", "resolved"):
            raise InvalidInput(f"status is open or resolved, not {status!r}", code="STATUS_INVALID")
        query = select(rm_cases).order_by(rm_cases.c.opened_seq)
        if status:
            query = query.where(rm_cases.c.status == status)
        with self._reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        """Rows per rm_ table (for status output and tests)."""
        with self.engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables
            }
