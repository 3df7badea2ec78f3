"""Cross-region transfers between two real `oneclaim serve` processes (Suzhou and Chuzhou) on
loopback, carried by `oneclaim relay`: recognition recorded on both sides and put in force by the
relayer, a transfer received and acknowledged, a refusal refunded, a receipt checked offline,
a lying relayer refused, and the destination SIGKILLed mid-transfer, after which the transfer
completes exactly once."""

from __future__ import annotations

import base64
import json
import signal
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from ledger.app import today
from oneclaim.home import Home
from oneclaim.serve_cli import serving_process
from tests.support import as_json, run, wait_for
from tests.transfer_support import (
    BUYER,
    CHUZHOU,
    CODE,
    GEN,
    SUZHOU,
    chuzhou_with_buyer,
    suzhou_with_credits,
)  # fmt: skip

pytestmark = pytest.mark.timeout(300)


def _home(tmp_path: Path, origin: str, fill) -> Path:
    home = tmp_path / origin.split(".")[0]
    run("init", "--origin", origin, "--home", str(home))
    ledger = Home.at(home).ledger()
    try:
        made = fill(SimpleNamespace(ledger=ledger))
        ledger.add_participant("PARTNER", "partner registry", "registry", "-", "-")
    finally:
        ledger.close()
    policy = tmp_path / f"{origin.split('.')[0]}-policy.txt"
    policy.write_text(f"log {Home.at(home).verifier_key()}\nquorum none\n")
    run("log", "set-policy", str(policy), "--home", str(home))
    return home, made


def _token(home: Path, participant: str, role: str) -> str:
    return as_json("token", "issue", "--participant", participant, "--role", role, "--home", str(home))["token"]


def _serve(home: Path):
    return serving_process("serve", "--home", str(home), "--publish-every", "0.1")


def _relay(a: str, ta: str, b: str, tb: str) -> list[dict]:
    lines = run("relay", "--a", a, "--a-token", ta, "--b", b, "--b-token", tb, "--channel", CODE, "--passes", "1",
                "--json").stdout.splitlines()  # fmt: skip
    return [json.loads(line) for line in lines]


def _agreement(url: str, token: str) -> dict:
    return httpx.get(f"{url}/v1/agreements/{CODE}", headers={"Authorization": f"Bearer {token}"}).json()


def test_two_registries_transfer_through_an_untrusted_relayer(tmp_path: Path) -> None:
    suzhou, batch = _home(tmp_path, SUZHOU, suzhou_with_credits)
    chuzhou, _ = _home(tmp_path, CHUZHOU, chuzhou_with_buyer)
    terms = tmp_path / "terms.json"
    terms.write_text(run("agreement", "terms", "--code", CODE, "--partner-origin", CHUZHOU, "--partner-key",
                         Home.at(chuzhou).verifier_key(), "--partner-policy", str(tmp_path / "chuzhou-policy.txt"),
                         "--instruments", "INCLUSION", "--valid-until", "2099-12-31",
                         "--home", str(suzhou)).stdout)  # fmt: skip
    for home in (suzhou, chuzhou):
        assert not as_json("agreement", "record", str(terms), "--home", str(home))["in_force"]
    tokens = {home: _token(home, "PARTNER", "partner") for home in (suzhou, chuzhou)}
    holder = _token(suzhou, "SIP-PV-OPS", "holder")
    timeout = (today() + timedelta(days=30)).isoformat()

    with _serve(suzhou) as (sz, _), _serve(chuzhou) as (cz, cz_proc):
        relay = lambda: _relay(sz, tokens[suzhou], cz, tokens[chuzhou])  # noqa: E731
        # the relayer puts the agreement in force on both sides (each sees the other's record)
        wait_for(lambda: relay() and _agreement(sz, tokens[suzhou])["confirmed"]
                 and _agreement(cz, tokens[chuzhou])["confirmed"], "the agreement in force on both sides")  # fmt: skip

        # 1. sent through the API by the holder, relayed, received, acknowledged
        sent = httpx.post(f"{sz}/v1/agreements/{CODE}/transfers", headers={"Authorization": f"Bearer {holder}"},
                          json={"batch": batch, "from_account": GEN, "to_account": BUYER, "quantity": 10_000,
                                "timeout_after": timeout})  # fmt: skip
        assert sent.status_code == 201, sent.text
        # a lying relayer: the packet's quantity altered in the proof it carries
        proof = wait_for(lambda: (r := httpx.get(f"{sz}/v1/proofs/inclusion/{sent.json()['log_seq']}",
                                                 params={"format": "tlog-proof"},
                                                 headers={"Authorization": f"Bearer {tokens[suzhou]}"})).status_code
                         == 200 and r.text, "the TransferOut under a published checkpoint")  # fmt: skip
        lines = proof.split("\n")
        event = base64.b64decode(lines[1][len("extra ") :])
        lines[1] = "extra " + base64.b64encode(event.replace(b'"quantity":10000', b'"quantity":99999')).decode()
        lie = httpx.post(f"{cz}/v1/agreements/{CODE}/receipts", headers={"Authorization": f"Bearer {tokens[chuzhou]}"},
                         json={"proof": "\n".join(lines)})  # fmt: skip
        assert lie.status_code == 409 and lie.json()["code"] == "INCLUSION_PROOF_INVALID"

        def settled(sequence: int) -> str | None:
            relay()
            got = httpx.get(f"{sz}/v1/agreements/{CODE}/packets", headers={"Authorization": f"Bearer {tokens[suzhou]}"})
            packet = next(p for p in got.json()["packets"] if p["sequence"] == sequence)
            return None if packet["state"] == "in_transit" else packet["state"]

        assert wait_for(lambda: settled(1), "packet 1 settled") == "exported"
        decisions = httpx.get(f"{cz}/v1/agreements/{CODE}/decisions",
                              headers={"Authorization": f"Bearer {tokens[chuzhou]}"}).json()["decisions"]  # fmt: skip
        assert [(d["sequence"], d["outcome"], d["quantity"]) for d in decisions] == [(1, "received", 10_000)]

        # 2. to an account Chuzhou does not have: refused there, refunded here
        as_json("agreement", "send", CODE, "--batch", batch, "--from", GEN, "--to", "acct:nobody",
                "--quantity", "500", "--timeout-after", timeout, "--home", str(suzhou))  # fmt: skip
        assert wait_for(lambda: settled(2), "packet 2 settled") == "refunded"

        # 3. the destination is SIGKILLed after the packet is sent; restarted, the transfer completes once
        as_json("agreement", "send", CODE, "--batch", batch, "--from", GEN, "--to", BUYER, "--quantity", "7",
                "--timeout-after", timeout, "--home", str(suzhou))  # fmt: skip
        cz_proc.send_signal(signal.SIGKILL)
        cz_proc.wait(timeout=30)
        assert any("unreachable" in action for action in relay())
    with _serve(suzhou) as (sz, _), _serve(chuzhou) as (cz, _):
        relay = lambda: _relay(sz, tokens[suzhou], cz, tokens[chuzhou])  # noqa: E731
        assert wait_for(lambda: settled(3), "packet 3 settled after the restart") == "exported"
        for _ in range(2):  # more passes change nothing
            relay()
        decisions = httpx.get(f"{cz}/v1/agreements/{CODE}/decisions",
                              headers={"Authorization": f"Bearer {tokens[chuzhou]}"}).json()["decisions"]  # fmt: skip
        assert [(d["sequence"], d["outcome"]) for d in decisions] == [(1, "received"), (2, "refused"), (3, "received")]
        # the provenance of a received serial names the source's TransferOut, with the proof relied on
        public = httpx.get(f"{cz}/v1/serials/{CODE}-1:1/provenance").json()["imported"]
        partner = httpx.get(f"{cz}/v1/serials/{CODE}-1:1/provenance",
                            headers={"Authorization": f"Bearer {tokens[chuzhou]}"}).json()["imported"]  # fmt: skip
        assert (public["source"], public["source_batch"]) == (SUZHOU, batch)
        assert "extra " not in public["tlog_proof"] and "extra " in partner["tlog_proof"]
        from ledger.tlog.policy import parse_policy
        from ledger.tlog.tlogproof import verify_tlog_proof

        proved = verify_tlog_proof(
            partner["tlog_proof"], parse_policy(f"log {Home.at(suzhou).verifier_key()}\nquorum none\n")
        )
        assert proved.index == public["source_index"] and b"TransferOut" in proved.event

    # conservation on both sides, and the receipt checked offline under the auditor's own policies
    ledger = Home.at(suzhou).ledger()
    try:
        supply = ledger.batch(batch).supply()
        assert (supply["exported"], supply.get("in_transit", 0)) == (10_007, 0)
        assert sum(supply.values()) == ledger.batch(batch).quantity
        ledger.sign_checkpoint(Home.at(suzhou).signer(), SUZHOU)
    finally:
        ledger.close()
    ledger = Home.at(chuzhou).ledger()
    try:
        held = [ledger.batch(f"{CODE}-{n}").held_by(BUYER) for n in (1, 3)]
        assert held == [{"active": 10_000}, {"active": 7}]
    finally:
        ledger.close()
    run("agreement", "receipt", CODE, "1", "--out", str(tmp_path / "receipt"), "--home", str(suzhou))
    auditor = {}
    for name, home in (("source", suzhou), ("destination", chuzhou)):
        auditor[name] = tmp_path / f"auditor-{name}.txt"
        auditor[name].write_text(f"log {Home.at(home).verifier_key()}\nquorum none\n")
    checked = as_json("audit", "verify-transfer", str(tmp_path / "receipt"), "--source-policy", str(auditor["source"]),
                      "--destination-policy", str(auditor["destination"]))  # fmt: skip
    assert (checked["outcome"], checked["settled_as"], checked["quantity"]) == ("received", "exported", 10_000)
    refused = as_json("audit", "verify-transfer", str(tmp_path / "receipt"), "--source-policy",
                      str(auditor["destination"]), "--destination-policy", str(auditor["source"]), code=2)  # fmt: skip
    assert refused["error"]["code"] in ("TLOG_PROOF_SIGNATURE", "TLOG_PROOF_ORIGIN")
