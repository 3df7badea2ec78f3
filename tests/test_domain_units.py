"""The plain classes and functions the aggregates hold, tested on their own: the claims pool, the
GEC issuance arithmetic, the GEC–CCER election and the named values."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.domain.election import CCERLink
from ledger.domain.issuance import gec_quantities
from ledger.domain.pool import Claim, ClaimsPool, Span
from ledger.domain.values import Reading, SerialRange, interval
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
