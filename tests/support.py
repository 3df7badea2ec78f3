"""Helpers shared by the tests: realistic events, raw database access for tampering, the CLI
run in-process, and waiting on a condition with a deadline (never on a sleep)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest

from ledger.app import Ledger
from ledger.database import dialect
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


def run(*args: str, code: int = 0):
    """Run `oneclaim ARGS` in-process; its exit code must be `code`."""
    from typer.testing import CliRunner

    from oneclaim.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def as_json(*args: str, code: int = 0) -> dict:
    """`oneclaim ARGS --json`, parsed."""
    return json.loads(run(*args, "--json", code=code).stdout)


JAN = "2025-01-01T00:00:00+08:00,2025-02-01T00:00:00+08:00"
"""January 2025 as a meter-file interval (start,end)."""


def write_csv(path: Path, *rows: str) -> Path:
    """A meter-data file with these rows."""
    path.write_text("device,start,end,on_grid_kwh,self_consumed_kwh\n" + "".join(r + "\n" for r in rows))
    return path


T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = 60.0, poll: float = 0.01) -> T:
    """Poll `condition` until it returns something truthy, and return that. Fails, naming `what`,
    if it has not happened within `timeout` seconds: a deadline so that nothing hangs, never a
    timing the test depends on."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


def wait_for_barrier(path: Path, timeout: float = 60.0) -> None:
    """The racing processes' start line: wait until the test creates `path` (1 ms polls, so
    they start together), and give up after `timeout` seconds rather than hang."""
    wait_for(Path(path).exists, f"the start barrier {path}", timeout=timeout, poll=0.001)


SHARED_VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "rfc6962"
"""The RFC 6962 test vectors (transparency-dev/merkle's testdata), in ../shared beside the clone."""


def missing_evidence(what: str, where: Path) -> None:
    """Conformance evidence that is absent fails on CI (CI=true) and is skipped elsewhere, with a
    message saying exactly which evidence was not checked: it can never vanish silently."""
    message = f"{what} not checked: nothing at {where} (CI needs ../shared beside the clone)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def claims_by_month(check: dict) -> dict[str, dict[str, int]]:
    """A device's claims check (`Ledger.claims_check`) as kWh per production month: metered, free,
    and claimed per instrument, as the explorer's claims-pool table shows them."""
    from collections import defaultdict
    from datetime import datetime

    from ledger.domain.values import month_of

    pools: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for interval in check["intervals"]:
        month = month_of(datetime.fromisoformat(interval["start"]))
        pools[month]["metered"] += interval["metered_kwh"]
        pools[month]["free"] += interval["free_kwh"]
        for c in interval["claims"]:
            pools[month][c["instrument"]] += c["kwh"]
    return {m: dict(p) for m, p in pools.items()}
