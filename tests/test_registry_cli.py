"""The registry's commands, used as a registry operator would, from meter file to provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oneclaim.cli import app

GEN, BUYER = "acct:sip-pv-ops", "acct:sip-fab-01"
BATCH = "GEC-202501-SIP-PV-0001-T"


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def as_json(*args: str, code: int = 0) -> dict:
    return json.loads(run(*args, "--json", code=code).stdout)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    monkeypatch.setenv("ONECLAIM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ONECLAIM_DB_URL", raising=False)
    run("init", "--origin", "oneclaim.local/suzhou-sip", "--db", db_url)
    run(
        "participant",
        "add",
        "SIP-PV-OPS",
        "--name",
        "园区光伏运营商",
        "--role",
        "generator",
        "--province",
        "江苏",
        "--city",
        "苏州",
    )
    run(
        "participant",
        "add",
        "SIP-FAB-01",
        "--name",
        "园区半导体企业",
        "--role",
        "consumer",
        "--province",
        "江苏",
        "--city",
        "苏州",
    )
    run("account", "open", GEN, "--owner", "SIP-PV-OPS")
    run("account", "open", BUYER, "--owner", "SIP-FAB-01")
    for code in ("SIP-PV-0001", "SIP-PV-0002"):
        run("device", "register", code, "--technology", "distributed_pv", "--capacity-kw", "400", "--province", "江苏",
            "--city", "苏州", "--owner", "SIP-PV-OPS", "--commissioned-on", "2023-05-01")  # fmt: skip
    return tmp_path


def write_csv(path: Path, *rows: str) -> Path:
    path.write_text("device,start,end,on_grid_kwh,self_consumed_kwh\n" + "".join(r + "\n" for r in rows))
    return path


JAN = "2025-01-01T00:00:00+08:00,2025-02-01T00:00:00+08:00"


def test_a_meter_file_with_bad_rows_imports_nothing_and_names_every_line(registry: Path) -> None:
    bad = write_csv(
        registry / "bad.csv",
        f"SIP-PV-0001,{JAN},52400,1200",
        f"SIP-PV-0002,{JAN},12.5,0",  # line 3: fractional kWh
        f"SIP-PV-9999,{JAN},100,0",  # line 4: unregistered device
    )
    result = run("meter", "import", str(bad), code=2)
    assert "IMPORT_REJECTED" in result.stderr
    assert "line 3: QUANTITY_NOT_INTEGER" in result.stderr
    assert "line 4: DEVICE_NOT_FOUND" in result.stderr  # every bad row, whatever the kind of fault
    good = write_csv(registry / "good.csv", f"SIP-PV-0001,{JAN},52400,1200", f"SIP-PV-0002,{JAN},31000,0")
    assert as_json("meter", "import", str(good)) == {"recorded": 2, "skipped": 0, "devices": 2}
    assert as_json("meter", "import", str(good)) == {"recorded": 0, "skipped": 2, "devices": 2}  # a retry is harmless


def test_a_missing_meter_file_is_a_clear_error(registry: Path) -> None:
    result = run("meter", "import", str(registry / "absent.csv"), code=2)
    assert "FILE_UNREADABLE" in result.stderr


def test_from_a_meter_file_to_a_retirement_and_its_provenance(registry: Path) -> None:
    run("meter", "import", str(write_csv(registry / "jan.csv", f"SIP-PV-0001,{JAN},52400,1200")))
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


def test_resale_and_expiry_from_the_command_line(registry: Path) -> None:
    run("meter", "import", str(write_csv(registry / "jan.csv", f"SIP-PV-0001,{JAN},10000,0")))
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN)
    run("transfer", BATCH, "--from", GEN, "--to", BUYER, "--quantity", "4", "--on", "2025-02-01")
    refused = as_json("transfer", BATCH, "--from", BUYER, "--to", GEN, "--quantity", "1", code=2)
    assert refused["error"]["code"] == "ALREADY_SOLD"
    expired = as_json("expire", "--as-of", "2027-01-01")
    assert expired["expired"] == {BATCH: [f"{BATCH}:1-4", f"{BATCH}:5-10"]} and expired["units"] == 10
    assert as_json("expire", "--as-of", "2027-01-01")["units"] == 0  # idempotent
    assert as_json("provenance", f"{BATCH}:9")["current"]["state"] == "expired"
