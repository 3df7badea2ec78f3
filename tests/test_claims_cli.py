"""One MWh, one claim from the command line: claims check, external claims, cases, elections."""

from __future__ import annotations

import json
from base64 import b64decode
from datetime import datetime, timedelta
from hashlib import sha256
from pathlib import Path

from ledger.domain.values import CHINA
from ledger.tlog.merkle import verify_inclusion
from oneclaim.home import Home
from tests.conftest import GEN
from tests.support import JAN, as_json, run, write_csv

BATCH = "GEC-202501-SIP-PV-0001-T"


HEADER = "source,reference,instrument,device,start,end,kwh,kg_co2e,factor,g_per_mwh,serials,sold_on\n"


def test_claims_check_external_import_cases_and_their_trace(cli_home: Path) -> None:
    run("meter", "import", str(write_csv(cli_home / "jan.csv", f"SIP-PV-0001,{JAN},52400,0")))
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN)
    check = as_json("claims", "check", "SIP-PV-0001", "--month", "2025-01")
    assert (check["metered_kwh"], check["claimed_kwh"], check["free_kwh"]) == (52_400, 52_400, 0)
    assert check["intervals"][0]["claims"][0]["batch"] == BATCH

    start, end = JAN.split(",")
    claims = cli_home / "claims.csv"
    claims.write_text(
        HEADER
        + f"CZ-PHCER,CZ-1,INCLUSION,SIP-PV-0001,{start},{end},,6101,SIP-2020-PURCHASED,,,\n"  # 10,000 kWh
        + f"BJ-PX,BJ-1,GEC,,,,,,,,{BATCH}:1-10,2025-02-10\n"
        + f"GZ-PX,GZ-1,GEC,,,,,,,,{BATCH}:8-12,2025-02-11\n"
        + f"CZ-PHCER,CZ-2,INCLUSION,SIP-PV-9999,{start},{end},100,,,,,\n"
    )
    imported = as_json("claims", "import-external", str(claims))
    assert len(imported["cases_opened"]) == 2 and imported["unmatched"][0]["device"] == "SIP-PV-9999"
    again = as_json("claims", "import-external", str(claims))
    assert again["cases_opened"] == [] and again["skipped_already_imported"] == 3

    listed = as_json("cases", "list")["cases"]
    assert [(c["kind"], c["subject"], c["overlap_kwh"]) for c in listed] == [
        ("OVERLAPPING_CLAIM", "SIP-PV-0001", 10_000),
        ("GEC_SOLD_TWICE", BATCH, 3_000),
    ]
    overlap = listed[0]["code"]
    run("log", "sign")
    trace = as_json("cases", "show", overlap)
    assert trace["theirs"]["source"] == "CZ-PHCER" and trace["ours"][0]["batch"] == BATCH
    assert trace["checkpoint"] is not None
    root = b64decode(trace["root_hash"])
    proven = [trace["theirs"]["recorded_by"], trace["ours"][0]["claimed_by"], *trace["ours"][0]["lineage"]]
    for item in proven:
        proof = item["inclusion_proof"]
        leaf = sha256(b"\x00" + item["event"].encode()).digest()
        assert leaf == b64decode(proof["leaf_hash"])
        verify_inclusion(item["seq"], trace["tree_size"], leaf, [b64decode(h) for h in proof["hashes"]], root)
    text = run("cases", "show", overlap).stdout
    assert "CZ-PHCER CZ-1" in " ".join(text.split()) and "signed checkpoint" in text

    resolved = as_json(
        "cases", "resolve", overlap, "--outcome", "external_withdrawn", "--reason", "CZ cancelled CZ-1", "--by", "SIP"
    )
    assert resolved["resolution"]["outcome"] == "external_withdrawn"
    assert [c["status"] for c in as_json("cases", "list", "--status", "resolved")["cases"]] == ["resolved"]
    refused = json.loads(run("cases", "resolve", overlap, "--outcome", "external_withdrawn", "--reason", "again",
                             "--by", "SIP", "--json", code=2).stdout)  # fmt: skip
    assert refused["error"]["code"] == "CASE_ALREADY_RESOLVED"


def test_a_bad_external_file_imports_nothing_and_names_its_lines(cli_home: Path) -> None:
    start, end = JAN.split(",")
    bad = cli_home / "bad.json"
    bad.write_text(
        json.dumps(
            [
                {"source": "CZ", "reference": "1", "instrument": "INCLUSION", "device": "SIP-PV-0001",
                 "start": start, "end": end, "kwh": 10},
                {"source": "CZ", "reference": "2", "instrument": "TULIPS", "device": "SIP-PV-0001",
                 "start": start, "end": end, "kwh": 10},
                {"source": "CZ", "reference": "3", "instrument": "INCLUSION", "device": "SIP-PV-0001",
                 "start": "yesterday", "end": end, "kwh": 10},
            ]
        )
    )  # fmt: skip
    ledger = Home.at().ledger()
    before = ledger.log.size()
    result = run("claims", "import-external", str(bad), code=2)
    assert "IMPORT_REJECTED" in result.stderr
    assert "line 2: INSTRUMENT_INVALID" in result.stderr and "line 3: INTERVAL_INVALID" in result.stderr
    assert ledger.log.size() == before
    ledger.close()
    missing = run("claims", "import-external", str(cli_home / "absent.csv"), code=2)
    assert "FILE_UNREADABLE" in missing.stderr


def test_device_elect_and_a_refused_election(cli_home: Path) -> None:
    run("device", "register", "GD-DSOW-01", "--technology", "deep_sea_offshore_wind", "--capacity-kw", "300000",
        "--province", "广东", "--city", "阳江", "--owner", "SIP-PV-OPS", "--commissioned-on", "2024-12-01",
        "--scheme", "GEC", "--scheme", "CCER")  # fmt: skip
    elected = as_json("device", "elect", "GD-DSOW-01", "ccer", "--from", "2025-01-01")
    assert elected["recorded"] is True
    assert as_json("device", "elect", "GD-DSOW-01", "ccer", "--from", "2025-01-01")["recorded"] is False
    refused = run("device", "elect", "SIP-PV-0001", "ccer", "--from", "2025-01-01", code=2)
    assert "ELECTION_NOT_APPLICABLE" in refused.stderr


def test_the_disclosure_names_cancelled_gecs_in_serial_notation(cli_home: Path) -> None:
    """公示 is read by people: serials as <batch>:<first>-<last>, inclusive, in the text and the JSON."""
    run("device", "register", "JS-DSOW-01", "--technology", "deep_sea_offshore_wind", "--capacity-kw", "5000",
        "--province", "江苏", "--city", "盐城", "--owner", "SIP-PV-OPS", "--commissioned-on", "2024-06-30",
        "--scheme", "GEC", "--scheme", "CCER")  # fmt: skip
    run("meter", "import", str(write_csv(cli_home / "jan.csv", f"JS-DSOW-01,{JAN},80000,0")))
    run("issue", "gec", "--device", "JS-DSOW-01", "--month", "2025-01", "--account", GEN)
    gecs = "GEC-202501-JS-DSOW-01-T"
    run("transfer", gecs, "--from", GEN, "--to", "acct:sip-fab-01", "--quantity", "30", "--on", "2025-02-10")
    run("device", "elect", "JS-DSOW-01", "ccer", "--from", "2025-01-01")
    registered = run("project", "register", "CCER-DSOW", "--methodology", "CCER-01-001-V01", "--owner", "SIP-PV-OPS",
        "--device", "JS-DSOW-01", "--factor", "SIP-2020-PURCHASED", "--crediting-start", "2025-01-01",
        "--crediting-end", "2034-12-31", "--on", "2025-03-01").stdout  # fmt: skip
    # registration says what it froze: the 50 unsold of January's 80 GECs, by serial
    assert "froze 50 GEC(s)" in registered and f"{gecs}:31-80 (50)" in registered
    assert as_json("project", "show", "CCER-DSOW")["frozen_gecs"] == [
        {"batch": gecs, "serials": [f"{gecs}:31-80"], "units": 50}
    ]
    ccer = as_json("issue", "ccer", "--project", "CCER-DSOW", "--period-start", "2025-01-01", "--period-end",
                   "2025-01-31", "--kgco2e", "10000", "--account", GEN)["batch"]  # fmt: skip
    shown = as_json("project", "disclosure", ccer)
    (cancelled,) = shown["cancelled"]
    assert cancelled["batch"] == gecs and "ranges" not in cancelled
    assert cancelled["serials"][0].startswith(f"{gecs}:31-")  # serials 1-30 were sold: never cancelled
    text = run("project", "disclosure", ccer).stdout
    assert cancelled["serials"][0] in " ".join(text.split()) and "[30," not in text


def test_claims_check_summarises_hourly_readings_by_month_and_details_on_request(cli_home: Path) -> None:
    hours = [datetime(2025, 3, 1, tzinfo=CHINA) + timedelta(hours=h) for h in range(24 * 31)]  # March, hourly
    rows = [f"SIP-PV-0002,{a.isoformat()},{(a + timedelta(hours=1)).isoformat()},{100 + a.hour},0" for a in hours]
    run("meter", "import", str(write_csv(cli_home / "march.csv", f"SIP-PV-0002,{JAN},9000,0", *rows)))
    run("issue", "gec", "--device", "SIP-PV-0002", "--month", "2025-01", "--account", GEN)
    metered = sum(100 + a.hour for a in hours)
    summary = run("claims", "check", "SIP-PV-0002").stdout
    lines = [line for line in summary.splitlines() if "2025-0" in line]
    assert len(lines) == 2, summary  # one line per month, not 745
    (january,) = [line for line in lines if "2025-01" in line]
    (march,) = [line for line in lines if "2025-03" in line]
    assert "GEC-202501-SIP-PV-0002-T" in january and "9000" in january
    assert f"{len(hours)}" in march and str(metered) in march and "not issued" in march
    detail = run("claims", "check", "SIP-PV-0002", "--month", "2025-03", "--detail").stdout
    assert sum(".." in line for line in detail.splitlines()) == len(hours)
    report = as_json("claims", "check", "SIP-PV-0002")
    assert [(m["month"], m["readings"], m["metered_kwh"], m["free_kwh"]) for m in report["months"]] == [
        ("2025-01", 1, 9_000, 0),
        ("2025-03", len(hours), metered, metered),
    ]
    assert len(report["intervals"]) == len(hours) + 1
