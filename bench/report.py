"""Small statistics helpers, machine facts, the text table and the JSON results."""

from __future__ import annotations

import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (p in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def peak_rss_kb() -> dict[str, int]:
    """Peak resident set size in KiB: this process's (VmHWM from /proc, and ru_maxrss), and the
    largest of its finished child processes (ru_maxrss of RUSAGE_CHILDREN; 0 if none)."""
    import resource

    out = {
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["vmhwm_kb"] = int(line.split()[1])
    except OSError:
        pass
    return out


def source_version() -> dict:
    """The commit measured, and whether the ledger code differed from it."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        return proc.stdout.strip() if proc.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "ledger_modified": bool(git("status", "--porcelain", "--", "ledger")),
    }


def machine() -> dict:
    model = platform.processor() or platform.machine()
    mem_kb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1) if mem_kb else None,
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        **source_version(),
    }


def fmt_rate(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}/s"


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


MARKDOWN = False
"""Set by `python -m bench.markdown` to render the same tables as Markdown."""


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    if MARKDOWN:
        cells = [header, ["---"] * len(header), *rows]
        return "\n".join([f"\n**{title}**\n", *("| " + " | ".join(str(c) for c in r) + " |" for r in cells)])
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)

    def fmt(row: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join([f"\n== {title}", fmt(header), line, *(fmt(r) for r in rows)])


def write_json(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


def target_lines(targets: list[dict]) -> list[str]:
    """One line per target of a benchmark: what it is, its figure, measured, met or MISSED."""
    return [
        f"  target {t['name']}: {t['target']}, measured {t['measured']}: {'met' if t['met'] else 'MISSED'}"
        for t in targets
    ]


def standalone(prog: str, doc: str | None, run, render, argv: list[str] | None = None) -> int:
    """`python -m bench.X [--quick] [--json]` for a benchmark module with run() and render()."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.quick)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0
