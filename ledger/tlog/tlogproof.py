"""Proofs of logging in the C2SP tlog-proof form (c2sp.org/tlog-proof@v1): one text file that
proves one event to anyone holding the log's policy, offline.

    c2sp.org/tlog-proof@v1
    extra <base64 of the event's canonical bytes>
    index <seq>
    <inclusion proof, one base64 hash per line, from the leaf's sibling up>
    <empty line>
    <the checkpoint, verbatim, with the log's signature and the witnesses' cosignatures>

OneClaim puts the event's canonical bytes (RFC 8785) in `extra`: the extra data is not trusted
by itself, but its RFC 9162 leaf hash, SHA-256(0x00 || bytes), is what the inclusion proof binds
to the signed root, so a verifier that recomputes the leaf from it trusts exactly what was
logged. A verifier may also be given the event's bytes out of band instead.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from ledger.tlog.merkle import leaf_hash
from ledger.tlog.merkle.proof import ProofError, verify_inclusion
from ledger.tlog.note import NoteError, open_note, parse_checkpoint
from ledger.tlog.policy import Cosigner, Policy

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,19})")


class TlogProofError(ValueError):
    """A tlog-proof refused; `code` says why (stable), the message what was wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: list[bytes]
    checkpoint: str  # the note, verbatim
    extra: bytes | None = None

    def text(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode() for h in self.hashes]
        return "\n".join(lines) + "\n\n" + self.checkpoint


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise TlogProofError("TLOG_PROOF_MALFORMED", f"{what} is not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise TlogProofError("TLOG_PROOF_MALFORMED", f"{what} is not in canonical base64")
    return raw


def parse_tlog_proof(text: str) -> TlogProof:
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise TlogProofError("TLOG_PROOF_MALFORMED", "no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise TlogProofError("TLOG_PROOF_MALFORMED", f"the first line must be {HEADER!r}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _b64(rest.pop(0)[len("extra ") :], "the extra line")
    if not rest or not (m := _INDEX.fullmatch(rest[0])):
        raise TlogProofError("TLOG_PROOF_MALFORMED", "an 'index <n>' line must follow (decimal, no leading zeroes)")
    hashes = [_b64(line, f"proof line {i}") for i, line in enumerate(rest[1:], 1)]
    if any(len(h) != 32 for h in hashes):
        raise TlogProofError("TLOG_PROOF_MALFORMED", "every proof line must be one SHA-256 hash")
    return TlogProof(int(m.group(1)), hashes, checkpoint, extra)


@dataclass
class ProvedEvent:
    origin: str
    index: int
    tree_size: int
    event: bytes
    cosigners: list[Cosigner]

    def to_json(self) -> dict:
        return {
            "origin": self.origin,
            "index": self.index,
            "tree_size": self.tree_size,
            "event": self.event.decode("utf-8", "replace"),
            "leaf_hash": leaf_hash(self.event).hex(),
            "cosigners": [{"witness": c.witness, "key_name": c.key_name, "timestamp": c.timestamp}
                          for c in self.cosigners],
        }  # fmt: skip


def verify_tlog_proof(text: str, policy: Policy, event: bytes | None = None) -> ProvedEvent:
    """Verify a tlog-proof under a policy: the checkpoint signed by one of the policy's logs
    (whose key name is its origin), the witnesses' cosignatures meeting its quorum, and the
    inclusion of the event (given, or the proof's `extra`) at `index` in the signed tree."""
    proof = parse_tlog_proof(text)
    data = event if event is not None else proof.extra
    if data is None:
        raise TlogProofError("TLOG_PROOF_NO_EVENT", "the proof carries no event (extra) and none was given")
    if event is not None and proof.extra is not None and proof.extra != event:
        raise TlogProofError("TLOG_PROOF_EVENT_MISMATCH", "the event given is not the one the proof carries")
    try:
        witnessed = policy.witnessed(proof.checkpoint)
        checkpoint = parse_checkpoint(witnessed.text)
    except NoteError as e:
        raise TlogProofError("TLOG_PROOF_SIGNATURE", f"the checkpoint is not signed by a policy's log: {e}") from None
    if checkpoint.origin not in {v.name for v in policy.log_verifiers()}:
        raise TlogProofError("TLOG_PROOF_ORIGIN", f"the checkpoint's origin {checkpoint.origin!r} is no log's key name")
    open_note(proof.checkpoint, policy.log_verifiers(checkpoint.origin))  # signed by that origin's own key
    if not witnessed.quorum_met:
        names = ", ".join(c.witness for c in witnessed.cosigners) or "none"
        raise TlogProofError(
            "QUORUM_NOT_MET", f"the checkpoint is cosigned by {names}; the policy wants {policy.describe()}"
        )
    try:
        verify_inclusion(proof.index, checkpoint.size, leaf_hash(data), proof.hashes, checkpoint.root)
    except ProofError as e:
        raise TlogProofError("INCLUSION_PROOF_INVALID", f"the event is not at index {proof.index}: {e}") from None
    return ProvedEvent(checkpoint.origin, proof.index, checkpoint.size, data, witnessed.cosigners)
