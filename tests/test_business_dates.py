"""Business dates: every command that records one takes it explicitly, today is injected, and an
explicit date cannot backdate: not after today, not before the last date the units recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from ledger.app import Ledger, today
from tests.conftest import BUYER as BUYER_CLI
from tests.conftest import GEN as GEN_CLI
from tests.registry_support import CON, GEN, RETIREMENT, TRD, market, one_gec_batch, refused
from tests.support import JAN, as_json, run, write_csv

JUNE = date(2025, 6, 30)


def test_the_default_business_date_is_today_in_china() -> None:
    # 16:30 UTC on New Year's Eve is already 00:30 on 1 January in China (UTC+8)
    with time_machine.travel(datetime(2025, 12, 31, 16, 30, tzinfo=UTC), tick=False):
        assert today() == date(2026, 1, 1)
    with time_machine.travel(datetime(2025, 12, 31, 15, 59, tzinfo=UTC), tick=False):
        assert today() == date(2025, 12, 31)


def test_a_command_without_a_date_records_the_injected_today(db_url: str) -> None:
    ledger = Ledger(db_url, clock=lambda: JUNE)
    try:
        market(ledger)
        code = one_gec_batch(ledger, 10)
        ledger.transfer(code, GEN, TRD, quantity=4)
        ledger.retire(code, GEN, **RETIREMENT, quantity=1)
        batch = ledger.batch(code)
        assert batch.last_on == "2025-06-30"
        assert next(iter(batch.retirements.values()))["on"] == "2025-06-30"
    finally:
        ledger.close()


def test_a_date_after_today_is_refused_for_every_dated_command(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    registry.clock = lambda: JUNE
    later = date(2025, 7, 1)
    refused(registry, "DATE_IN_FUTURE", registry.transfer, code, GEN, TRD, quantity=1, on=later)
    refused(registry, "DATE_IN_FUTURE", registry.retire, code, GEN, **RETIREMENT, quantity=1, on=later)
    refused(registry, "DATE_IN_FUTURE", registry.expire_batches, [code], later)
    assert registry.transfer(code, GEN, TRD, quantity=1, on=JUNE) == [[0, 1]]  # today itself is fine


def test_units_cannot_be_moved_or_retired_dated_before_their_last_move(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)
    registry.transfer(code, GEN, TRD, quantity=5, on=date(2025, 3, 10))
    refused(registry, "DATE_BEFORE_LAST_RECORDED", registry.transfer, code, GEN, CON, quantity=1, on=date(2025, 3, 9))
    refused(
        registry, "DATE_BEFORE_LAST_RECORDED", registry.retire, code, GEN, **RETIREMENT, quantity=1, on=date(2025, 2, 1)
    )
    registry.retire(code, GEN, **RETIREMENT, quantity=1, on=date(2025, 3, 10))  # the same day is fine
    registry.transfer(code, GEN, CON, quantity=1, on=date(2025, 4, 1))
    refused(registry, "DATE_BEFORE_LAST_RECORDED", registry.transfer, code, GEN, CON, quantity=1, on=date(2025, 3, 31))


def test_expired_units_cannot_be_moved_by_dating_the_move_inside_their_validity(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)  # January 2025: valid through 2026-12-31
    assert registry.expire_batches([code], date(2027, 1, 1)) == {code: [[0, 10]]}
    error = refused(registry, "UNITS_EXPIRED", registry.transfer, code, GEN, TRD, quantity=1, on=date(2026, 12, 1))
    assert error.details["expired_as_of"] == "2027-01-01"
    refused(registry, "UNITS_EXPIRED", registry.retire, code, GEN, **RETIREMENT, quantity=1, on=date(2026, 6, 1))
    refused(registry, "UNITS_EXPIRED", registry.transfer, code, GEN, TRD, quantity=1, on=date(2027, 1, 2))


def test_the_cli_takes_on_for_settle_and_refuses_a_future_date(cli_home) -> None:
    run("meter", "import", str(write_csv(cli_home / "jan.csv", "SIP-PV-0001,2025-01-01T00:00:00+08:00,"
                                          "2025-02-01T00:00:00+08:00,52400,0")))  # fmt: skip
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", "acct:sip-pv-ops")
    run("contract", "add", "GP-1", "--device", "SIP-PV-0001", "--generator-account", "acct:sip-pv-ops",
        "--consumer-account", "acct:sip-fab-01", "--month", "2025-01=30")  # fmt: skip
    refusal = run("settle", "GP-1", "--month", "2025-01", "--consumption-kwh", "40000", "--on", "2031-01-01", code=2)
    assert "DATE_IN_FUTURE" in refusal.stderr
    settled = as_json("settle", "GP-1", "--month", "2025-01", "--consumption-kwh", "40000", "--on", "2025-02-10")
    assert (settled["settled_mwh"], settled["on"]) == (30, "2025-02-10")
    late = run("transfer", "GEC-202501-SIP-PV-0001-T", "--from", "acct:sip-pv-ops", "--to", "acct:sip-fab-01",
               "--quantity", "1", "--on", "2025-02-09", code=2)  # fmt: skip
    assert "DATE_BEFORE_LAST_RECORDED" in late.stderr


@pytest.mark.parametrize("on", ["2025-13-01", "yesterday"])
def test_a_malformed_date_is_refused_with_its_code(cli_home, on: str) -> None:
    refusal = run("expire", "--as-of", on, code=2)
    assert "DATE_INVALID" in refusal.stderr


def test_no_unit_moves_before_the_electricity_behind_it_was_produced(registry: Ledger) -> None:
    code = one_gec_batch(registry, 10)  # production month January 2025
    for on in (date(2024, 12, 1), date(2025, 1, 28)):
        error = refused(registry, "DATE_BEFORE_PRODUCTION", registry.transfer, code, GEN, TRD, quantity=1, on=on)
        assert error.details["not_before"] == "2025-02-01"
    refused(
        registry, "DATE_BEFORE_PRODUCTION", registry.retire, code, GEN, **RETIREMENT, quantity=1, on=date(2025, 1, 31)
    )
    assert registry.transfer(code, GEN, TRD, quantity=1, on=date(2025, 2, 1)) == [[0, 1]]


def test_the_cli_issues_months_in_order_and_refuses_a_sale_before_production(cli_home) -> None:
    feb = "2025-02-01T00:00:00+08:00,2025-03-01T00:00:00+08:00"
    run("meter", "import", str(write_csv(cli_home / "m.csv", f"SIP-PV-0001,{JAN},3500,0", f"SIP-PV-0001,{feb},3600,0")))
    early = as_json("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-02", "--account", GEN_CLI, code=2)
    assert early["error"]["code"] == "EARLIER_MONTH_OPEN" and early["error"]["details"]["month"] == "2025-01"
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN_CLI)
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-02", "--account", GEN_CLI)
    sale = as_json("transfer", "GEC-202502-SIP-PV-0001-T", "--from", GEN_CLI, "--to", BUYER_CLI, "--quantity", "1",
                   "--on", "2025-02-20", code=2)  # fmt: skip
    assert sale["error"]["code"] == "DATE_BEFORE_PRODUCTION"


def test_meter_data_arriving_after_a_later_month_was_issued_is_not_stranded(cli_home) -> None:
    """Hole 1, the late-data path: February is metered and issued, then January's data arrives.
    January is still issued, from its own kWh only, and its remainder carries forward."""
    feb = "2025-02-01T00:00:00+08:00,2025-03-01T00:00:00+08:00"
    mar = "2025-03-01T00:00:00+08:00,2025-04-01T00:00:00+08:00"
    run("meter", "import", str(write_csv(cli_home / "feb.csv", f"SIP-PV-0001,{feb},3600,0")))
    february = as_json("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-02", "--account", GEN_CLI)
    assert [b["quantity"] for b in february["batches"]] == [3] and february["carry_kwh"]["tradable"] == 600
    run("meter", "import", str(write_csv(cli_home / "jan.csv", f"SIP-PV-0001,{JAN},2500,0")))
    january = as_json("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN_CLI)
    # 2,500 kWh of January: 2 GECs of January; February's 600 kWh never flow back into January
    assert [(b["serials"], b["quantity"]) for b in january["batches"]] == [("GEC-202501-SIP-PV-0001-T:1-2", 2)]
    assert january["carry_kwh"]["tradable"] == 500 + 600
    run("meter", "import", str(write_csv(cli_home / "mar.csv", f"SIP-PV-0001,{mar},3000,0")))
    march = as_json("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-03", "--account", GEN_CLI)
    assert [b["quantity"] for b in march["batches"]] == [4] and march["carry_kwh"]["tradable"] == 100  # 3,000 + 1,100
    check = as_json("claims", "check", "SIP-PV-0001")
    assert [(m["month"], m["claimed_kwh"], m["free_kwh"]) for m in check["months"]] == [
        ("2025-01", 2_500, 0),
        ("2025-02", 3_600, 0),
        ("2025-03", 3_000, 0),
    ]  # every metered kWh claimed: 9 GECs issued and 100 kWh carried
