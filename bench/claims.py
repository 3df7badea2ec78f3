"""Claims-pool benchmarks (issue 4), side by side in one run.

    python -m bench.claims [--quick] [--devices N]

1. The pool check's cost per issuance. A database holding N devices (10,000 in the full run)
   with 24 months of readings and GEC issuances each. A device with that history is compared
   with a new device (an empty pool) in the same database, and with a new device in an empty
   database. Each times `Ledger.issue_gec` for a new month, end to end (load, check, save), in
   rounds in shuffled order,
   right after that month's reading was recorded (as a registry runs: readings, then issuance),
   and the check alone (`Device.allocate`). Target: history within 1.5x of empty. A cold load
   of the device (no aggregate cache: every event replayed) is reported beside them.
2. Importing 100,000 external claims with overlap detection, in one `import_external` call,
   against importing the same number of meter readings (`import_readings`) on the same
   database in the same run. Cases found are reported against cases planted.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from ledger.app import Ledger
from ledger.domain.device import Device
from tests.support import month

OUT = Path(__file__).resolve().parent / "results" / "claims.json"
GEN, ACCOUNT = "GEN", "acct:gen"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _ym(index: int) -> tuple[int, int]:
    """Month `index` (0 = 2024-01) as (year, month)."""
    return 2024 + index // 12, index % 12 + 1


def _owner(ledger: Ledger) -> None:
    ledger.add_participant(GEN, "发电企业", "generator", "江苏", "苏州")
    ledger.open_account(ACCOUNT, GEN)


def _history(ledger: Ledger, devices: int, months: int, *, per_save: int = 25) -> None:
    """Devices with `months` months of readings and GECs each, saved per_save devices at a time."""
    pending: list = []
    for d in range(devices):
        device = Device.register(f"HIST-{d:05d}", "distributed_pv", 2_000, "江苏", "苏州", GEN, "2023-01-01")
        batches = []
        for i in range(months):
            y, m = _ym(i)
            device.record_reading(*month(y, m), 150_000 + 97 * d + i)
            batches += ledger.new_gec_batches(device, f"{y}-{m:02d}", ACCOUNT)
        pending += [device, *batches]
        if (d + 1) % per_save == 0 or d == devices - 1:
            ledger.save(*pending)
            pending = []
        if (d + 1) % 1000 == 0:
            _log(f"  history: {d + 1:,} devices")


CHECK_REPEATS = 50
"""The pool check takes microseconds: each round times it this many times over, so that the
timer's resolution and one-off cache misses do not decide the ratio."""


def pool_check(tmp: Path, devices: int, rounds: int) -> dict:
    full, empty = Ledger(f"sqlite:///{tmp / 'history.sqlite'}"), Ledger(f"sqlite:///{tmp / 'empty.sqlite'}")
    for ledger in (full, empty):
        _owner(ledger)
    started = time.perf_counter()
    _history(full, devices, 24)
    setup_s = time.perf_counter() - started
    events = full.log.size()
    y, m = _ym(24)  # 2026-01: the month being issued
    cases = {"history": (full, "HIST"), "same_db_empty_pool": (full, "FRESH"), "empty_db": (empty, "NEW")}
    times: dict[str, list[float]] = {k: [] for k in cases}
    checks: dict[str, list[float]] = {k: [] for k in cases}
    cold: dict[str, list[float]] = {k: [] for k in cases}
    rng = random.Random(4)
    picked = rng.sample(range(devices), min(rounds, devices))
    for r, d in enumerate(picked):
        order = list(cases.items())
        rng.shuffle(order)
        for name, (ledger, prefix) in order:
            code = f"HIST-{d:05d}" if prefix == "HIST" else f"{prefix}-{r:05d}"
            if prefix != "HIST":
                ledger.register_device(code, "distributed_pv", 2_000, "江苏", "苏州", GEN, "2023-01-01")
            ledger.record_reading(code, *month(y, m), 150_000 + r)
            device = ledger.device(code)
            t = time.perf_counter()
            ledger.repository.get(device.id, version=device.version)  # a cold load: every event replayed
            cold[name].append(time.perf_counter() - t)
            bounds = _bounds(y, m)
            t = time.perf_counter()
            for _ in range(CHECK_REPEATS):
                device.allocate(*bounds, None)
            checks[name].append((time.perf_counter() - t) / CHECK_REPEATS)
            t = time.perf_counter()
            ledger.issue_gec(code, f"{y}-{m:02d}", ACCOUNT)
            times[name].append(time.perf_counter() - t)
    full.close()
    empty.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    med_check = {k: statistics.median(v) for k, v in checks.items()}
    med_cold = {k: statistics.median(v) for k, v in cold.items()}
    return {
        "devices": devices,
        "months_of_history": 24,
        "events_in_history_db": events,
        "setup_seconds": setup_s,
        "rounds": len(picked),
        "issue_gec_median_ms": {k: v * 1e3 for k, v in med.items()},
        "ratio_history_to_empty_pool_same_db": med["history"] / med["same_db_empty_pool"],
        "ratio_history_to_empty_db": med["history"] / med["empty_db"],
        "pool_check_median_us": {k: v * 1e6 for k, v in med_check.items()},
        "pool_check_ratio_history_to_empty_pool": med_check["history"] / med_check["same_db_empty_pool"],
        "cold_load_median_ms": {k: v * 1e3 for k, v in med_cold.items()},
        "cold_load_ratio_history_to_empty_pool": med_cold["history"] / med_cold["same_db_empty_pool"],
        "target_ratio": 1.5,
    }


def _bounds(y: int, m: int) -> tuple[datetime, datetime]:
    start, end = month(y, m)
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


def external_import(tmp: Path, claims: int, devices: int, planted: int) -> dict:
    """`devices` devices with 12 months of 2025 readings, GECs issued for January to June. The
    claims are spread over July to December in amounts that fit, except `planted` of them, put
    on January to June, whose kWh carry GECs: each of those must open a case."""
    ledger = Ledger(f"sqlite:///{tmp / 'external.sqlite'}")
    _owner(ledger)
    pending: list = []
    for d in range(devices):
        device = Device.register(f"EXT-{d:04d}", "distributed_pv", 2_000, "江苏", "苏州", GEN, "2023-01-01")
        batches = []
        for m in range(1, 13):
            device.record_reading(*month(2025, m), 500_000)
            if m <= 6:
                batches += ledger.new_gec_batches(device, f"2025-{m:02d}", ACCOUNT)
        pending += [device, *batches]
        if (d + 1) % 50 == 0:
            ledger.save(*pending)
            pending = []
    ledger.save(*pending)
    rng = random.Random(7)
    planted_at = set(rng.sample(range(claims), planted))
    rows = []
    for i in range(claims):
        d = rng.randrange(devices)
        m = rng.randint(1, 6) if i in planted_at else rng.randint(7, 12)
        start, end = month(2025, m)
        rows.append(
            {
                "line": i + 1,
                "source": "CZ-PHCER",
                "reference": f"CZ-{i:07d}",
                "instrument": "INCLUSION",
                "device": f"EXT-{d:04d}",
                "start": start,
                "end": end,
                "kwh": 50 + i % 100,  # ~100 claims per device-month stay far below 500,000 kWh
            }
        )
    before = ledger.log.size()
    t = time.perf_counter()
    result = ledger.import_external(rows)
    import_s = time.perf_counter() - t
    appended = ledger.log.size() - before
    t = time.perf_counter()
    again = ledger.import_external(rows)
    reimport_s = time.perf_counter() - t
    # Baseline: as many meter readings, imported in one call on the same database (daily, 2026).
    readings = []
    per_device = -(-claims // devices)
    for d in range(devices):
        for k in range(per_device):
            if len(readings) == claims:
                break
            s = datetime.fromisoformat("2026-01-01T00:00:00+08:00") + timedelta(hours=k)
            readings.append(
                {
                    "line": len(readings) + 1,
                    "device": f"EXT-{d:04d}",
                    "start": s.isoformat(),
                    "end": (s + timedelta(hours=1)).isoformat(),
                    "on_grid_kwh": 100,
                }
            )
    t = time.perf_counter()
    ledger.import_readings(readings)
    readings_s = time.perf_counter() - t
    ledger.close()
    found = len(result["cases_opened"])
    return {
        "claims": claims,
        "devices": devices,
        "import_seconds": import_s,
        "claims_per_second": claims / import_s,
        "events_appended": appended,
        "cases_planted": planted,
        "cases_found": found,
        "reimport_seconds": reimport_s,
        "reimport_cases_opened": len(again["cases_opened"]),
        "baseline_readings_per_second": claims / readings_s,
        "ratio_claims_to_readings_rate": (claims / import_s) / (claims / readings_s),
        "target_claims_per_second": 5_000,
    }


def run(quick: bool, devices: int | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="oneclaim-bench-claims-") as tmp:
        n = devices or (500 if quick else 10_000)
        _log(f"pool check: {n:,} devices x 24 months of history against an empty pool")
        pool = pool_check(Path(tmp), n, 60 if quick else 200)
        claims = 10_000 if quick else 100_000
        _log(f"external import: {claims:,} claims")
        ext = external_import(Path(tmp), claims, 100 if quick else 1_000, 50 if quick else 500)
    return {"pool_check": pool, "external_import": ext}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--devices", type=int)
    args = parser.parse_args()
    results = run(args.quick, args.devices)
    text = json.dumps(results, indent=2)
    print(text)
    if not args.quick:
        OUT.write_text(text + "\n")


if __name__ == "__main__":
    main()
