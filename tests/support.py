"""Helpers shared by the log tests: realistic events, raw database access for tampering."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

import psycopg

from ledger.app import Ledger, dialect
from ledger.errors import NotFound


def month(year: int, m: int) -> tuple[str, str]:
    end_year, end_month = (year + 1, 1) if m == 12 else (year, m + 1)
    return f"{year}-{m:02d}-01T00:00:00+08:00", f"{end_year}-{end_month:02d}-01T00:00:00+08:00"


OWNER = "SIP-GEN"


def ensure_owner(ledger: Ledger) -> int:
    """The generator that owns the test devices; returns the events it took (0 or 1)."""
    try:
        ledger.participant(OWNER)
        return 0
    except NotFound:
        ledger.add_participant(OWNER, "苏州工业园区分布式光伏运营商", "generator", "江苏", "苏州")
        return 1


def fill(ledger: Ledger, devices: int, months: int = 0, prefix: str = "SIP-PV") -> int:
    """Register devices (and their owner, the first time) and record monthly readings;
    returns the number of events appended."""
    appended = ensure_owner(ledger)
    for d in range(devices):
        code = f"{prefix}-{d:04d}"
        ledger.register_device(code, "distributed_pv", 100 + d, "江苏", "苏州工业园区", OWNER, "2023-05-01")
        appended += 1
        for m in range(1, months + 1):
            ledger.record_reading(code, *month(2025, m), 8_000 + 37 * d + m, 100)
            appended += 1
    return appended


@contextmanager
def raw(db_url: str):
    """A raw connection with the append-only triggers out of the way, as an attacker with
    database access would have. Commits on exit."""
    if dialect(db_url) == "sqlite":
        conn = sqlite3.connect(db_url[len("sqlite:///") :])
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
        for name in names:
            conn.execute(f"DROP TRIGGER {name}")
        try:
            yield conn
            conn.commit()
        finally:
            conn.close()
    else:
        with psycopg.connect(db_url) as conn:
            conn.execute("SET session_replication_role = replica")  # disables the triggers
            yield conn
