"""The registry's lifecycles, one story per test, on SQLite and on PostgreSQL.

GECs (绿证): metered, issued monthly with the remainder carried over, sold once, retired (核销)
or expired after 24 months. CCER: verified reductions per period within the crediting period.
Carbon inclusion (碳普惠): a device-month converted through the programme's emission factor, or
an explicit quantity for non-generation methodologies.

Frozen units: there is no public command that freezes units yet (the GEC-CCER linkage is not
built), so the UNITS_FROZEN refusal is not exercised here.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from ledger.app import Ledger
from ledger.domain.batch import gec_valid_through
from ledger.domain.rules import EMISSION_FACTORS, SCHEMES
from ledger.domain.serials import format_range
from tests.registry_support import (
    CON,
    GEN,
    RETIREMENT,
    TRD,
    gecs,
    offshore_project,
    one_gec_batch,
    plain_ranges,
    pv,
    refused,
)
from tests.support import month

NOTHING = {"active": 0, "frozen": 0, "retired": 0, "cancelled": 0, "expired": 0, "exported": 0}
FEB_2025 = date(2025, 2, 20)


# ---------------------------------------------------------------------- GEC: reading to retirement


def test_a_gec_goes_from_a_meter_reading_to_a_retirement_certificate(registry: Ledger) -> None:
    device = pv(registry)
    registry.record_reading(device, *month(2025, 1), 62_400)
    (batch,) = registry.issue_gec(device, "2025-01", GEN)
    assert (batch.code, batch.quantity, batch.tradable) == ("GEC-202501-SIP-PV-0001-T", 62, True)

    registry.transfer(batch.code, GEN, CON, quantity=40, on=FEB_2025)
    certificate = registry.retire(batch.code, CON, spans=[(10, 25)], on=FEB_2025, **RETIREMENT)

    stored = registry.batch(batch.code)
    # the log records commitments to who and where (ledger/personal.py); the operator's answers open them
    committed = stored.retirements[certificate]
    assert committed["beneficiary"] == registry.personal.commitment(RETIREMENT["beneficiary"])
    assert RETIREMENT["beneficiary"] not in json.dumps(committed, ensure_ascii=False)
    retirement = registry.personal.reveal(committed)
    assert retirement["ranges"] == [[10, 25]]
    assert format_range(batch.code, 10, 25) == "GEC-202501-SIP-PV-0001-T:11-25"
    assert (retirement["beneficiary"], retirement["purpose"]) == (RETIREMENT["beneficiary"], "green_consumption_claim")
    assert (retirement["reporting_period"], retirement["location"]) == ("2025", "江苏苏州")
    assert stored.supply() == NOTHING | {"active": 47, "retired": 15}
    assert stored.held_by(CON) == {"active": 25, "retired": 15}
    assert stored.held_by(GEN) == {"active": 22}


def test_the_remainder_short_of_one_mwh_carries_over_to_the_next_month(registry: Ledger) -> None:
    device = pv(registry)
    (january,) = gecs(registry, device, 2025, 1, 1_700)
    assert january.quantity == 1
    assert registry.device(device).carry_kwh == {"tradable": 700, "non_tradable": 0}

    (february,) = gecs(registry, device, 2025, 2, 1_400)
    assert february.quantity == 2  # 700 carried + 1,400 = 2,100 kWh
    assert registry.device(device).carry_kwh == {"tradable": 100, "non_tradable": 0}


def test_a_month_short_of_one_mwh_issues_nothing_and_carries_it_all(registry: Ledger) -> None:
    device = pv(registry)
    assert gecs(registry, device, 2025, 1, 600) == []
    (february,) = gecs(registry, device, 2025, 2, 500)
    assert february.quantity == 1
    assert registry.device(device).carry_kwh["tradable"] == 100


def test_self_consumed_electricity_gets_its_own_non_tradable_gecs_and_its_own_carry(registry: Ledger) -> None:
    device = pv(registry)
    sold, own = gecs(registry, device, 2025, 1, 1_700, self_consumed_kwh=2_300)
    assert (sold.code, sold.quantity, sold.tradable) == ("GEC-202501-SIP-PV-0001-T", 1, True)
    assert (own.code, own.quantity, own.tradable) == ("GEC-202501-SIP-PV-0001-N", 2, False)
    assert registry.device(device).carry_kwh == {"tradable": 700, "non_tradable": 300}

    sold, own = gecs(registry, device, 2025, 2, 1_400, self_consumed_kwh=800)
    assert (sold.quantity, own.quantity) == (2, 1)
    assert registry.device(device).carry_kwh == {"tradable": 100, "non_tradable": 100}
    refused(registry, "NOT_TRADABLE", registry.transfer, own.code, GEN, CON, quantity=1, on=date(2025, 3, 5))


# ---------------------------------------------------------------------- GEC: expiry


def test_a_gec_is_valid_for_24_months_from_its_production_month() -> None:
    assert gec_valid_through(date(2025, 1, 1)) == date(2026, 12, 31)
    assert gec_valid_through(date(2024, 2, 1)) == date(2026, 1, 31)
    assert gec_valid_through(date(2024, 12, 1)) == date(2026, 11, 30)


def test_gecs_for_electricity_produced_before_2024_are_valid_through_2025_12_31(registry: Ledger) -> None:
    assert gec_valid_through(date(2023, 6, 1)) == date(2025, 12, 31)
    assert gec_valid_through(date(2023, 12, 1)) == date(2025, 12, 31)
    assert gec_valid_through(date(2024, 1, 1)) == date(2025, 12, 31)  # 24 months: 2024-01..2025-12

    (batch,) = gecs(registry, pv(registry, commissioned_on="2022-03-01"), 2023, 11, 5_000)
    assert batch.valid_through == "2025-12-31"
    registry.transfer(batch.code, GEN, CON, quantity=1, on=date(2025, 12, 31))
    refused(registry, "UNITS_EXPIRED", registry.transfer, batch.code, GEN, CON, quantity=1, on=date(2026, 1, 1))


def test_a_gec_moves_on_its_last_valid_day_and_is_refused_the_day_after(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    assert registry.batch(code).valid_through == "2026-12-31"
    registry.transfer(code, GEN, CON, quantity=3, on=date(2026, 12, 31))
    refused(registry, "UNITS_EXPIRED", registry.transfer, code, GEN, CON, quantity=1, on=date(2027, 1, 1))
    refused(registry, "UNITS_EXPIRED", registry.retire, code, CON, quantity=1, on=date(2027, 1, 1), **RETIREMENT)


def test_expiry_ends_exactly_the_held_units_once(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    registry.transfer(code, GEN, CON, quantity=4, on=date(2026, 6, 1))
    registry.retire(code, CON, spans=[(0, 2)], on=date(2026, 6, 1), **RETIREMENT)
    assert registry.expire_batches([code], date(2026, 12, 31)) == {}  # still valid that day

    assert registry.expire_batches([code], date(2027, 1, 1)) == {code: [[2, 4], [4, 10]]}
    batch = registry.batch(code)
    assert batch.supply() == NOTHING | {"retired": 2, "expired": 8}
    assert batch.held_by(CON) == {"retired": 2, "expired": 2}

    size = registry.log.size()
    assert registry.expire_batches([code], date(2027, 1, 1)) == {}
    assert registry.expire_batches([code], date(2028, 1, 1)) == {}
    assert registry.log.size() == size
    refused(registry, "UNITS_EXPIRED", registry.transfer, code, GEN, CON, spans=[(4, 5)], on=date(2026, 12, 31))


# ---------------------------------------------------------------------- GEC: sold only once


def test_a_gec_is_sold_only_once(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    registry.transfer(code, GEN, TRD, quantity=10, on=FEB_2025)
    refused(registry, "ALREADY_SOLD", registry.transfer, code, TRD, CON, quantity=10, on=FEB_2025)
    refusal = refused(registry, "ALREADY_SOLD", registry.transfer, code, TRD, CON, spans=[(0, 1)], on=FEB_2025)
    assert refusal.details["rule"] == SCHEMES["GEC"].source  # 同一绿证不重复成交
    assert refusal.details["serials"] == f"{code}:1-10"


def test_a_partial_sale_splits_the_range_and_blocks_only_the_sold_part(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    registry.transfer(code, GEN, TRD, spans=[(2, 6)], on=FEB_2025)
    assert plain_ranges(registry.batch(code)) == [
        [0, 2, GEN, "active", 0],
        [2, 6, TRD, "active", 1],
        [6, 10, GEN, "active", 0],
    ]
    refused(registry, "ALREADY_SOLD", registry.transfer, code, TRD, CON, spans=[(3, 4)], on=FEB_2025)
    assert registry.transfer(code, GEN, CON, quantity=6, on=FEB_2025) == [[0, 2], [6, 10]]
    registry.retire(code, TRD, quantity=4, on=FEB_2025, **RETIREMENT)  # using it is not selling it
    assert registry.batch(code).held_by(TRD) == {"retired": 4}


def test_moving_gecs_between_ones_own_accounts_is_not_a_sale(registry: Ledger) -> None:
    registry.open_account("acct:sip-gen-green-power", "SIP-GEN")
    code = one_gec_batch(registry, 10)
    registry.transfer(code, GEN, "acct:sip-gen-green-power", quantity=10, on=FEB_2025)
    registry.transfer(code, "acct:sip-gen-green-power", CON, quantity=10, on=FEB_2025)
    assert registry.batch(code).held_by(CON) == {"active": 10}


# ---------------------------------------------------------------------- ended units stay put


def _cancel(registry: Ledger, code: str) -> None:
    registry.cancel(code, "issuer dispute (事后异议处理): meter data corrected", spans=[(0, 5)])


def _retire(registry: Ledger, code: str) -> None:
    registry.retire(code, GEN, spans=[(0, 5)], on=FEB_2025, **RETIREMENT)


def _expire(registry: Ledger, code: str) -> None:
    registry.expire_batches([code], date(2027, 1, 1))


@pytest.mark.parametrize(
    "end_them, code",
    [(_cancel, "UNITS_CANCELLED"), (_retire, "UNITS_RETIRED"), (_expire, "UNITS_EXPIRED")],
    ids=["cancelled", "retired", "expired"],
)
def test_cancelled_retired_and_expired_units_cannot_move(registry: Ledger, end_them, code: str) -> None:
    batch = one_gec_batch(registry, 10)
    end_them(registry, batch)
    refused(registry, code, registry.transfer, batch, GEN, CON, spans=[(2, 3)], on=FEB_2025)
    refused(registry, code, registry.retire, batch, GEN, spans=[(0, 5)], on=FEB_2025, **RETIREMENT)


def test_asking_for_more_than_the_movable_units_names_why_the_rest_cannot_move(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    _retire(registry, code)
    refusal = refused(registry, "UNITS_RETIRED", registry.transfer, code, GEN, CON, quantity=6, on=FEB_2025)
    assert (refusal.details["available"], refusal.details["requested"]) == (5, 6)
    refused(registry, "INSUFFICIENT_UNITS", registry.transfer, code, CON, GEN, quantity=1, on=FEB_2025)


# ---------------------------------------------------------------------- hydro


def test_old_hydro_gets_non_tradable_gecs(registry: Ledger) -> None:
    old = pv(registry, "YN-HYDRO-OLD", "hydro", commissioned_on="2022-12-31")
    (batch,) = gecs(registry, old, 2025, 1, 25_000)
    assert (batch.code, batch.quantity, batch.tradable) == ("GEC-202501-YN-HYDRO-OLD-N", 25, False)
    refused(registry, "NOT_TRADABLE", registry.transfer, batch.code, GEN, CON, quantity=1, on=FEB_2025)
    registry.retire(batch.code, GEN, quantity=25, on=FEB_2025, **RETIREMENT)  # its own claim is fine


def test_hydro_commissioned_from_2023_gets_tradable_gecs(registry: Ledger) -> None:
    new = pv(registry, "YN-HYDRO-NEW", "hydro", commissioned_on="2023-01-01")
    (batch,) = gecs(registry, new, 2025, 1, 25_000)
    assert (batch.code, batch.tradable) == ("GEC-202501-YN-HYDRO-NEW-T", True)
    registry.transfer(batch.code, GEN, CON, quantity=25, on=FEB_2025)


# ---------------------------------------------------------------------- CCER


@pytest.fixture
def project(registry: Ledger) -> str:
    offshore_project(registry, "CCER-GD-0001")
    return "CCER-GD-0001"


def test_verified_reductions_are_issued_as_a_ccer_batch_in_kg(registry: Ledger, project: str) -> None:
    batch = registry.issue_ccer(project, "2025-01-01", "2025-06-30", 1_250_000, GEN)
    assert (batch.code, batch.instrument, batch.quantity) == ("CCER-CCER-GD-0001-20250101-20250630", "CCER", 1_250_000)
    assert batch.valid_through is None
    assert batch.origin["methodology"] == "CCER-01-001-V01"

    registry.issue_ccer(project, "2025-07-01", "2025-12-31", 1_300_000, GEN)  # the next period
    registry.transfer(batch.code, GEN, TRD, quantity=1_000_000, on=date(2026, 1, 5))
    registry.transfer(batch.code, TRD, CON, quantity=400_000, on=date(2026, 1, 6))  # CCER may change hands again
    assert registry.batch(batch.code).held_by(CON) == {"active": 400_000}


def test_a_period_already_verified_cannot_be_verified_again(registry: Ledger, project: str) -> None:
    registry.issue_ccer(project, "2025-01-01", "2025-06-30", 1_250_000, GEN)
    refused(registry, "PERIOD_ALREADY_VERIFIED", registry.issue_ccer, project, "2025-06-30", "2025-12-31", 1, GEN)
    refused(registry, "PERIOD_ALREADY_VERIFIED", registry.issue_ccer, project, "2025-03-01", "2025-03-31", 1, GEN)


def test_reductions_outside_the_crediting_period_are_refused(registry: Ledger, project: str) -> None:
    registry.clock = lambda: date(2032, 2, 1)  # the crediting period (to 2031-12-31) has ended
    refused(registry, "OUTSIDE_CREDITING_PERIOD", registry.issue_ccer, project, "2024-12-01", "2025-01-31", 1, GEN)
    refused(registry, "OUTSIDE_CREDITING_PERIOD", registry.issue_ccer, project, "2031-07-01", "2032-01-01", 1, GEN)
    refused(registry, "NO_READINGS", registry.issue_ccer, project, "2031-07-01", "2031-12-31", 1, GEN)
    registry.record_reading("GD-OFFSHORE-01", *month(2031, 12), 1_000)
    registry.issue_ccer(project, "2031-07-01", "2031-12-31", 1, GEN)  # the last day is inside


def test_reductions_are_registered_only_for_a_period_that_has_ended(registry: Ledger, project: str) -> None:
    registry.clock = lambda: date(2025, 6, 30)
    refused(registry, "PRODUCTION_NOT_ENDED", registry.issue_ccer, project, "2025-01-01", "2025-06-30", 1, GEN)
    registry.clock = lambda: date(2025, 7, 1)
    assert registry.issue_ccer(project, "2025-01-01", "2025-06-30", 1, GEN).quantity == 1


# ---------------------------------------------------------------------- carbon inclusion


@pytest.fixture
def programme(registry: Ledger) -> str:
    registry.establish_programme(
        "SIP-PHCER", "苏州工业园区碳普惠", "江苏苏州", ["distributed_pv", "ev_charging"], "SIP-2020-PURCHASED"
    )
    return "SIP-PHCER"


def test_a_device_month_converts_to_inclusion_credits_through_the_programme_factor(
    registry: Ledger, programme: str
) -> None:
    device = pv(registry, "SIP-PV-ROOF-7", schemes=("INCLUSION",))
    registry.record_reading(device, *month(2025, 1), 470_000, 30_000)  # self-consumed kWh are not on-grid
    batch = registry.issue_inclusion(programme, "distributed_pv", GEN, device=device, month="2025-01")

    assert EMISSION_FACTORS["SIP-2020-PURCHASED"].g_per_mwh == 610_100  # 0.6101 tCO2/MWh
    assert batch.quantity == 470_000 * 610_100 // 1_000_000 == 286_747  # kgCO2e, rounded down
    assert (batch.code, batch.instrument) == ("SIP-PHCER-DISTRIBUTED_PV-SIP-PV-ROOF-7-202501", "INCLUSION")
    assert (batch.origin["factor"], batch.origin["kwh"], batch.origin["g_per_mwh"]) == (
        "SIP-2020-PURCHASED",
        470_000,
        610_100,
    )
    again = {"device": device, "month": "2025-01"}
    refused(registry, "ALREADY_ISSUED", registry.issue_inclusion, programme, "distributed_pv", GEN, **again)


def test_a_non_generation_methodology_is_credited_in_explicit_kg(registry: Ledger, programme: str) -> None:
    batch = registry.issue_inclusion(
        programme,
        "ev_charging",
        CON,
        subject="SIP-EV-STATION-07",
        period="2025-01",
        kg_co2e=1_234,
        evidence_sha256="ab" * 32,
    )
    assert (batch.code, batch.quantity, batch.tradable) == (
        "SIP-PHCER-EV_CHARGING-SIP-EV-STATION-07-202501",
        1_234,
        True,
    )
    neutrality = RETIREMENT | {"purpose": "carbon_neutrality"}
    registry.retire(batch.code, CON, quantity=1_234, on=date(2025, 3, 1), **neutrality)
    assert registry.batch(batch.code).supply()["retired"] == 1_234
    wetland = {"subject": "SIP-WETLAND", "period": "2025", "kg_co2e": 10}
    issue = registry.issue_inclusion
    refused(registry, "METHODOLOGY_NOT_IN_PROGRAMME", issue, programme, "wetland_sink", CON, **wetland)


def test_a_mwh_that_earned_gecs_cannot_also_earn_inclusion_credits(registry: Ledger, programme: str) -> None:
    device = pv(registry, "SIP-PV-ROOF-8", schemes=("GEC", "INCLUSION"))
    gecs(registry, device, 2025, 1, 470_000)
    again = {"device": device, "month": "2025-01"}
    refused(registry, None, registry.issue_inclusion, programme, "distributed_pv", GEN, **again)


def test_a_device_registered_only_for_carbon_inclusion_gets_no_gecs(registry: Ledger) -> None:
    device = pv(registry, "SIP-PV-ROOF-9", schemes=("INCLUSION",))
    registry.record_reading(device, *month(2025, 1), 10_000)
    refused(registry, None, registry.issue_gec, device, "2025-01", GEN)


# ---------------------------------------------------------------------- retries


def test_a_retried_transfer_returns_the_first_result_and_appends_nothing(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    first = registry.transfer(code, GEN, CON, quantity=4, on=FEB_2025, request_id="req-7f3a")
    size = registry.log.size()
    assert registry.transfer(code, GEN, CON, quantity=4, on=FEB_2025, request_id="req-7f3a") == first == [[0, 4]]
    assert registry.log.size() == size
    assert registry.batch(code).held_by(CON) == {"active": 4}


def test_a_retried_retirement_returns_the_same_certificate_and_appends_nothing(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    first = registry.retire(code, GEN, quantity=3, on=FEB_2025, request_id="req-ret-1", **RETIREMENT)
    size = registry.log.size()
    assert registry.retire(code, GEN, quantity=3, on=FEB_2025, request_id="req-ret-1", **RETIREMENT) == first
    assert registry.log.size() == size
    assert list(registry.batch(code).retirements) == [first]


def test_a_retried_cancellation_returns_the_same_ranges_and_appends_nothing(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    first = registry.cancel(code, "meter fault", spans=[(5, 10)], request_id="req-cxl-1")
    size = registry.log.size()
    assert registry.cancel(code, "meter fault", spans=[(5, 10)], request_id="req-cxl-1") == first == [[5, 10]]
    assert registry.log.size() == size


def test_a_request_id_reused_for_a_retirement_is_refused(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    registry.transfer(code, GEN, CON, quantity=4, on=FEB_2025, request_id="req-1")
    refused(registry, None, registry.retire, code, CON, quantity=1, on=FEB_2025, request_id="req-1", **RETIREMENT)


def test_a_request_id_reused_for_a_cancellation_is_refused(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    registry.transfer(code, GEN, CON, quantity=4, on=FEB_2025, request_id="req-1")
    refused(registry, None, registry.cancel, code, "meter fault", request_id="req-1")


def test_cancelling_an_empty_selection_cancels_nothing(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    refused(registry, None, registry.cancel, code, "nothing, by mistake", spans=[])
    assert registry.batch(code).supply()["active"] == 10


# ---------------------------------------------------------------------- scale


def test_a_million_gecs_take_as_many_events_as_one(registry: Ledger) -> None:
    size = registry.log.size()
    (one,) = gecs(registry, pv(registry, "SIP-PV-SMALL"), 2025, 1, 1_000)
    small = registry.log.size() - size

    size = registry.log.size()
    (million,) = gecs(registry, pv(registry, "SIP-PV-LARGE", "utility_pv", capacity_kw=2_000_000), 2025, 1, 10**9)
    assert (one.quantity, million.quantity) == (1, 1_000_000)
    assert registry.log.size() - size == small

    size = registry.log.size()
    registry.transfer(million.code, GEN, CON, quantity=999_999, on=FEB_2025)
    registry.retire(million.code, CON, quantity=999_999, on=FEB_2025, **RETIREMENT)
    assert registry.log.size() - size == 2
    assert registry.batch(million.code).supply() == NOTHING | {"active": 1, "retired": 999_999}


def test_cancelling_a_whole_batch_never_takes_sold_units_unnamed(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    registry.transfer(code, GEN, CON, quantity=3, on=FEB_2025)
    error = refused(registry, "SOLD_UNITS_NOT_NAMED", registry.cancel, code, "meter fault")
    assert error.details["serials"] == [f"{code}:1-3"]
    assert registry.cancel(code, "meter fault", spans=[(3, 10)]) == [[3, 10]]  # the unsold ones, named
    assert registry.cancel(code, "buyer's GECs revoked after dispute", spans=[(0, 3)]) == [[0, 3]]
    assert registry.batch(code).supply()["cancelled"] == 10
