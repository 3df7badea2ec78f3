"""Green-power settlement (seed 001, §2.1): monthly, the minimum of consumption, contract and
on-grid quantity, GECs moving to the consumer in the same transaction, once per month."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.app import Ledger
from ledger.errors import LedgerError
from tests.support import month

GEN, BUYER = "acct:js-wind", "acct:sip-fab"


def settled_on(month_: str) -> date:
    """The settlement date of a production month: the 10th of the month after."""
    year, m = map(int, month_.split("-"))
    return date(year + m // 12, m % 12 + 1, 10)


@pytest.fixture
def contract(ledger: Ledger) -> Ledger:
    ledger.add_participant("JS-WIND", "江苏风电", "generator", "江苏", "盐城")
    ledger.add_participant("SIP-FAB", "园区半导体企业", "consumer", "江苏", "苏州")
    ledger.open_account(GEN, "JS-WIND")
    ledger.open_account(BUYER, "SIP-FAB")
    ledger.register_device("JS-WIND-07", "wind", 50_000, "江苏", "盐城", "JS-WIND", "2022-06-30")
    ledger.sign_contract("GP-2025-017", "JS-WIND-07", GEN, BUYER, {"2025-01": 300, "2025-02": 300, "2025-03": 300})
    for m, on_grid in ((1, 500_000), (2, 500_000), (3, 250_400)):
        ledger.record_reading("JS-WIND-07", *month(2025, m), on_grid)
        ledger.issue_gec("JS-WIND-07", f"2025-{m:02d}", GEN)
    return ledger


@pytest.mark.parametrize(
    ("month_", "consumption_kwh", "settled", "limited_by"),
    [
        ("2025-01", 180_700, 180, ["consumption"]),  # the consumer used less than contracted
        ("2025-02", 410_000, 300, ["contract"]),  # the contract caps it
        ("2025-03", 410_000, 250, ["on_grid"]),  # the generator delivered less
    ],
)
def test_the_settled_quantity_is_the_least_of_the_three(contract: Ledger, month_, consumption_kwh, settled, limited_by):
    batch = f"GEC-{month_.replace('-', '')}-JS-WIND-07-T"
    size = contract.log.size()
    result = contract.settle("GP-2025-017", month_, consumption_kwh, on=settled_on(month_))
    assert (result["settled_mwh"], result["limited_by"]) == (settled, limited_by)
    assert contract.batch(batch).held_by(BUYER) == {"active": settled}  # the GECs moved with it
    assert contract.log.size() == size + 2  # the settlement and the transfer, in one transaction
    assert result["serials"] == [[0, settled]]


def test_a_month_settles_once_and_nothing_rolls_over(contract: Ledger) -> None:
    first = contract.settle("GP-2025-017", "2025-01", 180_700, on=settled_on("2025-01"))
    size = contract.log.size()
    assert (
        contract.settle("GP-2025-017", "2025-01", 180_700, on=settled_on("2025-01")) == first
    )  # a retry returns the first result
    assert contract.log.size() == size
    with pytest.raises(LedgerError) as e:
        contract.settle("GP-2025-017", "2025-01", 250_000, on=settled_on("2025-01"))
    assert e.value.code == "ALREADY_SETTLED"
    # January's unused 120 MWh of contract are not added to February.
    assert contract.settle("GP-2025-017", "2025-02", 900_000, on=settled_on("2025-02"))["settled_mwh"] == 300
    with pytest.raises(LedgerError) as e:
        contract.settle("GP-2025-017", "2025-04", 100_000, on=settled_on("2025-04"))
    assert e.value.code == "MONTH_NOT_CONTRACTED"


def test_settlement_is_dated_after_the_month_and_never_in_the_future(contract: Ledger) -> None:
    """The date a settlement records is explicit, bounded by today, and after the month ends."""
    size = contract.log.size()
    for on, code in ((date(2025, 1, 31), "MONTH_NOT_ENDED"), (date(2030, 7, 1), "DATE_IN_FUTURE")):
        with pytest.raises(LedgerError) as e:
            contract.settle("GP-2025-017", "2025-01", 180_700, on=on)
        assert e.value.code == code
    assert contract.log.size() == size  # refused: nothing written
    result = contract.settle("GP-2025-017", "2025-01", 180_700, on=date(2025, 2, 1))
    assert result["on"] == "2025-02-01"
    assert contract.batch("GEC-202501-JS-WIND-07-T").last_on == "2025-02-01"  # the GECs moved that day


def test_kwh_another_instrument_claims_are_not_sold_as_green_power(ledger: Ledger) -> None:
    """Half of January carries carbon-inclusion credits: green power settles from the other half."""
    ledger.add_participant("JS-WIND", "江苏风电", "generator", "江苏", "盐城")
    ledger.add_participant("SIP-FAB", "园区半导体企业", "consumer", "江苏", "苏州")
    ledger.open_account(GEN, "JS-WIND")
    ledger.open_account(BUYER, "SIP-FAB")
    ledger.register_device(
        "JS-WIND-07", "distributed_pv", 50_000, "江苏", "盐城", "JS-WIND", "2022-06-30", ("GEC", "INCLUSION")
    )
    ledger.establish_programme("SIP-PHCER", "苏州工业园区碳普惠", "江苏苏州", ["distributed_pv"], "SIP-2020-PURCHASED")
    mid = "2025-01-16T00:00:00+08:00"
    start, end = month(2025, 1)
    ledger.record_reading("JS-WIND-07", start, mid, 250_000)
    ledger.record_reading("JS-WIND-07", mid, end, 250_400)
    ledger.issue_inclusion("SIP-PHCER", "distributed_pv", GEN, device="JS-WIND-07", start=start, end=mid)
    (batch,) = ledger.issue_gec("JS-WIND-07", "2025-01", GEN)
    assert batch.quantity == 250  # the second half only
    ledger.sign_contract("GP-2025-018", "JS-WIND-07", GEN, BUYER, {"2025-01": 300})
    result = ledger.settle("GP-2025-018", "2025-01", 410_000, on=settled_on("2025-01"))
    assert (result["settled_mwh"], result["limited_by"], result["on_grid_kwh"]) == (250, ["on_grid"], 250_400)
    assert ledger.batch(batch.code).held_by(BUYER) == {"active": 250}


def test_a_month_without_gecs_cannot_be_settled(contract: Ledger) -> None:
    contract.record_reading("JS-WIND-07", *month(2025, 4), 100_000)
    contract.sign_contract("GP-2025-019", "JS-WIND-07", GEN, BUYER, {"2025-04": 50})
    size = contract.log.size()
    with pytest.raises(LedgerError) as e:
        contract.settle("GP-2025-019", "2025-04", 80_000, on=settled_on("2025-04"))
    assert e.value.code == "GEC_NOT_ISSUED" and contract.log.size() == size


def test_a_device_with_only_non_tradable_gecs_signs_no_green_power_contract(contract: Ledger) -> None:
    contract.register_device("YN-HYDRO-OLD", "hydro", 50_000, "云南", "昆明", "JS-WIND", "2015-06-01")
    size = contract.log.size()
    with pytest.raises(LedgerError) as e:
        contract.sign_contract("GP-2025-020", "YN-HYDRO-OLD", GEN, BUYER, {"2025-04": 50})
    assert e.value.code == "NOT_TRADABLE" and "non-tradable" in e.value.message and contract.log.size() == size
