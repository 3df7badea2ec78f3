"""Where one rule meets another, through the command line as a registry operator meets it: green
power settled next to a carbon-inclusion claim (hole 4), case resolutions and cancellations that
never take units sold anywhere (hole 5), and sales reported for units ended here (hole 6). The
same holes through the `Ledger` are in test_green_power.py and test_one_claim_stories.py."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import BUYER, GEN
from tests.support import JAN, as_json, run, write_csv

FIRST_HALF = "2025-01-01T00:00:00+08:00,2025-01-16T00:00:00+08:00"
SECOND_HALF = "2025-01-16T00:00:00+08:00,2025-02-01T00:00:00+08:00"
HEADER = "source,reference,instrument,device,start,end,kwh,kg_co2e,factor,g_per_mwh,serials,sold_on\n"
BATCH = "GEC-202501-SIP-PV-0001-T"


def claims_file(path: Path, *rows: str) -> str:
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return str(path)


def test_green_power_is_settled_only_from_the_kwh_its_gecs_certify(cli_home: Path) -> None:
    run("device", "register", "SIP-PV-0100", "--technology", "distributed_pv", "--capacity-kw", "400", "--province",
        "江苏", "--city", "苏州", "--owner", "SIP-PV-OPS", "--commissioned-on", "2023-05-01",
        "--scheme", "GEC", "--scheme", "INCLUSION")  # fmt: skip
    run("programme", "add", "SIP-PHCER", "--name", "苏州工业园区碳普惠", "--region", "江苏苏州",
        "--factor", "SIP-2020-PURCHASED", "--methodology", "distributed_pv")  # fmt: skip
    half = write_csv(cli_home / "jan.csv", f"SIP-PV-0100,{FIRST_HALF},20000,0", f"SIP-PV-0100,{SECOND_HALF},22500,0")
    run("meter", "import", str(half))
    start, end = FIRST_HALF.split(",")
    run(
        "issue",
        "inclusion",
        "--programme",
        "SIP-PHCER",
        "--methodology",
        "distributed_pv",
        "--account",
        GEN,
        "--device",
        "SIP-PV-0100",
        "--start",
        start,
        "--end",
        end,
    )  # fmt: skip  (the first half's 20,000 kWh)
    issued = as_json("issue", "gec", "--device", "SIP-PV-0100", "--month", "2025-01", "--account", GEN)
    assert [b["quantity"] for b in issued["batches"]] == [22]  # the second half only
    run("contract", "add", "GP-100", "--device", "SIP-PV-0100", "--generator-account", GEN,
        "--consumer-account", BUYER, "--month", "2025-01=40")  # fmt: skip
    settled = as_json("settle", "GP-100", "--month", "2025-01", "--consumption-kwh", "50000", "--on", "2025-02-10")
    # not the 42.5 MWh metered: 20 MWh carry carbon-inclusion credits and are not green power
    assert settled["settled_mwh"] == 22, settled
    holdings = as_json("holdings", BUYER)
    assert [(h["batch"], h["units"]) for h in holdings] == [("GEC-202501-SIP-PV-0100-T", 22)]


def issued_january(cli_home: Path) -> None:
    run("meter", "import", str(write_csv(cli_home / "jan.csv", f"SIP-PV-0001,{JAN},52400,0")))
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN)


def test_resolving_a_case_by_cancelling_ours_never_takes_units_a_platform_reported_sold(cli_home: Path) -> None:
    issued_january(cli_home)
    start, end = JAN.split(",")
    sale = claims_file(cli_home / "sale.csv", f"BJ-PX,BJ-1,GEC,,,,,,,,{BATCH}:1-20,2025-02-10")
    assert as_json("claims", "import-external", sale)["cases_opened"] == []
    overlap = claims_file(cli_home / "claim.csv", f"JS-PHCER,JS-7,INCLUSION,SIP-PV-0001,{start},{end},30000,,,,,")
    (case,) = as_json("claims", "import-external", overlap)["cases_opened"]
    run("cases", "resolve", case, "--outcome", "ours_cancelled", "--reason", "JS-PHCER credited first", "--by", "SIP")
    ranges = [(r["serials"], r["state"]) for r in as_json("batch", "show", BATCH)["ranges"]]
    assert ranges == [(f"{BATCH}:1-20", "active"), (f"{BATCH}:21-50", "cancelled"), (f"{BATCH}:51-52", "active")]
    # and the whole batch cannot be cancelled unnamed: BJ-PX may have a buyer for 1-20
    refusal = as_json("cancel", BATCH, "--reason", "issuer dispute", code=2)
    assert refusal["error"]["code"] == "SOLD_UNITS_NOT_NAMED" and f"{BATCH}:1-20" in refusal["error"]["message"]


def test_a_sale_reported_for_units_sold_retired_or_cancelled_here_opens_cases(cli_home: Path) -> None:
    issued_january(cli_home)
    run("transfer", BATCH, "--from", GEN, "--to", BUYER, "--quantity", "5", "--on", "2025-02-10")
    run("retire", BATCH, "--account", BUYER, "--beneficiary", "SIP-FAB-01", "--purpose", "green_consumption_claim",
        "--period", "2025", "--location", "苏州", "--serials", f"{BATCH}:5", "--on", "2025-02-11")  # fmt: skip
    run("cancel", BATCH, "--reason", "meter fault", "--serials", f"{BATCH}:51-52")
    report = claims_file(cli_home / "sale.csv", f"GZ-PX,GZ-9,GEC,,,,,,,,{BATCH}:3-52,2025-02-15")
    opened = as_json("claims", "import-external", report)["cases_opened"]
    cases = {c["code"]: c for c in as_json("cases", "list")["cases"]}
    assert sorted(cases[c]["kind"] for c in opened) == ["GEC_SOLD_TWICE", "SALE_OF_ENDED_UNITS", "SALE_OF_ENDED_UNITS"]
    text = " ".join(run("cases", "show", opened[0]).stdout.split())
    assert "as recorded first" in text and "GZ-PX GZ-9" in text and "Ours:" not in text
    # the other way round: units reported sold, then cancelled by name, open a case too
    run("cancel", BATCH, "--reason", "issuer dispute", "--serials", f"{BATCH}:30-31")
    after = as_json("cases", "list")["cases"]
    assert len(after) == len(cases) + 1 and after[-1]["kind"] == "SALE_OF_ENDED_UNITS"
