"""The plain classes and functions the aggregates hold, tested on their own: the claims pool, the
GEC issuance arithmetic, the GEC–CCER election, the meter and the named values."""

from __future__ import annotations

import copy
from datetime import date, datetime

import pytest

from ledger.domain.election import CCERLink
from ledger.domain.issuance import gec_batches, gec_claim, gec_quantities
from ledger.domain.meter import Meter
from ledger.domain.pool import Claim, ClaimsPool, Span
from ledger.domain.values import Reading, SerialRange, check_reason, interval, one_of, some_of
from ledger.errors import LedgerError

JAN = ("2025-01-01T00:00:00+08:00", "2025-02-01T00:00:00+08:00")


def claim(cid: str, allocations: tuple, instrument: str = "GEC", version: int = 5) -> Claim:
    return Claim(cid, instrument, f"B-{cid}", *JAN, allocations, version)


def test_the_pool_counts_free_kwh_per_reading_and_names_who_holds_the_rest() -> None:
    pool = ClaimsPool()
    pool.add(claim("GEC/2025-01", ((2, 700), (3, 100))))
    pool.add(claim("INCLUSION/X", ((3, 50),), "INCLUSION", 9))
    assert pool.free({2: 1_000, 3: 200, 4: 80}) == {2: 300, 3: 50, 4: 80}
    assert pool.free({3: 200}, taken={3: 40}) == {3: 10}
    assert pool.earlier_claims([3]) == [
        {"claim": "GEC/2025-01", "instrument": "GEC", "batch": "B-GEC/2025-01", "kwh": 100, "device_version": 5},
        {"claim": "INCLUSION/X", "instrument": "INCLUSION", "batch": "B-INCLUSION/X", "kwh": 50, "device_version": 9},
    ]
    assert pool.earlier_claims([4]) == []
    assert [c["kwh"] for c in pool.holders()[3]] == [100, 50]


def test_fitting_takes_the_earliest_readings_first_and_never_more_than_is_free() -> None:
    assert ClaimsPool.fit([7, 2, 5], {7: 10, 2: 0, 5: 30}, 25) == [[7, 10], [5, 15]]
    assert ClaimsPool.fit([1], {1: 5}, 0) == []


def test_a_release_gives_back_the_latest_kwh_first_and_a_correction_moves_the_claims() -> None:
    pool = ClaimsPool()
    pool.add(claim("GEC/2025-01", ((2, 700), (3, 100))))
    plan = pool.release_plan("GEC/2025-01", 150)
    assert plan == [[3, 100], [2, 50]]
    pool.release("GEC/2025-01", plan)
    assert (pool.claims["GEC/2025-01"].allocations, pool.claimed) == (((2, 650),), {2: 650, 3: 0})
    assert pool.release_plan("GEC/2025-01", 10_000) == [[2, 650]]  # never more than the claim holds
    pool.supersede(2, 8)
    assert (pool.claims["GEC/2025-01"].allocations, pool.claimed) == (((8, 650),), {3: 0, 8: 650})


def test_external_claims_that_fit_are_accepted_and_the_rest_disputed_naming_all_overlaps() -> None:
    pool = ClaimsPool()
    pool.add(claim("GEC/2025-01", ((2, 600),)))

    def span(start: str, end: str) -> Span:
        return Span(start, end, [2], {2: 1_000})

    rows = [
        {"reference": "R1", "instrument": "INCLUSION", "start": JAN[0], "end": JAN[1], "kwh": 300},
        {"reference": "R1", "instrument": "INCLUSION", "start": JAN[0], "end": JAN[1], "kwh": 300},  # again
        {"reference": "R2", "instrument": "INCLUSION", "start": JAN[0], "end": JAN[1], "kwh": 200},
    ]
    accepted, disputed = pool.check_external("SRC", rows, span, version=11)
    assert [(a["key"], a["allocations"]) for a in accepted] == [("SRC/R1", [[2, 300]])]
    (d,) = disputed
    assert (d["key"], d["free_kwh"], d["overlap_kwh"], d["metered_kwh"]) == ("SRC/R2", 100, 100, 1_000)
    assert [(e["claim"], e["kwh"]) for e in d["earlier_claims"]] == [("GEC/2025-01", 600), ("EXT/SRC/R1", 300)]
    assert d["earlier_claims"][1]["device_version"] == 11


@pytest.mark.parametrize(
    ("on_grid", "own", "tradable", "carry", "late", "quantities", "after"),
    [
        (52_400, 0, True, {"tradable": 0, "non_tradable": 0}, False, (52, 0), (400, 0)),
        (52_400, 0, True, {"tradable": 700, "non_tradable": 0}, False, (53, 0), (100, 0)),
        (1_500, 2_600, True, {"tradable": 0, "non_tradable": 500}, False, (1, 3), (500, 100)),
        (1_500, 0, False, {"tradable": 0, "non_tradable": 0}, False, (0, 1), (0, 500)),
        # a late month: its own kWh only, and its remainder joins the carry
        (1_800, 0, True, {"tradable": 900, "non_tradable": 0}, True, (1, 0), (1_700, 0)),
    ],
)
def test_gec_quantities_are_whole_mwh_with_the_rest_carried(on_grid, own, tradable, carry, late, quantities, after):
    got, carried = gec_quantities(on_grid, own, tradable, carry, late)
    assert (got["tradable"], got["non_tradable"]) == quantities
    assert (carried["tradable"], carried["non_tradable"]) == after


def test_the_ccer_link_refuses_elections_out_of_order_and_gec_during_a_project() -> None:
    link = CCERLink()
    rule = link.check_election("GD-OFFSHORE-01", "deep_sea_offshore_wind", "CCER", "2025-01-01")
    assert rule is not None and rule.elects
    link.elections.append(["2025-01-01", "CCER"])
    assert link.check_election("GD-OFFSHORE-01", "deep_sea_offshore_wind", "CCER", "2025-01-01") is None
    link.projects["P"] = ["2025-01-01", "2031-12-31"]
    for scheme, day, code in (
        ("GEC", "2024-12-31", "ELECTION_OUT_OF_ORDER"),
        ("GEC", "2026-01-01", "CCER_PROJECT_ACTIVE"),
    ):
        with pytest.raises(LedgerError) as e:
            link.check_election("GD-OFFSHORE-01", "deep_sea_offshore_wind", scheme, day)
        assert e.value.code == code
    with pytest.raises(LedgerError) as e:
        link.check_election("SIP-PV-1", "distributed_pv", "CCER", "2025-01-01")
    assert e.value.code == "ELECTION_NOT_APPLICABLE"
    assert link.election_on(date(2025, 6, 1)) == "CCER" and link.election_on(date(2024, 6, 1)) is None
    assert link.project_for("2031-12") == "P" and link.project_for("2032-01") is None


def test_named_values_compare_with_their_fields_and_parse_once() -> None:
    r = SerialRange(0, 10, "acct:a", "active", 0)
    assert r.units == 10 and r.overlaps(9, 12) and not r.overlaps(10, 12)
    assert r.same_kind(SerialRange(10, 20, "acct:a", "active", 0)) and not r.same_kind(r._replace(sales=1))
    assert Reading(*JAN, 5, 1).interval() == JAN
    with pytest.raises(LedgerError) as e:
        interval(JAN[1], JAN[0])
    assert e.value.code == "INTERVAL_INVALID"


def test_rows_name_what_is_missing_or_wrong_with_the_value_parsers_codes() -> None:
    from ledger.rows import CorrectionRow, ExternalClaimRow, MeterReadingRow

    row = MeterReadingRow.parse({"line": 3, "device": " PV-1 ", "start": JAN[0], "end": JAN[1], "on_grid_kwh": "12"})
    assert (row.device, row.figures(), row.line) == ("PV-1", (12, 0), 3)
    for raw, code in (
        ({"device": "PV-1", "start": JAN[0], "end": JAN[1]}, "ROW_INCOMPLETE"),
        ({"device": "PV-1", "start": JAN[0], "end": JAN[1], "on_grid_kwh": "1.5"}, "QUANTITY_NOT_INTEGER"),
        ({"device": "PV-1", "start": JAN[0], "end": JAN[1], "on_grid_kwh": -5}, "QUANTITY_OUT_OF_RANGE"),
        ({"device": "PV-1", "start": JAN[0], "end": JAN[1], "on_grid_kwh": 5}, None),
    ):
        if code is None:
            with pytest.raises(LedgerError) as e:
                CorrectionRow.parse(raw)  # a correction needs its reason
            assert e.value.code == "ROW_INCOMPLETE" and "reason" in e.value.message
            continue
        with pytest.raises(LedgerError) as e:
            MeterReadingRow.parse(raw)
        assert e.value.code == code
    assert CorrectionRow.columns() == ("device", "start", "end", "on_grid_kwh", "self_consumed_kwh", "reason")
    claim = ExternalClaimRow.parse(
        {
            "source": "P",
            "reference": "R",
            "instrument": "INCLUSION",
            "device": "D",
            "start": JAN[0],
            "end": JAN[1],
            "kwh": "7",
        }
    ).claim()
    assert (claim["kwh"], claim["device"]) == (7, "D")
    assert "serials" in ExternalClaimRow.columns() and "line" not in ExternalClaimRow.columns()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_meter_finds_readings_through_its_month_index_and_a_correction_takes_the_old_place() -> None:
    meter = Meter()
    meter.record(2, Reading("2025-01-01T00:00:00+08:00", "2025-01-16T00:00:00+08:00", 400, 10))
    meter.record(3, Reading("2025-01-16T00:00:00+08:00", "2025-02-01T00:00:00+08:00", 600, 0))
    meter.record(4, Reading("2025-02-01T00:00:00+08:00", "2025-03-01T00:00:00+08:00", 900, 5))
    assert meter.readings_in(_at("2025-01-10T00:00:00+08:00"), _at("2025-02-02T00:00:00+08:00")) == [2, 3, 4]
    assert meter.readings_in(_at("2025-01-16T00:00:00+08:00"), _at("2025-02-01T00:00:00+08:00")) == [3]
    assert meter.month_totals("2025-01") == (1_000, 10) and meter.month_totals("2025-03") == (0, 0)
    assert meter.exactly(_at("2025-01-16T00:00:00+08:00"), _at("2025-02-01T00:00:00+08:00")) == 3
    assert meter.exactly(_at("2025-01-01T00:00:00+08:00"), _at("2025-02-01T00:00:00+08:00")) is None
    assert meter.span("2025-01-01T00:00:00+08:00", "2025-02-01T00:00:00+08:00").metered == {2: 400, 3: 600}

    before = copy.deepcopy(meter)
    meter.correct(2, 7, 350, 10)
    assert meter.months["2025-01"] == [7, 3] and 2 not in meter.readings and meter.readings[7].on_grid_kwh == 350
    assert before.months["2025-01"] == [2, 3] and before.readings[2].on_grid_kwh == 400  # the copy is its own
    assert meter.earliest_first([3, 7]) == [7, 3]


def test_the_meter_refuses_a_claim_cutting_a_reading_and_a_reading_overlapping_another() -> None:
    meter = Meter()
    meter.record(2, Reading(*JAN, 1_000, 0))
    with pytest.raises(LedgerError) as cut:
        meter.check_whole("PV-1", _at("2025-01-01T00:00:00+08:00"), _at("2025-01-02T00:00:00+08:00"), [2])
    assert cut.value.code == "CLAIM_INTERVAL_MISALIGNED" and "PV-1" in cut.value.message
    with pytest.raises(LedgerError) as overlap:
        meter.check_free_of("PV-1", _at("2025-01-31T00:00:00+08:00"), _at("2025-02-02T00:00:00+08:00"))
    assert overlap.value.code == "READING_OVERLAP" and overlap.value.details["existing_version"] == 2
    meter.check_free_of("PV-1", _at("2025-02-01T00:00:00+08:00"), _at("2025-02-02T00:00:00+08:00"))


def test_a_month_s_gec_batches_and_claim_are_named_by_device_month_and_kind() -> None:
    batches = gec_batches("2025-01", "PV-1", {"tradable": 3, "non_tradable": 0})
    assert batches == [{"code": "GEC-202501-PV-1-T", "quantity": 3, "tradable": True, "kwh": 3_000}]
    held = gec_claim("2025-01", "PV-1", True, batches, [[2, 3_400]], late=False)
    assert held["id"] == "GEC/2025-01" and held["batch"] == "GEC-202501-PV-1-T" and held["start"] == JAN[0]
    carried = gec_claim("2025-01", "PV-1", True, [], [[2, 400]], late=False)
    assert carried["batch"] == "carried into the GECs of 2025-02"
    assert gec_claim("2025-01", "PV-1", True, [], [[2, 400]], late=True)["batch"].endswith("the next month issued")


@pytest.mark.parametrize(
    ("check", "code"),
    [
        (lambda: one_of("role", "king", ("issuer", "trader"), "ROLE_INVALID"), "ROLE_INVALID"),
        (lambda: one_of("role", ["issuer"], ("issuer",), "ROLE_INVALID"), "ROLE_INVALID"),
        (lambda: some_of("schemes", [], ("GEC", "CCER"), "SCHEME_INVALID"), "SCHEME_INVALID"),
        (lambda: some_of("schemes", ["GEC", "X"], ("GEC", "CCER"), "SCHEME_INVALID"), "SCHEME_INVALID"),
        (lambda: check_reason("  ", "a correction"), "REASON_REQUIRED"),
        (lambda: check_reason(None, "a correction"), "REASON_REQUIRED"),
    ],
)
def test_choices_and_reasons_are_refused_with_one_code_each(check, code) -> None:
    with pytest.raises(LedgerError) as refused:
        check()
    assert refused.value.code == code


def test_choices_and_reasons_that_are_fine_come_back_as_given() -> None:
    assert one_of("role", "issuer", ("issuer",), "ROLE_INVALID") == "issuer"
    assert some_of("schemes", ("GEC", "CCER"), ("GEC", "CCER"), "SCHEME_INVALID") == ["GEC", "CCER"]
    assert check_reason("meter fault", "a correction") == "meter fault"
