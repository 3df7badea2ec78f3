"""Bad input is refused with a stable code and writes nothing, on SQLite and on PostgreSQL.

Every refusal here goes through `refused`, which also checks that the log did not grow.
"""

from __future__ import annotations

from datetime import date

import pytest

from ledger.app import Ledger
from ledger.domain.batch import MAX_UNITS
from ledger.domain.serials import parse_range, parse_serial
from ledger.domain.values import MAX_READING_KWH
from ledger.errors import LedgerError
from tests.registry_support import (
    CON,
    GEN,
    GENERATOR,
    RETIREMENT,
    TRD,
    offshore_project,
    one_gec_batch,
    pv,
    refused,
)
from tests.support import month

FEB_2025 = date(2025, 2, 20)
PROJECT, PROGRAMME = "CCER-GD-0001", "SIP-PHCER"


@pytest.fixture
def batch(registry: Ledger) -> str:
    """Ten tradable GECs for 2025-01, held by the generator."""
    return one_gec_batch(registry, 10)


@pytest.fixture
def issuers(registry: Ledger) -> Ledger:
    """A CCER project and a carbon-inclusion programme, ready to issue."""
    offshore_project(registry, PROJECT)
    registry.establish_programme(PROGRAMME, "苏州工业园区碳普惠", "江苏苏州", ["ev_charging"], "SIP-2020-PURCHASED")
    return registry


# ---------------------------------------------------------------------- quantities

BAD_UNITS = [
    pytest.param(-1, "QUANTITY_OUT_OF_RANGE", id="negative"),
    pytest.param(0, "QUANTITY_OUT_OF_RANGE", id="zero"),
    pytest.param(1.5, "QUANTITY_NOT_INTEGER", id="fractional"),
    pytest.param(10.0, "QUANTITY_NOT_INTEGER", id="float"),
    pytest.param("10", "QUANTITY_NOT_INTEGER", id="text"),
    pytest.param(True, "QUANTITY_NOT_INTEGER", id="boolean"),
    pytest.param(MAX_UNITS + 1, "QUANTITY_OUT_OF_RANGE", id="absurd"),
]


@pytest.mark.parametrize("quantity, code", BAD_UNITS)
def test_every_command_refuses_a_bad_quantity(issuers: Ledger, batch: str, quantity, code: str) -> None:
    refused(issuers, code, issuers.transfer, batch, GEN, CON, quantity=quantity, on=FEB_2025)
    refused(issuers, code, issuers.retire, batch, GEN, quantity=quantity, on=FEB_2025, **RETIREMENT)
    refused(issuers, code, issuers.issue_ccer, PROJECT, "2025-01-01", "2025-06-30", quantity, GEN)
    station = {"subject": "SIP-EV-STATION-07", "period": "2025-01"}
    refused(issuers, code, issuers.issue_inclusion, PROGRAMME, "ev_charging", CON, kg_co2e=quantity, **station)


def test_more_units_than_the_batch_has_are_refused(registry: Ledger, batch: str) -> None:
    refused(registry, "QUANTITY_OUT_OF_RANGE", registry.transfer, batch, GEN, CON, quantity=11, on=FEB_2025)
    registry.transfer(batch, GEN, CON, quantity=6, on=FEB_2025)
    refused(registry, "INSUFFICIENT_UNITS", registry.transfer, batch, GEN, TRD, quantity=5, on=FEB_2025)


BAD_KWH = [
    pytest.param(-1, "QUANTITY_OUT_OF_RANGE", id="negative"),
    pytest.param(1.5, "QUANTITY_NOT_INTEGER", id="fractional"),
    pytest.param("10", "QUANTITY_NOT_INTEGER", id="text"),
    pytest.param(True, "QUANTITY_NOT_INTEGER", id="boolean"),
    pytest.param(None, "QUANTITY_NOT_INTEGER", id="missing"),
    pytest.param(MAX_READING_KWH + 1, "QUANTITY_OUT_OF_RANGE", id="absurd"),
]


@pytest.mark.parametrize("kwh, code", BAD_KWH)
def test_a_reading_of_a_bad_quantity_is_refused(registry: Ledger, kwh, code: str) -> None:
    device = pv(registry)
    refused(registry, code, registry.record_reading, device, *month(2025, 1), kwh)
    refused(registry, code, registry.record_reading, device, *month(2025, 1), 1_000, kwh)
    assert registry.device(device).readings == {}


def test_a_reading_beyond_what_the_device_can_generate_is_refused(registry: Ledger) -> None:
    rooftop = pv(registry, "SIP-PV-ROOFTOP", capacity_kw=100)  # at most 100 kW x 744 h = 74,400 kWh in January
    refused(registry, None, registry.record_reading, rooftop, *month(2025, 1), 1_000_000_000)


def test_a_selection_needs_exactly_one_of_quantity_and_spans(registry: Ledger, batch: str) -> None:
    refused(registry, "SELECTION_INVALID", registry.transfer, batch, GEN, CON, on=FEB_2025)
    refused(registry, "SELECTION_INVALID", registry.transfer, batch, GEN, CON, quantity=1, spans=[(0, 1)], on=FEB_2025)


# ---------------------------------------------------------------------- unknown things


def test_unknown_devices_are_refused(registry: Ledger) -> None:
    refused(registry, "DEVICE_NOT_FOUND", registry.record_reading, "SIP-PV-NOPE", *month(2025, 1), 1_000)
    refused(registry, "DEVICE_NOT_FOUND", registry.issue_gec, "SIP-PV-NOPE", "2025-01", GEN)
    refused(registry, "DEVICE_NOT_FOUND", registry.correct_reading, "SIP-PV-NOPE", 2, 1, 0, "typo")
    crediting = ("2025-01-01", "2031-12-31")
    register = registry.register_ccer_project
    refused(registry, "DEVICE_NOT_FOUND", register, PROJECT, "CCER-14-001-V01", GENERATOR, ["SIP-PV-NOPE"], *crediting)


def test_unknown_participants_and_accounts_are_refused(registry: Ledger, batch: str) -> None:
    refused(registry, "PARTICIPANT_NOT_FOUND", registry.open_account, "acct:nobody", "NOBODY")
    refused(registry, "ACCOUNT_NOT_FOUND", registry.transfer, batch, GEN, "acct:nobody", quantity=1, on=FEB_2025)
    refused(registry, "ACCOUNT_NOT_FOUND", registry.transfer, batch, "acct:nobody", CON, quantity=1, on=FEB_2025)
    refused(registry, "ACCOUNT_NOT_FOUND", registry.retire, batch, "acct:nobody", quantity=1, on=FEB_2025, **RETIREMENT)


def test_gecs_are_issued_only_into_an_existing_account_of_the_devices_owner(registry: Ledger) -> None:
    device = pv(registry)
    registry.record_reading(device, *month(2025, 1), 5_000)
    refused(registry, "ACCOUNT_NOT_FOUND", registry.issue_gec, device, "2025-01", "acct:nobody")
    refused(registry, "ACCOUNT_NOT_OWNED", registry.issue_gec, device, "2025-01", CON)
    orphan = ("X-1", "wind", 1, "江苏", "苏州", "NOBODY", "2024-01-01")
    refused(registry, "PARTICIPANT_NOT_FOUND", registry.register_device, *orphan)


def test_unknown_batches_are_refused(registry: Ledger) -> None:
    unknown = "GEC-209901-NOPE-T"
    refused(registry, "BATCH_NOT_FOUND", registry.transfer, unknown, GEN, CON, quantity=1, on=FEB_2025)
    refused(registry, "BATCH_NOT_FOUND", registry.retire, unknown, GEN, quantity=1, on=FEB_2025, **RETIREMENT)
    refused(registry, "BATCH_NOT_FOUND", registry.cancel, unknown, "dispute")
    refused(registry, "BATCH_NOT_FOUND", registry.expire_batches, [unknown], date(2030, 1, 1))


def test_unknown_projects_and_programmes_are_refused(registry: Ledger) -> None:
    refused(registry, "PROJECT_NOT_FOUND", registry.issue_ccer, "CCER-NOPE", "2025-01-01", "2025-06-30", 1, GEN)
    station = {"subject": "SIP-EV-STATION-07", "period": "2025-01", "kg_co2e": 1}
    refused(registry, "PROGRAMME_NOT_FOUND", registry.issue_inclusion, "NOPE", "ev_charging", GEN, **station)


@pytest.mark.parametrize("spans", [[(10, 11)], [(-1, 2)], [(3, 3)], [(5, 2)], [(0, 10**16)]])
def test_serials_outside_the_batch_are_refused(registry: Ledger, batch: str, spans) -> None:
    refused(registry, "SERIAL_UNKNOWN", registry.transfer, batch, GEN, CON, spans=spans, on=FEB_2025)
    refused(registry, "SERIAL_UNKNOWN", registry.retire, batch, GEN, spans=spans, on=FEB_2025, **RETIREMENT)
    refused(registry, "SERIAL_UNKNOWN", registry.cancel, batch, "dispute", spans=spans)


def test_a_serial_beyond_the_batch_cannot_be_located(registry: Ledger, batch: str) -> None:
    stored = registry.batch(batch)
    assert (stored.locate(9).start, stored.locate(9).end) == (0, 10)
    with pytest.raises(LedgerError) as refusal:
        stored.locate(10)
    assert refusal.value.code == "SERIAL_UNKNOWN"


def test_overlapping_spans_in_one_selection_are_refused(registry: Ledger, batch: str) -> None:
    refused(registry, "SELECTION_INVALID", registry.transfer, batch, GEN, CON, spans=[(0, 5), (4, 6)], on=FEB_2025)


@pytest.mark.parametrize(
    "text", ["", "GEC-202501-X-T", "GEC-202501-X-T:", "GEC-202501-X-T:0", "GEC-202501-X-T:abc", "GEC-202501-X-T:-3"]
)
def test_malformed_serials_are_refused(text: str) -> None:
    for parse in (parse_serial, parse_range):
        with pytest.raises(LedgerError) as refusal:
            parse(text)
        assert refusal.value.code == "SERIAL_MALFORMED"


@pytest.mark.parametrize("text", ["GEC-202501-X-T:5-3", "GEC-202501-X-T:1-", "GEC-202501-X-T:1-x"])
def test_malformed_serial_ranges_are_refused(text: str) -> None:
    with pytest.raises(LedgerError) as refusal:
        parse_range(text)
    assert refusal.value.code == "SERIAL_MALFORMED"
    assert parse_range("GEC-202501-X-T:11-25") == ("GEC-202501-X-T", 10, 25)


def test_a_superscript_digit_is_not_a_serial() -> None:
    with pytest.raises(LedgerError):
        parse_serial("GEC-202501-X-T:²")


# ---------------------------------------------------------------------- selections of the wrong shape


@pytest.mark.parametrize(
    "span", [(0.5, 3), ("1", "3"), (1, 2, 3), (False, True)], ids=["float", "text", "triple", "bool"]
)
def test_spans_must_be_pairs_of_whole_numbers(registry: Ledger, batch: str, span) -> None:
    refused(registry, None, registry.transfer, batch, GEN, CON, spans=[span], on=FEB_2025)


def test_a_transfer_of_no_spans_is_refused(registry: Ledger, batch: str) -> None:
    refused(registry, None, registry.transfer, batch, GEN, CON, spans=[], on=FEB_2025)


def test_a_retirement_of_no_spans_is_refused(registry: Ledger, batch: str) -> None:
    refused(registry, None, registry.retire, batch, GEN, spans=[], on=FEB_2025, **RETIREMENT)


# ---------------------------------------------------------------------- commands missing what they need


def test_a_retirement_needs_a_known_purpose_and_every_detail(registry: Ledger, batch: str) -> None:
    def retire(**changes):
        registry.retire(batch, GEN, quantity=1, on=FEB_2025, **RETIREMENT | changes)

    refused(registry, "PURPOSE_INVALID", retire, purpose="bragging")
    for detail in ("beneficiary", "reporting_period", "location"):
        refused(registry, "RETIREMENT_INCOMPLETE", retire, **{detail: "  "})


def test_a_cancellation_needs_a_reason_and_a_transfer_two_accounts(registry: Ledger, batch: str) -> None:
    refused(registry, "REASON_REQUIRED", registry.cancel, batch, " ")
    refused(registry, "SAME_ACCOUNT", registry.transfer, batch, GEN, GEN, quantity=1, on=FEB_2025)


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"code": "SIP:PV/1"}, "DEVICE_CODE_INVALID"),
        ({"technology": "coal"}, "TECHNOLOGY_INVALID"),
        ({"capacity_kw": 0}, "QUANTITY_OUT_OF_RANGE"),
        ({"capacity_kw": 1.5}, "QUANTITY_OUT_OF_RANGE"),
        ({"commissioned_on": "last spring"}, "DATE_INVALID"),
        ({"schemes": ("I-REC",)}, "SCHEME_INVALID"),
        ({"schemes": ()}, "SCHEME_INVALID"),
    ],
)
def test_a_device_registration_with_bad_details_is_refused(registry: Ledger, changes: dict, code: str) -> None:
    device = {
        "code": "SIP-PV-0001",
        "technology": "distributed_pv",
        "capacity_kw": 500,
        "province": "江苏",
        "city": "苏州",
        "owner": GENERATOR,
        "commissioned_on": "2023-05-01",
    }
    refused(registry, code, registry.register_device, **device | changes)


def test_participants_accounts_and_devices_cannot_be_registered_twice(registry: Ledger) -> None:
    pv(registry)
    refused(registry, "DEVICE_EXISTS", pv, registry)
    refused(registry, "PARTICIPANT_EXISTS", registry.add_participant, GENERATOR, "又一个", "generator", "江苏", "苏州")
    refused(registry, "ACCOUNT_EXISTS", registry.open_account, GEN, GENERATOR)
    refused(registry, "ROLE_INVALID", registry.add_participant, "NEW-CO", "新公司", "speculator", "江苏", "苏州")
    refused(registry, "ACCOUNT_CODE_INVALID", registry.open_account, "ACCT:Shouting", GENERATOR)


def test_bad_programmes_and_projects_are_refused(registry: Ledger) -> None:
    programme = {"code": "SIP-X", "name": "x", "region": "江苏", "methodologies": ["ev_charging"], "factor": "MADE-UP"}
    refused(registry, "FACTOR_UNKNOWN", registry.establish_programme, **programme)
    refused(registry, "PROGRAMME_CODE_INVALID", registry.establish_programme, **programme | {"code": "P"})
    tree_hugging = {"methodologies": ["tree_hugging"], "factor": "SIP-2020-PURCHASED"}
    refused(registry, "METHODOLOGY_INVALID", registry.establish_programme, **programme | tree_hugging)

    backwards = {"crediting_start": "2031-12-31", "crediting_end": "2025-01-01"}
    register = registry.register_ccer_project
    refused(registry, "PERIOD_INVALID", register, PROJECT, "CCER-14-001-V01", GENERATOR, [], **backwards)


def test_verified_periods_must_be_real_dates_in_order(issuers: Ledger) -> None:
    refused(issuers, "PERIOD_INVALID", issuers.issue_ccer, PROJECT, "2025-06-30", "2025-01-01", 1, GEN)
    refused(issuers, "DATE_INVALID", issuers.issue_ccer, PROJECT, "2025-02-30", "2025-03-31", 1, GEN)


# ---------------------------------------------------------------------- intervals


def test_overlapping_readings_are_refused(registry: Ledger) -> None:
    device, read = pv(registry), registry.record_reading
    version = read(device, "2025-01-01T00:00+08:00", "2025-01-16T00:00+08:00", 4_000)

    refusal = refused(registry, "READING_OVERLAP", read, device, "2025-01-10T00:00+08:00", "2025-01-20T00:00+08:00", 1)
    assert refusal.details["existing_version"] == version
    refused(registry, "READING_OVERLAP", read, device, "2025-01-01T00:00+08:00", "2025-01-16T00:00+08:00", 4_000)
    # 16:00-24:00 UTC on 31 December is 00:00-08:00 on 1 January in China: inside the first reading
    refused(registry, "READING_OVERLAP", read, device, "2024-12-31T16:00+00:00", "2025-01-01T00:00+00:00", 10)
    read(device, "2025-01-16T00:00+08:00", "2025-02-01T00:00+08:00", 4_000)  # half-open: the adjacent one is fine


def test_a_reading_crossing_the_end_of_a_month_is_refused(registry: Ledger) -> None:
    device, read = pv(registry), registry.record_reading
    refused(registry, "INTERVAL_CROSSES_MONTH", read, device, "2025-01-20T00:00+08:00", "2025-02-05T00:00+08:00", 9)
    # 12:00-20:00 UTC on 31 January ends at 04:00 on 1 February in China, so it crosses too
    refused(registry, "INTERVAL_CROSSES_MONTH", read, device, "2025-01-31T12:00+00:00", "2025-01-31T20:00+00:00", 9)


@pytest.mark.parametrize(
    "start, end",
    [
        ("2025-01-01T00:00", "2025-02-01T00:00"),  # no UTC offset
        ("2025-01-10T00:00+08:00", "2025-01-10T00:00+08:00"),  # empty
        ("2025-01-10T00:00+08:00", "2025-01-05T00:00+08:00"),  # reversed
        ("last monday", "2025-01-05T00:00+08:00"),
        (20250101, "2025-01-05T00:00+08:00"),
    ],
)
def test_malformed_intervals_are_refused(registry: Ledger, start, end) -> None:
    refused(registry, "INTERVAL_INVALID", registry.record_reading, pv(registry), start, end, 100)


def test_readings_of_a_certified_month_cannot_change(registry: Ledger) -> None:
    device, read = pv(registry), registry.record_reading
    version = read(device, "2025-01-01T00:00+08:00", "2025-01-16T00:00+08:00", 4_000)
    registry.issue_gec(device, "2025-01", GEN)
    late = ("2025-01-20T00:00+08:00", "2025-01-21T00:00+08:00", 100)
    refused(registry, "READING_ALREADY_CERTIFIED", read, device, *late)
    refused(registry, "READING_ALREADY_CERTIFIED", registry.correct_reading, device, version, 5_000, 0, "meter swap")
    refused(registry, "READING_NOT_FOUND", registry.correct_reading, device, version + 7, 5_000, 0, "meter swap")


def test_gec_months_are_issued_once_in_order_and_only_when_metered(registry: Ledger) -> None:
    device = pv(registry)
    registry.record_reading(device, *month(2025, 1), 3_500)
    registry.record_reading(device, *month(2025, 2), 3_600)
    # February cannot go first: January would be stranded, its kWh never certified or carried
    error = refused(registry, "EARLIER_MONTH_OPEN", registry.issue_gec, device, "2025-02", GEN)
    assert error.details["month"] == "2025-01"
    assert [b.quantity for b in registry.issue_gec(device, "2025-01", GEN)] == [3]  # 500 kWh carried
    assert [b.quantity for b in registry.issue_gec(device, "2025-02", GEN)] == [4]  # 3,600 + 500 = 4 GECs + 100
    assert registry.device(device).carry_kwh["tradable"] == 100
    refused(registry, "ALREADY_ISSUED", registry.issue_gec, device, "2025-02", GEN)
    refused(registry, "ALREADY_ISSUED", registry.issue_gec, device, "2025-01", GEN)
    refused(registry, "NO_READINGS", registry.issue_gec, device, "2025-03", GEN)
    refused(registry, "MONTH_INVALID", registry.issue_gec, device, "2025-13", GEN)


def test_nothing_is_issued_for_production_that_has_not_ended(registry: Ledger) -> None:
    device = pv(registry)
    registry.record_reading(device, *month(2025, 1), 3_000)
    registry.clock = lambda: date(2025, 1, 31)
    refused(registry, "PRODUCTION_NOT_ENDED", registry.issue_gec, device, "2025-01", GEN)
    registry.clock = lambda: date(2025, 2, 1)
    assert [b.quantity for b in registry.issue_gec(device, "2025-01", GEN)] == [3]


# ---------------------------------------------------------------------- imports


def row(line: int, device: str, m: int, on_grid_kwh, self_consumed_kwh=0, *, end: str | None = None) -> dict:
    start, month_end = month(2025, m)
    return {
        "line": line,
        "device": device,
        "start": start,
        "end": end or month_end,
        "on_grid_kwh": on_grid_kwh,
        "self_consumed_kwh": self_consumed_kwh,
    }


def test_a_file_with_bad_rows_imports_nothing_and_names_every_bad_line(registry: Ledger) -> None:
    device = pv(registry)
    rows = [
        row(2, device, 1, 8_100),
        row(3, "SIP-PV-UNREGISTERED", 1, 8_000),
        row(4, device, 2, 7_900.5),
        row(5, device, 3, 8_000, end="2025-04-02T00:00:00+08:00"),
        row(6, device, 4, "8,300"),
        row(7, device, 1, 10),  # overlaps line 2
        row(8, device, 5, 8_000),
    ]
    refusal = refused(registry, "IMPORT_REJECTED", registry.import_readings, rows)
    assert [(e["line"], e["code"]) for e in refusal.details["errors"]] == [
        (3, "DEVICE_NOT_FOUND"),
        (4, "QUANTITY_NOT_INTEGER"),
        (5, "INTERVAL_CROSSES_MONTH"),
        (6, "QUANTITY_NOT_INTEGER"),
        (7, "READING_OVERLAP"),
    ]
    assert registry.device(device).readings == {}


def test_re_importing_the_same_rows_is_harmless(registry: Ledger) -> None:
    first, second = pv(registry, "SIP-PV-0001"), pv(registry, "SIP-PV-0002")
    rows = [row(2, first, 1, 8_100, 200), row(3, first, 2, 7_700), row(4, second, 1, 9_050)]
    assert registry.import_readings(rows) == {"recorded": 3, "skipped": 0, "devices": 2}
    size = registry.log.size()
    assert registry.import_readings(rows) == {"recorded": 0, "skipped": 3, "devices": 2}
    assert registry.log.size() == size
    assert registry.device(first).month_totals("2025-01") == (8_100, 200)


def test_an_import_of_a_changed_row_is_refused_as_an_overlap(registry: Ledger) -> None:
    device = pv(registry)
    registry.import_readings([row(2, device, 1, 8_100)])
    refusal = refused(registry, "IMPORT_REJECTED", registry.import_readings, [row(2, device, 1, 8_200)])
    assert refusal.details["errors"][0]["code"] == "READING_OVERLAP"


def test_a_row_missing_a_column_is_reported_with_its_line(registry: Ledger) -> None:
    device = pv(registry)
    incomplete = row(3, device, 2, 7_700)
    del incomplete["start"]
    refusal = refused(registry, "IMPORT_REJECTED", registry.import_readings, [row(2, device, 1, 8_100), incomplete])
    assert [e["line"] for e in refusal.details["errors"]] == [3]
