"""Two registries in one process (Suzhou and Chuzhou), each its own SQLite ledger, log key and
origin, and an in-process carrier of their proofs (what `oneclaim relay` does over HTTP)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ledger.app import Ledger
from ledger.tlog.note import Signer, generate_signer
from tests.support import month

SUZHOU, CHUZHOU = "suzhou.oneclaim.example/log", "chuzhou.oneclaim.example/log"
CODE = "SIP-CZ-2026"
GEN, BUYER = "acct:sip-pv-ops", "acct:cz-buyer"
DEVICE, PROGRAMME = "SIP-PV-0042", "SIP-PHCER"
TODAY = date(2026, 6, 1)


@dataclass
class Region:
    origin: str
    ledger: Ledger
    signer: Signer
    today: list[date]

    def sign(self) -> None:
        self.ledger.sign_checkpoint(self.signer, self.origin)

    def proof(self, seq: int) -> str:
        """A tlog-proof of entry `seq` under a fresh checkpoint of the head."""
        self.sign()
        return self.ledger.log.tlog_proof(seq)

    def consistency(self, seen: dict | None, proof: str) -> list[str]:
        """What a relayer fetches from this registry: the consistency proof between the
        checkpoint the other side relied on and the one a proof rests on."""
        from ledger.tlog.note import _split_note, parse_checkpoint
        from ledger.tlog.tlogproof import parse_tlog_proof

        if seen is None:
            return []
        size = parse_checkpoint(_split_note(parse_tlog_proof(proof).checkpoint)[0]).size
        lo, hi = sorted((seen["size"], size))
        if lo == hi:
            return []
        return [base64.b64encode(h).decode() for h in self.ledger.log.consistency_proof(lo, hi).hashes]


def party(region: Region, quorum: str = "none") -> dict:
    policy = f"log {region.signer.verifier_key()}\nquorum {quorum}\n"
    return {"origin": region.origin, "verifier_key": region.signer.verifier_key(), "policy": policy}


def terms(a: Region, b: Region, **overrides) -> dict:
    recognised = {"instruments": ["INCLUSION", "CCER"], "methodologies": ["distributed_pv"]}
    out = {
        "code": CODE,
        "parties": sorted([party(a), party(b)], key=lambda p: p["origin"]),
        "recognises": {a.origin: dict(recognised), b.origin: dict(recognised)},
        "valid_from": "2026-01-01",
        "valid_until": "2028-12-31",
    }
    return out | overrides


def region(tmp: Path, origin: str) -> Region:
    today = [TODAY]
    ledger = Ledger(f"sqlite:///{tmp / (origin.split('.')[0] + '.sqlite')}", clock=lambda: today[0])
    return Region(origin, ledger, generate_signer(origin), today)


def suzhou_with_credits(r: Region) -> str:
    """Suzhou's PV operator with carbon-inclusion credits for January 2025; the batch code."""
    ledger = r.ledger
    ledger.add_participant("SIP-PV-OPS", "园区光伏运营商", "generator", "江苏", "苏州")
    ledger.open_account(GEN, "SIP-PV-OPS")
    ledger.register_device(DEVICE, "distributed_pv", 400, "江苏", "苏州", "SIP-PV-OPS", "2023-05-01",
                           ("GEC", "INCLUSION"))  # fmt: skip
    ledger.establish_programme(PROGRAMME, "苏州工业园区碳普惠", "苏州", ["distributed_pv"], "SIP-2020-PURCHASED")
    ledger.record_reading(DEVICE, *month(2025, 1), 52_400, 1_200)
    return ledger.issue_inclusion(PROGRAMME, "distributed_pv", GEN, device=DEVICE, month="2025-01").code


def chuzhou_with_buyer(r: Region) -> None:
    r.ledger.add_participant("CZ-BUYER", "滁州买方企业", "consumer", "安徽", "滁州")
    r.ledger.open_account(BUYER, "CZ-BUYER")


def agree(a: Region, b: Region, **overrides) -> None:
    """Both sides record the same terms, and each confirms the other's record with a proof."""
    t = terms(a, b, **overrides)
    for r in (a, b):
        r.ledger.record_agreement(t, r.origin)
    for here, there in ((a, b), (b, a)):
        seq = there.ledger.log.seq_of(there.ledger.agreement(CODE).id, 1)
        proof = there.proof(seq)
        here.ledger.confirm_agreement(CODE, proof, there.consistency(here.ledger.agreement(CODE).partner_seen, proof))


def carry(src: Region, dst: Region, sequence: int) -> dict:
    """Relay packet `sequence` from src to dst (its TransferOut event, proved)."""
    seq = src.ledger.packet(CODE, sequence)["log_seq"]
    proof = src.proof(seq)
    return dst.ledger.receive_transfer(CODE, proof, src.consistency(dst.ledger.agreement(CODE).partner_seen, proof))


def decision_proof(dst: Region, sequence: int) -> str:
    from tests.transfer_support import _decision_seq

    return dst.proof(_decision_seq(dst, sequence))


def _decision_seq(dst: Region, sequence: int) -> int:
    from ledger.crossing import TOPIC_RECEIVED, TOPIC_REFUSED

    agreement = dst.ledger.agreement(CODE)
    topic = TOPIC_RECEIVED if agreement.decided[sequence]["outcome"] == "received" else TOPIC_REFUSED
    return dst.ledger._event_seq(agreement, topic, sequence)


def carry_back(src: Region, dst: Region, sequence: int) -> dict:
    """Relay dst's decision on packet `sequence` back to src (its acknowledgement)."""
    proof = decision_proof(dst, sequence)
    return src.ledger.acknowledge_transfer(CODE, proof, dst.consistency(src.ledger.agreement(CODE).partner_seen, proof))
