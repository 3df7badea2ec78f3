"""A log written by earlier code must verify, and replay to the same holdings and provenance, under
the code of today; and the same commands must still write the same bytes.

`scenario(ledger)` runs a fixed story through every aggregate and most commands: participants and
accounts, devices, readings and a correction, GECs issued, sold, retired, cancelled and expired, a
green-power contract settled, an offshore device's CCER election, project and credits, a
carbon-inclusion programme and its credits, a claim reported by another registry, and the case it
opened resolved by cancelling our GECs. It runs under a frozen clock with a fixed key, so every byte it writes is fixed.

    python -m tests.compat

writes tests/fixtures/compat/: the SQLite file, an audit bundle of it, and expected.json (every
leaf, the signed roots, and `snapshot` of the ledger: holdings, provenance, supply, cases, claims
checks and case traces). tests/test_compat.py checks today's code against them. Regenerate only
when a change of hashed bytes is intended, and say so in the commit: the fixture is the promise
that old logs stay readable.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.app import Ledger
from ledger.database import EVENTS_TABLE
from ledger.personal import PersonalData
from ledger.readmodel import ReadModel, sqlalchemy_url
from ledger.tlog import audit
from ledger.tlog.note import Signer
from tests.registry_support import CON, GEN, RETIREMENT, TRD, gecs, market, offshore_project, pv
from tests.support import month

FIXTURE = Path(__file__).parent / "fixtures" / "compat"
ORIGIN = "oneclaim.test/compat"
SIGNER = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34))))  # a public test key
WRITTEN_AT = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
"""The instant the scenario's events carry (eventsourcing's timestamps)."""
TODAY = date(2030, 6, 30)

ROOFTOP, OFFSHORE_PROJECT, PROGRAMME = "SIP-PV-0042", "CCER-GD-0001", "SIP-PHCER"
PLATFORM = "JS-PHCER-PLATFORM"
CONTRACT = "GPC-2025-SIP-0001"


def scenario(ledger: Ledger) -> None:
    market(ledger)
    pv(ledger)  # SIP-PV-0001
    pv(ledger, ROOFTOP, schemes=("GEC", "INCLUSION"))
    (jan,) = gecs(ledger, "SIP-PV-0001", 2025, 1, 120_400, 0)
    ledger.record_reading("SIP-PV-0001", *month(2025, 2), 90_000, 2_500)
    version = ledger.device("SIP-PV-0001").reading_at(*month(2025, 2))
    ledger.correct_reading("SIP-PV-0001", version, 91_250, 2_500, "meter replaced; CT ratio fixed")
    ledger.issue_gec("SIP-PV-0001", "2025-02", GEN)
    ledger.transfer(jan.code, GEN, TRD, quantity=60, on=date(2025, 2, 10), request_id="t-1")
    ledger.transfer(jan.code, GEN, CON, spans=[(60, 85)], on=date(2025, 2, 11))
    ledger.retire(jan.code, CON, **RETIREMENT, quantity=10, on=date(2025, 3, 1), request_id="r-1")
    ledger.cancel(jan.code, "issued in error", spans=[(100, 110)])

    ledger.sign_contract(CONTRACT, "SIP-PV-0001", GEN, CON, {"2025-03": 40})
    ledger.record_reading("SIP-PV-0001", *month(2025, 3), 50_000)
    ledger.issue_gec("SIP-PV-0001", "2025-03", GEN)
    ledger.settle(CONTRACT, "2025-03", 45_000, on=date(2025, 4, 10))

    ledger.establish_programme(PROGRAMME, "苏州工业园区碳普惠", "苏州", ["distributed_pv"], "SIP-2020-PURCHASED")
    ledger.record_reading(ROOFTOP, *month(2025, 1), 40_000)
    ledger.issue_inclusion(PROGRAMME, "distributed_pv", GEN, device=ROOFTOP, month="2025-01")
    ledger.record_reading(ROOFTOP, *month(2025, 2), 30_000)
    ledger.issue_gec(ROOFTOP, "2025-02", GEN)
    rows = [
        {
            "line": 2,
            "source": PLATFORM,
            "reference": "JS-2025-0001",
            "instrument": "INCLUSION",
            "device": ROOFTOP,
            "start": month(2025, 2)[0],
            "end": month(2025, 2)[1],
            "kwh": 10_000,
        }
    ]
    (case,) = ledger.import_external(rows)["cases_opened"]
    ledger.resolve_case(case, "ours_cancelled", "the platform's claim came first", "auditor-01")

    offshore_project(ledger, OFFSHORE_PROJECT, monthly_kwh=400_000)
    ledger.issue_ccer(OFFSHORE_PROJECT, "2025-01-01", "2025-03-31", 700_000, GEN)
    ledger.expire_batches([jan.code], as_of=date(2027, 1, 1))


def snapshot(ledger: Ledger, read_model: ReadModel) -> dict:
    """What the ledger answers about itself, as plain JSON: what must not change when the code does."""
    batches = read_model.batches(with_units_in=None)
    supply = {code: read_model.supply(code) for code in batches}
    serials = [f"{code}:{n}" for code in batches for n in sorted({1, supply[code]["issued"]})]
    out: dict = {
        "counts": read_model.counts(),
        "holdings": {a: read_model.holdings(a) for a in (GEN, TRD, CON)},
        "supply": supply,
        "provenance": {serial: read_model.provenance(serial) for serial in serials},
        "cases": read_model.cases(),
        "claims_check": {d: ledger.claims_check(d) for d in ("SIP-PV-0001", ROOFTOP, "GD-OFFSHORE-01")},
        "case_traces": {c["code"]: ledger.trace_case(c["code"]) for c in read_model.cases()},
    }
    return json.loads(json.dumps(out, sort_keys=True, default=str))


def leaves(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [bytes(leaf).hex() for (leaf,) in conn.execute("SELECT leaf FROM log_leaves ORDER BY seq")]


def write(ledger: Ledger) -> Ledger:
    """Run the scenario under the frozen clock, with a fixed personal-data secret, and sign the head."""
    ledger.personal = PersonalData(sqlalchemy_url(ledger.db_url), secret=bytes(range(32)))
    with time_machine.travel(WRITTEN_AT, tick=False):
        scenario(ledger)
        ledger.sign_checkpoint(SIGNER, ORIGIN)
    return ledger


def replayed(db: Path, scratch: Path) -> dict:
    """The snapshot of a copy of `db`, its read model built from the events by this code."""
    shutil.copyfile(db, scratch)
    ledger = Ledger(f"sqlite:///{scratch}", clock=lambda: TODAY)
    try:
        with ReadModel(ledger) as read_model:
            read_model.rebuild()
            read_model.catch_up()
            return snapshot(ledger, read_model)
    finally:
        ledger.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)


def main() -> None:
    if FIXTURE.exists():
        shutil.rmtree(FIXTURE)
    FIXTURE.mkdir(parents=True)
    db = FIXTURE / "ledger.sqlite"
    write(Ledger(f"sqlite:///{db}", clock=lambda: TODAY)).close()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    expected = replayed(db, FIXTURE.parent / "compat-replay.sqlite")
    audit.export_bundle(
        f"sqlite:///{db}",
        FIXTURE / "bundle",
        events_table=EVENTS_TABLE["sqlite"],
        origin=ORIGIN,
        verifier_key=SIGNER.verifier_key(),
        readme="The bundle of tests/compat.py's scenario (see ledger/tlog/bundle_readme.md).\n",
    )
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {"written_by_commit": commit, "origin": ORIGIN, "leaves": leaves(db), "snapshot": expected}
    (FIXTURE / "expected.json").write_text(json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {FIXTURE} ({len(record['leaves'])} events, from {commit})", file=sys.stderr)


if __name__ == "__main__":
    main()
