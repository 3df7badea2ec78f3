"""The registry's commands, used as a registry operator would, from meter file to provenance."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import BUYER, GEN
from tests.support import JAN, as_json, run, write_csv

BATCH = "GEC-202501-SIP-PV-0001-T"


def test_a_meter_file_with_bad_rows_imports_nothing_and_names_every_line(cli_home: Path) -> None:
    bad = write_csv(
        cli_home / "bad.csv",
        f"SIP-PV-0001,{JAN},52400,1200",
        f"SIP-PV-0002,{JAN},12.5,0",  # line 3: fractional kWh
        f"SIP-PV-9999,{JAN},100,0",  # line 4: unregistered device
    )
    result = run("meter", "import", str(bad), code=2)
    assert "IMPORT_REJECTED" in result.stderr
    assert "line 3: QUANTITY_NOT_INTEGER" in result.stderr
    assert "line 4: DEVICE_NOT_FOUND" in result.stderr  # every bad row, whatever the kind of fault
    good = write_csv(cli_home / "good.csv", f"SIP-PV-0001,{JAN},52400,1200", f"SIP-PV-0002,{JAN},31000,0")
    assert as_json("meter", "import", str(good)) == {"recorded": 2, "skipped": 0, "devices": 2}
    assert as_json("meter", "import", str(good)) == {"recorded": 0, "skipped": 2, "devices": 2}  # a retry is harmless


def test_a_negative_number_is_out_of_range_not_malformed_wherever_it_is_written(cli_home: Path) -> None:
    bad = write_csv(
        cli_home / "neg.csv", f"SIP-PV-0001,{JAN},-5,0", f"SIP-PV-0002,{JAN},5,-1", f"SIP-PV-0002,{JAN},+7x,0"
    )
    errors = as_json("meter", "import", str(bad), code=2)["error"]["details"]["errors"]
    assert [(e["line"], e["code"]) for e in errors] == [
        (2, "QUANTITY_OUT_OF_RANGE"),
        (3, "QUANTITY_OUT_OF_RANGE"),
        (4, "QUANTITY_NOT_INTEGER"),
    ]
    assert "got -5" in errors[0]["message"] and "whole number" not in errors[0]["message"]
    contract = as_json("contract", "add", "GP-9", "--device", "SIP-PV-0001", "--generator-account", GEN,
                       "--consumer-account", BUYER, "--month", "2025-01=-5", code=2)  # fmt: skip
    assert contract["error"]["code"] == "QUANTITY_OUT_OF_RANGE" and "-5" in contract["error"]["message"]
    run("meter", "import", str(write_csv(cli_home / "jan.csv", f"SIP-PV-0001,{JAN},5000,0")))
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN)
    moved = as_json("transfer", "GEC-202501-SIP-PV-0001-T", "--from", GEN, "--to", BUYER, "--quantity", "-5",
                    "--on", "2025-02-10", code=2)  # fmt: skip
    assert moved["error"]["code"] == "QUANTITY_OUT_OF_RANGE" and "got -5" in moved["error"]["message"]


def test_a_missing_meter_file_is_a_clear_error(cli_home: Path) -> None:
    result = run("meter", "import", str(cli_home / "absent.csv"), code=2)
    assert "FILE_UNREADABLE" in result.stderr


def test_from_a_meter_file_to_a_retirement_and_its_provenance(cli_home: Path) -> None:
    run("meter", "import", str(write_csv(cli_home / "jan.csv", f"SIP-PV-0001,{JAN},52400,1200")))
    issued = as_json("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN)
    assert [b["serials"] for b in issued["batches"]] == [f"{BATCH}:1-52", "GEC-202501-SIP-PV-0001-N:1"]
    assert issued["carry_kwh"] == {"tradable": 400, "non_tradable": 200}

    moved = as_json("transfer", BATCH, "--from", GEN, "--to", BUYER, "--quantity", "20", "--on", "2025-02-10")
    assert moved["serials"] == [f"{BATCH}:1-20"]
    retired = as_json(
        "retire", BATCH, "--account", BUYER, "--beneficiary", "SIP-FAB-01", "--purpose", "green_consumption_claim",
        "--period", "2025", "--location", "江苏省苏州市", "--serials", f"{BATCH}:5-12", "--on", "2025-03-01",
    )  # fmt: skip
    assert (retired["retirement_id"], retired["serials"]) == (f"{BATCH}/R1", [f"{BATCH}:5-12"])

    trail = as_json("provenance", f"{BATCH}:7")
    assert [e["type"] for e in trail["events"]] == ["Issued", "Transferred", "Retired"]
    assert trail["current"] == {"holder": BUYER, "state": "retired"}
    seqs = [e["seq"] for e in trail["events"]]
    assert seqs == sorted(seqs)
    untouched = as_json("provenance", f"{BATCH}:30")
    assert [e["type"] for e in untouched["events"]] == ["Issued"]

    holdings = {(h["batch"], h["state"]): h["units"] for h in as_json("holdings", BUYER)}
    assert holdings == {(BATCH, "active"): 12, (BATCH, "retired"): 8}


def test_resale_and_expiry_from_the_command_line(cli_home: Path) -> None:
    run("meter", "import", str(write_csv(cli_home / "jan.csv", f"SIP-PV-0001,{JAN},10000,0")))
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN)
    run("transfer", BATCH, "--from", GEN, "--to", BUYER, "--quantity", "4", "--on", "2025-02-01")
    refused = as_json("transfer", BATCH, "--from", BUYER, "--to", GEN, "--quantity", "1", "--on", "2025-02-02", code=2)
    assert refused["error"]["code"] == "ALREADY_SOLD"
    expired = as_json("expire", "--as-of", "2027-01-01")
    assert expired["expired"] == {BATCH: [f"{BATCH}:1-4", f"{BATCH}:5-10"]} and expired["units"] == 10
    assert as_json("expire", "--as-of", "2027-01-01")["units"] == 0  # idempotent
    assert as_json("provenance", f"{BATCH}:9")["current"]["state"] == "expired"


def test_an_operator_lists_and_shows_what_the_registry_holds(cli_home: Path) -> None:
    run(
        "meter",
        "import",
        str(write_csv(cli_home / "jan.csv", f"SIP-PV-0001,{JAN},10000,0", f"SIP-PV-0002,{JAN},4000,0")),
    )
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN)
    run("issue", "gec", "--device", "SIP-PV-0002", "--month", "2025-01", "--account", GEN)
    run("transfer", BATCH, "--from", GEN, "--to", BUYER, "--quantity", "4", "--on", "2025-02-01")
    run("retire", BATCH, "--account", BUYER, "--beneficiary", "SIP-FAB-01", "--purpose", "green_consumption_claim",
        "--period", "2025", "--location", "苏州", "--serials", f"{BATCH}:1-2", "--on", "2025-02-02")  # fmt: skip
    assert [a["account"] for a in as_json("account", "list")["accounts"]] == [GEN, BUYER]
    assert [p["code"] for p in as_json("participant", "list", "--where", "role=consumer")["participants"]] == [
        "SIP-FAB-01"
    ]
    assert [d["code"] for d in as_json("device", "list")["devices"]] == ["SIP-PV-0001", "SIP-PV-0002"]
    batches = as_json("batch", "list")["batches"]
    assert [(b["code"], b["quantity"]) for b in batches] == [(BATCH, 10), ("GEC-202501-SIP-PV-0002-T", 4)]
    first = batches[0]
    assert (first["active"], first["retired"], first["holders"]) == (8, 2, sorted([GEN, BUYER]))
    held = as_json("batch", "list", "--where", f"holders={BUYER}")["batches"]
    assert [b["code"] for b in held] == [BATCH]
    shown = as_json("batch", "show", BATCH)
    assert shown["ranges"] == [
        {"serials": f"{BATCH}:1-2", "holder": BUYER, "state": "retired", "sales": 1},
        {"serials": f"{BATCH}:3-4", "holder": BUYER, "state": "active", "sales": 1},
        {"serials": f"{BATCH}:5-10", "holder": GEN, "state": "active", "sales": 0},
    ]
    table = run("batch", "list").stdout
    assert "total" in table and "2 batches" in table  # conservation at a glance: 12 active + 2 retired
    assert "12" in table.split("total")[1].split("\n")[0]
    bad = as_json("batch", "list", "--where", "colour=red", code=2)
    assert bad["error"]["code"] == "FILTER_INVALID"
    assert as_json("device", "show", "SIP-PV-9999", code=2)["error"]["code"] == "DEVICE_NOT_FOUND"
