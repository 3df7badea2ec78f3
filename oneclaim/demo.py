"""`oneclaim demo`: a year of Suzhou Industrial Park distributed PV on the embedded default.

The figures follow the seeds: SIP plans 470 MW of PV at about 1,000 full-load hours a year
(seed 004), with 700+ PV projects in its carbon-inclusion programme (seed 000). The demo
registers a few hundred rooftop systems, records twelve monthly readings for each, corrects a
few readings (a correction is a new event naming the one it supersedes), signs a checkpoint after
every month, then exports an audit bundle and verifies both the database and the bundle.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from ledger import audit
from ledger.app import EVENTS_TABLE, dialect
from ledger.errors import LedgerError
from ledger.note import parse_verifier_key
from oneclaim.home import Home

ORIGIN = "oneclaim.local/suzhou-sip"
FULL_LOAD_HOURS = 1_000  # seed 004: 470 MW -> 470 GWh a year
# Monthly share of annual PV yield in the Yangtze delta (per mille; sums to 1000).
MONTHLY_SHARE = [58, 64, 78, 90, 100, 96, 108, 112, 92, 80, 64, 58]
DISTRICTS = ["金鸡湖", "独墅湖", "阳澄湖", "斜塘", "娄葑", "唯亭", "胜浦"]


def _month_bounds(year: int, month: int) -> tuple[str, str]:
    start = f"{year}-{month:02d}-01T00:00:00+08:00"
    end = f"{year + month // 12}-{month % 12 + 1:02d}-01T00:00:00+08:00"
    return start, end


def run_demo(home: Home, *, devices: int = 300, console: Console | None = None, year: int = 2025) -> bool:
    console = console or Console()
    rng = random.Random(20250101)
    if home.initialised:
        raise LedgerError(
            f"{home.path} already holds a ledger: run `oneclaim demo --reset` to start the demo"
            " afresh, or point ONECLAIM_HOME at an empty folder",
            code="DEMO_HOME_NOT_EMPTY",
        )
    home.init(ORIGIN)
    (home.path / "DEMO").touch()  # lets `--reset` know this folder is the demo's own
    ledger = home.ledger()
    signer = home.signer()
    try:
        start_size = ledger.log.size()
        console.print(f"[bold]OneClaim demo[/]: {ORIGIN}, {devices} distributed-PV devices, {year}")
        ledger.add_participant("SIP-PV-OPS", "园区分布式光伏运营商", "generator", "江苏", "苏州")
        fleet = []
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("registering devices", total=devices)
            for i in range(devices):
                code = f"SIP-PV-{year}-{i + 1:04d}"
                capacity_kw = rng.choice([60, 120, 250, 400, 800, 1_200, 2_000])
                ledger.register_device(
                    code=code,
                    technology="distributed_pv",
                    capacity_kw=capacity_kw,
                    province="江苏",
                    city=f"苏州工业园区/{rng.choice(DISTRICTS)}",
                    owner="SIP-PV-OPS",
                    commissioned_on=f"{year - rng.randrange(1, 6)}-0{rng.randrange(1, 10)}-15",
                )
                fleet.append((code, capacity_kw))
                bar.advance(task)
            task = bar.add_task("recording monthly readings", total=12 * devices)
            corrected = 0
            for month in range(1, 13):
                start, end = _month_bounds(year, month)
                for code, capacity_kw in fleet:
                    mean = capacity_kw * FULL_LOAD_HOURS * MONTHLY_SHARE[month - 1] // 1000
                    on_grid = max(0, int(rng.gauss(mean, mean * 0.08)))
                    self_used = on_grid * rng.randrange(0, 30) // 100
                    version = ledger.record_reading(code, start, end, on_grid - self_used, self_used)
                    if rng.random() < 0.005:  # a meter re-read: the grid company revises the figure
                        ledger.correct_reading(
                            code,
                            version,
                            (on_grid - self_used) * 97 // 100,
                            self_used,
                            "grid company re-read the meter",
                        )
                        corrected += 1
                    bar.advance(task)
                ledger.sign_checkpoint(signer, ORIGIN)
        size, _, root = ledger.log.head()
        console.print(
            f"Appended {size - start_size} events ({corrected} corrections); tree size {size}, "
            f"13 checkpoints signed; root {root.hex()[:16]}…"
        )
        last = ledger.log.latest_checkpoint()
        console.print("[bold]Latest signed checkpoint[/]:")
        console.print(last.note, markup=False, end="")
        proof = ledger.log.inclusion_proof(size // 2)
        console.print(
            f"Inclusion proof for event {size // 2}: {len(proof.hashes)} hashes at tree size {proof.tree_size}"
        )
    finally:
        ledger.close()

    verifier = parse_verifier_key(home.verifier_key())
    url = home.db_url
    report = audit.verify_database(url, verifier, events_table=EVENTS_TABLE[dialect(url)], origin=ORIGIN)
    _show(console, "audit verify (database)", report)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        audit.export_bundle(
            url,
            bundle,
            events_table=EVENTS_TABLE[dialect(url)],
            origin=ORIGIN,
            verifier_key=home.verifier_key(),
            readme=(Path(__file__).parent / "bundle_readme.md").read_text(),
        )
        bundle_report = audit.verify_bundle(bundle, verifier, origin=ORIGIN)
        _show(console, "audit verify (exported bundle)", bundle_report)
    return report.ok and bundle_report.ok


def _show(console: Console, label: str, report: audit.Report) -> None:
    if report.ok:
        console.print(
            f"[green]✔[/] {label}: {report.events} events, {report.checkpoints} checkpoints, {report.seconds:.2f}s"
        )
    else:
        f = report.failure
        console.print(f"[red]✘[/] {label}: {f.code} at seq {f.seq}: {f.message}")
