"""One MWh, one claim (issue 4, first part): the device's claims pool, enforced at write time.

A refusal names the earlier claim with its log position and an inclusion proof that verifies
against the log's own root.
"""

from __future__ import annotations

import base64

import pytest

from ledger.app import Ledger
from ledger.errors import LedgerError
from ledger.tlog.merkle import verify_inclusion
from tests.support import month

GEN = "acct:sip-pv-ops"


@pytest.fixture
def suzhou(ledger: Ledger) -> Ledger:
    ledger.add_participant("SIP-PV-OPS", "园区光伏运营商", "generator", "江苏", "苏州")
    ledger.open_account(GEN, "SIP-PV-OPS")
    ledger.register_device(
        "SIP-PV-0042", "distributed_pv", 400, "江苏", "苏州", "SIP-PV-OPS", "2023-05-01", ("GEC", "INCLUSION")
    )
    ledger.establish_programme("SIP-PHCER", "苏州工业园区碳普惠", "苏州", ["distributed_pv"], "SIP-2020-PURCHASED")
    for m in (1, 2):
        ledger.record_reading("SIP-PV-0042", *month(2025, m), 52_400, 1_200)
    return ledger


def test_gec_january_then_inclusion_for_january_is_refused_naming_the_gec_batch(suzhou: Ledger) -> None:
    (tradable, _) = suzhou.issue_gec("SIP-PV-0042", "2025-01", GEN)
    size = suzhou.log.size()
    with pytest.raises(LedgerError) as refusal:
        suzhou.issue_inclusion("SIP-PHCER", "distributed_pv", GEN, device="SIP-PV-0042", month="2025-01")
    e = refusal.value
    assert e.code == "DOUBLE_CLAIM" and tradable.code in e.message
    assert (e.details["requested_kwh"], e.details["free_kwh"], e.details["overlap_kwh"]) == (52_400, 0, 52_400)
    (earlier,) = e.details["earlier_claims"]
    assert (earlier["instrument"], earlier["batch"], earlier["kwh"]) == ("GEC", tradable.code, 52_400)
    # The earlier claim is a real event of the log, and its proof verifies against the log's root.
    proof = earlier["inclusion_proof"]
    assert (
        proof["leaf_index"] == earlier["seq"] and proof["root_hash"] == base64.b64encode(suzhou.log.root(size)).decode()
    )
    b = base64.b64decode
    verify_inclusion(
        earlier["seq"],
        proof["tree_size"],
        b(proof["leaf_hash"]),
        [b(h) for h in proof["hashes"]],
        b(proof["root_hash"]),
    )
    assert suzhou.log.size() == size  # nothing was written

    february = suzhou.issue_inclusion("SIP-PHCER", "distributed_pv", GEN, device="SIP-PV-0042", month="2025-02")
    assert february.quantity == 52_400 * 610_100 // 1_000_000  # 31,969 kgCO2e from February's free kWh


def test_inclusion_first_leaves_the_month_without_gecs_for_the_same_kwh(suzhou: Ledger) -> None:
    suzhou.issue_inclusion("SIP-PHCER", "distributed_pv", GEN, device="SIP-PV-0042", month="2025-01")
    batches = suzhou.issue_gec("SIP-PV-0042", "2025-01", GEN)
    # Only the self-consumed 1,200 kWh remain for (non-tradable) GECs; the on-grid kWh are taken.
    assert [(b.code.endswith("-N"), b.quantity) for b in batches] == [(True, 1)]
    device = suzhou.device("SIP-PV-0042")
    assert sum(device.claimed.values()) == 52_400  # never more than metered


def test_a_claimed_reading_cannot_be_corrected_below_its_claims(suzhou: Ledger) -> None:
    suzhou.issue_inclusion("SIP-PHCER", "distributed_pv", GEN, device="SIP-PV-0042", month="2025-02")
    device = suzhou.device("SIP-PV-0042")
    february = next(v for v, r in device.readings.items() if r.start.startswith("2025-02"))
    with pytest.raises(LedgerError) as e:
        suzhou.correct_reading("SIP-PV-0042", february, 50_000, 1_200, "meter re-read")
    assert e.value.code == "READING_ALREADY_CLAIMED"
    suzhou.correct_reading("SIP-PV-0042", february, 60_000, 1_200, "meter re-read")  # upwards is fine
    assert suzhou.device("SIP-PV-0042").claimed == {max(suzhou.device("SIP-PV-0042").readings): 52_400}


def test_a_claim_must_cover_whole_metered_intervals(suzhou: Ledger) -> None:
    from datetime import datetime, timedelta, timezone

    device = suzhou.device("SIP-PV-0042")
    china = timezone(timedelta(hours=8))
    with pytest.raises(LedgerError) as e:
        device.claim(
            "x", "INCLUSION", "X", datetime(2025, 1, 5, tzinfo=china), datetime(2025, 1, 5, 3, tzinfo=china), 10
        )
    assert e.value.code == "CLAIM_INTERVAL_MISALIGNED"  # January is one reading: its hours have no share
