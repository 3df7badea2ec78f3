"""2. Audit verification throughput: the fast verifier (`audit.verify_database`,
`audit.verify_bundle`) and the reference verifier (`reference.verify_bundle`), every check on:
trusted key, coverage, canonical I-JSON bytes, leaves, chain, roots.

Baselines, measured on the same data in the same run, alternating with the verifier:
- database: read the very rows the verifier reads (the same `log_leaves LEFT JOIN` events query,
  in the same batch size) and compute one SHA-256 per row (over the event's stored bytes);
- bundle: read the lines of `events.jsonl` and compute one SHA-256 per line.
So the ratio says how close the verifier gets to "just read it all once and hash it once".
"""

from __future__ import annotations

import hashlib
import resource
import shutil
import sqlite3
import time
from pathlib import Path

from bench.report import median
from bench.workload import ORIGIN
from ledger.database import EVENTS_TABLE
from ledger.tlog import audit, reference, trust
from ledger.tlog.note import parse_verifier_key

TARGET_EVENTS_PER_S = 250_000  # the fast verifier, bundle and database
TARGET_REFERENCE_PER_S = 50_000
BATCH = audit.BATCH


def baseline_database(path: Path, events_table: str = EVENTS_TABLE["sqlite"]) -> tuple[int, float]:
    """Read every (leaf, event) row the verifier reads and SHA-256 each event once."""
    sql = (
        "SELECT l.seq, e.originator_id, e.originator_version, e.topic, e.state, l.leaf, l.chain"
        f" FROM log_leaves l LEFT JOIN {events_table} e"
        " ON e.rowid = l.notification_id ORDER BY l.seq"
    )
    sha256 = hashlib.sha256
    started = time.perf_counter()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        n = 0
        cur = conn.execute(sql)
        while rows := cur.fetchmany(BATCH):
            for row in rows:
                sha256(row[4]).digest()
            n += len(rows)
    finally:
        conn.close()
    return n, time.perf_counter() - started


def baseline_bundle(directory: Path) -> tuple[int, float]:
    """Read every line of events.jsonl and SHA-256 it once."""
    sha256 = hashlib.sha256
    started = time.perf_counter()
    n = 0
    with open(directory / "events.jsonl", "rb") as f:
        for line in f:
            sha256(line).digest()
            n += 1
    return n, time.perf_counter() - started


def _timed(verify, label: str) -> tuple[int, float]:
    """(events, seconds) of one verification, which must succeed."""
    started = time.perf_counter()
    report = verify()
    seconds = time.perf_counter() - started
    if not report.ok:
        raise RuntimeError(f"{label} failed: {report.failure}")
    return report.events, seconds


def _verify_db(path: Path, verifier) -> tuple[int, float]:
    trusted, db = trust.of(verifier, ORIGIN), f"sqlite:///{path}"
    return _timed(lambda: audit.verify_database(db, trusted, events_table=EVENTS_TABLE["sqlite"]), "verify_database")


def _verify_bundle(directory: Path, verifier) -> tuple[int, float]:
    return _timed(lambda: audit.verify_bundle(directory, trust.of(verifier, ORIGIN)), "verify_bundle")


def _verify_reference(directory: Path, verifier) -> tuple[int, float]:
    return _timed(lambda: reference.verify_bundle(directory, trust.of(verifier, ORIGIN)), "reference verify_bundle")


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _alternate(rounds: int, first, second, label: str, log) -> tuple[list, list]:
    """Run first/second alternately (order flipped every round). Returns, for each, a list of
    (events per wall-clock second, events per CPU-second incl. worker processes)."""
    a: list = []
    b: list = []
    for r in range(rounds):
        pair = [(first, a), (second, b)]
        if r % 2:
            pair.reverse()
        for fn, out in pair:
            cpu = cpu_seconds()
            n, s = fn()
            out.append((n / s, n / max(cpu_seconds() - cpu, 1e-9)))
        log(
            f"  {label} round {r + 1}/{rounds}: verify {a[-1][0]:,.0f}/s"
            f" ({a[-1][1]:,.0f}/CPU-s), baseline {b[-1][0]:,.0f}/s ({b[-1][1]:,.0f}/CPU-s)"
        )
    return a, b


def _summary(v: list, base: list) -> dict:
    wall, cpu = [x for x, _ in v], [y for _, y in v]
    bwall, bcpu = [x for x, _ in base], [y for _, y in base]
    return {
        "verify_rates": wall,
        "baseline_rates": bwall,
        "verify_events_per_s": median(wall),
        "baseline_events_per_s": median(bwall),
        "ratio": median([x / y for x, y in zip(wall, bwall, strict=True)]),
        "verify_events_per_cpu_s": median(cpu),
        "baseline_events_per_cpu_s": median(bcpu),
        "cpu_ratio": median([x / y for x, y in zip(cpu, bcpu, strict=True)]),
    }


def run(path: Path, tmp: Path, rounds: int, log=print) -> dict:
    vkey = Path(f"{path}.vkey").read_text().strip()
    verifier = parse_verifier_key(vkey)
    v, base = _alternate(
        rounds,
        lambda: _verify_db(path, verifier),
        lambda: baseline_database(path),
        "verify_database",
        log,
    )
    n_events, _ = baseline_database(path)
    out: dict = {
        "events": n_events,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "database": _summary(v, base),
    }

    bundle = tmp / "bundle"
    readme = audit.BUNDLE_README
    started = time.perf_counter()
    audit.export_bundle(
        f"sqlite:///{path}",
        bundle,
        events_table=EVENTS_TABLE["sqlite"],
        origin=ORIGIN,
        verifier_key=vkey,
        readme=readme.read_text() if readme.exists() else "OneClaim benchmark bundle\n",
    )
    export_seconds = time.perf_counter() - started
    log(f"  export_bundle: {n_events:,} events in {export_seconds:.1f}s")
    try:
        bv, bbase = _alternate(
            rounds,
            lambda: _verify_bundle(bundle, verifier),
            lambda: baseline_bundle(bundle),
            "verify_bundle",
            log,
        )
        rv, rbase = _alternate(
            max(1, rounds - 1),
            lambda: _verify_reference(bundle, verifier),
            lambda: baseline_bundle(bundle),
            "reference.verify_bundle",
            log,
        )
        size = (bundle / "events.jsonl").stat().st_size
    finally:
        shutil.rmtree(bundle, ignore_errors=True)
    out["reference"] = {"target_events_per_s": TARGET_REFERENCE_PER_S, **_summary(rv, rbase)}
    out["bundle"] = {
        "export_seconds": export_seconds,
        "export_events_per_s": n_events / export_seconds,
        "events_jsonl_bytes": size,
        **_summary(bv, bbase),
    }
    return out
