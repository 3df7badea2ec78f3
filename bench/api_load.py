"""The HTTP API under load on loopback (issue 14), against the same operations in-process.

    python -m bench.api_load [--quick] [--events N] [--postgres]

A home whose log holds N events (1,000,000 in the full run: GEC batches, each issued and then
split by transfers), with devices ready for issuance. `oneclaim serve` is started on it (one
worker on SQLite; two on PostgreSQL with --postgres) and driven by httpx clients on 127.0.0.1:

- writes: cycles of issue (POST gec-issuances) → transfer → retire, each request with its
  Idempotency-Key, from 4 clients at once (and, beside it, from one client one request at a
  time); against the same cycle called on `Ledger` in this process on the same database, in
  alternating rounds;
- reads: provenance of a random serial and the inclusion proof of a random seq; against
  `ReadModel.provenance` and `LogStore.inclusion_proof` in-process;
- writes (4 clients) while two clients read without pause: write throughput against writes alone.

Targets: API writes ≥ 0.6× the in-process rate (one SQLite worker); provenance and proof reads
p95 ≤ 10 ms; reads slow writes by at most 20 %. Each phase is bounded in count. Nothing leaves
loopback. Results: bench/results/api_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx

from bench.report import machine, percentile, table, write_json
from ledger.app import Ledger
from ledger.domain.batch import Batch
from ledger.domain.device import Device

OUT = Path(__file__).resolve().parent / "results" / "api_load.json"
JAN = ("2025-01-01T00:00:00+08:00", "2025-02-01T00:00:00+08:00")
ON = date(2025, 2, 1)
BUYERS = 4
RETIREMENT = {"purpose": "green_consumption_claim", "reporting_period": "2025", "location": "苏州"}
CLIENTS = 4
"""Writers at once in the write phases (each its own devices, so none conflicts)."""
TARGETS = {"write_ratio": 0.6, "read_p95_ms": 10.0, "writes_slowed_by_reads": 0.2}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _run(*args: str, env: dict) -> str:
    done = subprocess.run([sys.executable, "-m", "oneclaim", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"oneclaim {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def build(home: Path, db_url: str | None, events: int, devices: int, env: dict) -> dict:
    """The home, its market, `devices` devices each with January read, and ~`events` events."""
    _run("init", "--origin", "oneclaim.bench/api", "--home", str(home), *(["--db", db_url] if db_url else []), env=env)
    url = db_url or f"sqlite:///{home / 'ledger.sqlite'}"
    ledger = Ledger(url)
    started = time.perf_counter()
    try:
        ledger.add_participant("REGISTRY", "登记机构", "registry", "江苏", "苏州")
        ledger.add_participant("GEN", "发电企业", "generator", "江苏", "苏州")
        ledger.open_account("acct:gen", "GEN")
        for i in range(BUYERS):
            ledger.add_participant(f"USER-{i}", "用电企业", "consumer", "江苏", "苏州")
            ledger.open_account(f"acct:user-{i}", f"USER-{i}")
        pending: list = []
        for i in range(devices):
            device = Device.register(f"PV-{i:05d}", "distributed_pv", 500, "江苏", "苏州", "GEN", "2023-01-01")
            device.record_reading(*JAN, 50_000 + i)
            pending.append(device)
            if len(pending) == 200:
                ledger.save(*pending)
                pending = []
        filler = max(0, events - ledger.log.size() - len(pending) * 2) // 10
        for b in range(filler):  # Issued + 9 transfers per batch
            origin = {"device": f"FILL{b:07d}", "month": "2025-01"}
            batch = Batch(code=f"GEC-202501-FILL{b:07d}-T", instrument="GEC", quantity=1_000, holder="acct:gen",
                          tradable=True, valid_through="2026-12-31", origin=origin)  # fmt: skip
            for k in range(9):
                batch.transfer("acct:gen", f"acct:user-{k % BUYERS}", ON, spans=[(k * 100, k * 100 + 100)])
            pending.append(batch)
            if len(pending) >= 500:
                ledger.save(*pending)
                pending = []
        if pending:
            ledger.save(*pending)
        from ledger.readmodel import ReadModel
        from ledger.surveillance import Surveillance

        model = ReadModel(ledger)
        model.catch_up()
        model.close()
        with Surveillance(ledger) as watch:  # the server's projections start caught up, as in service
            watch.catch_up()
        size = ledger.log.size()
    finally:
        ledger.close()
    _run("log", "sign", "--home", str(home), env=env)
    tokens = {"operator": ("REGISTRY", "operator"), "gen": ("GEN", "holder")}
    tokens |= {f"user-{i}": (f"USER-{i}", "holder") for i in range(BUYERS)}
    issued = {
        name: json.loads(
            _run("token", "issue", "--participant", p, "--role", r, "--home", str(home), "--json", env=env)
        )["token"]  # fmt: skip
        for name, (p, r) in tokens.items()
    }
    return {"url": url, "events": size, "fill_batches": filler, "build_seconds": time.perf_counter() - started,
            "tokens": issued}  # fmt: skip


@contextmanager
def serving(home: Path, workers: int, env: dict):
    args = [sys.executable, "-m", "oneclaim", "serve", "--port", "0", "--no-access-log", "--home", str(home)]
    proc = subprocess.Popen([*args, "--workers", str(workers)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        url, ready = None, 0
        for line in proc.stderr:  # what uvicorn reports, never a sleep
            if m := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line):
                url = m.group(1)
            if "Application startup complete" in line:
                ready += 1
            if url and ready >= workers:
                break
        if url is None:
            raise RuntimeError("the server stopped before it was listening")
        log = open(os.environ.get("ONECLAIM_BENCH_SERVER_LOG", os.devnull), "w")  # noqa: SIM115
        threading.Thread(target=lambda: [log.write(line) or log.flush() for line in proc.stderr], daemon=True).start()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


class Devices:
    """Hands out devices not yet issued, to whichever phase runs next."""

    def __init__(self, count: int) -> None:
        self.next, self.count, self.lock = 0, count, threading.Lock()

    def take(self) -> str:
        with self.lock:
            if self.next >= self.count:
                raise RuntimeError("the benchmark ran out of prepared devices")
            self.next += 1
            return f"PV-{self.next - 1:05d}"


def in_process_cycles(ledger: Ledger, devices: Devices, cycles: int, rng: random.Random) -> dict:
    lat: dict[str, list[float]] = {"issue": [], "transfer": [], "retire": []}
    started = time.perf_counter()
    for _ in range(cycles):
        code, buyer = devices.take(), rng.randrange(BUYERS)
        t0 = time.perf_counter()
        (batch,) = ledger.issue_gec(code, "2025-01", "acct:gen")
        t1 = time.perf_counter()
        ledger.transfer(batch.code, "acct:gen", f"acct:user-{buyer}", quantity=30, on=ON)
        t2 = time.perf_counter()
        ledger.retire(batch.code, f"acct:user-{buyer}", beneficiary=f"USER-{buyer}", quantity=20, on=ON, **RETIREMENT)
        t3 = time.perf_counter()
        for name, seconds in (("issue", t1 - t0), ("transfer", t2 - t1), ("retire", t3 - t2)):
            lat[name].append(seconds)
    return {"seconds": time.perf_counter() - started, "ops": 3 * cycles, "latencies": lat}


def api_cycles(url: str, tokens: dict, devices: Devices, cycles: int, rng: random.Random, tag: str) -> dict:
    lat: dict[str, list[float]] = {"issue": [], "transfer": [], "retire": []}
    auth = lambda name: {"Authorization": f"Bearer {tokens[name]}"}  # noqa: E731
    with httpx.Client(base_url=url, timeout=120) as http:
        started = time.perf_counter()
        for n in range(cycles):
            code, buyer = devices.take(), rng.randrange(BUYERS)
            key = {"Idempotency-Key": f"{tag}-{n}"}
            t0 = time.perf_counter()
            issued = http.post(f"/v1/devices/{code}/gec-issuances", json={"month": "2025-01", "account": "acct:gen"},
                               headers=auth("operator") | key)  # fmt: skip
            t1 = time.perf_counter()
            if issued.status_code != 201:
                raise RuntimeError(f"an issuance was refused: {issued.status_code} {issued.text}")
            batch = issued.json()["batches"][0]["batch"]
            move = {"from_account": "acct:gen", "to_account": f"acct:user-{buyer}", "quantity": 30, "on": str(ON)}
            moved = http.post(f"/v1/batches/{batch}/transfers", headers=auth("gen") | key, json=move)
            t2 = time.perf_counter()
            retired = http.post(f"/v1/batches/{batch}/retirements", headers=auth(f"user-{buyer}") | key, json={
                "account": f"acct:user-{buyer}", "beneficiary": f"USER-{buyer}", "quantity": 20,
                "on": ON.isoformat(), **RETIREMENT})  # fmt: skip
            t3 = time.perf_counter()
            for answer in (issued, moved, retired):
                if answer.status_code != 201:
                    raise RuntimeError(f"a write was refused: {answer.status_code} {answer.text}")
            for name, seconds in (("issue", t1 - t0), ("transfer", t2 - t1), ("retire", t3 - t2)):
                lat[name].append(seconds)
        return {"seconds": time.perf_counter() - started, "ops": 3 * cycles, "latencies": lat}


def concurrent_cycles(url: str, tokens: dict, devices: Devices, cycles: int, clients: int, tag: str) -> dict:
    """`clients` writers at once, each its own cycles: the server's throughput, not one client's."""
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        runs = list(pool.map(lambda k: api_cycles(url, tokens, devices, cycles // clients, random.Random(k),
                                                  f"{tag}-{k}"), range(clients)))  # fmt: skip
    return {"seconds": time.perf_counter() - started, "ops": sum(r["ops"] for r in runs), "latencies": _merge(runs)}


def read_targets(rng: random.Random, fill_batches: int, size: int) -> tuple[str, int]:
    return f"GEC-202501-FILL{rng.randrange(fill_batches):07d}-T:{rng.randrange(1, 1_001)}", rng.randrange(size)


def api_reads(url: str, count: int, fill_batches: int, size: int, rng: random.Random, stop=None) -> dict:
    lat: dict[str, list[float]] = {"provenance": [], "inclusion_proof": []}
    with httpx.Client(base_url=url, timeout=120) as http:
        for _ in range(count):
            if stop is not None and stop.is_set():
                break
            serial, seq = read_targets(rng, fill_batches, size)
            t0 = time.perf_counter()
            trail = http.get(f"/v1/serials/{serial}/provenance")
            t1 = time.perf_counter()
            proof = http.get(f"/v1/proofs/inclusion/{seq}", params={"tree_size": size})
            t2 = time.perf_counter()
            if trail.status_code != 200 or proof.status_code != 200 or not trail.json()["events"]:
                raise RuntimeError(f"a read failed: {trail.status_code} {proof.status_code}")
            lat["provenance"].append(t1 - t0)
            lat["inclusion_proof"].append(t2 - t1)
    return lat


def in_process_reads(ledger: Ledger, count: int, fill_batches: int, size: int, rng: random.Random) -> dict:
    from ledger.readmodel import ReadModel

    model = ReadModel(ledger)
    lat: dict[str, list[float]] = {"provenance": [], "inclusion_proof": []}
    try:
        for _ in range(count):
            serial, seq = read_targets(rng, fill_batches, size)
            t0 = time.perf_counter()
            model.provenance(serial)
            t1 = time.perf_counter()
            ledger.log.inclusion_proof(seq, size)
            t2 = time.perf_counter()
            lat["provenance"].append(t1 - t0)
            lat["inclusion_proof"].append(t2 - t1)
    finally:
        model.close()
    return lat


def _summary(lat: dict[str, list[float]]) -> dict:
    out = {}
    for name, values in lat.items():
        v = sorted(values)
        out[name] = {"n": len(v), **{f"p{p}_ms": percentile(v, p) * 1e3 for p in (50, 95, 99)}}
    return out


def _rate(runs: list[dict]) -> float:
    return sum(x["ops"] for x in runs) / sum(x["seconds"] for x in runs)


def _merge(runs: list[dict]) -> dict:
    lat: dict[str, list[float]] = {}
    for r in runs:
        for k, v in r["latencies"].items():
            lat.setdefault(k, []).extend(v)
    return lat


def measure(home: Path, db_url: str | None, workers: int, quick: bool, events: int) -> dict:
    rounds, cycles, reads = (3, 20, 200) if quick else (5, 100, 2_000)
    env = os.environ | {"ONECLAIM_HOME": str(home)}
    env.pop("ONECLAIM_DB_URL", None)
    devices_needed = rounds * cycles * 3 + rounds * cycles // 2 + 10
    _log(f"  building the log ({events:,} events) ...")
    built = build(home, db_url, events, devices_needed, env)
    _log(f"  built {built['events']:,} events in {built['build_seconds']:.0f} s")
    devices, rng = Devices(devices_needed), random.Random(11)
    ledger = Ledger(built["url"])
    try:
        with serving(home, workers, env) as url:
            httpx.get(f"{url}/healthz", timeout=60).raise_for_status()
            alone, single, together, local = [], [], [], []
            slowed: list[float] = []
            for r in range(rounds):  # alternate, so drift on a noisy machine hits every side alike
                _log(f"  round {r + 1}/{rounds}")
                local.append(in_process_cycles(ledger, devices, cycles, rng))
                single.append(api_cycles(url, built["tokens"], devices, cycles // 2, rng, f"single-{r}"))
                alone.append(concurrent_cycles(url, built["tokens"], devices, cycles, CLIENTS, f"alone-{r}"))
                stop = threading.Event()
                readers = [
                    threading.Thread(
                        target=api_reads,
                        args=(url, 10**9, built["fill_batches"], built["events"], random.Random(r * 10 + k), stop),
                    )  # fmt: skip
                    for k in range(2)
                ]
                for t in readers:
                    t.start()
                together.append(concurrent_cycles(url, built["tokens"], devices, cycles, CLIENTS, f"mixed-{r}"))
                stop.set()
                for t in readers:
                    t.join()
                slowed.append(
                    1 - (together[-1]["ops"] / together[-1]["seconds"]) / (alone[-1]["ops"] / alone[-1]["seconds"])
                )
            http_reads = api_reads(url, reads, built["fill_batches"], built["events"], random.Random(5))
        local_reads = in_process_reads(ledger, reads, built["fill_batches"], built["events"], random.Random(5))
    finally:
        ledger.close()
    api_rate, local_rate = _rate(alone), _rate(local)
    reads_http = _summary(http_reads)
    return {
        "workers": workers,
        "log_events": built["events"],
        "build_seconds": built["build_seconds"],
        "rounds": rounds,
        "cycles_per_round": cycles,
        "writes": {
            "api_ops_per_s": api_rate,
            "in_process_ops_per_s": local_rate,
            "ratio": api_rate / local_rate,
            "clients": CLIENTS,
            "api_latency": _summary(_merge(alone)),
            "one_client_ops_per_s": _rate(single),
            "one_client_ratio": _rate(single) / local_rate,
            "one_client_latency": _summary(_merge(single)),
            "in_process_latency": _summary(_merge(local)),
        },
        "writes_with_reads": {
            "api_ops_per_s": _rate(together),
            "slowed_by_per_round": slowed,
            "slowed_by": sorted(slowed)[len(slowed) // 2],
        },
        "reads": {"api": reads_http, "in_process": _summary(local_reads)},
        "targets": TARGETS,
        "met": {
            "write_ratio": api_rate / local_rate >= TARGETS["write_ratio"],
            "read_p95": all(v["p95_ms"] <= TARGETS["read_p95_ms"] for v in reads_http.values()),
            "writes_slowed_by_reads": sorted(slowed)[len(slowed) // 2] <= TARGETS["writes_slowed_by_reads"],
        },
    }


def run(quick: bool, events: int | None = None, pg_url: str | None = None) -> dict:
    events = events or (50_000 if quick else 1_000_000)
    results: dict = {"mode": "quick" if quick else "full"}
    with tempfile.TemporaryDirectory(prefix="oneclaim-bench-api-") as tmp:
        _log("api load: SQLite, one worker")
        results["sqlite"] = measure(Path(tmp) / "sqlite", None, 1, quick, events)
        if pg_url:
            from tests.pg import create_database

            _log("api load: PostgreSQL, two workers")
            results["postgres"] = measure(Path(tmp) / "pg", create_database(pg_url, "api_load"), 2, quick, events)
        else:
            results["postgres"] = {"skipped": "no PostgreSQL: give --postgres"}
    return results


def targets(results: dict) -> list[dict]:
    """The issue's targets, met or missed, for `python -m bench`'s summary."""
    out = []
    for backend in ("sqlite", "postgres"):
        r = results.get(backend) or {}
        if "met" not in r:
            continue
        w, reads = r["writes"], r["reads"]["api"]
        where = f"{backend}, {r['workers']} worker(s)"
        out.append({"name": f"API writes / in-process ({where})", "target": ">= 0.6",
                    "measured": f"{w['ratio']:.2f}", "met": r["met"]["write_ratio"]})  # fmt: skip
        p95 = ", ".join(f"{v['p95_ms']:.1f} ms" for v in reads.values())
        out.append({"name": f"API provenance and proof read p95 ({where})", "target": "<= 10 ms",
                    "measured": p95, "met": r["met"]["read_p95"]})  # fmt: skip
        out.append({"name": f"writes slowed by concurrent reads ({where})", "target": "<= 20%",
                    "measured": f"{r['writes_with_reads']['slowed_by'] * 100:.0f}%",
                    "met": r["met"]["writes_slowed_by_reads"]})  # fmt: skip
    return out


def render(results: dict) -> str:
    rows = []
    for backend in ("sqlite", "postgres"):
        r = results.get(backend) or {}
        if "skipped" in r or not r:
            rows.append([backend, r.get("skipped", "not run"), *[""] * 5])
            continue
        w, m, reads = r["writes"], r["writes_with_reads"], r["reads"]
        api_lat = w["api_latency"]
        rows.append([
            f"{backend} ({r['workers']} worker(s), {r['log_events']:,} events)",
            f"{w['api_ops_per_s']:.0f}/s vs {w['in_process_ops_per_s']:.0f}/s = {w['ratio']:.2f}x"
            f" ({'met' if r['met']['write_ratio'] else 'MISSED'} ≥0.6x); one client {w['one_client_ratio']:.2f}x",
            " / ".join(f"{k} {v['p50_ms']:.1f}/{v['p95_ms']:.1f}/{v['p99_ms']:.1f}" for k, v in api_lat.items()),
            f"{m['slowed_by'] * 100:.0f}% ({'met' if r['met']['writes_slowed_by_reads'] else 'MISSED'} ≤20%)",
            " / ".join(f"{k} {v['p50_ms']:.1f}/{v['p95_ms']:.1f}/{v['p99_ms']:.1f}" for k, v in reads["api"].items()),
            " / ".join(f"{k} {v['p95_ms']:.2f}" for k, v in reads["in_process"].items()),
            "met" if r["met"]["read_p95"] else "MISSED",
        ])  # fmt: skip
    header = ["backend", "API writes vs in-process", "write p50/p95/p99 ms", "writes slowed by reads",
              "API reads p50/p95/p99 ms", "in-process read p95 ms", "read p95 ≤10 ms"]  # fmt: skip
    return table("HTTP API on loopback (issue 14)", header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_load", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL with two workers (throw-away server)")
    args = parser.parse_args()
    meta = {**machine(), "load_start": os.getloadavg()}
    if args.postgres:
        from tests.pg import throwaway_server

        with throwaway_server() as pg:
            results = run(args.quick, args.events, pg)
    else:
        results = run(args.quick, args.events)
    results["meta"] = meta | {"load_end": os.getloadavg()}
    write_json(OUT, results)
    print(render(results))


if __name__ == "__main__":
    main()
