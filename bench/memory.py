"""4. Peak memory while appending and while verifying, at growing n, in fresh processes.

Append: one fresh process builds the log through the Ledger recorder's `insert_events` (at most
1,200 events per transaction, signed checkpoints) up to the largest size, and reports its own peak
RSS (VmHWM, which never goes down) when the log reaches each n, so a leak per event or per
transaction shows as growth from one n to the next. At each smaller n it also copies the database
as it is then (with a checkpoint signed at exactly n).

Verify: a fresh process per n runs `audit.verify_database` over the log of that size.

Flat means the peak RSS does not grow with n: the writer keeps O(log n) state (the Merkle
frontier) and the verifier streams rows in fixed-size batches. The baseline is an `idle`
process that imports the same modules and does nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ledger.tlog import audit

ROOT = Path(__file__).resolve().parent.parent


def run_phase(*args: str) -> dict:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.phase", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.phase {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def checkpoint_every(n: int) -> int:
    """About 20 signed checkpoints per log, whatever its size."""
    return max(1_000, n // 20)


def build(path: Path, n: int, marks: list[int] | None = None) -> dict:
    marks_arg = ",".join(str(m) for m in marks or [])
    return run_phase("build", str(path), str(n), str(checkpoint_every(n)), marks_arg)


def verify(path: Path) -> dict:
    result = run_phase("verify", str(path))
    if not result["ok"]:
        raise RuntimeError(f"verification of {path} failed: {result['failure']}")
    return result


def drop(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.vkey")):
        p.unlink(missing_ok=True)


def run(sizes: list[int], final: int, tmp: Path, log=print) -> tuple[dict, Path]:
    """Build one log of max(sizes + [final]) events, measuring the writer at each size, then
    verify the log at each size in its own process. Returns the results and the path of the
    full log (kept for the throughput and proof benchmarks; the copies are deleted)."""
    idle = run_phase("idle")
    top = max([*sizes, final])
    path = tmp / f"log-{top}.sqlite"
    b = build(path, top, [m for m in sizes if m < top])
    log(f"  memory: built {top:,} events in {b['seconds']:.1f}s (peak RSS {_mib(b['vmhwm_kb'])})")
    at = {m["n"]: m for m in b["marks"]}
    rows = []
    for n in sizes:
        db = Path(at[n].get("path", path))
        v = verify(db)
        v_peak = max(v["vmhwm_kb"], v["children_maxrss_kb"])
        log(
            f"  memory: verified {n:,} events in {v['seconds']:.1f}s (peak RSS {_mib(v['vmhwm_kb'])}"
            f", largest worker {_mib(v['children_maxrss_kb'])})"
        )
        rows.append(
            {
                "n": n,
                "append_peak_kb": at[n]["vmhwm_kb"],
                "append_rss_before_kb": b["rss_before_kb"],
                "append_seconds": at[n]["seconds"],
                "insert_seconds": at[n]["insert_seconds"],
                "verify_peak_kb": v_peak,
                "verify_self_kb": v["vmhwm_kb"],
                "verify_largest_worker_kb": v["children_maxrss_kb"],
                "verify_seconds": v["seconds"],
            }
        )
        if db != path:
            drop(db)
    first, last = rows[0], rows[-1]
    notes = []
    batch = getattr(audit, "BATCH", None)
    if batch and first["n"] < 2 * batch:
        notes.append(
            f"the smallest n ({first['n']:,}) is below two of the verifier's read batches"
            f" (audit.BATCH = {batch:,} rows), so its peak still rises with n at these sizes;"
            " flatness is meaningful only above that (the full run)"
        )
    idle_kb = idle["vmhwm_kb"]
    return {
        "notes": notes,
        "idle_peak_kb": idle_kb,
        "rows": rows,
        "append_growth": last["append_peak_kb"] / first["append_peak_kb"],
        "verify_growth": last["verify_peak_kb"] / first["verify_peak_kb"],
        "append_growth_over_idle": (last["append_peak_kb"] - idle_kb) / max(1, first["append_peak_kb"] - idle_kb),
        "verify_growth_over_idle": (last["verify_peak_kb"] - idle_kb) / max(1, first["verify_peak_kb"] - idle_kb),
        "checkpoints": b["checkpoints"],
        "build_seconds": b["seconds"],
    }, path


def _mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MiB"
