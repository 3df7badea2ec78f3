"""Cross-region transfers (issue 16): agreements in force on both sides, a packet sent, received
with proof, acknowledged; a refusal and a timeout refunded; and the attacks a relayer or a
partner could try, each performed against the real code."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest

from ledger.errors import LedgerError
from ledger.tlog.note import generate_signer
from tests.support import month
from tests.transfer_support import (
    BUYER,
    CHUZHOU,
    CODE,
    DEVICE,
    GEN,
    SUZHOU,
    Region,
    agree,
    carry,
    carry_back,
    chuzhou_with_buyer,
    decision_proof,
    region,
    suzhou_with_credits,
    terms,
)  # fmt: skip


@pytest.fixture
def pair(tmp_path: Path):
    suzhou, chuzhou = region(tmp_path, SUZHOU), region(tmp_path, CHUZHOU)
    batch = suzhou_with_credits(suzhou)
    chuzhou_with_buyer(chuzhou)
    agree(suzhou, chuzhou)
    yield suzhou, chuzhou, batch
    suzhou.ledger.close()
    chuzhou.ledger.close()


def send(suzhou: Region, batch: str, quantity: int = 10_000, timeout: date = date(2026, 6, 30)) -> dict:
    return suzhou.ledger.send_transfer(CODE, batch, GEN, BUYER, quantity=quantity, timeout_after=timeout)


def conservation(r: Region, code: str) -> dict:
    supply = r.ledger.batch(code).supply()
    assert sum(supply.values()) == r.ledger.batch(code).quantity
    return supply


def test_a_transfer_is_sent_received_with_proof_and_acknowledged(pair) -> None:
    suzhou, chuzhou, batch = pair
    total = suzhou.ledger.batch(batch).quantity
    sent = send(suzhou, batch)
    assert sent["sequence"] == 1 and sent["state"] == "in_transit"
    assert conservation(suzhou, batch).get("in_transit", 0) == 10_000
    # in transit: neither transferable nor retirable
    with pytest.raises(LedgerError) as e:
        suzhou.ledger.transfer(batch, GEN, GEN + "x", spans=[(0, 10)])
    assert e.value.code in ("UNITS_IN_TRANSIT", "ACCOUNT_NOT_FOUND")
    with pytest.raises(LedgerError) as e:
        suzhou.ledger.retire(batch, GEN, beneficiary="x", purpose="voluntary", reporting_period="2025",
                             location="苏州", spans=[(0, 10)])  # fmt: skip
    assert e.value.code == "UNITS_IN_TRANSIT"

    got = carry(suzhou, chuzhou, 1)
    assert got["outcome"] == "received" and got["quantity"] == 10_000 and not got["replayed"]
    received = chuzhou.ledger.batch(got["batch"])
    assert received.held_by(BUYER) == {"active": 10_000}
    assert received.origin["transfer"]["source"] == SUZHOU
    assert received.origin["transfer"]["source_index"] == sent["log_seq"]
    assert received.origin["provenance"][0]["device"] == DEVICE

    settled = carry_back(suzhou, chuzhou, 1)
    assert settled["state"] == "exported"
    supply = conservation(suzhou, batch)
    assert (supply["exported"], supply.get("in_transit", 0), supply["active"]) == (10_000, 0, total - 10_000)


def test_a_replayed_packet_changes_nothing_and_the_same_packet_through_two_relayers_is_received_once(pair) -> None:
    suzhou, chuzhou, batch = pair
    send(suzhou, batch)
    with ThreadPoolExecutor(2) as pool:  # two relayers carry the same packet at once
        results = list(pool.map(lambda _: carry(suzhou, chuzhou, 1), range(2)))
    assert sorted(r["replayed"] for r in results) == [False, True]
    assert {r["batch"] for r in results} == {f"{CODE}-1"}
    size = chuzhou.ledger.log.size()
    again = carry(suzhou, chuzhou, 1)
    assert again["replayed"] and chuzhou.ledger.log.size() == size
    settled = [carry_back(suzhou, chuzhou, 1) for _ in range(2)]
    assert [s["state"] for s in settled] == ["exported", "exported"]
    assert conservation(suzhou, batch)["exported"] == 10_000


def test_an_altered_packet_or_proof_is_refused_and_records_nothing(pair) -> None:
    suzhou, chuzhou, batch = pair
    sent = send(suzhou, batch)
    proof = suzhou.proof(sent["log_seq"])
    size = chuzhou.ledger.log.size()
    lines = proof.split("\n")
    extra_at = next(i for i, line in enumerate(lines) if line.startswith("extra "))
    import base64

    event = base64.b64decode(lines[extra_at][6:])
    for altered in (event.replace(b'"quantity":10000', b'"quantity":90000'),
                    event.replace(b"acct:cz-buyer", b"acct:cz-thief")):  # fmt: skip
        assert altered != event
        forged = "\n".join([*lines[:extra_at], "extra " + base64.b64encode(altered).decode(), *lines[extra_at + 1 :]])
        with pytest.raises(LedgerError) as e:
            chuzhou.ledger.receive_transfer(CODE, forged)
        assert e.value.code == "INCLUSION_PROOF_INVALID"
    # a checkpoint signed by another key (a forger's) under the same origin
    forger = generate_signer(SUZHOU)
    from ledger.tlog.note import Checkpoint, sign_note

    head = suzhou.ledger.log.size()
    note = sign_note(Checkpoint(SUZHOU, head, suzhou.ledger.log.root(head)).text(), forger)
    cp_at = proof.index("\n\n") + 2
    forged = proof[:cp_at] + note
    with pytest.raises(LedgerError) as e:
        chuzhou.ledger.receive_transfer(CODE, forged)
    assert e.value.code == "TLOG_PROOF_SIGNATURE"
    assert chuzhou.ledger.log.size() == size
    assert carry(suzhou, chuzhou, 1)["outcome"] == "received"  # the genuine one still goes through


def test_a_proof_under_a_checkpoint_the_policy_does_not_accept_is_refused(tmp_path: Path) -> None:
    suzhou, chuzhou = region(tmp_path, SUZHOU), region(tmp_path, CHUZHOU)
    batch = suzhou_with_credits(suzhou)
    chuzhou_with_buyer(chuzhou)
    witness = generate_signer("witness.jiaxing.example/w")  # named in the policy; never asked
    t = terms(suzhou, chuzhou)
    for p in t["parties"]:
        if p["origin"] == SUZHOU:  # Chuzhou wants a Jiaxing witness's cosignature on Suzhou's checkpoints
            p["policy"] = (
                f"log {p['verifier_key']}\nwitness jx {witness.cosignature_verifier().verifier_key()}\nquorum jx\n"
            )
    for r in (suzhou, chuzhou):
        r.ledger.record_agreement(t, r.origin)
    seq = suzhou.ledger.log.seq_of(suzhou.ledger.agreement(CODE).id, 1)
    with pytest.raises(LedgerError) as e:
        chuzhou.ledger.confirm_agreement(CODE, suzhou.proof(seq))
    assert e.value.code == "QUORUM_NOT_MET"
    assert chuzhou.ledger.agreement(CODE).confirmed is None
    # and nothing can be sent or received on an agreement not in force
    with pytest.raises(LedgerError) as e:
        suzhou.ledger.send_transfer(CODE, batch, GEN, BUYER, quantity=1, timeout_after=date(2026, 6, 30))
    assert e.value.code == "AGREEMENT_NOT_CONFIRMED"
    # the same proof with the Jiaxing witness's real cosignature meets Chuzhou's policy
    from ledger.tlog.note import _split_note, add_signature_lines, cosign

    proof = suzhou.proof(seq)
    cp_at = proof.index("\n\n") + 2
    note = proof[cp_at:]
    cosigned = add_signature_lines(note, cosign(_split_note(note)[0], witness, 1_780_000_000))
    chuzhou.ledger.confirm_agreement(CODE, proof[:cp_at] + cosigned)
    assert chuzhou.ledger.agreement(CODE).confirmed is not None


def test_a_timed_out_packet_is_refused_there_and_refunded_here_and_never_both(pair) -> None:
    suzhou, chuzhou, batch = pair
    before = conservation(suzhou, batch)
    send(suzhou, batch, timeout=date(2026, 6, 10))
    chuzhou.today[0] = date(2026, 6, 11)  # the relayer comes late
    got = carry(suzhou, chuzhou, 1)
    assert got["outcome"] == "refused" and got["code"] == "TRANSFER_TIMED_OUT"
    assert not any(b.code == f"{CODE}-1" for b in chuzhou.ledger.registered("batch"))
    refunded = carry_back(suzhou, chuzhou, 1)
    assert refunded["state"] == "refunded"
    assert conservation(suzhou, batch) == before  # the units are back, active
    # a receipt after the refund: the destination answers with its first decision
    again = carry(suzhou, chuzhou, 1)
    assert again["replayed"] and again["outcome"] == "refused"
    # and Suzhou's own TransferOut is no acknowledgement: it is not Chuzhou's log
    with pytest.raises(LedgerError) as e:
        suzhou.ledger.acknowledge_transfer(CODE, suzhou.proof(suzhou.ledger.packet(CODE, 1)["log_seq"]))
    assert e.value.code in ("TLOG_PROOF_SIGNATURE", "TLOG_PROOF_ORIGIN")
    assert suzhou.ledger.packet(CODE, 1)["state"] == "refunded"


def test_a_refund_needs_the_destinations_refusal_a_receipt_is_no_refund(pair) -> None:
    suzhou, chuzhou, batch = pair
    send(suzhou, batch)
    carry(suzhou, chuzhou, 1)
    receipt = decision_proof(chuzhou, 1)
    consistency = chuzhou.consistency(suzhou.ledger.agreement(CODE).partner_seen, receipt)
    # a relayer turns the receipt into a refusal: the bytes no longer match the signed tree
    import base64

    lines = receipt.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("extra "))
    event = base64.b64decode(lines[at][6:])
    refusal = event.replace(b"Agreement.TransferReceived", b"Agreement.TransferRefused")
    assert refusal != event
    lines[at] = "extra " + base64.b64encode(refusal).decode()
    with pytest.raises(LedgerError) as e:
        suzhou.ledger.acknowledge_transfer(CODE, "\n".join(lines), consistency)
    assert e.value.code == "INCLUSION_PROOF_INVALID"
    assert suzhou.ledger.packet(CODE, 1)["state"] == "in_transit"
    settled = suzhou.ledger.acknowledge_transfer(CODE, receipt, consistency)
    assert settled["state"] == "exported"
    assert conservation(suzhou, batch)["active"] == suzhou.ledger.batch(batch).quantity - 10_000


def test_units_whose_kwh_the_destination_already_claims_are_refused_naming_the_claim(tmp_path: Path) -> None:
    suzhou, chuzhou = region(tmp_path, SUZHOU), region(tmp_path, CHUZHOU)
    batch = suzhou_with_credits(suzhou)
    chuzhou_with_buyer(chuzhou)
    # Chuzhou also knows the device (a national GEC account), and issued GECs for January 2025
    chuzhou.ledger.add_participant("SIP-PV-OPS", "园区光伏运营商", "generator", "江苏", "苏州")
    chuzhou.ledger.open_account(GEN, "SIP-PV-OPS")
    chuzhou.ledger.register_device(DEVICE, "distributed_pv", 400, "江苏", "苏州", "SIP-PV-OPS", "2023-05-01")
    chuzhou.ledger.record_reading(DEVICE, *month(2025, 1), 52_400, 1_200)
    gecs = chuzhou.ledger.issue_gec(DEVICE, "2025-01", GEN)
    agree(suzhou, chuzhou)
    send(suzhou, batch)
    got = carry(suzhou, chuzhou, 1)
    assert got["outcome"] == "refused" and got["code"] == "DOUBLE_CLAIM"
    assert any(gecs[0].code in (c.get("batch") or "") for c in got["details"]["earlier_claims"])
    assert carry_back(suzhou, chuzhou, 1)["state"] == "refunded"


def test_packets_are_decided_in_order(pair) -> None:
    suzhou, chuzhou, batch = pair
    send(suzhou, batch, quantity=100)
    send(suzhou, batch, quantity=200)
    with pytest.raises(LedgerError) as e:
        carry(suzhou, chuzhou, 2)
    assert e.value.code == "PACKET_OUT_OF_ORDER"
    assert carry(suzhou, chuzhou, 1)["quantity"] == 100
    assert carry(suzhou, chuzhou, 2)["quantity"] == 200


def test_a_source_log_that_forks_after_sending_is_refused(pair, tmp_path: Path) -> None:
    import shutil

    from ledger.app import Ledger

    suzhou, chuzhou, batch = pair
    suzhou.ledger.close()
    shutil.copy(tmp_path / "suzhou.sqlite", tmp_path / "fork.sqlite")  # the operator keeps a copy
    suzhou.ledger = Ledger(f"sqlite:///{tmp_path / 'suzhou.sqlite'}", clock=lambda: suzhou.today[0])
    send(suzhou, batch, quantity=100)
    assert carry(suzhou, chuzhou, 1)["outcome"] == "received"  # Chuzhou relies on Suzhou's checkpoint
    # The fork: the copy, with the real key, sends another packet #1 (9,999 units) to Chuzhou.
    fork = Region(SUZHOU, Ledger(f"sqlite:///{tmp_path / 'fork.sqlite'}", clock=lambda: suzhou.today[0]),
                  suzhou.signer, suzhou.today)  # fmt: skip
    try:
        send(fork, batch, quantity=9_999)
        size = chuzhou.ledger.log.size()
        for _ in range(2):  # the fork at the size Chuzhou saw, then grown past it
            with pytest.raises(LedgerError) as e:
                carry(fork, chuzhou, fork.ledger.agreement(CODE).next_send - 1)
            assert e.value.code == "PARTNER_LOG_INCONSISTENT"
            send(fork, batch, quantity=1)
        assert chuzhou.ledger.log.size() == size  # nothing recorded
        assert chuzhou.ledger.batch(f"{CODE}-1").quantity == 100
    finally:
        fork.ledger.close()


def test_a_receipt_verifies_offline_and_a_tampered_one_does_not(pair, tmp_path: Path) -> None:
    from ledger.receipt import verify_receipt
    from ledger.tlog.policy import parse_policy

    suzhou, chuzhou, batch = pair
    send(suzhou, batch)
    carry(suzhou, chuzhou, 1)
    carry_back(suzhou, chuzhou, 1)
    suzhou.sign()
    files = suzhou.ledger.transfer_receipt(CODE, 1)
    out = tmp_path / "receipt"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    policies = parse_policy(files["policy-source.txt"]), parse_policy(files["policy-destination.txt"])
    summary = verify_receipt(out, *policies)
    assert (summary["outcome"], summary["settled_as"], summary["quantity"]) == ("received", "exported", 10_000)
    assert (summary["source"], summary["destination"], summary["received_as"]) == (SUZHOU, CHUZHOU, f"{CODE}-1")
    # the policies are the checker's: swapped, nothing verifies
    with pytest.raises(LedgerError):
        verify_receipt(out, *reversed(policies))
    # a decision of another packet does not complete this receipt
    send(suzhou, batch, quantity=5)
    carry(suzhou, chuzhou, 2)
    from tests.transfer_support import decision_proof

    (out / "decided.tlog-proof").write_text(decision_proof(chuzhou, 2))
    with pytest.raises(LedgerError) as e:
        verify_receipt(out, *policies)
    assert e.value.code == "RECEIPT_INVALID"


def test_a_retried_send_with_the_same_request_id_sends_one_packet(pair) -> None:
    suzhou, chuzhou, batch = pair

    def send_once(quantity: int, request_id: str) -> dict:
        return suzhou.ledger.send_transfer(CODE, batch, GEN, BUYER, timeout_after=date(2026, 6, 30),
                                           quantity=quantity, request_id=request_id)  # fmt: skip

    first = send_once(300, "holder-1/a")
    with ThreadPoolExecutor(4) as pool:  # retries, some at once: each answers the first packet
        again = list(pool.map(lambda _: send_once(300, "holder-1/a"), range(4)))
    assert [a["sequence"] for a in again] == [first["sequence"]] * 4
    assert suzhou.ledger.agreement(CODE).next_send == 2
    assert conservation(suzhou, batch)["in_transit"] == 300
    with pytest.raises(LedgerError) as e:  # the same id for another send is refused, and sends nothing
        send_once(301, "holder-1/a")
    assert e.value.code == "REQUEST_ID_REUSED" and suzhou.ledger.agreement(CODE).next_send == 2
    assert send_once(300, "holder-1/b")["sequence"] == 2  # another id is another transfer
    # the log keeps only digests of the request: nothing names the participant
    assert b"holder-1" not in b"".join(suzhou.ledger.log.entries(0, suzhou.ledger.log.size()))
