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

from ledger.app import Ledger
from ledger.tlog import audit, trust
from tests.conftest import ORIGIN
from tests.registry_support import CONSUMER, GEN, market, one_gec_batch, plain_ranges

ROOT = Path(__file__).resolve().parents[1]
BUYERS = [f"acct:buyer-{i}" for i in range(4)]
LOSING_CODES = {"CONCURRENT_UPDATE", "INSUFFICIENT_UNITS", "NOT_HOLDER"}


def start_transfer(
    db_url: str, batch: str, buyer: str, barrier: Path, how: list[str], request_id: str | None = None
) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if request_id is not None:
        env["ONECLAIM_TEST_REQUEST_ID"] = request_id
    return subprocess.Popen(
        [sys.executable, "-m", "tests.registry_support", db_url, batch, GEN, buyer, "2025-06-20", str(barrier), *how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def race(db_url: str, batch: str, barrier: Path) -> list[dict]:
    """Four transfers of serials 1-10 of `batch` to four buyers, two by quantity, two by serials."""
    selections = [["quantity", "10"], ["spans", "0", "10"]] * 2
    procs = [start_transfer(db_url, batch, buyer, barrier, how) for buyer, how in zip(BUYERS, selections, strict=True)]
    return outcomes_of(procs, barrier)


def outcomes_of(procs: list[subprocess.Popen], barrier: Path) -> list[dict]:
    """Start the racers together (once all are ready) and collect what each one answered."""
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
            assert plain_ranges(stored) == [[0, 10, BUYERS[winners[0]], "active", 1]]
            assert sum(stored.supply().values()) == stored.supply()["active"] == 10
            assert ledger.log.size() == size + 1  # one Transferred event, nothing from the losers

        ledger.sign_checkpoint(signer, ORIGIN)
        report = audit.verify_database(db_url, trust.of(signer.verifier()), events_table=ledger.events_table)
        assert report.ok, report.failure
        assert (report.events, report.checkpoints) == (ledger.log.size(), 1)
    finally:
        ledger.close()


@pytest.mark.slow
def test_concurrent_retries_of_one_request_all_answer_its_one_result(db_url: str, tmp_path: Path) -> None:
    """A client that retries a transfer (same request id) from four processes at once: the units
    move once, and every retry answers with that result, none with CONCURRENT_UPDATE."""
    ledger = Ledger(db_url)
    try:
        market(ledger)
        ledger.open_account(BUYERS[0], CONSUMER)
        for round_ in range(3):
            batch = one_gec_batch(ledger, 10, m=round_ + 1)
            size = ledger.log.size()
            barrier = tmp_path / f"retry-{round_}"
            procs = [
                start_transfer(db_url, batch, BUYERS[0], barrier, ["quantity", "10"], request_id=f"req-{round_}")
                for _ in range(4)
            ]
            outcomes = outcomes_of(procs, barrier)
            assert outcomes == [{"ok": True, "ranges": [[0, 10]]}] * 4, outcomes
            assert ledger.log.size() == size + 1  # moved once
    finally:
        ledger.close()
