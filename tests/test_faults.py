"""Fault tests: writers killed with SIGKILL mid-load, and several writers at once.

These really start processes and really kill them; nothing is simulated.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.domain.device import device_id
from ledger.tlog import audit, trust
from tests.support import ensure_owner

ROOT = Path(__file__).resolve().parents[1]


def start_writer(db_url: str, prefix: str, count: int, signer) -> subprocess.Popen:
    env = {**os.environ, "ONECLAIM_TEST_SIGNER": signer.private_key_string(), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.writer", db_url, prefix, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def acks(lines: list[str]) -> list[tuple[str, int]]:
    return [(parts[1], int(parts[2])) for parts in (line.split() for line in lines) if parts and parts[0] == "ack"]


def assert_present(db_url: str, acked: list[tuple[str, int]]) -> None:
    ledger = Ledger(db_url)
    try:
        latest: dict[str, int] = {}
        for code, version in acked:
            latest[code] = max(latest.get(code, 0), version)
        for code, version in latest.items():
            events = list(ledger.repository.event_store.get(device_id(code)))
            assert len(events) >= version, f"acknowledged {code} v{version} is missing"
    finally:
        ledger.close()


def prepare(db_url: str) -> None:
    ledger = Ledger(db_url)
    try:
        ensure_owner(ledger)
    finally:
        ledger.close()


def verify(db_url: str, signer) -> audit.Report:
    """Sign the head as the operator would after a restart (a crash leaves events that no
    checkpoint covers yet), then verify everything, coverage included."""
    ledger = Ledger(db_url)
    try:
        ledger.sign_checkpoint(signer, signer.name)
    finally:
        ledger.close()
    events_table = "stored_events" if db_url.startswith("sqlite") else "oneclaim_events"
    return audit.verify_database(db_url, trust.of(signer.verifier()), events_table=events_table)


@pytest.mark.slow
def test_a_writer_killed_at_random_points_20_times_leaves_a_ledger_that_verifies(db_url: str, signer) -> None:
    rng = random.Random(9162)
    prepare(db_url)  # the schema and the devices' owner exist before any kill
    acked: list[tuple[str, int]] = []
    kills = 0
    for round_ in range(20):
        proc = start_writer(db_url, f"R{round_}", 100_000, signer)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        first = proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        kills += 1
        round_acks = acks([first, *rest.splitlines()])
        assert round_acks, "the writer acknowledged nothing before the kill"
        acked.extend(round_acks)
        report = verify(db_url, signer)
        assert report.ok, f"after kill {kills}: {report.failure}"
        assert report.events >= len(acked)
    assert_present(db_url, acked)
    assert kills == 20


@pytest.mark.slow
def test_concurrent_writers_produce_one_gap_free_chain(db_url: str, signer) -> None:
    prepare(db_url)
    writers = [start_writer(db_url, f"W{i}", 60, signer) for i in range(4)]
    acked = []
    for proc in writers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        acked.extend(acks(out.splitlines()))
    assert len(acked) == 240
    report = verify(db_url, signer)
    assert report.ok, report.failure
    assert report.events == 241  # the owner, then 240 appends: seqs 0..240 with no gap
    assert_present(db_url, acked)
