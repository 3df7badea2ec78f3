"""Cross-region transfers between two real `oneclaim serve` processes (Suzhou and Chuzhou) on
loopback, carried by `oneclaim relay`: recognition recorded on both sides and put in force by the
relayer, a transfer received and acknowledged, a refusal refunded, a receipt checked offline,
a lying relayer refused, and the destination SIGKILLed mid-transfer, after which the transfer
completes exactly once."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
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


def _serve(home: Path, env: dict[str, str] | None = None):
    return serving_process("serve", "--home", str(home), "--publish-every", "0.1", env=env)


def _relay(a: str, ta: str, b: str, tb: str) -> list[dict]:
    lines = run("relay", "--a", a, "--a-token", ta, "--b", b, "--b-token", tb, "--channel", CODE, "--passes", "1",
                "--json").stdout.splitlines()  # fmt: skip
    return [json.loads(line) for line in lines]


def _agreement(url: str, token: str) -> dict:
    return httpx.get(f"{url}/v1/agreements/{CODE}", headers={"Authorization": f"Bearer {token}"}).json()


def _recorded(tmp_path: Path) -> tuple[Path, Path, str, dict, str]:
    """Suzhou with credits and Chuzhou with a buyer, both having recorded the same terms (not yet
    in force: neither has seen the other's record); partner tokens on each, and the holder's."""
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
    return suzhou, chuzhou, batch, tokens, _token(suzhou, "SIP-PV-OPS", "holder")


def test_two_registries_transfer_through_an_untrusted_relayer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suzhou, chuzhou, batch, tokens, holder = _recorded(tmp_path)
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
        # traced end to end: the source's own events for the serial it came from, each proved there
        traced = as_json("provenance", f"{CODE}-1:1", "--partner", sz, "--partner-token", tokens[suzhou],
                         "--home", str(chuzhou))["there"]  # fmt: skip
        assert (traced["registry"], traced["serial"]) == (SUZHOU, f"{batch}:1")
        assert [e["type"] for e in traced["events"]] == ["Issued", "SentOut", "Exported"]
        assert traced["events"][1]["state"]["sequence"] == 1 and traced["events"][1]["state"]["channel"] == CODE
        # a batch's events are public (their proofs carry their bytes): anyone traces, no token needed
        public_trace = as_json("provenance", f"{CODE}-1:1", "--partner", sz, "--home", str(chuzhou))["there"]
        assert public_trace["events"] == traced["events"]
        wrong = as_json("provenance", f"{CODE}-1:1", "--partner", cz, "--partner-token", tokens[chuzhou],
                        "--home", str(chuzhou), code=2)  # fmt: skip
        assert wrong["error"]["code"] == "PARTNER_UNAVAILABLE"
        # a lying partner API: an event renamed in its answer, or a genuine proof of another entry
        from oneclaim.relay import Registry

        honest = Registry.get

        def renamed(self, path: str, **params):
            answer = honest(self, path, **params)
            if path.endswith("/provenance"):
                body = answer.json()
                body["events"][1]["type"] = "Retired"
                return httpx.Response(200, json=body)
            return answer

        def elsewhere(self, path: str, **params):
            return honest(
                self, "/v1/proofs/inclusion/0" if path.startswith("/v1/proofs/inclusion/") else path, **params
            )

        for lie, code in ((renamed, "PARTNER_EVENT_INVALID"), (elsewhere, "PARTNER_EVENT_WRONG_KIND")):
            monkeypatch.setattr(Registry, "get", lie)
            refused = as_json("provenance", f"{CODE}-1:1", "--partner", sz, "--partner-token", tokens[suzhou],
                              "--home", str(chuzhou), code=2)  # fmt: skip
            assert refused["error"]["code"] == code, refused
            monkeypatch.setattr(Registry, "get", honest)
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


# Each step of a transfer, the process a SIGKILL there takes down (ledger/failpoint.py).
CRASHES = {
    "transfer.sent": "source",
    "transfer.decided": "destination",
    "transfer.published": "destination",
    "transfer.settled": "source",
    "relay.fetched": "relayer",
    "relay.delivered": "relayer",
}


def _covered(url: str, seq: int) -> bool:
    """Whether the registry's published checkpoint covers its log entry `seq`."""
    checkpoint = httpx.get(f"{url}/v1/checkpoint")
    return checkpoint.status_code == 200 and seq < int(checkpoint.text.split("\n")[1])


def _relayer_process(sz: str, tz: str, cz: str, tc: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`oneclaim relay` as its own process, so that a failpoint can SIGKILL it."""
    return subprocess.run(
        [sys.executable, "-m", "oneclaim", "relay", "--a", sz, "--a-token", tz, "--b", cz, "--b-token", tc,
         "--channel", CODE, "--passes", "1", "--json"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("point", list(CRASHES))
def test_a_sigkill_at_any_step_of_a_transfer_loses_nothing_and_does_nothing_twice(tmp_path: Path, point: str) -> None:
    """The source, the destination or the relayer dies with SIGKILL at one step of a transfer
    (a failpoint makes the step deterministic); restarted, the transfer completes exactly once:
    one packet, one decision, the units exported there and held here, both logs verify."""
    suzhou, chuzhou, batch, tokens, holder = _recorded(tmp_path)
    body = {"batch": batch, "from_account": GEN, "to_account": BUYER, "quantity": 1_234,
            "timeout_after": (today() + timedelta(days=30)).isoformat()}  # fmt: skip
    sender = {"Authorization": f"Bearer {holder}", "Idempotency-Key": "crash-test-1"}
    victim, fault = CRASHES[point], {"ONECLAIM_FAILPOINT": point}

    def packets(url: str) -> list[dict]:
        got = httpx.get(f"{url}/v1/agreements/{CODE}/packets", headers={"Authorization": f"Bearer {tokens[suzhou]}"})
        return got.json()["packets"]

    with (
        _serve(suzhou, fault if victim == "source" else None) as (sz, sz_proc),
        _serve(chuzhou, fault if victim == "destination" else None) as (cz, cz_proc),
    ):
        relay = lambda: _relay(sz, tokens[suzhou], cz, tokens[chuzhou])  # noqa: E731
        wait_for(lambda: relay() and _agreement(cz, tokens[chuzhou])["confirmed"], "the agreement in force")
        if point == "transfer.sent":  # the holder never hears back: the source died after saving
            with pytest.raises(httpx.TransportError):
                httpx.post(f"{sz}/v1/agreements/{CODE}/transfers", headers=sender, json=body)
        else:
            assert httpx.post(f"{sz}/v1/agreements/{CODE}/transfers", headers=sender, json=body).status_code == 201
        if victim == "relayer":
            wait_for(lambda: _covered(sz, packets(sz)[0]["log_seq"]), "the TransferOut under a published checkpoint")
            died = _relayer_process(sz, tokens[suzhou], cz, tokens[chuzhou], fault)
            assert died.returncode == -signal.SIGKILL, (died.stdout, died.stderr)
        elif victim == "destination":
            wait_for(lambda: relay() and cz_proc.poll() is not None, "the destination killed at its failpoint")
        elif point == "transfer.settled":
            wait_for(lambda: relay() and sz_proc.poll() is not None, "the source killed at its failpoint")
        killed = {"source": sz_proc, "destination": cz_proc}.get(victim)
        if killed is not None:
            assert killed.wait(timeout=30) == -signal.SIGKILL

    with _serve(suzhou) as (sz, _), _serve(chuzhou) as (cz, _):
        # the holder retries its send with the same Idempotency-Key: the first packet, not a second
        retried = httpx.post(f"{sz}/v1/agreements/{CODE}/transfers", headers=sender, json=body)
        assert (retried.status_code, retried.json()["sequence"]) == (201, 1), retried.text
        relay = lambda: _relay(sz, tokens[suzhou], cz, tokens[chuzhou])  # noqa: E731
        wait_for(lambda: relay() is not None and packets(sz)[0]["state"] == "exported", "the packet exported")
        for _ in range(2):  # more passes change nothing
            relay()
        assert [(p["sequence"], p["state"]) for p in packets(sz)] == [(1, "exported")]
        decisions = httpx.get(f"{cz}/v1/agreements/{CODE}/decisions",
                              headers={"Authorization": f"Bearer {tokens[chuzhou]}"}).json()["decisions"]  # fmt: skip
        assert [(d["sequence"], d["outcome"], d["quantity"]) for d in decisions] == [(1, "received", 1_234)]

    ledger = Home.at(suzhou).ledger()
    try:
        source = ledger.batch(batch)
        assert (source.supply()["exported"], source.supply().get("in_transit", 0)) == (1_234, 0)
        assert sum(source.supply().values()) == source.quantity
    finally:
        ledger.close()
    ledger = Home.at(chuzhou).ledger()
    try:
        assert ledger.batch(f"{CODE}-1").held_by(BUYER) == {"active": 1_234}
    finally:
        ledger.close()
    for home in (suzhou, chuzhou):
        report = as_json("audit", "verify", "--home", str(home))
        assert report["ok"], report
