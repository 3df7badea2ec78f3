"""The explorer's cost of proving rows in the visitor's browser (issue 18).

    python -m bench.explorer [--quick] [--json]

One GEC is moved 99 times between its holder's two accounts, so its serial's provenance is a
100-event timeline. `oneclaim serve` serves it on loopback; Debian's chromium (headless, driven by
selenium) opens the explorer on that serial. The page proves every row (tlog-proof, leaf from the
event's bytes, inclusion, the record's id, the serial) and reports the time it spent proving rows
(`performance.now()` around each) and how long the view took.

Baseline, measured in the same run on the same 100 proofs: Python's `verify_tlog_proof` (the
checkpoint's signature and the inclusion, per proof), and the inclusion alone. Target: proving a
row in the browser adds <= 5 ms per row. Rounds: 3 (quick: 1); the median round is reported.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

from bench.report import standalone, target_lines

TARGET_MS_PER_ROW = 5.0
ORIGIN = "oneclaim.bench/explorer"
SECOND_ACCOUNT = "acct:sip-gen-2"
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def shuttle_home(path: Path) -> str:
    """A home whose one GEC has a 100-event provenance; returns the serial."""
    from ledger.app import Ledger
    from oneclaim.home import Home
    from tests.registry_support import GEN, GENERATOR, market, one_gec_batch
    from tests.support import run

    run("init", "--origin", ORIGIN, "--home", str(path))
    ledger = Ledger(Home.at(path).db_url, clock=lambda: date(2026, 1, 1))
    try:
        market(ledger)
        batch = one_gec_batch(ledger, 1)
        ledger.open_account(SECOND_ACCOUNT, GENERATOR)
        for n in range(99):
            a, b = (GEN, SECOND_ACCOUNT) if n % 2 == 0 else (SECOND_ACCOUNT, GEN)
            ledger.transfer(batch, a, b, quantity=1, on=date(2025, 2, 10))
        ledger.sign_checkpoint(Home.at(path).signer(), ORIGIN)
    finally:
        ledger.close()
    return f"{batch}:1"


def browser(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,1600", f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(DRIVER)), options=options)


def measure(driver, api: str, page: str, serial: str, verifier_key: str) -> dict:
    """One round: the page on the serial (fresh load), then Python on the same proofs."""
    from selenium.webdriver.support.ui import WebDriverWait

    from ledger.tlog.merkle.proof import verify_inclusion
    from ledger.tlog.merkle.rfc6962 import leaf_hash
    from ledger.tlog.policy import parse_policy
    from ledger.tlog.tlogproof import parse_tlog_proof, verify_tlog_proof

    driver.get("about:blank")
    driver.get(f"{page}#/serial/{serial}")
    WebDriverWait(driver, 120).until(lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "yes")
    body = driver.find_element("tag name", "body")
    states = driver.execute_script("return [...document.querySelectorAll('li.row')].map(r => r.dataset.state)")
    nav = driver.execute_script("const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd")
    rows = int(body.get_attribute("data-rows-verified"))
    browser_ms = float(body.get_attribute("data-verify-ms"))

    proofs = [e["tlog_proof"] for e in httpx.get(f"{api}/v1/serials/{serial}/provenance",
                                                 params={"proof": "true"}, timeout=60).json()["events"]]  # fmt: skip
    policy = parse_policy(f"log {verifier_key}\nquorum none\n")
    started = time.perf_counter()
    for p in proofs:
        verify_tlog_proof(p, policy)
    python_full_ms = (time.perf_counter() - started) * 1000
    parsed = [parse_tlog_proof(p) for p in proofs]
    checkpoint = verify_tlog_proof(proofs[0], policy)
    started = time.perf_counter()
    for p in parsed:
        verify_inclusion(p.index, checkpoint.tree_size, leaf_hash(p.extra), p.hashes, _root(p.checkpoint))
    python_inclusion_ms = (time.perf_counter() - started) * 1000
    return {
        "rows": len(states), "rows_verified": states.count("verified"), "rows_timed": rows,
        "browser_ms": browser_ms, "browser_ms_per_row": browser_ms / max(1, rows),
        "view_ms": float(body.get_attribute("data-view-ms")), "page_load_ms": nav,
        "python_full_ms_per_row": python_full_ms / len(proofs),
        "python_inclusion_ms_per_row": python_inclusion_ms / len(proofs),
    }  # fmt: skip


def _root(note: str) -> bytes:
    from ledger.tlog.note import parse_checkpoint

    return parse_checkpoint(note.split("\n\n")[0] + "\n").root


def run(quick: bool = False) -> dict:
    from oneclaim.home import Home
    from oneclaim.serve_cli import serving_process

    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="oneclaim-bench-explorer-") as tmp:
        home = Path(tmp) / "home"
        serial = shuttle_home(home)
        with serving_process("serve", "--home", str(home)) as (url, _):
            driver = browser(Path(tmp) / "chromium")
            try:
                results = [measure(driver, url, f"{url}/explorer/", serial, Home.at(home).verifier_key())
                           for _ in range(rounds)]  # fmt: skip
            finally:
                driver.quit()
    median = sorted(results, key=lambda r: r["browser_ms_per_row"])[len(results) // 2]
    return {**median, "rounds": rounds, "round_ms_per_row": [r["browser_ms_per_row"] for r in results],
            "ratio_to_python_full": median["browser_ms_per_row"] / median["python_full_ms_per_row"],
            "target_ms_per_row": TARGET_MS_PER_ROW,
            "median_of_rounds": statistics.median(r["browser_ms_per_row"] for r in results)}  # fmt: skip


def targets(result: dict) -> list[dict]:
    return [
        {"name": "proving a row in the browser (100-event timeline)", "target": f"<= {TARGET_MS_PER_ROW:.0f} ms/row",
         "measured": f"{result['browser_ms_per_row']:.2f} ms/row",
         "met": result["browser_ms_per_row"] <= TARGET_MS_PER_ROW and result["rows_verified"] == result["rows"]},
    ]  # fmt: skip


def render(result: dict) -> str:
    lines = [
        f"The explorer on a {result['rows']}-event timeline ({result['rows_verified']} rows proved, chromium):",
        f"  browser: {result['browser_ms']:.1f} ms proving rows, {result['browser_ms_per_row']:.2f} ms per row;"
        f" the view in {result['view_ms']:.0f} ms; page load {result['page_load_ms']:.0f} ms",
        f"  python, same proofs: {result['python_full_ms_per_row']:.3f} ms per tlog-proof (signature and inclusion),"
        f" {result['python_inclusion_ms_per_row']:.3f} ms per inclusion alone",
        f"  browser / python: {result['ratio_to_python_full']:.1f}x the full check,"
        f" {result['browser_ms_per_row'] / result['python_inclusion_ms_per_row']:.0f}x the inclusion alone"
        " (the page checks the checkpoint's signature once per view)",
    ]
    return "\n".join(lines + target_lines(targets(result)))


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m bench.explorer", __doc__, run, render, argv)


if __name__ == "__main__":
    sys.exit(main())
