"""Registry benchmarks (issue 3), side by side in one run.

    python -m bench.registry [--quick]

1. Batch size: issuing a 1,000,000-certificate GEC batch against a 1-certificate batch, through
   `Ledger.issue_gec`: events appended and time per issuance (interleaved rounds, medians).
2. Mixed commands end to end, durable, SQLite: issue / transfer / retire through the
   application, one transaction each, against bare eventsourcing appending one event per
   transaction on the same persistence in the same run.
3. `provenance SERIAL` latency with N events in the log (1,000,000 in the full run), through
   the read model, against a primary-key read of the same read model as the baseline.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.report import percentile
from ledger.app import Ledger
from ledger.domain.batch import Batch

OUT = Path(__file__).resolve().parent / "results" / "registry.json"
JAN = ("2025-01-01T00:00:00+08:00", "2025-02-01T00:00:00+08:00")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _setup(ledger: Ledger) -> None:
    ledger.add_participant("GEN", "发电企业", "generator", "江苏", "苏州")
    ledger.open_account("acct:gen", "GEN")
    for i in range(4):
        ledger.add_participant(f"USER-{i}", "用电企业", "consumer", "江苏", "苏州")
        ledger.open_account(f"acct:user-{i}", f"USER-{i}")


def batch_size(tmp: Path, rounds: int) -> dict:
    ledger = Ledger(f"sqlite:///{tmp / 'batch-size.sqlite'}")
    _setup(ledger)
    sizes = {"one": 1, "million": 1_000_000}
    times: dict[str, list[float]] = {k: [] for k in sizes}
    events: dict[str, list[int]] = {k: [] for k in sizes}
    for r in range(rounds):
        for name, certificates in sizes.items() if r % 2 == 0 else reversed(sizes.items()):
            code = f"DEV-{name}-{r}"
            ledger.register_device(code, "wind", 3_000_000, "江苏", "盐城", "GEN", "2024-01-01")
            ledger.record_reading(code, *JAN, certificates * 1_000)
            before = ledger.log.size()
            started = time.perf_counter()
            (batch,) = ledger.issue_gec(code, "2025-01", "acct:gen")
            times[name].append(time.perf_counter() - started)
            events[name].append(ledger.log.size() - before)
            assert batch.quantity == certificates
    ledger.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "rounds": rounds,
        "events_per_issuance": {k: sorted(set(v)) for k, v in events.items()},
        "median_ms": {k: v * 1e3 for k, v in med.items()},
        "ratio_million_to_one": med["million"] / med["one"],
    }


class _Meter(Aggregate):
    @event("Read")
    def read(self, kwh: int) -> None:
        self.kwh = kwh


def _bare_rate(tmp: Path, n: int) -> float:
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / "bare.sqlite")})
    meters = [_Meter() for _ in range(50)]
    app.save(*meters)
    started = time.perf_counter()
    for i in range(n):
        m = meters[i % 50]
        m.read(kwh=i)
        app.save(m)
    rate = n / (time.perf_counter() - started)
    app.close()
    return rate


def mixed(tmp: Path, commands: int) -> dict:
    """Issue GECs for fresh device-months, then move and retire them: one command per transaction."""
    ledger = Ledger(f"sqlite:///{tmp / 'mixed.sqlite'}")
    _setup(ledger)
    devices = commands // 3 + 1
    for i in range(devices):
        ledger.register_device(f"PV-{i}", "distributed_pv", 500, "江苏", "苏州", "GEN", "2023-01-01")
        ledger.record_reading(f"PV-{i}", *JAN, 50_000 + i)
    rng = random.Random(3)
    done = {"issue": 0, "transfer": 0, "retire": 0}
    latencies: list[float] = []
    started = time.perf_counter()
    i = 0
    while sum(done.values()) < commands:
        t0 = time.perf_counter()
        (batch,) = ledger.issue_gec(f"PV-{i}", "2025-01", "acct:gen")
        done["issue"] += 1
        latencies.append(time.perf_counter() - t0)
        buyer = f"acct:user-{rng.randrange(4)}"
        t0 = time.perf_counter()
        ledger.transfer(batch.code, "acct:gen", buyer, quantity=30, on=date(2025, 2, 1))
        done["transfer"] += 1
        latencies.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ledger.retire(
            batch.code,
            buyer,
            beneficiary=buyer,
            purpose="green_consumption_claim",
            reporting_period="2025",
            location="苏州",
            quantity=20,
            on=date(2025, 2, 1),
        )
        done["retire"] += 1
        latencies.append(time.perf_counter() - t0)
        i += 1
    elapsed = time.perf_counter() - started
    ledger.close()
    bare = _bare_rate(tmp, 2_000)
    rate = sum(done.values()) / elapsed
    latencies.sort()
    return {
        "commands": done,
        "commands_per_s": rate,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p95_ms": percentile(latencies, 95) * 1e3,
        "bare_eventsourcing_events_per_s": bare,
        "ratio_to_bare": rate / bare,
        "target_commands_per_s": 1_000,
    }


def provenance(tmp: Path, events: int, samples: int) -> dict:
    """A log of `events` registry events (batches, each issued then split by transfers), built
    through the application's save in large transactions, then provenance lookups."""
    from ledger.readmodel import ReadModel

    ledger = Ledger(f"sqlite:///{tmp / 'provenance.sqlite'}")
    _setup(ledger)
    per_batch = 10  # Issued + 9 transfers
    batches = events // per_batch
    pending = []
    started = time.perf_counter()
    for b in range(batches):
        batch = Batch(
            code=f"GEC-202501-BENCH{b:07d}-T",
            instrument="GEC",
            quantity=1_000,
            holder="acct:gen",
            tradable=True,
            valid_through="2026-12-31",
            origin={"device": f"BENCH{b:07d}", "month": "2025-01"},
        )
        for k in range(per_batch - 1):
            batch.transfer("acct:gen", f"acct:user-{k % 4}", date(2025, 2, 1), spans=[(k * 100, k * 100 + 100)])
        pending.append(batch)
        if len(pending) * per_batch >= 5_000:
            ledger.save(*pending)
            pending = []
    if pending:
        ledger.save(*pending)
    build = time.perf_counter() - started
    model = ReadModel(ledger)
    started = time.perf_counter()
    model.catch_up()
    project = time.perf_counter() - started
    rng = random.Random(7)
    lat, base = [], []
    for _ in range(samples):
        b, n = rng.randrange(batches), rng.randrange(1, 1_001)
        serial = f"GEC-202501-BENCH{b:07d}-T:{n}"
        t0 = time.perf_counter()
        trail = model.provenance(serial)
        lat.append(time.perf_counter() - t0)
        assert trail["events"] and trail["events"][0]["type"] == "Issued"
        t0 = time.perf_counter()
        model.supply(f"GEC-202501-BENCH{b:07d}-T")
        base.append(time.perf_counter() - t0)
    lat.sort()
    base.sort()
    size = ledger.log.size()
    ledger.close()
    return {
        "log_events": size,
        "build_seconds": build,
        "projection_seconds": project,
        "projection_events_per_s": size / project,
        "samples": samples,
        "p50_ms": percentile(lat, 50) * 1e3,
        "p95_ms": percentile(lat, 95) * 1e3,
        "p99_ms": percentile(lat, 99) * 1e3,
        "baseline_supply_p95_ms": percentile(base, 95) * 1e3,
        "ratio_p95_to_baseline": percentile(lat, 95) / percentile(base, 95),
        "target_p95_ms": 10.0,
    }


def run(quick: bool) -> dict:
    rounds, commands, events, samples = (6, 600, 50_000, 500) if quick else (20, 6_000, 1_000_000, 2_000)
    results: dict = {"mode": "quick" if quick else "full"}
    with tempfile.TemporaryDirectory(prefix="oneclaim-bench-registry-") as tmp:
        _log("5. registry: batch size ...")
        results["batch_size"] = batch_size(Path(tmp), rounds)
        _log("6. registry: mixed commands ...")
        results["mixed"] = mixed(Path(tmp), commands)
        _log(f"7. registry: provenance at {events:,} events ...")
        results["provenance"] = provenance(Path(tmp), events, samples)
    return results


def render(results: dict) -> str:
    b, m, p = results["batch_size"], results["mixed"], results["provenance"]
    return "\n".join(
        [
            f"Registry benchmarks ({results['mode']})",
            f"5. issuance: 1 certificate {b['median_ms']['one']:.2f} ms, 1,000,000 certificates"
            f" {b['median_ms']['million']:.2f} ms (ratio {b['ratio_million_to_one']:.2f});"
            f" log entries per issuance {b['events_per_issuance']}",
            f"6. mixed commands: {m['commands_per_s']:,.0f}/s (target 1,000), p50 {m['p50_ms']:.2f} ms,"
            f" p95 {m['p95_ms']:.2f} ms; bare eventsourcing {m['bare_eventsourcing_events_per_s']:,.0f} events/s"
            f" (one event per transaction); ratio {m['ratio_to_bare']:.2f}",
            f"7. provenance at {p['log_events']:,} events: p50 {p['p50_ms']:.2f} ms, p95 {p['p95_ms']:.2f} ms"
            f" (target 10), baseline supply() p95 {p['baseline_supply_p95_ms']:.2f} ms"
            f" (ratio {p['ratio_p95_to_baseline']:.1f}); projection {p['projection_events_per_s']:,.0f} events/s",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    results = run(parser.parse_args().quick)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


if __name__ == "__main__":
    main()
