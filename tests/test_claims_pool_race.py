"""Two processes race for the same month's kWh, one for GECs and one for carbon-inclusion
credits: exactly one wins, and the loser is refused, never both granted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.tlog import audit, trust
from tests.support import month

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_processes_racing_for_the_same_kwh_exactly_one_wins(db_url: str, signer, tmp_path: Path) -> None:
    ledger = Ledger(db_url)
    ledger.add_participant("RACE-GEN", "发电企业", "generator", "江苏", "苏州")
    ledger.open_account("acct:race-gen", "RACE-GEN")
    ledger.register_device(
        "RACE-PV", "distributed_pv", 500, "江苏", "苏州", "RACE-GEN", "2023-01-01", ("GEC", "INCLUSION")
    )
    ledger.establish_programme("RACE-PHCER", "碳普惠", "苏州", ["distributed_pv"], "SIP-2020-PURCHASED")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outcomes = []
    for m in (1, 2, 3):
        ledger.record_reading("RACE-PV", *month(2025, m), 40_000)  # no self-consumption: nothing left over
        barrier = tmp_path / f"go-{m}"
        racers = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.claim_worker", db_url, kind, f"2025-{m:02d}", str(barrier)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env=env,
            )  # fmt: skip
            for kind in ("gec", "inclusion")
        ]
        for racer in racers:
            assert racer.stdout.readline().strip() == "ready", racer.stderr.read()
        barrier.touch()
        results = [racer.communicate(timeout=120)[0].strip() for racer in racers]
        outcomes.append(results)
        assert results.count("ok") == 1, results
        assert set(results) - {"ok"} <= {"CONCURRENT_UPDATE", "DOUBLE_CLAIM"}, results
        device = ledger.device("RACE-PV")
        assert sum(device.claimed.values()) == 40_000 * m  # each month claimed once, in full
    ledger.sign_checkpoint(signer, "oneclaim.test/log")
    report = audit.verify_database(db_url, trust.of(signer.verifier()), events_table=ledger.events_table)
    ledger.close()
    assert report.ok, report.failure
