"""Market surveillance (issue 17): the rules as data, evaluated by a projection as the log grows.
A wash-transfer pattern raises one alert and an ordinary trading month none; a transfer far above
the sender's history, a GEC reported sold on a second platform and a claimed reading corrected
downward each raise theirs; every alert names its events with proofs, is raised once however
often the projection runs (or is rebuilt), and is acknowledged by the operator as an event."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.errors import LedgerError
from ledger.surveillance import Surveillance, sv_alerts, sv_tracking, sv_transfers
from ledger.tlog.note import generate_signer
from ledger.tlog.policy import parse_policy
from ledger.tlog.tlogproof import verify_tlog_proof
from tests.support import month

ORIGIN = "suzhou.oneclaim.example/log"
GEN, TRADER, A, B, C = "acct:sip-pv-ops", "acct:sz-trade", "acct:fab-a", "acct:fab-b", "acct:fab-c"
DEVICE, OTHER = "SIP-PV-0042", "SIP-PV-0043"


@pytest.fixture
def market(tmp_path: Path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock=lambda: date(2026, 6, 1))
    parties = (("SIP-PV-OPS", "generator", GEN), ("SZ-TRADE", "trader", TRADER), ("FAB-A", "consumer", A),
               ("FAB-B", "consumer", B), ("FAB-C", "consumer", C))  # fmt: skip
    for code, role, account in parties:
        ledger.add_participant(code, code, role, "江苏", "苏州")
        ledger.open_account(account, code)
    for device in (DEVICE, OTHER):
        ledger.register_device(device, "distributed_pv", 800, "江苏", "苏州", "SIP-PV-OPS", "2023-05-01")
    ledger.establish_programme("SIP-PHCER", "苏州工业园区碳普惠", "苏州", ["ev_charging"], "SIP-2020-PURCHASED")
    credits = ledger.issue_inclusion("SIP-PHCER", "ev_charging", GEN, subject="HUB", period="2025", kg_co2e=10**7)
    yield ledger, credits.code
    ledger.close()


def alerts(ledger: Ledger, status: str | None = None) -> list[dict]:
    with Surveillance(ledger) as watch:
        return watch.alerts(status)


def test_an_ordinary_trading_month_raises_no_alert(market) -> None:
    ledger, credits = market
    ledger.record_reading(DEVICE, *month(2025, 1), 152_400, 0)
    (gec,) = ledger.issue_gec(DEVICE, "2025-01", GEN)
    for buyer, units, day in ((A, 40, 5), (B, 25, 8), (C, 30, 12), (TRADER, 50, 15), (A, 7, 20)):
        ledger.transfer(gec.code, GEN, buyer, quantity=units, on=date(2025, 2, day))
    for buyer, units in ((A, 200_000), (B, 150_000), (C, 90_000), (TRADER, 400_000), (A, 120_000), (B, 60_000)):
        ledger.transfer(credits, GEN, buyer, quantity=units, on=date(2025, 2, 20))
    ledger.transfer(credits, TRADER, C, quantity=100_000, on=date(2025, 2, 25))  # the trader sells on
    assert alerts(ledger) == []


def test_units_passing_back_and_forth_raise_one_wash_transfer_alert_with_proofs(market) -> None:
    ledger, credits = market
    ledger.transfer(credits, GEN, A, quantity=50_000, on=date(2025, 3, 1))
    ledger.transfer(credits, A, B, quantity=50_000, on=date(2025, 3, 2))
    ledger.transfer(credits, B, A, quantity=50_000, on=date(2025, 3, 9))  # back again within 30 days
    ledger.transfer(credits, A, C, quantity=50_000, on=date(2025, 5, 1))  # onward: no pattern
    (alert,) = alerts(ledger)
    assert (alert["rule"], alert["subject"], alert["status"]) == ("WASH_TRANSFER", f"{A} <-> {B}", "open")
    assert "within 30 days" in alert["message"]
    # its events, each with a proof under the log's checkpoint
    signer = generate_signer(ORIGIN)
    ledger.sign_checkpoint(signer, ORIGIN)
    policy = parse_policy(f"log {signer.verifier_key()}\nquorum none\n")
    with Surveillance(ledger) as watch:
        shown = watch.alert(alert["alert_id"])
    moves = [json.loads(verify_tlog_proof(shown["proofs"][str(s)], policy).event)["state"] for s in alert["seqs"]]
    assert [(m["from_account"], m["to_account"]) for m in moves] == [(A, B), (B, A)]
    # a month later the same pair trading back is outside the window
    ledger.transfer(credits, C, A, quantity=50_000, on=date(2025, 7, 1))
    assert len(alerts(ledger)) == 1


def test_a_transfer_far_above_the_senders_history_raises_an_alert(market) -> None:
    ledger, credits = market
    for day in range(1, 6):
        ledger.transfer(credits, GEN, A, quantity=1_000, on=date(2025, 3, day))
    ledger.transfer(credits, GEN, B, quantity=9_000, on=date(2025, 3, 10))  # 9x: ordinary
    assert alerts(ledger) == []
    ledger.transfer(credits, GEN, C, quantity=100_000, on=date(2025, 3, 11))  # > 10 x the largest (9,000)
    (alert,) = alerts(ledger)
    assert (alert["rule"], alert["subject"]) == ("TRANSFER_FAR_ABOVE_HISTORY", GEN)


def test_each_senders_history_is_one_row_and_an_older_projection_is_rebuilt_to_the_same_alerts(market) -> None:
    """A transfer reads one row of its sender's history (sv_senders: how many, the largest), so
    the projection's cost does not grow with what the sender did before (it read every earlier
    transfer of the sender, and a catch-up over a long log held SQLite's write lock for minutes).
    The row must be what the transfers seen add up to; a projection from before it is rebuilt."""
    from sqlalchemy import func, select, text

    from ledger.surveillance import sv_senders

    ledger, credits = market
    for day in range(1, 6):
        ledger.transfer(credits, GEN, A, quantity=1_000 * day, on=date(2025, 3, day))
    ledger.transfer(credits, A, B, quantity=500, on=date(2025, 3, 8))
    ledger.transfer(credits, GEN, C, quantity=100_000, on=date(2025, 3, 11))  # > 10 x the largest (5,000)
    before = alerts(ledger)
    with Surveillance(ledger) as watch, watch.engine.connect() as conn:
        summary = {(r.sender, r.instrument): (r.transfers, r.largest) for r in conn.execute(select(sv_senders))}
        grouped = conn.execute(
            select(
                sv_transfers.c.sender, sv_transfers.c.instrument, func.count(), func.max(sv_transfers.c.units)
            ).group_by(sv_transfers.c.sender, sv_transfers.c.instrument)
        )
        assert summary == {(s, i): (n, m) for s, i, n, m in grouped}
        assert summary[GEN, "INCLUSION"] == (6, 100_000) and summary[A, "INCLUSION"] == (1, 500)
    assert [a["rule"] for a in before] == ["TRANSFER_FAR_ABOVE_HISTORY"]
    with Surveillance(ledger) as watch, watch.engine.begin() as conn:  # as a ledger before sv_senders
        conn.execute(text("DROP TABLE sv_senders"))
    assert alerts(ledger) == before


def test_a_gec_reported_sold_on_another_platform_raises_an_alert(market) -> None:
    ledger, _ = market
    ledger.record_reading(DEVICE, *month(2025, 1), 52_400, 0)
    (gec,) = ledger.issue_gec(DEVICE, "2025-01", GEN)
    ledger.transfer(gec.code, GEN, A, quantity=10, on=date(2025, 2, 1))
    ledger.import_external([{"line": 2, "source": "OTHER-PLATFORM", "reference": "S-1", "instrument": "GEC",
                             "serials": f"{gec.code}:1-5", "sold_on": "2025-02-03"}])  # fmt: skip
    (alert,) = alerts(ledger)
    assert (alert["rule"], alert["subject"]) == ("SOLD_ON_TWO_PLATFORMS", gec.code)
    assert "OTHER-PLATFORM" in alert["message"]


def test_a_claimed_reading_corrected_downward_raises_an_alert(market) -> None:
    ledger, _ = market
    ledger.record_reading(OTHER, *month(2025, 3), 48_000, 0)
    ledger.import_external([{"line": 2, "source": "CZ-PHCER", "reference": "C-1", "instrument": "INCLUSION",
                             "device": OTHER, "start": month(2025, 3)[0], "end": month(2025, 3)[1],
                             "kwh": 20_000}])  # fmt: skip
    reading = max(ledger.device(OTHER).readings)
    ledger.correct_reading(OTHER, reading, 60_000, 0, "meter re-read: more")  # upwards: nothing to watch
    assert alerts(ledger) == []
    ledger.correct_reading(OTHER, max(ledger.device(OTHER).readings), 30_000, 0, "meter re-read: less")
    (alert,) = alerts(ledger)
    assert (alert["rule"], alert["subject"]) == ("CLAIMED_KWH_CORRECTED_DOWN", OTHER)
    assert "20,000 kWh are claimed" in alert["message"] and "60,000 to 30,000" in alert["message"]


def test_an_alert_is_raised_once_and_acknowledged_as_an_event(market) -> None:
    ledger, credits = market
    ledger.transfer(credits, GEN, A, quantity=5, on=date(2025, 3, 1))
    ledger.transfer(credits, A, B, quantity=5, on=date(2025, 3, 2))
    ledger.transfer(credits, B, A, quantity=5, on=date(2025, 3, 3))
    with Surveillance(ledger) as watch:
        (alert,) = watch.alerts()
        assert watch.catch_up() == 0  # nothing new: nothing raised twice
        with pytest.raises(LedgerError) as e:
            watch.acknowledge(alert["alert_id"], "SIP-REGISTRY-OPS", " ")
        assert e.value.code == "NOTE_INVALID"
        size = ledger.log.size()
        done = watch.acknowledge(alert["alert_id"], "SIP-REGISTRY-OPS", "related accounts of one group; no trade")
        assert done["status"] == "acknowledged" and ledger.log.size() == size + 1
        with pytest.raises(LedgerError) as e:
            watch.acknowledge(alert["alert_id"], "SIP-REGISTRY-OPS", "again")
        assert e.value.code == "ALERT_ALREADY_ACKNOWLEDGED"
        assert watch.alerts("open") == []
    # the acknowledgement is in the log; a projection rebuilt from scratch agrees
    (event,) = [json.loads(e) for e in ledger.log.entries(size, size + 1)]
    assert event["topic"].endswith("AlertReview.Acknowledged") and event["state"]["seqs"] == alert["seqs"]
    with Surveillance(ledger) as watch, watch.engine.begin() as conn:
        for table in (sv_alerts, sv_transfers, sv_tracking):
            conn.execute(table.delete())
    assert [(a["alert_id"], a["status"]) for a in alerts(ledger)] == [(alert["alert_id"], "acknowledged")]
