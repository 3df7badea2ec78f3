"""python -m bench [--quick] [--only append,memory,verify,proofs] [--out PATH]

Prints a table per benchmark and writes every figure to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import (
    anchoring,
    api_load,
    append,
    claims,
    enterprise,
    explorer,
    memory,
    proofs,
    registry,
    startup,
    transfers,
    verify,
    witness,
)
from bench.report import fmt_rate, fmt_ratio, machine, table, write_json

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
ALL = (
    "startup",
    "append",
    "memory",
    "verify",
    "proofs",
    "registry",
    "claims",
    "anchoring",
    "api_load",
    "witness",
    "transfers",
    "enterprise",
    "explorer",
)

# (memory sizes, verify/proof log size, proof samples, consistency samples, verify rounds,
#  time budget per proof kind in seconds)
FULL = ([250_000, 500_000, 1_000_000], 1_000_000, 2_000, 500, 3, 60.0)
QUICK = ([10_000, 20_000, 40_000], 50_000, 2_000, 500, 2, 5.0)


def _mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MiB"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def render(results: dict) -> str:
    out = []
    meta = results["meta"]
    out.append(
        f"OneClaim benchmarks ({meta['mode']}), {meta['date']}, {meta['cores']} cores"
        f" ({meta['cpu']}), Python {meta['python']}, SQLite {meta['sqlite']},"
        f" commit {meta['commit']}{' + local ledger changes' if meta['ledger_modified'] else ''};"
        f" load average at start {meta['load_start'][0]:.2f}, at end {meta['load_end'][0]:.2f}"
    )
    a = results.get("append")
    if a:
        rows = []
        for backend in ("sqlite", "postgres"):
            r = a[backend]
            if "skipped" in r:
                rows.append([f"{backend}: skipped ({r['skipped']})", *[""] * 8])
                continue
            for workload in ("meter", "register"):
                w = r[workload]
                m = w["median"]
                rows.append(
                    [
                        f"{backend} / {workload} ({r['rounds']} x {r['events_per_round']:,})",
                        fmt_rate(m["bare"]),
                        fmt_rate(m["canonical"]),
                        fmt_rate(m["ledger"]),
                        fmt_ratio(w["ratio_canonical_to_bare"]),
                        fmt_ratio(w["ratio_ledger_to_bare"]),
                        fmt_ratio(w["cpu_ratio_ledger_to_bare"]),
                        f"{w['wal_bytes_per_event']['bare'] / 1024:.1f} -> "
                        f"{w['wal_bytes_per_event']['ledger'] / 1024:.1f} KiB",
                        fmt_ratio(w["wal_ratio_ledger_to_bare"]),
                    ]
                )
        out.append(
            table(
                "1. Append, one event per transaction (medians over interleaved rounds x events;"
                f" target Ledger/bare >= {a['target_ratio']}, ~{a['target_events_per_s']:,}/s)",
                [
                    "backend / workload",
                    "bare ES",
                    "ES+RFC8785",
                    "Ledger",
                    "RFC8785/bare",
                    "Ledger/bare",
                    "same per CPU-s",
                    "WAL per event bare -> Ledger",
                    "WAL x",
                ],
                rows,
            )
        )
        out.append(
            "\nLedger/bare is the target (wall-clock, medians of per-round ratios). 'same per CPU-s'"
            " counts this process's CPU only; 'WAL' is what one event's transaction writes to the"
            " write-ahead log, which sets the cost of each synced commit."
        )
    v = results.get("verify")
    if v:
        d, b = v["database"], v["bundle"]

        def row(name: str, r: dict, baseline: str) -> list[str]:
            return [
                name,
                fmt_rate(r["verify_events_per_s"]),
                fmt_rate(r["baseline_events_per_s"]),
                fmt_ratio(r["ratio"]),
                fmt_rate(r["verify_events_per_cpu_s"]).replace("/s", "/CPU-s"),
                fmt_rate(r["baseline_events_per_cpu_s"]).replace("/s", "/CPU-s"),
                fmt_ratio(r["cpu_ratio"]),
                baseline,
            ]

        out.append(
            table(
                f"2. Verify {v['events']:,} events (target >= {v['target_events_per_s']:,}/s wall-clock;"
                " CPU-s include worker processes)",
                ["what", "rate", "baseline", "ratio", "per CPU-s", "baseline", "ratio", "baseline is"],
                [
                    row("audit.verify_database", d, "read rows + 1 SHA-256/row, 1 process"),
                    row("audit.verify_bundle", b, "read lines + 1 SHA-256/line"),
                    row("reference.verify_bundle", v["reference"], "read lines + 1 SHA-256/line"),
                    [
                        "audit.export_bundle",
                        fmt_rate(b["export_events_per_s"]),
                        "",
                        "",
                        "",
                        "",
                        "",
                        f"({b['events_jsonl_bytes'] / 2**20:,.0f} MiB events.jsonl)",
                    ],
                ],
            )
        )
    p = results.get("proofs")
    if p:
        rows = []
        for kind in ("inclusion", "consistency"):
            r = p[kind]
            lat, base = r["latency"], r["baseline_pk_read"]
            rows.append(
                [
                    f"{kind} ({r['samples']:,}"
                    + (
                        f" of {r['samples_requested']:,} asked, time-capped)"
                        if r["samples"] < r["samples_requested"]
                        else ")"
                    ),
                    f"{lat['p50_ms']:.3f}",
                    f"{lat['p95_ms']:.3f}",
                    f"{lat['p99_ms']:.3f}",
                    f"{base['p50_ms']:.3f}",
                    f"{base['p95_ms']:.3f}",
                    fmt_ratio(r["ratio_p50"]),
                    f"{r['max_hashes']} <= {r['bound_hashes']}",
                ]
            )
        out.append(
            table(
                f"3. Proofs at tree size {p['inclusion']['tree_size']:,}"
                f" (target inclusion p95 <= {p['target_p95_ms']} ms; all proofs verified)",
                ["proof", "p50 ms", "p95 ms", "p99 ms", "PK read p50", "PK p95", "p50/PK", "max hashes"],
                rows,
            )
        )
    m = results.get("memory")
    if m:
        rows = [["idle (imports only)", _mib(m["idle_peak_kb"]), _mib(m["idle_peak_kb"]), "", "", ""]]
        for r in m["rows"]:
            rows.append(
                [
                    f"n = {r['n']:,}",
                    _mib(r["append_peak_kb"]),
                    _mib(r["verify_peak_kb"]),
                    f"{_mib(r['verify_self_kb'])} / {_mib(r['verify_largest_worker_kb'])}",
                    fmt_rate(r["n"] / r["insert_seconds"]),
                    fmt_rate(r["n"] / r["verify_seconds"]),
                ]
            )
        rows.append(
            [
                "growth largest/smallest",
                fmt_ratio(m["append_growth"]),
                fmt_ratio(m["verify_growth"]),
                "",
                "",
                "",
            ]
        )
        rows.append(
            [
                "  same, above idle",
                fmt_ratio(m["append_growth_over_idle"]),
                fmt_ratio(m["verify_growth_over_idle"]),
                "",
                "",
                "",
            ]
        )
        out.append(
            table(
                "4. Peak RSS, fresh process per phase (flat = growth ~1.0x); verify peak is the"
                " largest single process (parent or range worker)",
                [
                    "phase",
                    "append peak",
                    "verify peak",
                    "verify parent / worker",
                    "insert_events",
                    "verify rate",
                ],
                rows,
            )
        )
        out.extend(f"\nnote: {note}" for note in m["notes"])
    t = results.get("targets", [])
    if t and meta["mode"] == "quick":
        out.append("\nquick run: small n and few rounds; a smoke check, not a measurement of the targets")
    if t:
        out.append(
            table(
                "Targets",
                ["target", "wanted", "measured", "met"],
                [[x["name"], x["target"], x["measured"], "yes" if x["met"] else "NO"] for x in t],
            )
        )
    return "\n".join(out) + "\n"


def targets(results: dict) -> list[dict]:
    t = startup.targets(results["startup"]) if results.get("startup") else []
    t += api_load.targets(results["api_load"]) if results.get("api_load") else []
    t += witness.targets(results["witness"]) if results.get("witness") else []
    t += transfers.targets(results["transfers"]) if results.get("transfers") else []
    t += enterprise.targets(results["enterprise"]) if results.get("enterprise") else []
    t += explorer.targets(results["explorer"]) if results.get("explorer") else []
    a = results.get("append")
    if a:
        for backend in ("sqlite", "postgres"):
            r = a[backend]
            if "skipped" in r:
                continue
            w = r["meter"]
            t.append(
                {
                    "name": f"append ratio Ledger/bare ({backend}, meter)",
                    "target": f">= {a['target_ratio']}",
                    "measured": f"{w['ratio_ledger_to_bare']:.2f}",
                    "met": w["ratio_ledger_to_bare"] >= a["target_ratio"],
                }
            )
            t.append(
                {
                    "name": f"append Ledger events/s ({backend}, meter)",
                    "target": f"~{a['target_events_per_s']:,}/s",
                    "measured": f"{w['median']['ledger']:,.0f}/s",
                    "met": w["median"]["ledger"] >= a["target_events_per_s"],
                }
            )
    v = results.get("verify")
    if v:
        for name, r, target in (
            ("audit.verify_database", v["database"], v["target_events_per_s"]),
            ("audit.verify_bundle (fast)", v["bundle"], v["target_events_per_s"]),
            ("reference.verify_bundle", v["reference"], v["reference"]["target_events_per_s"]),
        ):
            rate = r["verify_events_per_s"]
            t.append(
                {
                    "name": f"{name} events/s ({v['events']:,} events)",
                    "target": f">= {target:,}/s",
                    "measured": f"{rate:,.0f}/s",
                    "met": rate >= target,
                }
            )
    p = results.get("proofs")
    if p:
        inc = p["inclusion"]
        t.append(
            {
                "name": f"inclusion proof p95 (n = {inc['tree_size']:,})",
                "target": f"<= {p['target_p95_ms']} ms",
                "measured": f"{inc['latency']['p95_ms']:.3f} ms",
                "met": inc["latency"]["p95_ms"] <= p["target_p95_ms"],
            }
        )
        t.append(
            {
                "name": "inclusion proof size",
                "target": f"<= ceil(log2 n) = {inc['bound_hashes']}",
                "measured": str(inc["max_hashes"]),
                "met": inc["within_bound"],
            }
        )
    m = results.get("memory")
    if m:
        for phase in ("append", "verify"):
            g = m[f"{phase}_growth"]
            t.append(
                {
                    "name": f"{phase} peak RSS growth, n x{m['rows'][-1]['n'] // m['rows'][0]['n']}",
                    "target": "flat (<= 1.10x)",
                    "measured": f"{g:.2f}x",
                    "met": g <= 1.10,
                }
            )
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small n, under a minute (smoke)")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="include PostgreSQL: a throw-away server unless ONECLAIM_TEST_PG_URL names one",
    )
    args = parser.parse_args(argv)
    if args.postgres and not os.environ.get("ONECLAIM_TEST_PG_URL", "").strip():
        from tests.pg import throwaway_server

        with throwaway_server() as url:
            os.environ["ONECLAIM_TEST_PG_URL"] = url
            return main([a for a in (argv if argv is not None else sys.argv[1:]) if a != "--postgres"])
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    sizes, big_n, samples, cons_samples, verify_rounds, budget = QUICK if args.quick else FULL
    pg_url = os.environ.get("ONECLAIM_TEST_PG_URL", "").strip() or None

    started = time.perf_counter()
    results: dict = {"meta": {**machine(), "mode": "quick" if args.quick else "full", "load_start": os.getloadavg()}}
    if "startup" in only:
        _log("CLI start-up ...")
        results["startup"] = startup.run(args.quick)
    if "append" in only:
        _log("1. append throughput ...")
        results["append"] = append.run(args.quick, pg_url, _log)
    with tempfile.TemporaryDirectory(prefix="oneclaim-bench-") as tmp_name:
        tmp = Path(tmp_name)
        big: Path | None = None
        if "memory" in only:
            _log("4. memory (fresh processes) ...")
            results["memory"], big = memory.run(sizes, big_n, tmp, log=_log)
        elif "verify" in only or "proofs" in only:
            big = tmp / f"log-{big_n}.sqlite"
            _log(f"building a {big_n:,}-event log ...")
            b = memory.build(big, big_n)
            _log(f"  built in {b['seconds']:.1f}s")
        if "verify" in only:
            _log("2. verify throughput ...")
            results["verify"] = verify.run(big, tmp, verify_rounds, _log)
        if "proofs" in only:
            _log("3. proof latency ...")
            results["proofs"] = proofs.run(big, samples, cons_samples, budget)
    if "registry" in only:
        results["registry"] = registry.run(args.quick)
    if "claims" in only:
        _log("claims pool ...")
        results["claims"] = claims.run(args.quick)
    if "anchoring" in only:
        _log("anchoring ...")
        results["anchoring"] = anchoring.run(args.quick)
    if "api_load" in only:
        _log("HTTP API on loopback ...")
        results["api_load"] = api_load.run(args.quick, pg_url=pg_url)
    if "witness" in only:
        _log("witnessing on loopback ...")
        results["witness"] = witness.run(args.quick)
    if "transfers" in only:
        _log("cross-region transfers on loopback ...")
        results["transfers"] = transfers.run(args.quick)
    if "enterprise" in only:
        _log("the enterprise's side: a claim of 1,000 retirements and an account page ...")
        results["enterprise"] = enterprise.run(args.quick)
    if "explorer" in only:
        _log("the explorer: a 100-event timeline proved in chromium ...")
        results["explorer"] = explorer.run(args.quick)
    results["targets"] = targets(results)
    results["meta"]["seconds"] = time.perf_counter() - started
    results["meta"]["load_end"] = os.getloadavg()
    write_json(args.out, results)
    sys.stdout.write(render(results))
    if "startup" in results:
        print("\n" + startup.render(results["startup"]))
    if "registry" in results:
        print("\n" + registry.render(results["registry"]))
    if "api_load" in results:
        print("\n" + api_load.render(results["api_load"]))
    if "witness" in results:
        print("\n" + witness.render(results["witness"]))
    if "transfers" in results:
        print("\n" + transfers.render(results["transfers"]))
    if "enterprise" in results:
        print("\n" + enterprise.render(results["enterprise"]))
    if "explorer" in results:
        print("\n" + explorer.render(results["explorer"]))
    for name in ("claims", "anchoring"):
        if name in results:
            print(f"\n{name}: " + json.dumps(results[name], indent=2))
    print(
        f"\n{len(results['targets'])} targets, "
        f"{sum(not x['met'] for x in results['targets'])} not met; "
        f"{results['meta']['seconds']:.0f}s; results in {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
