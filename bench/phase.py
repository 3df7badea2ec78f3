"""One measured phase in a fresh process; prints one JSON line with its peak RSS.

    python -m bench.phase idle
    python -m bench.phase build  DB_PATH N CHECKPOINT_EVERY [MARK,MARK,...]
    python -m bench.phase verify DB_PATH

`build` writes DB_PATH.vkey, and at each MARK (a log size below N) reports the writer's peak RSS
so far and copies the database as it is then (file copies; a checkpoint is signed at exactly
MARK) to `snapshot_path(DB_PATH, MARK)`, for a separate verify phase at that size.

The peak RSS is this process's own (VmHWM), read at each mark before the copy; the build's
generator processes are separate processes and are not counted (they only make domain events
and never touch the database).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from bench.report import peak_rss_kb
from bench.workload import ORIGIN, build_log
from ledger.database import EVENTS_TABLE
from ledger.tlog import audit, trust
from ledger.tlog.note import parse_verifier_key


def snapshot_path(db: Path, size: int) -> Path:
    return db.with_name(f"{db.stem}-at-{size}{db.suffix}")


def snapshot(db: Path, size: int, verifier_key: str) -> Path:
    """Copy the database file and its WAL, between two transactions of the only writer (so the
    pair is consistent). File copies (sendfile) keep the copy out of this process's memory."""
    dest = snapshot_path(db, size)
    shutil.copyfile(db, dest)
    wal = Path(f"{db}-wal")
    if wal.exists():
        shutil.copyfile(wal, f"{dest}-wal")
    Path(f"{dest}.vkey").write_text(verifier_key + "\n")
    return dest


def main(argv: list[str]) -> int:
    phase = argv[0]
    out: dict = {"phase": phase}
    if phase == "idle":
        pass
    elif phase == "build":
        path, n, every = Path(argv[1]), int(argv[2]), int(argv[3])
        marks = [int(m) for m in argv[4].split(",") if m] if len(argv) > 4 else []
        baseline: dict = {}
        at: list[dict] = []

        def on_mark(size: int, seconds: float, insert_seconds: float, verifier_key: str) -> None:
            at.append({"n": size, "seconds": seconds, "insert_seconds": insert_seconds, **peak_rss_kb()})
            if size < n:
                at[-1]["path"] = str(snapshot(path, size, verifier_key))

        result = build_log(
            f"sqlite:///{path}",
            n,
            checkpoint_every=every,
            marks=marks,
            on_mark=on_mark,
            on_ready=lambda: baseline.update(peak_rss_kb()),
        )
        Path(f"{path}.vkey").write_text(result.verifier_key + "\n")
        out.update(
            events=result.events,
            checkpoints=result.checkpoints,
            seconds=result.seconds,
            insert_seconds=result.insert_seconds,
            rss_before_kb=baseline.get("vmhwm_kb"),
            marks=at,
        )
    elif phase == "verify":
        path = Path(argv[1])
        verifier = parse_verifier_key(Path(f"{path}.vkey").read_text().strip())
        started = time.perf_counter()
        report = audit.verify_database(
            f"sqlite:///{path}", trust.of(verifier, ORIGIN), events_table=EVENTS_TABLE["sqlite"]
        )
        out.update(
            ok=report.ok,
            events=report.events,
            checkpoints=report.checkpoints,
            seconds=time.perf_counter() - started,
            failure=None if report.failure is None else report.failure.message,
        )
    else:
        print(f"unknown phase {phase!r}", file=sys.stderr)
        return 2
    out.update(peak_rss_kb())
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
