"""Four processes race to transfer the same ten GECs: exactly one wins, on SQLite and PostgreSQL.

The processes are real (tests/registry_support.py run with `python -m`); each connects, says
`ready`, and waits for a barrier file so that they all load the batch at about the same time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger import audit
from ledger.app import Ledger
from tests.conftest import ORIGIN
from tests.registry_support import CONSUMER, GEN, market, one_gec_batch

ROOT = Path(__file__).resolve().parents[1]
BUYERS = [f"acct:buyer-{i}" for i in range(4)]
LOSING_CODES = {"CONCURRENT_UPDATE", "INSUFFICIENT_UNITS", "NOT_HOLDER"}


def start_transfer(db_url: str, batch: str, buyer: str, barrier: Path, how: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.registry_support", db_url, batch, GEN, buyer, "2025-02-20", str(barrier), *how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def race(db_url: str, batch: str, barrier: Path) -> list[dict]:
    """Four transfers of serials 1-10 of `batch` to four buyers, two by quantity, two by serials."""
    selections = [["quantity", "10"], ["spans", "0", "10"]] * 2
    procs = [start_transfer(db_url, batch, buyer, barrier, how) for buyer, how in zip(BUYERS, selections, strict=True)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    barrier.touch()
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out.splitlines()[-1]))
    return outcomes


@pytest.mark.slow
def test_only_one_of_four_concurrent_transfers_of_the_same_gecs_succeeds(db_url: str, signer, tmp_path: Path) -> None:
    ledger = Ledger(db_url)
    try:
        market(ledger)
        for buyer in BUYERS:
            ledger.open_account(buyer, CONSUMER)
        for round_ in range(3):
            batch = one_gec_batch(ledger, 10, m=round_ + 1)
            size = ledger.log.size()

            outcomes = race(db_url, batch, tmp_path / f"go-{round_}")

            winners = [i for i, outcome in enumerate(outcomes) if outcome["ok"]]
            assert len(winners) == 1, outcomes
            assert outcomes[winners[0]]["ranges"] == [[0, 10]]
            assert {o["code"] for o in outcomes if not o["ok"]} <= LOSING_CODES, outcomes
            stored = ledger.batch(batch)
            assert stored.ranges == [[0, 10, BUYERS[winners[0]], "active", 1]]
            assert sum(stored.supply().values()) == stored.supply()["active"] == 10
            assert ledger.log.size() == size + 1  # one Transferred event, nothing from the losers

        ledger.sign_checkpoint(signer, ORIGIN)
        report = audit.verify_database(db_url, signer.verifier(), events_table=ledger.events_table)
        assert report.ok, report.failure
        assert (report.events, report.checkpoints) == (ledger.log.size(), 1)
    finally:
        ledger.close()
