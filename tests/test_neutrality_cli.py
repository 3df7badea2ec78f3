"""Issue 17 through the CLI, as an enterprise and its registry would: a carbon account, a verified
2025 report, GECs and carbon-inclusion credits retired, a carbon-neutral claim, its certificate
written and checked offline under the auditor's own policy (and refused when altered), the
account shown year by year; a claim short of coverage refused with the shortfall."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oneclaim.home import Home
from tests.conftest import BUYER, GEN
from tests.support import JAN, as_json, run, write_csv

FAB, GEC_BATCH = "SIP-FAB-01", "GEC-202501-SIP-PV-0001-T"
USCC = "91350100M000100Y43"


def _retire(batch: str, quantity: int, on: str = "2026-02-01") -> str:
    retired = as_json("retire", batch, "--account", BUYER, "--beneficiary", FAB, "--purpose", "carbon_neutrality",
                      "--period", "2025", "--location", "苏州", "--quantity", str(quantity), "--on", on)  # fmt: skip
    return retired["retirement_id"]


def test_an_enterprise_claims_carbon_neutrality_and_a_bank_checks_the_certificate_offline(cli_home: Path) -> None:
    run("meter", "import", str(write_csv(cli_home / "jan.csv", f"SIP-PV-0001,{JAN},52400,1200")))
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN)
    run("transfer", GEC_BATCH, "--from", GEN, "--to", BUYER, "--quantity", "52", "--on", "2025-03-01")
    run("programme", "add", "SIP-PHCER", "--name", "苏州工业园区碳普惠", "--region", "江苏苏州",
        "--factor", "SIP-2020-PURCHASED", "--methodology", "ev_charging")  # fmt: skip
    credits = as_json("issue", "inclusion", "--programme", "SIP-PHCER", "--methodology", "ev_charging", "--account",
                      GEN, "--subject", "SIP-EV-HUB", "--period", "2025", "--kgco2e", "500000")["batch"]  # fmt: skip
    run("transfer", credits, "--from", GEN, "--to", BUYER, "--quantity", "500000", "--on", "2026-01-10")
    run(
        "participant",
        "add",
        "CQC-SZ",
        "--name",
        "核查机构",
        "--role",
        "verifier",
        "--province",
        "江苏",
        "--city",
        "苏州",
    )

    opened = as_json("carbon-account", "open", FAB, "--uscc", USCC, "--sector", "electronics")
    salt = (cli_home / "home" / "uscc.salt").stat()
    assert salt.st_mode & 0o777 == 0o600 and USCC not in json.dumps(opened)
    (cli_home / "inventory.pdf").write_bytes(b"%PDF inventory 2025")
    (cli_home / "statement.pdf").write_bytes(b"%PDF verification statement 2025")
    run("carbon-account", "report", FAB, "--year", "2025", "--inventory", str(cli_home / "inventory.pdf"),
        "--statement", str(cli_home / "statement.pdf"), "--verifier", "CQC-SZ", "--scope1", "120000",
        "--scope2", "306000", "--electricity-mwh", "500")  # fmt: skip

    gecs, offsets = _retire(GEC_BATCH, 52), _retire(credits, 300_000)
    short = as_json("claim", "make", FAB, "--period", "2025", "--subject", "园区半导体企业 2025 年运营",
                    "--retirements", f"{gecs},{offsets}", "--on", "2026-02-15", code=2)["error"]  # fmt: skip
    assert short["code"] == "CLAIM_SHORTFALL" and short["details"]["shortfall_kg"] == 394_176 - 300_000
    more = _retire(credits, 100_000)
    made = as_json("claim", "make", FAB, "--period", "2025", "--subject", "园区半导体企业 2025 年运营",
                   "--retirements", f"{gecs},{offsets},{more}", "--on", "2026-02-15")  # fmt: skip
    code = made["code"]
    again = as_json("claim", "make", FAB, "--period", "2025", "--subject", "again", "--retirements", more,
                    "--on", "2026-02-16", code=2)["error"]  # fmt: skip
    assert again["code"] == "RETIREMENT_ALREADY_USED" and again["details"]["first"]["ref"] == code

    written = as_json("claim", "certificate", code, "--out", str(cli_home / "certificate"))
    assert written["proofs"] == 1 + 1 + 2 + 3 + 3  # claim, report, 2 issuances, 3 retirements and their uses
    policy = cli_home / "auditor-policy.txt"  # the bank's own copy of the registry's key
    policy.write_text(f"log {Home.at(cli_home / 'home').verifier_key()}\nquorum none\n")
    checked = as_json("claim", "verify", written["json"], "--policy", str(policy))
    assert checked["ok"] and checked["claim"] == code and checked["coverage"]["offsets_kg"] == 400_000
    vkey = Home.at(cli_home / "home").verifier_key()
    assert as_json("claim", "verify", written["json"], "--key", vkey)["ok"]
    assert as_json("claim", "verify", written["json"], code=2)["error"]["code"] == "KEY_REQUIRED"
    assert "碳中和声明证明" in Path(written["html"]).read_text()

    document = json.loads(Path(written["json"]).read_text())
    document["certificate"]["coverage"]["residual_kg"] = 1  # a claim made to look bigger than proved
    forged = cli_home / "forged.json"
    forged.write_text(json.dumps(document))
    refused = as_json("claim", "verify", str(forged), "--policy", str(policy), code=2)["error"]
    assert refused["code"] == "CERTIFICATE_INVALID" and refused["details"]["field"] == "coverage"

    account = as_json("carbon-account", "show", FAB)["years"]["2025"]
    assert account["green_electricity_mwh"] == 52 and account["credits_retired_kg"]["INCLUSION"] == 400_000
    assert account["claims"] == [code] and account["report"]["scopes_kg"]["scope1"] == 120_000
    assert {r["retirement_id"]: r["used_by"]["ref"] for r in account["retirements"]} == dict.fromkeys(
        (gecs, offsets, more), code
    )


def test_the_operator_lists_shows_and_acknowledges_a_wash_transfer_alert(cli_home: Path) -> None:
    run("programme", "add", "SIP-PHCER", "--name", "苏州工业园区碳普惠", "--region", "江苏苏州",
        "--factor", "SIP-2020-PURCHASED", "--methodology", "ev_charging")  # fmt: skip
    credits = as_json("issue", "inclusion", "--programme", "SIP-PHCER", "--methodology", "ev_charging", "--account",
                      GEN, "--subject", "SIP-EV-HUB", "--period", "2025", "--kgco2e", "500000")["batch"]  # fmt: skip
    assert as_json("alerts", "list")["alerts"] == []
    run("transfer", credits, "--from", GEN, "--to", BUYER, "--quantity", "1000", "--on", "2026-01-10")
    run("transfer", credits, "--from", BUYER, "--to", GEN, "--quantity", "1000", "--on", "2026-01-12")
    (alert,) = as_json("alerts", "list")["alerts"]
    assert alert["rule"] == "WASH_TRANSFER" and alert["status"] == "open"
    run("log", "sign")  # the proofs are under a signed checkpoint over the events
    shown = as_json("alerts", "show", alert["alert_id"])
    assert sorted(shown["proofs"]) == sorted(str(s) for s in alert["seqs"])
    done = as_json("alerts", "acknowledge", alert["alert_id"], "--by", "SIP-OPS-1", "--note", "same group")
    assert done["status"] == "acknowledged" and as_json("alerts", "list", "--status", "open")["alerts"] == []
    again = as_json("alerts", "acknowledge", alert["alert_id"], "--by", "SIP-OPS-1", "--note", "x", code=2)
    assert again["error"]["code"] == "ALERT_ALREADY_ACKNOWLEDGED"


def test_the_account_page_proves_each_retirement_behind_its_figures(cli_home: Path) -> None:
    from ledger.tlog.policy import parse_policy
    from ledger.tlog.tlogproof import TlogProofError, verify_tlog_proof

    run("meter", "import", str(write_csv(cli_home / "jan.csv", f"SIP-PV-0001,{JAN},52400,1200")))
    run("issue", "gec", "--device", "SIP-PV-0001", "--month", "2025-01", "--account", GEN)
    run("transfer", GEC_BATCH, "--from", GEN, "--to", BUYER, "--quantity", "52", "--on", "2025-03-01")
    run("carbon-account", "open", FAB, "--uscc", USCC, "--sector", "electronics")
    rid = _retire(GEC_BATCH, 30)
    (row,) = as_json("carbon-account", "show", FAB, "--proofs")["years"]["2025"]["retirements"]
    assert row["retirement_id"] == rid and row["units"] == 30
    assert "extra " not in row["tlog_proof"]  # the proof without the event's bytes: the checker has them
    ledger = Home.at(cli_home / "home").ledger()
    try:
        (event,) = ledger.log.entries(row["seq"], row["seq"] + 1)  # what the tiles serve
    finally:
        ledger.close()
    policy = parse_policy(f"log {Home.at(cli_home / 'home').verifier_key()}\nquorum none\n")
    assert json.loads(verify_tlog_proof(row["tlog_proof"], policy, event).event)["state"]["retirement_id"] == rid
    forged = event.replace(b"30]", b"31]")  # the retired range made one unit longer
    assert forged != event
    with pytest.raises(TlogProofError):
        verify_tlog_proof(row["tlog_proof"], policy, forged)
