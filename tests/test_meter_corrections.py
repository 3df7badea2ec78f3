"""Meter corrections as meter data arrives: the preliminary check (capacity), the automatic
comparison of a re-read interval with what is recorded, and after issuance the dispute route.
Through the `Ledger` and through the CLI, with the same refusals, all rows or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.errors import LedgerError
from tests.conftest import GEN as GEN_CLI
from tests.support import JAN, as_json, month, run, write_csv

GEN = "acct:sip-pv-ops"
DEVICE = "SIP-PV-0042"
FEB = ",".join(month(2025, 2))


@pytest.fixture
def metered(ledger: Ledger) -> Ledger:
    ledger.add_participant("SIP-PV-OPS", "园区光伏运营商", "generator", "江苏", "苏州")
    ledger.open_account(GEN, "SIP-PV-OPS")
    ledger.register_device(
        DEVICE, "distributed_pv", 400, "江苏", "苏州", "SIP-PV-OPS", "2023-05-01", ("GEC", "INCLUSION")
    )
    ledger.establish_programme("SIP-PHCER", "苏州工业园区碳普惠", "苏州", ["distributed_pv"], "SIP-2020-PURCHASED")
    for m in (1, 2):
        ledger.record_reading(DEVICE, *month(2025, m), 52_400, 1_200)
    return ledger


def row(m: int, on_grid: int, self_consumed: int = 1_200, reason: str = "meter re-read", line: int = 2) -> dict:
    start, end = month(2025, m)
    return {"line": line, "device": DEVICE, "start": start, "end": end, "on_grid_kwh": on_grid,
            "self_consumed_kwh": self_consumed, "reason": reason}  # fmt: skip


def rejected_codes(ledger: Ledger, rows: list[dict]) -> list[tuple[int, str]]:
    before = ledger.log.size()
    with pytest.raises(LedgerError) as refusal:
        ledger.import_corrections(rows)
    assert refusal.value.code == "IMPORT_REJECTED"
    assert ledger.log.size() == before, "a rejected corrections file still wrote"
    return [(e["line"], e["code"]) for e in refusal.value.details["errors"]]


def test_a_correction_before_issuance_changes_what_is_issued(metered: Ledger) -> None:
    assert metered.import_corrections([row(1, 51_000)]) == {"recorded": 1, "skipped": 0, "devices": 1}
    assert metered.import_corrections([row(1, 51_000)])["skipped"] == 1  # re-importing the file is harmless
    batches = metered.issue_gec(DEVICE, "2025-01", GEN)
    assert sum(b.quantity for b in batches if b.tradable) == 51  # the corrected figure, not 52,400
    assert metered.device(DEVICE).carry_kwh["tradable"] == 0


def test_every_refusal_of_a_correction_is_reported_by_line_and_nothing_is_written(metered: Ledger) -> None:
    metered.issue_inclusion("SIP-PHCER", "distributed_pv", GEN, device=DEVICE, month="2025-02")  # claims February
    metered.issue_gec(DEVICE, "2025-01", GEN)  # certifies January
    start, _ = month(2025, 3)
    codes = rejected_codes(
        metered,
        [
            row(1, 50_000, line=2),  # January has GECs: the dispute route, not a correction
            row(2, 50_000, line=3),  # February's 52,400 on-grid kWh carry carbon-inclusion credits
            row(2, 52_400, self_consumed=400_000, line=4),  # 400 kW cannot produce 452,400 kWh in February
            row(2, 52_500, reason=" ", line=5),
            {**row(2, 52_400, line=6), "end": start.replace("03-01", "02-15")},  # no reading for exactly that
            {**row(2, 52_400, line=7), "device": "SIP-PV-9999"},
            {k: v for k, v in row(2, 52_400, line=8).items() if k != "reason"},
        ],
    )
    assert codes == [
        (2, "READING_ALREADY_CERTIFIED"),
        (3, "READING_ALREADY_CLAIMED"),
        (4, "READING_EXCEEDS_CAPACITY"),
        (5, "REASON_REQUIRED"),
        (6, "READING_NOT_FOUND"),
        (7, "DEVICE_NOT_FOUND"),
        (8, "ROW_INCOMPLETE"),
    ]
    # a correction upward of a claimed reading is fine, and the claim follows the new reading
    metered.import_corrections([row(2, 53_000)])
    device = metered.device(DEVICE)
    (february,) = [v for v, r in device.readings.items() if r.start.startswith("2025-02")]
    assert device.claimed[february] == 52_400 and device.readings[february].on_grid_kwh == 53_000


def test_the_automatic_comparison_refuses_a_new_figure_in_a_readings_file(metered: Ledger) -> None:
    start, end = month(2025, 1)
    rows = [
        {"line": 2, "device": DEVICE, "start": start, "end": end, "on_grid_kwh": 52_000, "self_consumed_kwh": 1_200}
    ]
    before = metered.log.size()
    with pytest.raises(LedgerError) as refusal:
        metered.import_readings(rows)
    (error,) = refusal.value.details["errors"]
    assert error["code"] == "READING_OVERLAP" and "oneclaim meter correct" in error["message"]
    assert "52400 kWh" in error["message"]  # the figure recorded, to compare with
    assert metered.log.size() == before


def correction_csv(path: Path, *rows: str) -> Path:
    path.write_text("device,start,end,on_grid_kwh,self_consumed_kwh,reason\n" + "".join(r + "\n" for r in rows))
    return path


def test_corrections_from_the_command_line(cli_home: Path) -> None:
    run("meter", "import", str(write_csv(cli_home / "m.csv", f"SIP-PV-0001,{JAN},3500,0", f"SIP-PV-0001,{FEB},3600,0")))
    # the automatic comparison: the grid company's second file has another figure for January
    again = as_json("meter", "import", str(write_csv(cli_home / "m2.csv", f"SIP-PV-0001,{JAN},3400,0")), code=2)
    assert again["error"]["details"]["errors"][0]["code"] == "READING_OVERLAP"
    fixed = as_json("meter", "correct", str(correction_csv(cli_home / "c.csv", f"SIP-PV-0001,{JAN},4100,0,meter swap")))
    assert fixed == {"recorded": 1, "skipped": 0, "devices": 1}
    out = run("meter", "correct", str(cli_home / "c.csv")).stdout
    assert "Corrected 0 reading(s)" in out and "1 already recorded" in out
    issued = as_json("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN_CLI)
    assert [b["quantity"] for b in issued["batches"]] == [4] and issued["carry_kwh"]["tradable"] == 100
    # after issuance: refused, and a file with one bad row writes nothing (line numbers given)
    bad = correction_csv(
        cli_home / "bad.csv",
        f"SIP-PV-0001,{FEB},3000,0,re-read",
        f"SIP-PV-0001,{JAN},4000,0,re-read",
        f"SIP-PV-0001,{FEB},x,0,r",
    )
    refusal = as_json("meter", "correct", str(bad), code=2)
    assert refusal["error"]["code"] == "IMPORT_REJECTED"
    assert [(e["line"], e["code"]) for e in refusal["error"]["details"]["errors"]] == [
        (3, "READING_ALREADY_CERTIFIED"),
        (4, "QUANTITY_NOT_INTEGER"),
    ]
    february = as_json("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-02", "--account", GEN_CLI)
    assert [b["quantity"] for b in february["batches"]] == [3]  # 3,600 + 100 carried: the bad file changed nothing
    missing = as_json("meter", "correct", str(write_csv(cli_home / "noreason.csv", f"SIP-PV-0001,{FEB},1,0")), code=2)
    assert missing["error"]["code"] == "CSV_HEADER_INVALID" and "reason" in missing["error"]["message"]
