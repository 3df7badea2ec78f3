"""A small market for the registry tests, and a transfer process for the concurrency test.

    python -m tests.registry_support DB_URL BATCH FROM TO ON BARRIER (quantity N | spans START END)

With ONECLAIM_TEST_REQUEST_ID set, the transfer carries that client request id.

connects, prints `ready`, waits until the file BARRIER exists, makes one transfer and prints
one JSON line: {"ok": true, "ranges": [...]} or {"ok": false, "code": ..., "error": ...}.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.domain.batch import Batch
from ledger.errors import LedgerError
from tests.support import month, wait_for_barrier

GENERATOR, TRADER, CONSUMER = "SIP-GEN", "JS-TRADER", "SZ-FACTORY"
GEN, TRD, CON = "acct:sip-gen", "acct:js-trader", "acct:sz-factory"

RETIREMENT = {
    "beneficiary": "苏州某电子厂 (SZ-FACTORY)",
    "purpose": "green_consumption_claim",
    "reporting_period": "2025",
    "location": "江苏苏州",
}


def market(ledger: Ledger) -> None:
    """A generator, a trader and a consumer in Suzhou, one holding account each."""
    for code, name, role, account in (
        (GENERATOR, "苏州工业园区分布式光伏运营商", "generator", GEN),
        (TRADER, "江苏售电公司", "trader", TRD),
        (CONSUMER, "苏州某电子厂", "consumer", CON),
    ):
        ledger.add_participant(code, name, role, "江苏", "苏州")
        ledger.open_account(account, code)


def pv(
    ledger: Ledger,
    code: str = "SIP-PV-0001",
    technology: str = "distributed_pv",
    *,
    capacity_kw: int = 5_000,
    commissioned_on: str = "2023-05-01",
    schemes: tuple[str, ...] = ("GEC",),
) -> str:
    """Register a device of the generator's in Suzhou Industrial Park; returns its code."""
    ledger.register_device(code, technology, capacity_kw, "江苏", "苏州工业园区", GENERATOR, commissioned_on, schemes)
    return code


def offshore_project(ledger: Ledger, project: str, *, monthly_kwh: int = 500_000, year: int = 2025) -> str:
    """A deep-sea offshore wind device that elected CCER, a year of its readings, and its registered
    CCER project (registered on 2025-01-01, under the 2024 GEC–CCER notice)."""
    device = pv(ledger, "GD-OFFSHORE-01", "deep_sea_offshore_wind", capacity_kw=5_000, schemes=("GEC", "CCER"))
    ledger.elect(device, "CCER", f"{year}-01-01")
    for m in range(1, 13):
        ledger.record_reading(device, *month(year, m), monthly_kwh)
    ledger.register_ccer_project(
        project,
        "CCER-01-001-V01",
        GENERATOR,
        [device],
        f"{year}-01-01",
        "2031-12-31",
        factor="SIP-2020-PURCHASED",
        on=date(year, 1, 1),
    )
    return device


def gecs(ledger: Ledger, device: str, year: int, m: int, on_grid_kwh: int, self_consumed_kwh: int = 0) -> list[Batch]:
    """Meter a whole production month and issue its GECs into the generator's account."""
    ledger.record_reading(device, *month(year, m), on_grid_kwh, self_consumed_kwh)
    return ledger.issue_gec(device, f"{year}-{m:02d}", GEN)


def one_gec_batch(ledger: Ledger, mwh: int, year: int = 2025, m: int = 1) -> str:
    """A fresh device with `mwh` tradable GECs for one month; returns the batch code."""
    device = pv(ledger, f"SIP-PV-{year}{m:02d}-{mwh}")
    (batch,) = gecs(ledger, device, year, m, mwh * 1_000)
    return batch.code


def refused(ledger: Ledger, code: str | None, command, /, *args, **kwargs) -> LedgerError:
    """Run a command that must be refused with `code` (None: any code) and must write nothing."""
    before = ledger.log.size()
    with pytest.raises(LedgerError) as refusal:
        command(*args, **kwargs)
    assert code is None or refusal.value.code == code, str(refusal.value)
    assert ledger.log.size() == before, f"{code}: the refused command still appended to the log"
    return refusal.value


def plain_ranges(batch: Batch) -> list[list]:
    """A batch's range map as plain [start, end, holder, state, sales] lists."""
    return [list(r) for r in batch.ranges]


def serials(batch: Batch) -> dict[int, tuple[str, str]]:
    """Every serial of a (small) batch: index -> (holder, state)."""
    return {i: (r.holder, r.state) for r in batch.ranges for i in range(r.start, r.end)}


# ---------------------------------------------------------------------- the transfer process


def main(argv: list[str]) -> None:
    db_url, batch, from_account, to_account, on, barrier, how, *numbers = argv
    ledger = Ledger(db_url)
    print("ready", flush=True)
    wait_for_barrier(Path(barrier))
    n = [int(x) for x in numbers]
    selection = {"quantity": n[0]} if how == "quantity" else {"spans": [(n[0], n[1])]}
    try:
        request_id = os.environ.get("ONECLAIM_TEST_REQUEST_ID")  # set: every process retries one request
        ranges = ledger.transfer(
            batch, from_account, to_account, on=date.fromisoformat(on), request_id=request_id, **selection
        )
        print(json.dumps({"ok": True, "ranges": ranges}), flush=True)
    except LedgerError as e:
        print(json.dumps({"ok": False, "code": e.code, "error": str(e)}), flush=True)
    finally:
        ledger.close()


if __name__ == "__main__":
    main(sys.argv[1:])
