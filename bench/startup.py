"""CLI start-up: the median wall time of `oneclaim --help` and `oneclaim log checkpoint` against
`python -c "import typer"`, measured in the same run, interleaved in a shuffled order each round
so that the machine's noise falls on all three alike. Target: each at most 4x the baseline.

    python -m bench.startup [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 4.0
ONECLAIM = [sys.executable, "-m", "oneclaim"]
COMMANDS = {
    "python -c 'import typer' (baseline)": [sys.executable, "-c", "import typer"],
    "oneclaim --help": [*ONECLAIM, "--help"],
    "oneclaim log checkpoint": [*ONECLAIM, "log", "checkpoint"],
}


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def run(quick: bool = False, rounds: int | None = None) -> dict:
    rounds = rounds or (5 if quick else 25)
    rng = random.Random(2027)
    with tempfile.TemporaryDirectory(prefix="oneclaim-startup-") as tmp:
        env = {**os.environ, "ONECLAIM_HOME": str(Path(tmp) / "home")}
        env.pop("ONECLAIM_DB_URL", None)
        subprocess.run([*ONECLAIM, "init", "--origin", "oneclaim.bench/startup"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for cmd in COMMANDS.values():  # warm the page cache and .pyc files first
            _wall(cmd, env)
        for _ in range(rounds):
            order = list(COMMANDS)
            rng.shuffle(order)
            for name in order:
                times[name].append(_wall(COMMANDS[name], env))
    medians = {name: statistics.median(t) for name, t in times.items()}
    baseline = medians[next(iter(COMMANDS))]
    rows = {
        name: {"median_s": m, "ratio": m / baseline, "min_s": min(times[name]), "max_s": max(times[name])}
        for name, m in medians.items()
    }
    return {"rounds": rounds, "target_ratio": TARGET_RATIO, "commands": rows, "load": os.getloadavg()}


def targets(result: dict) -> list[dict]:
    out = []
    for name, row in list(result["commands"].items())[1:]:
        out.append(
            {
                "name": f"start-up {name} / import typer (median wall time)",
                "target": f"<= {result['target_ratio']:.0f}x",
                "measured": f"{row['ratio']:.2f}x",
                "met": row["ratio"] <= result["target_ratio"],
            }
        )
    return out


def render(result: dict) -> str:
    lines = [f"CLI start-up, median of {result['rounds']} interleaved rounds (load {result['load'][0]:.2f}):"]
    for name, row in result["commands"].items():
        lines.append(
            f"  {name:<40} {row['median_s'] * 1000:7.0f} ms  {row['ratio']:5.2f}x"
            f"  (min {row['min_s'] * 1000:.0f}, max {row['max_s'] * 1000:.0f} ms)"
        )
    for t in targets(result):
        verdict = "met" if t["met"] else "MISSED"
        lines.append(f"  target {t['name']}: {t['target']}, measured {t['measured']}: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = run(rounds=args.rounds)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
