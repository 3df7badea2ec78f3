"""Events of a partner registry's log, believed only with proof (a light client of its log).

A partner event arrives as a C2SP tlog-proof whose `extra` is the event's canonical bytes. It is
accepted only if the checkpoint is signed by the partner's key and cosigned as the partner's
policy in the agreement requires, the event is included at the index given, and the checkpoint
is consistent with the largest checkpoint of that log this registry has relied on before (an
RFC 9162 consistency proof, in whichever direction the sizes lie). So a relayer can carry these
files but cannot alter, forge, replay into another channel, or show a fork of the partner's log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ledger.errors import Conflict, InvalidInput
from ledger.tlog.merkle import ProofError, verify_consistency
from ledger.tlog.note import NoteError, parse_checkpoint, parse_verifier_key
from ledger.tlog.policy import Policy, PolicyError, parse_policy
from ledger.tlog.tlogproof import TlogProofError, parse_tlog_proof, verify_tlog_proof


@dataclass(frozen=True)
class PartnerEvent:
    index: int
    tree_size: int
    root: str  # hex
    topic: str
    originator_id: str
    state: dict
    sha256: str  # of the event's canonical bytes

    @property
    def seen(self) -> dict:
        """The checkpoint this proof rests on, as recorded beside what it proved."""
        return {"size": self.tree_size, "root": self.root}


def party_policy(party: dict) -> Policy:
    """The partner's tlog-policy from the agreement, which must name its verifier key as a log."""
    try:
        policy = parse_policy(party["policy"])
        key = parse_verifier_key(party["verifier_key"])
    except (PolicyError, NoteError, ValueError) as e:
        raise InvalidInput(f"{party['origin']}: {e}", code="TERMS_INVALID") from None
    if key.name != party["origin"]:
        raise InvalidInput(f"the verifier key of {party['origin']} is named {key.name!r}", code="TERMS_INVALID")
    if (key.name, key.key_hash) not in {(v.name, v.key_hash) for v in policy.log_verifiers()}:
        raise InvalidInput(f"the policy for {party['origin']} does not name its verifier key as a log",
                           code="TERMS_INVALID")  # fmt: skip
    return policy


def _hashes(lines: list[str] | None) -> list[bytes]:
    try:
        out = [base64.b64decode(h, validate=True) for h in lines or []]
    except (binascii.Error, TypeError, ValueError):
        raise InvalidInput("the consistency proof is a list of base64 SHA-256 hashes", code="PROOF_MALFORMED") from None
    if any(len(h) != 32 for h in out):
        raise InvalidInput("the consistency proof is a list of base64 SHA-256 hashes", code="PROOF_MALFORMED")
    return out


def prove(party: dict, seen: dict | None, tlog_proof: str, consistency: list[str] | None = None) -> PartnerEvent:
    """Verify a partner event (see the module docstring); refused with a stable code otherwise."""
    policy = party_policy(party)
    try:
        proved = verify_tlog_proof(tlog_proof, policy)
        checkpoint = parse_checkpoint(proved_text(tlog_proof))
    except TlogProofError as e:
        raise Conflict(f"the proof from {party['origin']} does not verify: {e.message}", code=e.code) from None
    if checkpoint.origin != party["origin"]:
        raise Conflict(f"the proof is of log {checkpoint.origin!r}, not {party['origin']}", code="PROOF_WRONG_LOG")
    if seen is not None:
        _consistent(party["origin"], seen, checkpoint.size, checkpoint.root, _hashes(consistency))
    try:
        event = json.loads(proved.event)
        topic, originator, state = event["topic"], event["originator_id"], event["state"]
    except (ValueError, KeyError, TypeError):
        raise Conflict("the proved entry is not a OneClaim event", code="PARTNER_EVENT_INVALID") from None
    if not (isinstance(topic, str) and isinstance(originator, str) and isinstance(state, dict)):
        raise Conflict("the proved entry is not a OneClaim event", code="PARTNER_EVENT_INVALID")
    return PartnerEvent(proved.index, checkpoint.size, checkpoint.root.hex(), topic, originator, state,
                        hashlib.sha256(proved.event).hexdigest())  # fmt: skip


def proved_text(tlog_proof: str) -> str:
    from ledger.tlog.note import _split_note

    text, _ = _split_note(parse_tlog_proof(tlog_proof).checkpoint)
    return text


def _consistent(origin: str, seen: dict, size: int, root: bytes, proof: list[bytes]) -> None:
    """The new checkpoint and the one relied on before are two views of one append-only log."""
    old_size, old_root = seen["size"], bytes.fromhex(seen["root"])
    try:
        if size == old_size:
            if root != old_root:
                raise ProofError("same size, another root")
        elif size > old_size:
            verify_consistency(old_size, size, proof, old_root, root)
        else:
            verify_consistency(size, old_size, proof, root, old_root)
    except ProofError as e:
        raise Conflict(
            f"the checkpoint of {origin} at size {size} is not consistent with the one of size {old_size} relied on"
            f" before ({e}): a fork of that log, or a wrong consistency proof",
            code="PARTNER_LOG_INCONSISTENT",
            seen=seen,
            size=size,
        ) from None


def expect(event: PartnerEvent, topic: str, originator: Any) -> dict:
    """The state of a proved event that must be of `topic`, from aggregate `originator`."""
    if event.topic != topic or event.originator_id != originator.hex:
        raise Conflict(f"the proved event is a {event.topic} of {event.originator_id}, not a {topic} of"
                       f" {originator.hex}", code="PARTNER_EVENT_WRONG_KIND")  # fmt: skip
    return event.state
