"""The enterprise's side over HTTP, on a real `oneclaim serve` (issue 17): the operator opens a
carbon account and records the verified report; the enterprise (a holder token) claims carbon
neutrality from its retirements and fetches the certificate, which verifies offline; another
holder can neither claim for it nor read its account; the operator lists and acknowledges a
wash-transfer alert raised by the background projection."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import httpx
import pytest

from ledger.certificate import verify_certificate
from ledger.tlog.policy import parse_policy
from oneclaim.home import Home
from oneclaim.serve_cli import serving_process
from tests.registry_support import CON, CONSUMER, GEN, GENERATOR, TRD, market, one_gec_batch
from tests.support import as_json, run, wait_for

pytestmark = pytest.mark.timeout(300)
USCC = "91350100M000100Y43"


def _token(home: Path, participant: str, role: str) -> str:
    return as_json("token", "issue", "--participant", participant, "--role", role, "--home", str(home))["token"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    run("init", "--origin", "oneclaim.test/enterprise", "--home", str(home))
    ledger = Home.at(home).ledger()
    try:
        market(ledger)
        ledger.add_participant("SIP-REGISTRY", "登记机构", "registry", "江苏", "苏州")
        ledger.add_participant("CQC-SZ", "核查机构", "verifier", "江苏", "苏州")
        gec = one_gec_batch(ledger, 40)
        ledger.transfer(gec, GEN, CON, quantity=40, on=date(2025, 3, 1))
        ledger.establish_programme("SIP-PHCER", "碳普惠", "苏州", ["ev_charging"], "SIP-2020-PURCHASED")
        credits = ledger.issue_inclusion("SIP-PHCER", "ev_charging", GEN, subject="HUB", period="2025",
                                         kg_co2e=1_000_000).code  # fmt: skip
        ledger.transfer(credits, GEN, CON, quantity=500_000, on=date(2026, 1, 5))
        for batch, units in ((gec, 40), (credits, 500_000)):
            ledger.retire(batch, CON, beneficiary=CONSUMER, purpose="carbon_neutrality", reporting_period="2025",
                          location="苏州", quantity=units, on=date(2026, 1, 20))  # fmt: skip
        ledger.transfer(credits, GEN, TRD, quantity=1_000, on=date(2026, 2, 1))  # and a wash: there and back
        ledger.transfer(credits, TRD, GEN, quantity=1_000, on=date(2026, 2, 3))
    finally:
        ledger.close()
    policy = home.parent / "policy.txt"
    policy.write_text(f"log {Home.at(home).verifier_key()}\nquorum none\n")
    run("log", "set-policy", str(policy), "--home", str(home))
    return home


def test_an_enterprise_claims_over_http_and_its_certificate_verifies_offline(home: Path) -> None:
    tokens = {name: _token(home, who, role) for name, who, role in (
        ("operator", "SIP-REGISTRY", "operator"), ("auditor", "SIP-REGISTRY", "auditor"),
        ("enterprise", CONSUMER, "holder"), ("other", GENERATOR, "holder"))}  # fmt: skip
    with serving_process("serve", "--home", str(home), "--publish-every", "0.1") as (url, _):

        def client(name: str) -> httpx.Client:
            return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[name]}"}, timeout=30)

        with client("operator") as ops, client("enterprise") as fab, client("other") as other:
            opened = ops.post("/v1/carbon-accounts", json={"participant": CONSUMER, "uscc": USCC,
                                                           "sector": "electronics"})  # fmt: skip
            assert opened.status_code == 201 and USCC not in opened.text, opened.text
            reported = ops.post(f"/v1/carbon-accounts/{CONSUMER}/reports", json={
                "year": "2025", "inventory_sha256": hashlib.sha256(b"inventory").hexdigest(), "verifier": "CQC-SZ",
                "statement_sha256": hashlib.sha256(b"statement").hexdigest(),
                "scopes_kg": {"scope1": 100_000, "scope2": 48_000}, "electricity_mwh": 80,
                "value_added_10k_yuan": 400})  # fmt: skip
            assert reported.status_code == 201, reported.text
            account = fab.get(f"/v1/carbon-accounts/{CONSUMER}").json()["years"]["2025"]
            cited = [r["retirement_id"] for r in account["retirements"]]
            assert account["green_electricity_mwh"] == 40 and len(cited) == 2
            body = {"claimant": CONSUMER, "subject": "苏州某电子厂 2025", "period": "2025", "retirements": cited,
                    "on": "2026-02-10"}  # fmt: skip
            denied = other.post("/v1/claims", json=body)
            assert denied.status_code == 403 and denied.json()["code"] == "PARTICIPANT_NOT_YOURS"
            assert other.get(f"/v1/carbon-accounts/{CONSUMER}").status_code == 403
            made = fab.post("/v1/claims", json=body)
            assert made.status_code == 201, made.text
            code = made.json()["code"]
            assert made.json()["coverage"]["residual_kg"] == 100_000 + 24_000  # half the MWh uncovered
            again = fab.post("/v1/claims", json=body)
            assert again.status_code == 409 and again.json()["code"] == "RETIREMENT_ALREADY_USED"

            # the certificate, once a published checkpoint covers the claim; checked offline
            got = wait_for(lambda: (r := fab.get(f"/v1/claims/{code}/certificate")).status_code == 200 and r,
                           "the claim under a published checkpoint")  # fmt: skip
            policy = parse_policy(f"log {Home.at(home).verifier_key()}\nquorum none\n")
            assert verify_certificate(got.json(), policy)["claim"] == code
            page = fab.get(f"/v1/claims/{code}/certificate", params={"format": "html"})
            assert page.headers["content-type"].startswith("text/html") and "碳中和声明证明" in page.text
            rating = fab.get(f"/v1/carbon-accounts/{CONSUMER}/rating", params={"year": "2025"}).json()
            assert rating["colour"] == "light_green"  # 148,000 / 400 = 370 kg per 10,000 yuan, 88 % of 420
            avoided = fab.get(f"/v1/carbon-accounts/{CONSUMER}/avoided", params={"year": "2025"}).json()
            assert avoided["gec_mwh"] == 40 and "not an offset" in avoided["note"]

            # surveillance: the background projection raised the wash transfer
            (alert,) = wait_for(lambda: ops.get("/v1/alerts").json()["alerts"], "the wash-transfer alert")
            assert alert["rule"] == "WASH_TRANSFER" and alert["status"] == "open"
            with client("auditor") as aud:
                assert aud.get("/v1/alerts").status_code == 200
                assert (
                    aud.post(f"/v1/alerts/{alert['alert_id']}/acknowledgement", json={"note": "x"}).status_code == 403
                )
            done = ops.post(f"/v1/alerts/{alert['alert_id']}/acknowledgement", json={"note": "one group's accounts"})
            assert done.status_code == 201 and done.json()["status"] == "acknowledged"
            assert ops.get("/v1/alerts", params={"status": "open"}).json()["alerts"] == []
