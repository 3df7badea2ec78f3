"""A cross-region transfer's receipt: three C2SP tlog-proofs, checked offline under the two
registries' policies, which the checker brings (docs/transfers.md has the steps, so that it can
be checked without OneClaim code).

    sent.tlog-proof      the source's TransferOut event (the packet)
    decided.tlog-proof   the destination's TransferReceived or TransferRefused of that packet
    settled.tlog-proof   the source's TransferSettled: exported (received) or refunded (refused)

The packet is bound by its SHA-256 (RFC 8785 bytes) across the three, the decision names the
index of the TransferOut in the source log, and the settlement names the index of the decision
in the destination log. Each proof's checkpoint must be signed by its log's key and cosigned as
its policy requires.
"""

from __future__ import annotations

import json
from pathlib import Path

from eventsourcing.utils import get_topic

from ledger.domain.agreement import Agreement, agreement_id, digest
from ledger.errors import Conflict
from ledger.tlog.policy import Policy
from ledger.tlog.tlogproof import ProvedEvent, TlogProofError, verify_tlog_proof

FILES = ("sent.tlog-proof", "decided.tlog-proof", "settled.tlog-proof")
_OUT, _RECEIVED, _REFUSED, _SETTLED = (
    get_topic(Agreement.TransferOut),
    get_topic(Agreement.TransferReceived),
    get_topic(Agreement.TransferRefused),
    get_topic(Agreement.TransferSettled),
)


def proved_json(name: str, text: str, policy: Policy, invalid: str, **where: str) -> tuple[ProvedEvent, dict]:
    """A tlog-proof verified under `policy`, and its event parsed as JSON; refused as a Conflict
    with the proof's own code, or `invalid` if the entry is not JSON (`where` names the proof in
    the details). Shared by the transfer receipt and the claim certificate."""
    try:
        proved = verify_tlog_proof(text, policy)
    except TlogProofError as e:
        raise Conflict(f"{name}: {e.message}", code=e.code, **where) from None
    try:
        return proved, json.loads(proved.event)
    except ValueError:
        raise Conflict(f"{name}: the proved entry is not JSON", code=invalid, **where) from None


def _event(name: str, text: str, policy: Policy) -> tuple[ProvedEvent, dict]:
    return proved_json(name, text, policy, "RECEIPT_INVALID", file=name)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise Conflict(message, code="RECEIPT_INVALID")


def verify_receipt(directory: Path, source: Policy, destination: Policy) -> dict:
    """Check a receipt directory; a summary of the transfer, or a Conflict naming what fails."""
    texts = {}
    for name in FILES:
        path = directory / name
        if not path.is_file():
            raise Conflict(f"{path} is missing", code="RECEIPT_INCOMPLETE", file=name)
        texts[name] = path.read_text()
    sent, out = _event("sent.tlog-proof", texts["sent.tlog-proof"], source)
    decided, decision = _event("decided.tlog-proof", texts["decided.tlog-proof"], destination)
    settled, settlement = _event("settled.tlog-proof", texts["settled.tlog-proof"], source)
    _require(sent.origin != decided.origin, "the decision comes from the source's own log")
    _require(settled.origin == sent.origin, "the settlement is not in the source's log")
    _require(out["topic"] == _OUT, f"sent.tlog-proof proves a {out['topic']}, not a TransferOut")
    packet = out["state"]["packet"]
    channel = agreement_id(packet["channel"]).hex
    _require(out["originator_id"] == channel, "the TransferOut is not the channel's")
    _require(digest(packet) == out["state"]["packet_sha256"], "the packet does not match its hash")
    _require(packet["source"] == sent.origin and packet["destination"] == decided.origin,
             "the packet names other registries than the logs that prove it")  # fmt: skip
    _require(decision["topic"] in (_RECEIVED, _REFUSED), f"decided.tlog-proof proves a {decision['topic']}")
    d = decision["state"]
    _require(decision["originator_id"] == channel, "the decision is not the channel's")
    _require((d["sequence"], d["packet_sha256"], d["source_index"]) == (packet["sequence"], digest(packet), sent.index),
             "the decision is about another packet")  # fmt: skip
    _require(settlement["topic"] == _SETTLED and settlement["originator_id"] == channel,
             f"settled.tlog-proof proves a {settlement['topic']}")  # fmt: skip
    s = settlement["state"]
    outcome = "received" if decision["topic"] == _RECEIVED else "refused"
    _require(s["sequence"] == packet["sequence"] and s["partner_index"] == decided.index,
             "the settlement is about another decision")  # fmt: skip
    _require(s["state"] == ("exported" if outcome == "received" else "refunded"),
             f"the source settled the packet as {s['state']} though the destination {outcome} it")  # fmt: skip
    return {
        "channel": packet["channel"],
        "sequence": packet["sequence"],
        "source": sent.origin,
        "destination": decided.origin,
        "instrument": packet["instrument"],
        "quantity": packet["quantity"],
        "serials": packet["serials"],
        "sender": packet["sender"],
        "receiver": packet["receiver"],
        "outcome": outcome,
        "refusal": d.get("code"),
        "received_as": d.get("batch"),
        "settled_as": s["state"],
        "proofs": {
            name: {
                "origin": p.origin,
                "index": p.index,
                "tree_size": p.tree_size,
                "cosigners": [{"witness": c.witness, "timestamp": c.timestamp} for c in p.cosigners],
            }
            for name, p in zip(FILES, (sent, decided, settled), strict=True)
        },  # fmt: skip
    }
