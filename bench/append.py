"""1. Append throughput, one event per transaction.

Three applications do the identical domain work on the same eventsourcing persistence
(same module, same settings, fresh database each round):

- `bare`: eventsourcing's `Application`, default JSON transcoder, default recorder: the baseline.
- `canonical`: the same with OneClaim's RFC 8785 transcoder, still the default recorder. Not a
  target, only attribution: it splits the Ledger's cost into canonical JSON and the log.
- `ledger`: OneClaim's `Ledger` (RFC 8785 transcoder + log recorder: seq, leaf, chain and
  Merkle nodes in the event's own transaction).

Within a round the three take turns of CHUNK events (rotating the order every turn), so a burst
of load from elsewhere on the machine hits all three alike; a round's rate per variant is its
events over the time spent in its own turns. The ratio is the median over rounds of the ratio
within a round.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from eventsourcing.application import Application
from eventsourcing.persistence import Transcoder

from bench.report import median
from bench.workload import Meter, device_kwargs
from ledger.app import Ledger
from ledger.database import persistence_env
from ledger.domain.device import Device
from ledger.domain.participant import Participant, participant_id
from ledger.tlog.canonical import CanonicalJSONTranscoder

TARGET_RATIO = 0.7
TARGET_EVENTS_PER_S = 2_000
VARIANTS = ("bare", "canonical", "ledger")


class BareApp(Application):
    """eventsourcing as it comes: default JSON transcoder, default recorder."""

    name = "BareBench"


class CanonicalApp(Application):
    """Attribution only: OneClaim's RFC 8785 transcoder on eventsourcing's default recorder."""

    name = "CanonicalBench"

    def construct_transcoder(self) -> Transcoder:
        transcoder = CanonicalJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder


def _bare_env(db_url: str) -> dict[str, str]:
    """The Ledger's persistence settings without its recorder: same module, same options."""
    env = persistence_env(db_url)
    env.pop("APPLICATION_RECORDER_TOPIC")
    return env


def make_app(variant: str, db_url: str) -> Application:
    if variant == "ledger":
        return Ledger(db_url)
    cls = BareApp if variant == "bare" else CanonicalApp
    return cls(env=_bare_env(db_url))


# ------------------------------------------------------------------ workloads
#
# A workload is a setup (untimed) returning a state, and a step doing events [i, i + k), one
# event per `save` (one transaction) each.


def meter_setup(app: Application) -> Meter:
    meter = Meter(code="M-0001")
    app.save(meter)
    return meter


def meter_step(app: Application, meter: Meter, i: int, k: int) -> None:
    """`Ticked` events on one minimal aggregate."""
    for j in range(i, i + k):
        meter.tick(kwh=1_000 + j % 500, period=f"2025-01-01T{j % 24:02d}:00:00+08:00")
        app.save(meter)


OWNER = {
    "code": "BENCH-GEN-001",
    "name": "苏州工业园区光伏发电有限公司",
    "role": "generator",
    "province": "江苏",
    "city": "苏州",
}


def register_setup(app: Application) -> None:
    """The participant that owns every device."""
    if isinstance(app, Ledger):
        app.add_participant(**OWNER)
    else:
        app.save(Participant.register(**OWNER))


def register_step(app: Application, _: None, i: int, k: int) -> None:
    """Device registrations, a full `Device.Registered` event each. The Ledger runs its real
    command, `register_device`; the others do its steps by hand: load the owning participant,
    `Device.register(...)`, save."""
    kwargs = [device_kwargs(j, prefix="REG", owner=OWNER["code"]) for j in range(i, i + k)]
    if isinstance(app, Ledger):
        for kw in kwargs:
            app.register_device(**kw)
    else:
        for kw in kwargs:
            app.repository.get(participant_id(kw["owner"]))
            app.save(Device.register(**kw))


WORKLOADS: dict[str, tuple[Callable[[Application], Any], Callable[[Application, Any, int, int], None]]] = {
    "meter": (meter_setup, meter_step),
    "register": (register_setup, register_step),
}


# ------------------------------------------------------------------ databases


class SQLiteDatabases:
    name = "sqlite"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def create(self, hint: str) -> str:
        self.count += 1
        return f"sqlite:///{self.root / f'{hint}-{self.count}.sqlite'}"

    def wal_position(self, url: str) -> int:
        """Bytes in the -wal file; the first call truncates it (checkpoint) and returns 0."""
        path = Path(url[len("sqlite:///") :])
        wal = Path(f"{path}-wal")
        if not getattr(self, "_truncated", {}).get(url):
            self._truncated = {url: True}
            conn = sqlite3.connect(path)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
        return wal.stat().st_size if wal.exists() else 0

    def drop(self, url: str) -> None:
        path = Path(url[len("sqlite:///") :])
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)


class PostgresDatabases:
    name = "postgres"

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url

    def create(self, hint: str) -> str:
        import psycopg
        from psycopg import sql

        name = f"bench_{hint}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return urlunsplit(urlsplit(self.server_url)._replace(path=f"/{name}"))

    def wal_position(self, url: str) -> int:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            (lsn,) = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()
        return int(lsn)

    def drop(self, url: str) -> None:
        import psycopg
        from psycopg import sql

        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


CHUNK = 50  # events per variant per turn: small, so that every variant sees the same noise


def _one_round(databases, workload: str, n: int) -> tuple[dict[str, float], dict[str, float]]:
    """One round: a fresh database and application per variant, then n events each, in turns
    of CHUNK events (bare, canonical, ledger, bare, ...; the order rotates every turn).
    Returns events/s per variant (its events over the time spent in its own turns), and events
    per CPU-second of this process (the database server's CPU, on PostgreSQL, is not in it)."""
    setup, step = WORKLOADS[workload]
    urls = {v: databases.create(f"{workload}_{v}") for v in VARIANTS}
    apps: dict[str, Application] = {}
    try:
        for v in VARIANTS:
            apps[v] = make_app(v, urls[v])
        states = {v: setup(apps[v]) for v in VARIANTS}
        spent = dict.fromkeys(VARIANTS, 0.0)
        cpu = dict.fromkeys(VARIANTS, 0.0)
        for turn, i in enumerate(range(0, n, CHUNK)):
            k = min(CHUNK, n - i)
            for v in VARIANTS[turn % 3 :] + VARIANTS[: turn % 3]:
                started, cpu_started = time.perf_counter(), time.process_time()
                step(apps[v], states[v], i, k)
                spent[v] += time.perf_counter() - started
                cpu[v] += time.process_time() - cpu_started
        return {v: n / spent[v] for v in VARIANTS}, {v: n / max(cpu[v], 1e-9) for v in VARIANTS}
    finally:
        for app in apps.values():
            app.close()
        for url in urls.values():
            databases.drop(url)


def measure(databases, n: int, rounds: int, log=print, warm_up: bool = True) -> dict:
    """Every workload: an untimed warm-up round, then `rounds` rounds of n events per variant,
    then the bytes each variant writes to the write-ahead log per event."""
    out: dict = {"backend": databases.name, "events_per_round": n, "rounds": rounds, "chunk": CHUNK}
    for workload in WORKLOADS:
        if warm_up:  # imports, schema, page cache
            _one_round(databases, workload, max(CHUNK, n // 20))
        rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
        cpu_rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for r in range(rounds):
            wall, cpu = _one_round(databases, workload, n)
            for v in VARIANTS:
                rates[v].append(wall[v])
                cpu_rates[v].append(cpu[v])
            log(
                f"  append/{databases.name}/{workload} round {r + 1}/{rounds}: "
                + ", ".join(f"{v} {rates[v][-1]:,.0f}/s ({cpu_rates[v][-1]:,.0f}/CPU-s)" for v in VARIANTS)
            )
        paired = [lr / br for lr, br in zip(rates["ledger"], rates["bare"], strict=True)]
        paired_c = [cr / br for cr, br in zip(rates["canonical"], rates["bare"], strict=True)]
        paired_cpu = [lr / br for lr, br in zip(cpu_rates["ledger"], cpu_rates["bare"], strict=True)]
        wal = {v: wal_bytes_per_event(databases, workload, v) for v in VARIANTS}
        out[workload] = {
            "rates": rates,
            "median": {v: median(rates[v]) for v in VARIANTS},
            "ratio_ledger_to_bare": median(paired),
            "ratio_canonical_to_bare": median(paired_c),
            "paired_ratios": paired,
            "cpu_rates": cpu_rates,
            "median_cpu": {v: median(cpu_rates[v]) for v in VARIANTS},
            "cpu_ratio_ledger_to_bare": median(paired_cpu),
            "wal_bytes_per_event": wal,
            "wal_ratio_ledger_to_bare": wal["ledger"] / wal["bare"],
        }
    return out


WAL_EVENTS = 100


def wal_bytes_per_event(databases, workload: str, variant: str) -> float:
    """Bytes written to the write-ahead log per one-event transaction, over WAL_EVENTS events:
    a property of the schema, not of the machine's load. SQLite: growth of the -wal file after
    a truncating checkpoint (100 small commits stay below the auto-checkpoint); PostgreSQL:
    pg_current_wal_lsn() before and after (the server is assumed otherwise idle)."""
    setup, step = WORKLOADS[workload]
    url = databases.create(f"wal_{workload}_{variant}")
    app = make_app(variant, url)
    try:
        state = setup(app)
        step(app, state, 0, 10)
        before = databases.wal_position(url)
        step(app, state, 10, WAL_EVENTS)
        return (databases.wal_position(url) - before) / WAL_EVENTS
    finally:
        app.close()
        databases.drop(url)


def run(quick: bool, pg_url: str | None, log=print) -> dict:
    n, rounds = (300, 3) if quick else (2_000, 5)
    results: dict = {"target_ratio": TARGET_RATIO, "target_events_per_s": TARGET_EVENTS_PER_S}
    with tempfile.TemporaryDirectory(prefix="oneclaim-bench-append-") as tmp:
        results["sqlite"] = measure(SQLiteDatabases(Path(tmp)), n, rounds, log, warm_up=not quick)
    if pg_url:
        # PostgreSQL commits are ~3x slower here; half the events per round keeps the run short,
        # and a smoke run makes do with 2 rounds (each round creates 3 databases).
        results["postgres"] = measure(
            PostgresDatabases(pg_url), max(n // 2, 100), 2 if quick else rounds, log, warm_up=not quick
        )
    else:
        results["postgres"] = {"skipped": "ONECLAIM_TEST_PG_URL is not set"}
    return results
