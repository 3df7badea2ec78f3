"""One MWh, one claim (issue 4): the stories, one per test, on SQLite and on PostgreSQL.

Story 1 (GEC first, then carbon inclusion for the same month) is in tests/test_claims_pool.py.

2. Partial overlap: hourly readings, half a month claimed, a claim straddling the boundary is
   refused with exactly the overlapping hour named, the free hours succeed.
3. Deep-sea offshore wind elects CCER: registering the project freezes the untraded GECs, CCER
   reductions cancel them (lowest serials first) and the cancellation is disclosed; sold GECs
   are never touched, and a registration that would need them is refused.
5. External claims: what other registries report is checked against the pool; overlaps open
   double-counting cases whose trace report verifies against a signed checkpoint.

Two tests pin bugs found while writing these stories (cancelling self-consumed GECs for CCER,
and case codes colliding across devices); both are fixed.
"""

from __future__ import annotations

import contextlib
import hashlib
from base64 import b64decode
from datetime import date, datetime, timedelta

import pytest

from ledger.app import Ledger
from ledger.domain.case import case_code
from ledger.domain.rules import EMISSION_FACTORS, kwh_for
from ledger.domain.serials import format_range
from ledger.domain.values import CHINA
from ledger.errors import LedgerError
from ledger.tlog.merkle import ProofError, verify_inclusion
from ledger.tlog.note import NoteError, generate_signer, open_note, parse_checkpoint
from tests.conftest import ORIGIN
from tests.registry_support import CON, GEN, GENERATOR, RETIREMENT, gecs, plain_ranges, pv, refused
from tests.support import month

SIP_FACTOR = "SIP-2020-PURCHASED"
G_PER_MWH = 610_100
DISTRIBUTED_PV = "distributed_pv"


# ====================================================================== 2. partial overlap

ROOF = "SIP-PV-ROOF-0815"
PROGRAMME = "SIP-PHCER"
JANUARY = datetime(2025, 1, 1, tzinfo=CHINA)
HOUR = timedelta(hours=1)


def hourly_kwh(hour: int) -> int:
    """A varying synthetic production for hour `hour` of January (0 = 2025-01-01 00:00, China time)."""
    return 40 + (hour * 37) % 211


def at(day: int, hour: int) -> str:
    return datetime(2025, 1, day, hour, tzinfo=CHINA).isoformat()


def hour_index(day: int, hour: int) -> int:
    return (day - 1) * 24 + hour


@pytest.fixture
def roof(registry: Ledger) -> Ledger:
    """A distributed PV roof in Suzhou metered hourly through January 2025, and the park's
    carbon-inclusion programme; the first half of January is credited as inclusion."""
    pv(registry, ROOF, DISTRIBUTED_PV, capacity_kw=400, schemes=("GEC", "INCLUSION"))
    rows = [
        {
            "line": h + 2,
            "device": ROOF,
            "start": (JANUARY + h * HOUR).isoformat(),
            "end": (JANUARY + (h + 1) * HOUR).isoformat(),
            "on_grid_kwh": hourly_kwh(h),
        }
        for h in range(31 * 24)
    ]
    assert registry.import_readings(rows) == {"recorded": 744, "skipped": 0, "devices": 1}
    registry.establish_programme(PROGRAMME, "苏州工业园区碳普惠", "江苏苏州", [DISTRIBUTED_PV], SIP_FACTOR)
    return registry


def first_half(roof: Ledger):
    return roof.issue_inclusion(PROGRAMME, DISTRIBUTED_PV, GEN, device=ROOF, start=at(1, 0), end=at(16, 0))


def test_the_first_half_of_january_is_credited_from_its_hourly_kwh(roof: Ledger) -> None:
    batch = first_half(roof)
    kwh = sum(hourly_kwh(h) for h in range(15 * 24))
    assert batch.origin["kwh"] == kwh
    assert batch.quantity == kwh * G_PER_MWH // 1_000_000
    claim = roof.device(ROOF).claims[f"INCLUSION/{batch.code}"]
    assert (claim.kwh, len(claim.allocations)) == (kwh, 15 * 24)  # one allocation per hour


def test_a_claim_straddling_the_claimed_half_is_refused_naming_exactly_the_overlapping_hour(roof: Ledger) -> None:
    first = first_half(roof)
    last_claimed, free1, free2 = (hourly_kwh(hour_index(15, 23) + i) for i in range(3))
    assert len({last_claimed, free1, free2}) == 3  # distinct, so every figure below is unambiguous

    e = refused(
        roof,
        "DOUBLE_CLAIM",
        roof.issue_inclusion,
        PROGRAMME,
        DISTRIBUTED_PV,
        GEN,
        device=ROOF,
        start="2025-01-15T23:00+08:00",
        end="2025-01-16T02:00+08:00",
    )
    assert e.details["requested_kwh"] == last_claimed + free1 + free2
    assert e.details["free_kwh"] == free1 + free2
    assert e.details["overlap_kwh"] == last_claimed
    (earlier,) = e.details["earlier_claims"]
    assert (earlier["instrument"], earlier["batch"], earlier["kwh"]) == ("INCLUSION", first.code, last_claimed)
    assert earlier["claim"] == f"INCLUSION/{first.code}"

    # The two free hours are credited; the batch holds exactly their kWh.
    second = roof.issue_inclusion(
        PROGRAMME, DISTRIBUTED_PV, GEN, device=ROOF, start="2025-01-16T00:00+08:00", end="2025-01-16T02:00+08:00"
    )
    assert second.origin["kwh"] == free1 + free2
    assert second.quantity == (free1 + free2) * G_PER_MWH // 1_000_000
    # ... and are then taken: a claim on the next three hours overlaps exactly those two.
    e = refused(
        roof,
        "DOUBLE_CLAIM",
        roof.issue_inclusion,
        PROGRAMME,
        DISTRIBUTED_PV,
        GEN,
        device=ROOF,
        start="2025-01-16T00:00+08:00",
        end="2025-01-16T03:00+08:00",
    )
    assert (e.details["overlap_kwh"], e.details["free_kwh"]) == (free1 + free2, hourly_kwh(hour_index(16, 2)))
    assert [(c["batch"], c["kwh"]) for c in e.details["earlier_claims"]] == [(second.code, free1 + free2)]


def test_claims_check_shows_every_hour_metered_claimed_and_free(roof: Ledger) -> None:
    first = first_half(roof)
    second = roof.issue_inclusion(PROGRAMME, DISTRIBUTED_PV, GEN, device=ROOF, start=at(16, 0), end=at(16, 2))
    check = roof.claims_check(ROOF, "2025-01")

    hours = check["intervals"]
    assert len(hours) == 744
    assert [h["start"] for h in hours] == [(JANUARY + i * HOUR).isoformat() for i in range(744)]
    claimed_until = hour_index(16, 2)
    for i, h in enumerate(hours):
        assert h["metered_kwh"] == hourly_kwh(i)
        assert h["claimed_kwh"] + h["free_kwh"] == h["metered_kwh"]
        if i < claimed_until:
            (claim,) = h["claims"]
            assert claim["batch"] == (first.code if i < hour_index(16, 0) else second.code)
            assert (claim["kwh"], h["free_kwh"]) == (h["metered_kwh"], 0)
        else:
            assert (h["claims"], h["claimed_kwh"]) == ([], 0)
    metered = sum(hourly_kwh(i) for i in range(744))
    claimed = sum(hourly_kwh(i) for i in range(claimed_until))
    assert (check["metered_kwh"], check["claimed_kwh"], check["free_kwh"]) == (metered, claimed, metered - claimed)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2025-01-15T23:30+08:00", "2025-01-16T01:00+08:00"),  # through a claimed hour
        ("2025-01-20T10:00+08:00", "2025-01-20T12:30+08:00"),  # through a free hour
    ],
)
def test_a_claim_cutting_through_an_hourly_reading_is_refused(roof: Ledger, start: str, end: str) -> None:
    first_half(roof)
    refused(
        roof,
        "CLAIM_INTERVAL_MISALIGNED",
        roof.issue_inclusion,
        PROGRAMME,
        DISTRIBUTED_PV,
        GEN,
        device=ROOF,
        start=start,
        end=end,
    )


def test_gecs_for_a_half_credited_month_get_only_the_free_half(roof: Ledger) -> None:
    first_half(roof)
    free = sum(hourly_kwh(h) for h in range(hour_index(16, 0), 744))
    (batch,) = roof.issue_gec(ROOF, "2025-01", GEN)
    assert batch.quantity == free // 1_000
    assert roof.device(ROOF).carry_kwh["tradable"] == free % 1_000
    assert roof.claims_check(ROOF, "2025-01")["free_kwh"] == 0


# ====================================================================== 3. offshore wind elects CCER

OFFSHORE = "GD-OFFSHORE-01"
PROJECT = "CCER-GD-0001"
MONTHLY_KWH = 500_000  # 500 GECs a month
SOLD = 100  # January GECs sold to the consumer before the project is registered
SALE_DAY = date(2025, 2, 10)


@pytest.fixture
def offshore(registry: Ledger) -> Ledger:
    """A deep-sea offshore wind farm metered January to June 2025, its GECs issued for January
    to March, and 100 of January's sold to a consumer. No election, no project yet."""
    pv(registry, OFFSHORE, "deep_sea_offshore_wind", capacity_kw=5_000, schemes=("GEC", "CCER"))
    for m in (1, 2, 3):
        (batch,) = gecs(registry, OFFSHORE, 2025, m, MONTHLY_KWH)
        assert batch.quantity == 500
    for m in (4, 5, 6):
        registry.record_reading(OFFSHORE, *month(2025, m), MONTHLY_KWH)
    registry.transfer(gec(1), GEN, CON, quantity=SOLD, on=SALE_DAY)
    return registry


def gec(m: int) -> str:
    return f"GEC-2025{m:02d}-{OFFSHORE}-T"


def register_project(ledger: Ledger, device: str = OFFSHORE, on: date = date(2025, 1, 1), code: str = PROJECT):
    return ledger.register_ccer_project(
        code, "CCER-01-001-V01", GENERATOR, [device], "2025-01-01", "2031-12-31", factor=SIP_FACTOR, on=on
    )


@pytest.fixture
def elected(offshore: Ledger) -> Ledger:
    assert offshore.elect(OFFSHORE, "CCER", "2025-01-01") is True
    register_project(offshore)
    return offshore


def test_registering_the_project_freezes_the_untraded_gecs_and_leaves_the_sold_ones_with_the_consumer(
    offshore: Ledger,
) -> None:
    assert plain_ranges(offshore.batch(gec(1))) == [[0, SOLD, CON, "active", 1], [SOLD, 500, GEN, "active", 0]]
    assert offshore.elect(OFFSHORE, "CCER", "2025-01-01") is True
    register_project(offshore)

    assert plain_ranges(offshore.batch(gec(1))) == [[0, SOLD, CON, "active", 1], [SOLD, 500, GEN, "frozen", 0]]
    for m in (2, 3):
        assert plain_ranges(offshore.batch(gec(m))) == [[0, 500, GEN, "frozen", 0]]
    assert offshore.device(OFFSHORE).ccer.projects == {PROJECT: ["2025-01-01", "2031-12-31"]}

    # Frozen GECs cannot be sold, moved or retired, whichever way they are named.
    on = date(2025, 4, 10)  # after March, the last of these months, has ended
    refused(offshore, "UNITS_FROZEN", offshore.transfer, gec(1), GEN, CON, quantity=1, on=on)
    refused(offshore, "UNITS_FROZEN", offshore.transfer, gec(2), GEN, CON, spans=[(0, 10)], on=on)
    refused(offshore, "UNITS_FROZEN", offshore.retire, gec(3), GEN, quantity=1, on=on, **RETIREMENT)
    # The consumer's GECs are untouched: it can still retire them.
    offshore.retire(gec(1), CON, quantity=SOLD, on=on, **RETIREMENT)
    assert offshore.batch(gec(1)).held_by(CON) == {"retired": SOLD}


def test_gecs_issued_after_registration_for_a_crediting_month_are_born_frozen(elected: Ledger) -> None:
    (april,) = elected.issue_gec(OFFSHORE, "2025-04", GEN)
    assert april.code == gec(4)
    assert plain_ranges(elected.batch(gec(4))) == [[0, 500, GEN, "frozen", 0]]
    refused(elected, "UNITS_FROZEN", elected.transfer, gec(4), GEN, CON, quantity=1, on=date(2025, 5, 10))


def test_reductions_beyond_the_free_kwh_cancel_untraded_gecs_lowest_serials_first_and_are_disclosed(
    elected: Ledger,
) -> None:
    kg = 200_000
    kwh = kwh_for(kg, G_PER_MWH)
    assert kwh == -(-kg * 10**6 // 610_100) == 327_816  # ceil(kgCO2e × 10^6 / 610,100 g/MWh)
    assert EMISSION_FACTORS[SIP_FACTOR].g_per_mwh == G_PER_MWH

    batch = elected.issue_ccer(PROJECT, "2025-01-01", "2025-01-31", kg, GEN)

    units = -(-kwh // 1_000)  # 328 GECs: whole MWh, rounded up
    assert plain_ranges(elected.batch(gec(1))) == [
        [0, SOLD, CON, "active", 1],  # sold: untouched, still the consumer's
        [SOLD, SOLD + units, GEN, "cancelled", 0],  # the lowest untraded serials
        [SOLD + units, 500, GEN, "frozen", 0],
    ]
    for m in (2, 3):  # outside the period: untouched
        assert plain_ranges(elected.batch(gec(m))) == [[0, 500, GEN, "frozen", 0]]

    traded = [{"batch": gec(1), "serials": f"{gec(1)}:1-{SOLD}", "holder": CON, "state": "active"}]
    disclosure = elected.disclosure(batch.code)
    assert (disclosure.project, disclosure.ccer_batch, disclosure.device) == (PROJECT, batch.code, OFFSHORE)
    assert (disclosure.period, disclosure.kg_co2e, disclosure.kwh) == (["2025-01-01", "2025-01-31"], kg, kwh)
    assert disclosure.factor == {"code": SIP_FACTOR, "g_per_mwh": G_PER_MWH}
    # the public reads serial notation, inclusive: the first cancelled serial is SOLD + 1, never a sold one
    assert disclosure.public_cancelled() == [
        {"batch": gec(1), "serials": [f"{gec(1)}:{SOLD + 1}-{SOLD + units}"], "units": units}
    ]
    assert disclosure.traded_untouched == traded

    assert (batch.instrument, batch.quantity, elected.batch(batch.code).held_by(GEN)) == ("CCER", kg, {"active": kg})
    assert batch.origin["disclosure"] == batch.code
    assert batch.origin["traded_gecs_untouched"] == traded
    assert (batch.origin["kwh"], batch.origin["factor"], batch.origin["g_per_mwh"]) == (kwh, SIP_FACTOR, G_PER_MWH)

    # The pool: the cancelled GECs gave back their kWh, the CCER claims what it needs, never more than metered.
    device = elected.device(OFFSHORE)
    assert device.claims[f"CCER/{batch.code}"].kwh == kwh
    assert device.claims["GEC/2025-01"].kwh == MONTHLY_KWH - units * 1_000
    (january,) = device.months["2025-01"]
    assert device.claimed[january] == MONTHLY_KWH - units * 1_000 + kwh <= MONTHLY_KWH


def test_reductions_over_several_months_cancel_month_by_month(elected: Ledger) -> None:
    kg = 400_000
    kwh = kwh_for(kg, G_PER_MWH)  # 655,631 kWh: all 400 frozen GECs of January, then 256 of February's
    batch = elected.issue_ccer(PROJECT, "2025-01-01", "2025-03-31", kg, GEN)
    assert plain_ranges(elected.batch(gec(1))) == [[0, SOLD, CON, "active", 1], [SOLD, 500, GEN, "cancelled", 0]]
    feb_units = -(-(kwh - 400_000) // 1_000)
    assert feb_units == 256
    assert plain_ranges(elected.batch(gec(2))) == [
        [0, feb_units, GEN, "cancelled", 0],
        [feb_units, 500, GEN, "frozen", 0],
    ]
    assert plain_ranges(elected.batch(gec(3))) == [[0, 500, GEN, "frozen", 0]]
    assert elected.disclosure(batch.code).public_cancelled() == [
        {"batch": gec(1), "serials": [f"{gec(1)}:{SOLD + 1}-500"], "units": 400},
        {"batch": gec(2), "serials": [f"{gec(2)}:1-{feb_units}"], "units": feb_units},
    ]


def test_frozen_ranges_split_by_a_sale_are_cancelled_lowest_serials_first(offshore: Ledger) -> None:
    offshore.transfer(gec(1), GEN, CON, spans=[(200, 250)], on=SALE_DAY)  # serials 201-250 sold too
    offshore.elect(OFFSHORE, "CCER", "2025-01-01")
    register_project(offshore)
    assert [r[:4] for r in plain_ranges(offshore.batch(gec(1)))] == [
        [0, SOLD, CON, "active"],
        [SOLD, 200, GEN, "frozen"],
        [200, 250, CON, "active"],
        [250, 500, GEN, "frozen"],
    ]
    batch = offshore.issue_ccer(PROJECT, "2025-01-01", "2025-01-31", 200_000, GEN)  # 328 GECs' worth
    assert [r[:4] for r in plain_ranges(offshore.batch(gec(1)))] == [
        [0, SOLD, CON, "active"],
        [SOLD, 200, GEN, "cancelled"],
        [200, 250, CON, "active"],
        [250, 478, GEN, "cancelled"],
        [478, 500, GEN, "frozen"],
    ]
    disclosure = offshore.disclosure(batch.code)
    assert disclosure.public_cancelled() == [
        {"batch": gec(1), "serials": [f"{gec(1)}:{SOLD + 1}-200", f"{gec(1)}:251-478"], "units": 328}
    ]
    assert [t["serials"] for t in disclosure.traded_untouched] == [f"{gec(1)}:1-100", f"{gec(1)}:201-250"]


def test_reductions_the_free_kwh_cover_cancel_nothing_and_disclose_nothing(elected: Ledger) -> None:
    kg = 100_000
    batch = elected.issue_ccer(PROJECT, "2025-05-01", "2025-05-31", kg, GEN)  # May: metered, no GECs
    assert (batch.origin["disclosure"], batch.origin["traded_gecs_untouched"]) == (None, [])
    refused(elected, "DISCLOSURE_NOT_FOUND", elected.disclosure, batch.code)
    for m in (1, 2, 3):
        assert elected.batch(gec(m)).supply()["cancelled"] == 0
    assert elected.device(OFFSHORE).claims[f"CCER/{batch.code}"].kwh == kwh_for(kg, G_PER_MWH)


def test_reductions_needing_the_sold_gecs_are_refused_naming_them_and_write_nothing(elected: Ledger) -> None:
    # January: 0 kWh free, 400 frozen GECs (400,000 kWh) may be cancelled, 100 are sold.
    kg = 250_000
    assert kwh_for(kg, G_PER_MWH) == 409_769 > 400_000
    e = refused(elected, "DOUBLE_CLAIM", elected.issue_ccer, PROJECT, "2025-01-01", "2025-01-31", kg, GEN)
    assert e.details["traded_gecs"] == [
        {"batch": gec(1), "serials": format_range(gec(1), 0, SOLD), "holder": CON, "state": "active"}
    ]
    assert e.details["overlap_kwh"] == 9_769 and e.details["requested_kwh"] == 409_769
    # the pool as it is: nothing free, the frozen GECs' kWh named as such (not as free or unclaimed)
    assert (e.details["free_kwh"], e.details["frozen_kwh_cancellable"]) == (0, 400_000)
    assert "only 0 kWh are free" in e.message and "release 400000 kWh more" in e.message
    assert [c["claim"] for c in e.details["earlier_claims"]] == ["GEC/2025-01"]
    # Nothing was cancelled, nothing released, no CCER batch and no disclosure.
    assert plain_ranges(elected.batch(gec(1))) == [[0, SOLD, CON, "active", 1], [SOLD, 500, GEN, "frozen", 0]]
    assert elected.device(OFFSHORE).claims["GEC/2025-01"].kwh == MONTHLY_KWH
    code = f"CCER-{PROJECT}-20250101-20250131"
    refused(elected, "BATCH_NOT_FOUND", elected.batch, code)
    refused(elected, "DISCLOSURE_NOT_FOUND", elected.disclosure, code)
    # The most January can back is what its free and frozen kWh release.
    elected.issue_ccer(PROJECT, "2025-01-01", "2025-01-31", 400_000 * G_PER_MWH // 1_000_000, GEN)
    assert plain_ranges(elected.batch(gec(1))) == [[0, SOLD, CON, "active", 1], [SOLD, 500, GEN, "cancelled", 0]]


@pytest.mark.parametrize("technology", ["utility_pv", "wind", "offshore_wind", DISTRIBUTED_PV])
def test_other_wind_and_solar_are_not_admitted_to_ccer(registry: Ledger, technology: str) -> None:
    device = pv(registry, "GD-WIND-07", technology, schemes=("GEC", "CCER"))
    registry.record_reading(device, *month(2025, 1), 100_000)
    e = refused(registry, "CCER_NOT_ADMITTED", register_project, registry, device)
    assert "not newly admitted" in e.details["rule"]
    refused(registry, "PROJECT_NOT_FOUND", registry.issue_ccer, PROJECT, "2025-01-01", "2025-01-31", 1, GEN)


def test_a_deep_sea_device_that_did_not_elect_ccer_cannot_join(offshore: Ledger) -> None:
    e = refused(offshore, "CCER_NOT_ELECTED", register_project, offshore)
    assert e.details["elected"] is None
    assert offshore.elect(OFFSHORE, "GEC", "2025-01-01") is True
    e = refused(offshore, "CCER_NOT_ELECTED", register_project, offshore)
    assert e.details["elected"] == "GEC"
    assert plain_ranges(offshore.batch(gec(2))) == [[0, 500, GEN, "active", 0]]  # nothing frozen


def test_an_election_taking_effect_after_the_crediting_start_does_not_count(offshore: Ledger) -> None:
    offshore.elect(OFFSHORE, "CCER", "2025-02-01")
    e = refused(offshore, "CCER_NOT_ELECTED", register_project, offshore)
    assert e.details["elected"] is None


@pytest.mark.parametrize(
    ("on", "code"),
    [
        (date(2024, 9, 30), "CCER_RULE_MISSING"),  # before the notice
        (date(2024, 10, 1), None),
        (date(2026, 9, 30), None),  # the last day of the transition
        (date(2026, 10, 1), None),  # after it: the notice's own statement, recorded as such
        (date(2028, 11, 1), None),
    ],
)
def test_ccer_registration_follows_the_rule_in_force_on_its_date(offshore: Ledger, on: date, code) -> None:
    offshore.elect(OFFSHORE, "CCER", "2025-01-01")
    if code:
        refused(offshore, code, register_project, offshore, on=on)
        assert plain_ranges(offshore.batch(gec(2))) == [[0, 500, GEN, "active", 0]]
    else:
        register_project(offshore, on=on)
        assert plain_ranges(offshore.batch(gec(2))) == [[0, 500, GEN, "frozen", 0]]
        # the event records which rule admitted the device; after the transition, that it is the
        # notice's statement carried on because no successor is published
        rule = offshore.device(OFFSHORE).ccer.rules[PROJECT]
        assert rule.startswith("NEA/MEE notice") and ("no successor" in rule) == (on > date(2026, 9, 30))


def test_a_device_not_registered_for_ccer_cannot_join_a_ccer_project(registry: Ledger) -> None:
    device = pv(registry, "GD-CSP-01", "csp", schemes=("GEC",))
    registry.elect(device, "CCER", "2025-01-01")
    refused(registry, "SCHEME_NOT_REGISTERED", register_project, registry, device)


def test_only_deep_sea_offshore_wind_and_csp_elect(registry: Ledger) -> None:
    device = pv(registry, "SIP-PV-0001", DISTRIBUTED_PV)
    e = refused(registry, "ELECTION_NOT_APPLICABLE", registry.elect, device, "CCER", "2025-01-01")
    assert "PV" in e.details["rule"]
    csp = pv(registry, "QH-CSP-01", "csp", schemes=("GEC", "CCER"))
    assert registry.elect(csp, "CCER", "2025-01-01") is True
    refused(registry, "CCER_RULE_MISSING", registry.elect, csp, "CCER", "2024-09-30")  # before the notice
    distributed = pv(registry, "SIP-PV-0002", DISTRIBUTED_PV)
    refused(registry, "ELECTION_NOT_APPLICABLE", registry.elect, distributed, "CCER", "2026-11-01")  # still so


def test_electing_the_same_thing_twice_is_a_no_op(offshore: Ledger) -> None:
    assert offshore.elect(OFFSHORE, "CCER", "2025-01-01") is True
    size = offshore.log.size()
    assert offshore.elect(OFFSHORE, "CCER", "2025-01-01") is False
    assert offshore.log.size() == size
    assert offshore.device(OFFSHORE).ccer.elections == [["2025-01-01", "CCER"]]
    refused(offshore, "ELECTION_OUT_OF_ORDER", offshore.elect, OFFSHORE, "GEC", "2024-12-31")


def test_cancelling_self_consumed_gecs_never_frees_the_on_grid_kwh_of_sold_gecs(registry: Ledger) -> None:
    """The -N batch stands for self-consumed kWh, which are not in the pool: cancelling it must not
    release on-grid kWh that still back the sold -T GECs."""
    device = pv(registry, OFFSHORE, "deep_sea_offshore_wind", capacity_kw=5_000, schemes=("GEC", "CCER"))
    tradable, own = gecs(registry, device, 2025, 1, MONTHLY_KWH, 100_000)
    registry.transfer(tradable.code, GEN, CON, quantity=500, on=SALE_DAY)  # every on-grid MWh sold
    registry.elect(device, "CCER", "2025-01-01")
    register_project(registry)
    kg = 100_000 * G_PER_MWH // 1_000_000  # 100,000 kWh
    with contextlib.suppress(LedgerError):  # refusing is one correct outcome
        registry.issue_ccer(PROJECT, "2025-01-01", "2025-01-31", kg, GEN)
    sold_mwh = registry.batch(tradable.code).held_by(CON)["active"]
    ccer_kwh = sum(c.kwh for c in registry.device(device).claims.values() if c.instrument == "CCER")
    assert sold_mwh * 1_000 + ccer_kwh <= MONTHLY_KWH  # 500 sold GECs leave no on-grid kWh for CCER


# ====================================================================== 5. external claims

ROOFTOP = "SIP-PV-0001"
PLATFORM = "JS-PHCER"  # an external carbon-inclusion platform
JAN_KWH, FEB_KWH = 52_400, 48_000
JAN = month(2025, 1)
FEB = month(2025, 2)


@pytest.fixture
def claimed_january(registry: Ledger) -> Ledger:
    """A rooftop with GECs issued for January 2025 and February metered, without GECs."""
    pv(registry, ROOFTOP)
    (batch,) = gecs(registry, ROOFTOP, 2025, 1, JAN_KWH)
    assert (batch.code, batch.quantity) == (jan_gec(), 52)
    registry.record_reading(ROOFTOP, *FEB, FEB_KWH)
    return registry


def jan_gec() -> str:
    return f"GEC-202501-{ROOFTOP}-T"


def inclusion_row(line: int, reference: str, interval: tuple[str, str], **amount) -> dict:
    return {
        "line": line,
        "source": PLATFORM,
        "reference": reference,
        "instrument": "INCLUSION",
        "device": ROOFTOP,
        "start": interval[0],
        "end": interval[1],
        **amount,
    }


JANUARY_ROW = inclusion_row(2, "JS-2025-0001", JAN, kg_co2e=18_303, factor=SIP_FACTOR)  # = 30,000 kWh


def opened_case(ledger: Ledger) -> str:
    result = ledger.import_external([JANUARY_ROW])
    (code,) = result["cases_opened"]
    return code


def test_an_external_claim_on_gec_claimed_kwh_opens_a_case_holding_both_sides(claimed_january: Ledger) -> None:
    result = claimed_january.import_external([JANUARY_ROW])
    assert (result["rows"], result["accepted"], result["skipped_already_imported"], result["unmatched"]) == (
        1,
        0,
        0,
        [],
    )
    (code,) = result["cases_opened"]
    assert code == case_code(f"{JANUARY_ROW['device']}|{PLATFORM}/JS-2025-0001")  # keyed by device and report

    case = claimed_january.case(code)
    assert (case.kind, case.status, case.subject, case.resolution) == ("OVERLAPPING_CLAIM", "open", ROOFTOP, None)
    assert case.interval == [datetime.fromisoformat(t).isoformat() for t in JAN]
    assert case.overlap_kwh == 30_000  # nothing in January was free
    (ours,) = case.ours
    assert (ours["claim"], ours["instrument"], ours["batch"], ours["kwh"]) == ("GEC/2025-01", "GEC", jan_gec(), JAN_KWH)
    theirs = case.theirs
    assert (theirs["source"], theirs["reference"], theirs["instrument"]) == (PLATFORM, "JS-2025-0001", "INCLUSION")
    assert (theirs["kg_co2e"], theirs["factor"], theirs["kwh"]) == (18_303, SIP_FACTOR, kwh_for(18_303, G_PER_MWH))
    assert (theirs["metered_kwh"], theirs["free_kwh"]) == (JAN_KWH, 0)

    # A disputed claim takes nothing from the pool: January is still wholly the GECs'.
    device = claimed_january.device(ROOFTOP)
    assert list(device.claims) == ["GEC/2025-01"]
    assert device.external == {f"{PLATFORM}/JS-2025-0001": "disputed"}


def proven_events(report: dict) -> list[dict]:
    """Every event the trace report of an OVERLAPPING_CLAIM case proves."""
    events = list(report["case_events"])
    events += [m["reading"] for m in report["metered"]]
    for claim in report["ours"]:
        events += [claim["claimed_by"], *claim["lineage"]]
    events.append(report["theirs"]["recorded_by"])
    return events


def leaf_of(event: str) -> bytes:
    return hashlib.sha256(b"\x00" + event.encode()).digest()


def check_proof(proven: dict, tree_size: int, root: bytes, leaf: bytes | None = None) -> None:
    """Verify one proven event as an auditor would, with the log's own verifier."""
    proof = proven["inclusion_proof"]
    leaf = leaf_of(proven["event"]) if leaf is None else leaf
    assert b64decode(proof["leaf_hash"]) == leaf
    assert (proof["leaf_index"], proof["tree_size"], b64decode(proof["root_hash"])) == (proven["seq"], tree_size, root)
    verify_inclusion(proven["seq"], tree_size, leaf, [b64decode(h) for h in proof["hashes"]], root)


def test_the_trace_report_of_a_case_verifies_against_the_signed_checkpoint(claimed_january: Ledger, signer) -> None:
    code = opened_case(claimed_january)
    checkpoint = claimed_january.sign_checkpoint(signer, ORIGIN)
    claimed_january.record_reading(ROOFTOP, *month(2025, 3), 10_000)  # the log grows after the checkpoint
    report = claimed_january.trace_case(code)

    assert (report["case"], report["kind"], report["subject"]) == (code, "OVERLAPPING_CLAIM", ROOFTOP)
    assert report["tree_size"] == checkpoint.tree_size < claimed_january.log.size()
    root = b64decode(report["root_hash"])
    text, names = open_note(report["checkpoint"], [signer.verifier()])
    assert names == [ORIGIN]
    parsed = parse_checkpoint(text)
    assert (parsed.origin, parsed.size, parsed.root) == (ORIGIN, report["tree_size"], root)
    with pytest.raises(NoteError):  # another key's verifier does not accept the note
        open_note(report["checkpoint"], [generate_signer(ORIGIN).verifier()])

    assert report["metered_kwh"] == JAN_KWH and [m["on_grid_kwh"] for m in report["metered"]] == [JAN_KWH]
    assert [c["batch"] for c in report["ours"]] == [jan_gec()]
    assert report["theirs"]["reference"] == "JS-2025-0001"
    events = proven_events(report)
    assert len(events) >= 5 and len({e["seq"] for e in events}) >= 4
    for proven in events:
        check_proof(proven, report["tree_size"], root)
    # The events are the real ones: the case names itself, the lineage starts with the GEC issuance.
    assert code in report["case_events"][0]["event"] and report["case_events"][0]["topic"].endswith("Opened")
    assert report["ours"][0]["lineage"][0]["topic"].endswith("Issued")

    # Changing one byte of an event breaks its leaf, and no proof verifies the changed leaf.
    proven = report["theirs"]["recorded_by"]
    event = proven["event"]
    i = event.index("JS-2025-0001")
    forged = event[:i] + "K" + event[i + 1 :]
    assert leaf_of(forged) != b64decode(proven["inclusion_proof"]["leaf_hash"])
    with pytest.raises(AssertionError):
        check_proof(proven | {"event": forged}, report["tree_size"], root)
    with pytest.raises(ProofError):
        verify_inclusion(
            proven["seq"],
            report["tree_size"],
            leaf_of(forged),
            [b64decode(h) for h in proven["inclusion_proof"]["hashes"]],
            root,
        )


def test_a_case_newer_than_the_last_checkpoint_is_proven_against_the_log_head(claimed_january: Ledger) -> None:
    code = opened_case(claimed_january)
    report = claimed_january.trace_case(code)
    assert report["checkpoint"] is None and report["tree_size"] == claimed_january.log.size()
    root = claimed_january.log.root(report["tree_size"])
    assert b64decode(report["root_hash"]) == root
    for proven in proven_events(report):
        check_proof(proven, report["tree_size"], root)


def test_an_external_claim_that_fits_is_accepted_and_our_gecs_then_refused(claimed_january: Ledger) -> None:
    result = claimed_january.import_external([inclusion_row(2, "JS-2025-0002", FEB, kwh=FEB_KWH)])
    assert (result["accepted"], result["cases_opened"]) == (1, [])
    claim = claimed_january.device(ROOFTOP).claims[f"EXT/{PLATFORM}/JS-2025-0002"]
    assert (claim.instrument, claim.kwh, claim.source) == ("EXTERNAL:INCLUSION", FEB_KWH, PLATFORM)

    e = refused(claimed_january, "DOUBLE_CLAIM", claimed_january.issue_gec, ROOFTOP, "2025-02", GEN)
    (earlier,) = e.details["earlier_claims"]
    assert (earlier["claim"], earlier["instrument"], earlier["batch"], earlier["kwh"]) == (
        f"EXT/{PLATFORM}/JS-2025-0002",
        "EXTERNAL:INCLUSION",
        "JS-2025-0002",
        FEB_KWH,
    )
    assert "EXTERNAL:INCLUSION" in e.message
    proof = earlier["inclusion_proof"]
    verify_inclusion(
        earlier["seq"],
        proof["tree_size"],
        b64decode(proof["leaf_hash"]),
        [b64decode(h) for h in proof["hashes"]],
        claimed_january.log.root(proof["tree_size"]),
    )
    check = claimed_january.claims_check(ROOFTOP, "2025-02")
    assert (check["claimed_kwh"], check["free_kwh"]) == (FEB_KWH, 0)


def test_an_external_claim_on_part_of_a_month_leaves_the_rest_to_our_gecs(claimed_january: Ledger) -> None:
    claimed_january.import_external([inclusion_row(2, "JS-2025-0003", FEB, kwh=20_000)])
    (february,) = claimed_january.issue_gec(ROOFTOP, "2025-02", GEN)
    carried = JAN_KWH % 1_000
    assert february.quantity == (FEB_KWH - 20_000 + carried) // 1_000
    device = claimed_january.device(ROOFTOP)
    (reading,) = device.months["2025-02"]
    assert device.claimed[reading] == FEB_KWH


def test_claims_of_one_import_that_together_exceed_the_free_kwh_open_a_case_for_the_later(
    claimed_january: Ledger,
) -> None:
    rows = [inclusion_row(2, "JS-2025-0010", FEB, kwh=30_000), inclusion_row(3, "JS-2025-0011", FEB, kwh=30_000)]
    result = claimed_january.import_external(rows)
    assert result["accepted"] == 1
    (code,) = result["cases_opened"]
    case = claimed_january.case(code)
    assert (case.theirs["reference"], case.theirs["free_kwh"], case.overlap_kwh) == ("JS-2025-0011", 18_000, 12_000)
    (ours,) = case.ours
    assert (ours["claim"], ours["instrument"], ours["kwh"]) == (
        f"EXT/{PLATFORM}/JS-2025-0010",
        "EXTERNAL:INCLUSION",
        30_000,
    )
    device = claimed_january.device(ROOFTOP)
    (february,) = device.months["2025-02"]
    assert device.claimed[february] == 30_000 <= FEB_KWH


def test_reimporting_the_same_rows_opens_no_case_and_writes_nothing(claimed_january: Ledger) -> None:
    rows = [JANUARY_ROW, inclusion_row(3, "JS-2025-0002", FEB, kwh=10_000)]
    first = claimed_january.import_external(rows)
    assert (first["accepted"], len(first["cases_opened"])) == (1, 1)
    size = claimed_january.log.size()
    again = claimed_january.import_external(rows)
    assert (again["accepted"], again["cases_opened"], again["skipped_already_imported"]) == (0, [], 2)
    assert claimed_january.log.size() == size
    assert claimed_january.device(ROOFTOP).claims[f"EXT/{PLATFORM}/JS-2025-0002"].kwh == 10_000  # not twice


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ({"kg_co2e": None}, "ROW_INCOMPLETE"),  # neither kwh nor kg_co2e
        ({"start": "2025-13-01T00:00+08:00"}, "INTERVAL_INVALID"),
        ({"start": "2025-01-01", "end": "2025-01-31"}, "INTERVAL_INVALID"),  # no UTC offset
        ({"instrument": "CARBON"}, "INSTRUMENT_INVALID"),
        ({"kg_co2e": 100, "factor": "NOPE"}, "FACTOR_UNKNOWN"),
        ({"source": ""}, "ROW_INCOMPLETE"),
    ],
)
def test_a_bad_row_rejects_the_whole_import_naming_its_line(claimed_january: Ledger, bad: dict, code: str) -> None:
    rows = [inclusion_row(2, "JS-2025-0002", FEB, kwh=10_000), {**JANUARY_ROW, "line": 3, **bad}]
    e = refused(claimed_january, "IMPORT_REJECTED", claimed_january.import_external, rows)
    assert [(err["line"], err["code"]) for err in e.details["errors"]] == [(3, code)]
    assert "line 3" in e.message
    device = claimed_january.device(ROOFTOP)
    assert (list(device.claims), device.external) == (["GEC/2025-01"], {})  # the good row was not imported either


def test_every_bad_row_is_listed(claimed_january: Ledger) -> None:
    rows = [
        {**JANUARY_ROW, "line": 4, "instrument": "CARBON"},
        inclusion_row(2, "JS-2025-0002", FEB, kwh=10_000),
        {**JANUARY_ROW, "line": 3, "kg_co2e": None},
        {"line": 5, "source": "X", "reference": "Y", "instrument": "GEC", "serials": "GEC-NOPE:1-10"},
    ]
    e = refused(claimed_january, "IMPORT_REJECTED", claimed_january.import_external, rows)
    assert [(err["line"], err["code"]) for err in e.details["errors"]] == [
        (3, "ROW_INCOMPLETE"),
        (4, "INSTRUMENT_INVALID"),
        (5, "BATCH_NOT_FOUND"),
    ]


def test_a_claim_on_an_unknown_device_is_reported_unmatched(claimed_january: Ledger) -> None:
    size = claimed_january.log.size()
    row = {**inclusion_row(7, "JS-2025-0009", JAN, kwh=1_000), "device": "SIP-PV-NOBODY"}
    result = claimed_january.import_external([row])
    assert result["unmatched"] == [{"line": 7, "device": "SIP-PV-NOBODY", "reference": "JS-2025-0009"}]
    assert (result["accepted"], result["cases_opened"]) == (0, [])
    assert claimed_january.log.size() == size


def test_a_case_is_resolved_once_with_a_known_outcome(claimed_january: Ledger) -> None:
    code = opened_case(claimed_january)
    refused(claimed_january, "OUTCOME_INVALID", claimed_january.resolve_case, code, "shrug", "why", "registry")
    refused(claimed_january, "REASON_REQUIRED", claimed_january.resolve_case, code, "external_withdrawn", " ", "r")
    reason = "JS-PHCER cancelled JS-2025-0001 on 2025-03-02"
    case = claimed_january.resolve_case(code, "external_withdrawn", reason, "registry-ops")
    assert case.status == "resolved"
    stored = claimed_january.case(code)
    assert (stored.status, stored.resolution) == (
        "resolved",
        {"outcome": "external_withdrawn", "reason": reason, "by": "registry-ops"},
    )
    refused(claimed_january, "CASE_ALREADY_RESOLVED", claimed_january.resolve_case, code, "no_double_count", "x", "y")
    assert claimed_january.trace_case(code)["resolution"]["outcome"] == "external_withdrawn"
    assert claimed_january.import_external([JANUARY_ROW])["cases_opened"] == []  # not reopened
    refused(claimed_january, "CASE_NOT_FOUND", claimed_january.case, case_code("nope"))


def sale_row(line: int, source: str, reference: str, serials: str) -> dict:
    return {
        "line": line,
        "source": source,
        "reference": reference,
        "instrument": "GEC",
        "serials": serials,
        "sold_on": "2025-02-15",
    }


def test_the_same_gecs_sold_on_two_platforms_open_a_case(claimed_january: Ledger, signer) -> None:
    batch = jan_gec()
    rows = [sale_row(2, "PLATFORM-A", "A-001", f"{batch}:1-10"), sale_row(3, "PLATFORM-B", "B-777", f"{batch}:5-20")]
    result = claimed_january.import_external(rows)
    assert result["accepted"] == 2
    (code,) = result["cases_opened"]
    assert code == case_code(f"{batch}|PLATFORM-B/B-777|PLATFORM-A/A-001")
    case = claimed_january.case(code)
    assert (case.kind, case.subject, case.status, case.overlap_kwh) == ("GEC_SOLD_TWICE", batch, "open", 6_000)
    (ours,) = case.ours
    assert (ours["source"], ours["reference"], ours["serials"], ours["units"]) == (
        "PLATFORM-A",
        "A-001",
        [f"{batch}:1-10"],
        6,  # serials 5..10
    )
    assert (case.theirs["source"], case.theirs["serials"], case.theirs["units"]) == ("PLATFORM-B", f"{batch}:5-20", 6)

    claimed_january.sign_checkpoint(signer, ORIGIN)
    report = claimed_january.trace_case(code)
    root = b64decode(report["root_hash"])
    # the first platform's sale is not ours: the report calls it the earlier sale
    assert "ours" not in report and report["earlier"][0]["source"] == "PLATFORM-A"
    events = [*report["case_events"], report["earlier"][0]["reported_by"], report["theirs"]["reported_by"]]
    for proven in [*events, *report["lineage"]]:
        check_proof(proven, report["tree_size"], root)

    size = claimed_january.log.size()
    assert claimed_january.import_external(rows)["cases_opened"] == []  # a re-import: nothing new
    assert claimed_january.log.size() == size


def test_gecs_reported_sold_twice_in_separate_imports_open_a_case(claimed_january: Ledger) -> None:
    batch = jan_gec()
    assert claimed_january.import_external([sale_row(2, "PLATFORM-A", "A-001", f"{batch}:1-10")])["cases_opened"] == []
    (code,) = claimed_january.import_external([sale_row(2, "PLATFORM-B", "B-1", f"{batch}:10-12")])["cases_opened"]
    assert claimed_january.case(code).theirs["units"] == 1  # serial 10 only
    disjoint = claimed_january.import_external([sale_row(2, "PLATFORM-C", "C-1", f"{batch}:30-40")])
    assert (disjoint["accepted"], disjoint["cases_opened"]) == (1, [])


def test_one_platform_reporting_overlapping_sales_twice_is_no_case(claimed_january: Ledger) -> None:
    batch = jan_gec()
    rows = [sale_row(2, "PLATFORM-A", "A-001", f"{batch}:1-10"), sale_row(3, "PLATFORM-A", "A-002", f"{batch}:5-20")]
    result = claimed_january.import_external(rows)
    assert (result["accepted"], result["cases_opened"]) == (2, [])
    assert set(claimed_january.batch(batch).sale_reports) == {"PLATFORM-A/A-001", "PLATFORM-A/A-002"}


def test_one_platform_reference_disputed_on_two_devices_opens_a_case_for_each(claimed_january: Ledger) -> None:
    """A platform may report one project reference for several devices, a row per device: each
    device gets its own case."""
    other = pv(claimed_january, "SIP-PV-0002")
    gecs(claimed_january, other, 2025, 1, JAN_KWH)
    rows = [
        inclusion_row(2, "JS-PROJECT-7", JAN, kwh=10_000),
        {**inclusion_row(3, "JS-PROJECT-7", JAN, kwh=10_000), "device": other},
    ]
    result = claimed_january.import_external(rows)
    assert {claimed_january.case(code).subject for code in result["cases_opened"]} == {ROOFTOP, other}


def test_resolving_a_case_by_cancelling_our_side_gives_their_claim_the_kwh(claimed_january: Ledger) -> None:
    (code,) = claimed_january.import_external([JANUARY_ROW])["cases_opened"]  # 30,000 kWh on 52,400 claimed
    claimed_january.resolve_case(code, "ours_cancelled", "JS-PHCER credited first", "SIP-REGISTRY")
    batch = claimed_january.batch(jan_gec())
    assert plain_ranges(batch) == [[0, 30, GEN, "cancelled", 0], [30, 52, GEN, "active", 0]]  # 30 GECs = 30,000 kWh
    device = claimed_january.device(ROOFTOP)
    assert device.claims[f"EXT/{PLATFORM}/JS-2025-0001"].kwh == 30_000
    assert device.claims["GEC/2025-01"].kwh == JAN_KWH - 30_000
    check = claimed_january.claims_check(ROOFTOP, "2025-01")
    assert (check["metered_kwh"], check["claimed_kwh"]) == (JAN_KWH, JAN_KWH)
    assert claimed_january.case(code).resolution["outcome"] == "ours_cancelled"


def test_a_case_whose_overlap_rests_on_sold_gecs_cannot_be_resolved_by_cancelling_ours(
    claimed_january: Ledger,
) -> None:
    claimed_january.transfer(jan_gec(), GEN, CON, quantity=40, on=date(2025, 2, 15))  # 12 unsold: 12,000 kWh
    (code,) = claimed_january.import_external([JANUARY_ROW])["cases_opened"]
    e = refused(claimed_january, "CASE_NOT_RESOLVABLE", claimed_january.resolve_case, code, "ours_cancelled", "x", "y")
    assert e.details["remaining_kwh"] == 30_000 - 12_000
    assert claimed_january.case(code).status == "open"
    claimed_january.resolve_case(code, "no_double_count", "the platform's claim is for another roof", "SIP-REGISTRY")
    assert claimed_january.batch(jan_gec()).supply()["cancelled"] == 0


# ====================================================================== issue 11: sales reported elsewhere


def test_resolving_by_cancelling_ours_never_cancels_units_reported_sold_elsewhere(claimed_january: Ledger) -> None:
    """Hole 5: platform A reports GECs 1-20 sold; cancelling our side for 30,000 kWh takes
    serials 21-50, never 1-20, which a buyer may hold."""
    batch = jan_gec()
    assert claimed_january.import_external([sale_row(2, "PLATFORM-A", "A-001", f"{batch}:1-20")])["cases_opened"] == []
    (code,) = claimed_january.import_external([JANUARY_ROW])["cases_opened"]
    claimed_january.resolve_case(code, "ours_cancelled", "JS-PHCER credited first", "SIP-REGISTRY")
    assert plain_ranges(claimed_january.batch(batch)) == [[0, 20, GEN, "active", 0], [20, 50, GEN, "cancelled", 0],
                                                   [50, 52, GEN, "active", 0]]  # fmt: skip


def test_too_few_units_unsold_anywhere_make_the_case_unresolvable_by_cancelling_ours(claimed_january: Ledger) -> None:
    batch = jan_gec()
    claimed_january.import_external([sale_row(2, "PLATFORM-A", "A-001", f"{batch}:1-40")])  # 12 left unsold
    (code,) = claimed_january.import_external([JANUARY_ROW])["cases_opened"]
    e = refused(claimed_january, "CASE_NOT_RESOLVABLE", claimed_january.resolve_case, code, "ours_cancelled", "x", "y")
    assert e.details["remaining_kwh"] == 30_000 - 12_000
    assert claimed_january.batch(batch).supply()["cancelled"] == 0  # nothing cancelled by the refused resolution


def test_a_sale_reported_for_units_sold_or_ended_here_opens_a_case_with_its_trace(claimed_january: Ledger) -> None:
    """Hole 6: a platform reports selling GECs that, here, were sold to a consumer, retired or
    cancelled: each is a double-counting case, with the batch's lineage proven."""
    batch = jan_gec()
    claimed_january.transfer(batch, GEN, CON, quantity=5, on=date(2025, 2, 15))  # 1-5 sold here
    claimed_january.retire(batch, CON, spans=[(4, 5)], on=date(2025, 2, 16), **RETIREMENT)  # 5 retired
    claimed_january.cancel(batch, "meter fault", spans=[(50, 52)])  # 51-52 cancelled
    result = claimed_january.import_external([sale_row(2, "PLATFORM-B", "B-9", f"{batch}:3-52")])
    cases = {claimed_january.case(c).kind: claimed_january.case(c) for c in result["cases_opened"]}
    assert set(cases) == {"GEC_SOLD_TWICE", "SALE_OF_ENDED_UNITS"} and len(result["cases_opened"]) == 3
    sold = cases["GEC_SOLD_TWICE"]
    assert sold.ours[0]["serials"] == [f"{batch}:3-4"] and sold.overlap_kwh == 2_000
    ended = [
        claimed_january.case(c) for c in result["cases_opened"] if claimed_january.case(c).kind != "GEC_SOLD_TWICE"
    ]
    assert sorted((c.ours[0]["reference"], c.ours[0]["serials"][0]) for c in ended) == [
        ("cancelled", f"{batch}:51-52"),
        ("retired", f"{batch}:5"),
    ]
    trace = claimed_january.trace_case(ended[0].code)
    assert trace["lineage"] and all(e["inclusion_proof"] is not None for e in trace["lineage"])
    again = claimed_january.import_external([sale_row(2, "PLATFORM-B", "B-9", f"{batch}:3-52")])
    assert again["cases_opened"] == []  # the same report is recorded once


def test_cancelling_units_a_platform_reported_sold_takes_their_names_and_opens_a_case(claimed_january: Ledger) -> None:
    """The same class as hole 6, the other way round: the sale is reported first, then the
    registry cancels. The whole batch is refused naming the reported serials; a cancellation
    naming them opens a case per report touched, recorded once even when the request is retried."""
    batch = jan_gec()
    claimed_january.import_external([sale_row(2, "PLATFORM-A", "A-001", f"{batch}:11-20")])
    e = refused(claimed_january, "SOLD_UNITS_NOT_NAMED", claimed_january.cancel, batch, "issuer dispute")
    assert e.details["serials"] == [f"{batch}:11-20"]
    ranges = claimed_january.cancel(batch, "issuer dispute", spans=[(15, 30)], request_id="cancel-1")
    assert ranges == [[15, 30]]
    (case,) = [c for c in claimed_january.registered("case") if c.subject == batch]
    assert (case.kind, case.status, case.overlap_kwh) == ("SALE_OF_ENDED_UNITS", "open", 5_000)  # serials 16-20
    assert case.ours[0]["reference"] == "A-001" and case.theirs["source"] == "this registry"
    size = claimed_january.log.size()
    assert claimed_january.cancel(batch, "issuer dispute", spans=[(15, 30)], request_id="cancel-1") == [[15, 30]]
    assert claimed_january.log.size() == size  # the retry answers the first result and opens nothing
    trace = claimed_january.trace_case(case.code)
    assert trace["earlier"][0]["source"] == "PLATFORM-A" and trace["lineage"]
    # a cancellation touching no reported serial opens nothing
    claimed_january.cancel(batch, "issuer dispute", spans=[(40, 41)])
    assert claimed_january.log.size() == size + 1


def test_units_a_platform_reported_sold_are_not_sold_or_retired_here_too(claimed_january: Ledger) -> None:
    """Hole 6 before the fact: once a platform reports serials 1-10 sold, selling or retiring them
    here would be the same GEC sold or claimed twice. Named, they are refused naming the report;
    by quantity, the lowest serials nobody reported are taken instead."""
    batch = jan_gec()
    claimed_january.import_external([sale_row(2, "PLATFORM-A", "A-001", f"{batch}:1-10")])
    on = date(2025, 2, 20)
    e = refused(
        claimed_january, "REPORTED_SOLD_ELSEWHERE", claimed_january.transfer, batch, GEN, CON, spans=[(8, 12)], on=on
    )
    assert e.details["reports"] == ["PLATFORM-A A-001"]
    refused(
        claimed_january,
        "REPORTED_SOLD_ELSEWHERE",
        claimed_january.retire,
        batch,
        GEN,
        spans=[(0, 1)],
        on=on,
        **RETIREMENT,
    )
    assert claimed_january.transfer(batch, GEN, CON, quantity=5, on=on) == [[10, 15]]
    claimed_january.retire(batch, GEN, quantity=2, on=on, **RETIREMENT)
    assert plain_ranges(claimed_january.batch(batch))[:4] == [
        [0, 10, GEN, "active", 0],
        [10, 15, CON, "active", 1],
        [15, 17, GEN, "retired", 0],
        [17, 52, GEN, "active", 0],
    ]
    # not enough unreported units: refused with the reason, nothing moved
    e = refused(
        claimed_january, "REPORTED_SOLD_ELSEWHERE", claimed_january.transfer, batch, GEN, CON, quantity=40, on=on
    )
    assert "PLATFORM-A A-001" in e.message
