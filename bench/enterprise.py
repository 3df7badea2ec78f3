"""The enterprise's side at scale (issue 17).

    python -m bench.enterprise [--quick] [--json]

A log of 10^6 events (quick: 50,000) is built through the real write path (bench.workload), and
the read models are caught up over it. An enterprise then has 1,000 retirements (ten batches of
carbon-inclusion credits and GECs, 100 retirements each) and a verified report.

- **Claim check**: the check a carbon-neutral claim citing the 1,000 retirements runs before it
  writes (load the batches, cite each retirement, apply the rule set, compute the coverage:
  `Ledger._cite` + `NeutralityClaim.make`), timed `samples` times. Target: p95 <= 50 ms. The
  claim is then written once, and that time is reported beside it.
- **Account page**: `ledger.carbon.account_view` for the enterprise (its year with the 1,000
  retirements behind it), timed `samples` times. Target: p95 <= 20 ms.

Baseline, measured in the same run: reading the same 1,000 rows of the `rm_retirements` read
model (one indexed query). Both are reported as ratios to it.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.report import percentile, standalone, target_lines
from bench.workload import build_log
from ledger.app import Ledger
from ledger.carbon import account_view
from ledger.domain.enterprise import NeutralityClaim
from ledger.domain.rules import NEUTRALITY_RULES
from ledger.readmodel import ReadModel

TARGET_CLAIM_MS, TARGET_ACCOUNT_MS = 50.0, 20.0
WHO, ACCOUNT, GEN, GEN_ACCOUNT = "BENCH-FAB", "acct:bench-fab", "BENCH-GEN", "acct:bench-gen"
BATCHES, PER_BATCH = 10, 100


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _enterprise(ledger: Ledger) -> list[str]:
    """The enterprise, its 1,000 retirements (ten credit batches of 100 each) and its report."""
    ledger.add_participant(WHO, "bench enterprise", "consumer", "江苏", "苏州")
    ledger.add_participant(GEN, "bench generator", "generator", "江苏", "苏州")
    ledger.add_participant("BENCH-CQC", "bench verifier", "verifier", "江苏", "苏州")
    ledger.open_account(ACCOUNT, WHO)
    ledger.open_account(GEN_ACCOUNT, GEN)
    ledger.establish_programme("BENCH-PHCER", "bench", "-", ["ev_charging"], "SIP-2020-PURCHASED")
    retirements = []
    for b in range(BATCHES):
        batch = ledger.issue_inclusion("BENCH-PHCER", "ev_charging", GEN_ACCOUNT, subject=f"HUB-{b}", period="2025",
                                       kg_co2e=PER_BATCH * 1_000).code  # fmt: skip
        ledger.transfer(batch, GEN_ACCOUNT, ACCOUNT, quantity=PER_BATCH * 1_000, on=date(2026, 1, 5))
        for _ in range(PER_BATCH):
            retirements.append(ledger.retire(batch, ACCOUNT, beneficiary=WHO, purpose="carbon_neutrality",
                                             reporting_period="2025", location="苏州", quantity=1_000,
                                             on=date(2026, 1, 10)))  # fmt: skip
    ledger.open_carbon_account(WHO, "91350100M000100Y43", b"bench-salt", "electronics")
    ledger.report_emissions(WHO, "2025", inventory_sha256=hashlib.sha256(b"i").hexdigest(), verifier="BENCH-CQC",
                            statement_sha256=hashlib.sha256(b"s").hexdigest(),
                            scopes_kg={"scope1": 500_000, "scope2": 300_000, "scope3": 0},
                            electricity_mwh=500)  # fmt: skip
    return retirements


def _timed(act, samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        started = time.perf_counter()
        act()
        out.append((time.perf_counter() - started) * 1e3)
    return sorted(out)


def _stats(ms: list[float], baseline_p95: float) -> dict:
    p95 = percentile(ms, 95)
    return {"p50_ms": percentile(ms, 50), "p95_ms": p95, "max_ms": ms[-1], "samples": len(ms),
            "p95_vs_baseline": p95 / baseline_p95 if baseline_p95 else None}  # fmt: skip


def run(quick: bool = False) -> dict:
    events, samples = (50_000, 30) if quick else (1_000_000, 100)
    with tempfile.TemporaryDirectory(prefix="oneclaim-bench-enterprise-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.sqlite'}"
        _log(f"  building a log of {events:,} events ...")
        build_log(url, events, checkpoint_every=max(events // 10, 1))
        ledger = Ledger(url, clock=lambda: date(2026, 6, 1))
        try:
            retirements = _enterprise(ledger)
            model = ReadModel(ledger)
            started = time.perf_counter()
            model.catch_up()
            _log(f"  read models caught up over {ledger.log.size():,} events in {time.perf_counter() - started:.0f}s")
            rules = NEUTRALITY_RULES["ISO14068-1:2023"]
            report = ledger.carbon_account(WHO).report_of("2025")

            def check() -> None:
                cited, _ = ledger._cite(retirements)
                NeutralityClaim.make("NC-BENCH", WHO, "bench", ["scope1", "scope2"], "2025", rules, report, cited,
                                     date(2026, 2, 1))  # fmt: skip

            def baseline() -> None:
                rows = model.retirements(WHO, "2025")
                assert len(rows) == len(retirements)

            def page() -> None:
                view = account_view(ledger, WHO)
                assert len(view["years"]["2025"]["retirements"]) == len(retirements)

            base, claim, account = [], [], []
            for _ in range(samples):  # interleaved, so that the machine's noise falls on all three alike
                base += _timed(baseline, 1)
                claim += _timed(check, 1)
                account += _timed(page, 1)
            base.sort(), claim.sort(), account.sort()
            started = time.perf_counter()
            made = ledger.make_neutrality_claim(WHO, subject="bench", boundary=["scope1", "scope2"], period="2025",
                                                retirements=retirements, on=date(2026, 2, 1))  # fmt: skip
            write_ms = (time.perf_counter() - started) * 1e3
            assert made.coverage["shortfall_kg"] == 0
            size = ledger.log.size()
            model.close()
        finally:
            ledger.close()
    base_p95 = percentile(base, 95)
    return {
        "log_events": size,
        "retirements": len(retirements),
        "baseline": {"p50_ms": percentile(base, 50), "p95_ms": base_p95, "samples": len(base)},
        "claim_check": _stats(claim, base_p95),
        "claim_write_ms": write_ms,
        "account_page": _stats(account, base_p95),
        "targets": {"claim_check_p95_ms": TARGET_CLAIM_MS, "account_page_p95_ms": TARGET_ACCOUNT_MS},
    }


def targets(result: dict) -> list[dict]:
    return [
        {"name": "claim check (1,000 retirements) p95", "target": f"<= {TARGET_CLAIM_MS:.0f} ms",
         "measured": f"{result['claim_check']['p95_ms']:.1f} ms",
         "met": result["claim_check"]["p95_ms"] <= TARGET_CLAIM_MS},
        {"name": "account page p95", "target": f"<= {TARGET_ACCOUNT_MS:.0f} ms",
         "measured": f"{result['account_page']['p95_ms']:.1f} ms",
         "met": result["account_page"]["p95_ms"] <= TARGET_ACCOUNT_MS},
    ]  # fmt: skip


def render(result: dict) -> str:
    b, c, a = result["baseline"], result["claim_check"], result["account_page"]
    lines = [
        f"The enterprise's side at {result['log_events']:,} events, {result['retirements']:,} retirements:",
        f"  baseline (read the {result['retirements']:,} rm_retirements rows): p50 {b['p50_ms']:.1f} ms,"
        f" p95 {b['p95_ms']:.1f} ms",
        f"  claim check: p50 {c['p50_ms']:.1f} ms, p95 {c['p95_ms']:.1f} ms ({c['p95_vs_baseline']:.1f}x baseline);"
        f" the claim written once: {result['claim_write_ms']:.0f} ms",
        f"  account page: p50 {a['p50_ms']:.1f} ms, p95 {a['p95_ms']:.1f} ms ({a['p95_vs_baseline']:.1f}x baseline)",
    ]
    lines += target_lines(targets(result))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m bench.enterprise", __doc__, run, render, argv)


if __name__ == "__main__":
    sys.exit(main())
