"""Old logs stay readable: a log and a bundle written by earlier code (tests/fixtures/compat, made by
`python -m tests.compat`) verify under today's code, replay to the same holdings, provenance,
supply, cases, claims checks and case traces, and the same commands still write the same bytes."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.database import EVENTS_TABLE
from ledger.personal import substitute
from ledger.tlog import audit, reference, trust
from tests.compat import FIXTURE, ORIGIN, SIGNER, TODAY, leaves, replayed, write
from tests.registry_support import RETIREMENT

EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
TRUSTED = trust.from_key(SIGNER.verifier_key(), ORIGIN)


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    copy = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURE / "ledger.sqlite", copy)
    return copy


def test_the_old_database_and_bundle_verify_under_todays_code(old_db: Path) -> None:
    report = audit.verify_database(f"sqlite:///{old_db}", TRUSTED, events_table=EVENTS_TABLE["sqlite"])
    assert report.ok, report.failure
    assert report.events == report.tree_size_checked == len(EXPECTED["leaves"])
    for verify in (reference.verify_bundle, audit.verify_bundle):
        report = verify(FIXTURE / "bundle", TRUSTED)
        assert report.ok, report.failure
        assert report.events == report.tree_size_checked == len(EXPECTED["leaves"])


ADDED_READ_MODELS = {"rm_retirements"}
"""Read models added since the fixture was written: rebuilt from the old log, checked below."""


def test_the_old_log_replays_to_the_same_answers(old_db: Path, tmp_path: Path) -> None:
    got = replayed(old_db, tmp_path / "scratch.sqlite")
    assert set(got["counts"]) - set(EXPECTED["snapshot"]["counts"]) == ADDED_READ_MODELS
    with sqlite3.connect(f"file:{old_db}?mode=ro", uri=True) as conn:
        (retired,) = conn.execute("SELECT count(*) FROM stored_events WHERE topic LIKE '%:Batch.Retired'").fetchone()
    assert got["counts"].pop("rm_retirements") == retired > 0  # one row per retirement in the old log
    assert got == EXPECTED["snapshot"]


def test_the_same_commands_write_the_same_bytes(tmp_path: Path) -> None:
    """Byte for byte, but for the one intended change since the fixture: a retirement records
    commitments to its beneficiary and location where it recorded their text (ledger/personal.py).
    Those events must be the old ones with each value replaced by this ledger's commitment to it."""
    db = tmp_path / "new.sqlite"
    ledger = write(Ledger(f"sqlite:///{db}", clock=lambda: TODAY))
    try:
        new = ledger.log.entries(0, ledger.log.size())
        commitments = {v: ledger.personal.commitment(v) for v in (RETIREMENT["beneficiary"], RETIREMENT["location"])}
    finally:
        ledger.close()
    with sqlite3.connect(f"file:{FIXTURE / 'ledger.sqlite'}?mode=ro", uri=True) as conn:
        old = [json.loads(state) for (state,) in conn.execute("SELECT state FROM stored_events ORDER BY rowid")]
    got, expected = leaves(db), EXPECTED["leaves"]
    assert len(got) == len(expected) == len(new) == len(old)
    changed = [i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b]
    assert changed and all(json.loads(new[i])["topic"].endswith(":Batch.Retired") for i in changed)
    for i in changed:
        assert json.loads(new[i])["state"] == substitute(old[i], commitments)


def test_the_fixture_is_what_it_claims(old_db: Path) -> None:
    """The guard has teeth: the snapshot holds every kind of answer, and a changed byte is seen."""
    snapshot = EXPECTED["snapshot"]
    assert all(snapshot["holdings"].values()) and snapshot["case_traces"] and len(snapshot["supply"]) >= 7
    assert {s["instrument"] for s in snapshot["supply"].values()} == {"GEC", "CCER", "INCLUSION"}
    assert leaves(old_db) == EXPECTED["leaves"]
    assert len(set(EXPECTED["leaves"])) == len(EXPECTED["leaves"])
