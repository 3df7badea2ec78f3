"""Publishing a checkpoint: asking the witnesses of the log's policy to cosign it (C2SP
tlog-witness, as a client), keeping their cosignatures, and marking it published when they meet
the quorum.

For each witness with a URL, in parallel, over one keep-alive HTTP client: POST add-checkpoint
with the old size the log last saw that witness cosign (0 if none) and the RFC 9162 consistency
proof from it. A 409 names the size the witness holds: the request is made again from there,
unless that size is beyond the log's head, which means the log was rolled back behind what the
witness saw (WITNESS_AHEAD; it cannot publish until it holds those events again). A 422 means the
witness's view of the log at that size is not a prefix of this one (WITNESS_REFUSED_PROOF). A
witness that is down or slow costs its timeout and no more: the others still count, and the next
publication asks it again.

Cosignature lines are verified against the policy's witness keys before they are kept; lines
from other keys are ignored.
"""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import httpx

from ledger.tlog.log import LogStore, StoredCheckpoint
from ledger.tlog.note import NoteError, _split_note, verify_cosignature
from ledger.tlog.policy import Policy, Witness
from ledger.tlog.witness import SIZE_TYPE

TIMEOUT = 5.0
"""Seconds a witness has to answer one add-checkpoint request."""


@dataclass
class Asked:
    """What one witness answered."""

    witness: str
    cosigned: bool
    code: str | None = None
    message: str = ""
    timestamp: int | None = None
    witness_size: int | None = None  # the size the witness holds, when it said (409)
    seconds: float = 0.0
    lines: list[tuple[str, int, str, int]] = field(default_factory=list, repr=False)


@dataclass
class Publication:
    tree_size: int
    published: bool
    quorum: str
    witnesses: list[Asked]
    note: str  # the checkpoint with every cosignature kept for it

    @property
    def code(self) -> str | None:
        if self.published:
            return None
        ahead = [a for a in self.witnesses if a.code == "WITNESS_AHEAD"]
        return "WITNESS_AHEAD" if ahead else "QUORUM_NOT_MET"

    @property
    def message(self) -> str:
        cosigners = [a.witness for a in self.witnesses if a.cosigned]
        if self.published:
            return f"checkpoint {self.tree_size} published: cosigned by {', '.join(cosigners) or 'no witness needed'}"
        failed = "; ".join(f"{a.witness}: {a.code}: {a.message}" for a in self.witnesses if not a.cosigned)
        return (
            f"checkpoint {self.tree_size} is not published: the quorum {self.quorum} is not met"
            f" (cosigned by {', '.join(cosigners) or 'none'}; {failed})"
        )

    def to_json(self) -> dict:
        return {
            "tree_size": self.tree_size,
            "published": self.published,
            "code": self.code,
            "message": self.message,
            "quorum": self.quorum,
            "witnesses": [{k: v for k, v in asdict(a).items() if k != "lines"} for a in self.witnesses],
            "note": self.note,
        }


def request_body(old: int, proof: list[bytes], note: str) -> bytes:
    """An add-checkpoint body: the old size line, the proof lines, an empty line, the note."""
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old}\n{lines}\n{note}".encode()


def _proof(log: LogStore, old: int, size: int) -> list[bytes]:
    return [] if old in (0, size) else log.consistency_proof(old, size).hashes


def ask(
    client: httpx.Client,
    log: LogStore,
    witness: Witness,
    cp: StoredCheckpoint,
    text: str,
    old: int,
    proof: list[bytes] | None = None,
) -> Asked:
    """Ask one witness to cosign, with the consistency proof from `old` (read here unless given);
    follow its 409s (at most a few) to the size it holds."""
    started = time.perf_counter()

    def done(asked: Asked) -> Asked:
        asked.seconds = time.perf_counter() - started
        return asked

    url = witness.url.rstrip("/") + "/add-checkpoint"  # type: ignore[union-attr]
    tried: set[int] = set()
    while True:
        if old > cp.tree_size:
            return done(Asked(witness.name, False, "WITNESS_AHEAD", f"the witness has cosigned size {old} of this"
                              f" log, beyond its head {cp.tree_size}: the log was rolled back behind what its"
                              " witnesses saw, and cannot publish until it holds those events again",
                              witness_size=old))  # fmt: skip
        tried.add(old)
        try:
            if proof is None:
                proof = _proof(log, old, cp.tree_size)
            answer = client.post(url, content=request_body(old, proof, cp.note))
        except httpx.HTTPError as e:
            return done(Asked(witness.name, False, "WITNESS_UNREACHABLE", f"{type(e).__name__}: {e}"))
        said = answer.text.strip()
        if answer.status_code == 409 and answer.headers.get("content-type", "").startswith(SIZE_TYPE):
            try:
                size = int(said)
            except ValueError:
                return done(Asked(witness.name, False, "WITNESS_ANSWER_INVALID", f"409 with size {said[:40]!r}"))
            if size in tried:  # a v1.0.0 witness answers 409 to the same size with another root
                return done(Asked(witness.name, False, "WITNESS_CONFLICT", f"409 from the size it holds, {size}: it"
                                  " cosigned another root there (a fork of this log, or a split view)",
                                  witness_size=size))  # fmt: skip
            old, proof = size, None
            continue
        if answer.status_code == 422:
            return done(Asked(witness.name, False, "WITNESS_REFUSED_PROOF", f"422 from size {old}: {said}",
                              witness_size=old))  # fmt: skip
        if answer.status_code != 200:
            return done(Asked(witness.name, False, "WITNESS_REFUSED", f"{answer.status_code}: {said[:300]}"))
        return done(_cosignatures(witness, text, answer.text, cp.tree_size))


def _cosignatures(witness: Witness, text: str, body: str, size: int) -> Asked:
    """Keep the lines of the answer that verify under the witness's key; ignore other keys'."""
    kept = []
    for line in body.splitlines():
        try:
            _, (sig,) = _split_note(text + "\n" + line + "\n")
        except (NoteError, ValueError):
            continue
        if (sig.name, sig.key_id) != (witness.verifier.name, witness.verifier.key_hash):
            continue
        try:
            timestamp = verify_cosignature(text, line, witness.verifier)
        except NoteError as e:
            return Asked(witness.name, False, "COSIGNATURE_INVALID", str(e))
        if timestamp == 0:
            return Asked(witness.name, False, "COSIGNATURE_INVALID", "the cosignature has no timestamp")
        kept.append((sig.name, sig.key_id, sig.line, timestamp))
    if not kept:
        return Asked(witness.name, False, "COSIGNATURE_MISSING", "200 without a cosignature from the witness's key")
    return Asked(witness.name, True, message=f"cosigned size {size}", timestamp=kept[0][3], lines=kept[:1])


_POOL = ThreadPoolExecutor(8, thread_name_prefix="oneclaim-witness")
"""The requests to witnesses go out in parallel from these threads (kept between publications)."""


def publish(
    log: LogStore,
    policy: Policy,
    cp: StoredCheckpoint,
    *,
    client: httpx.Client | None = None,
    timeout: float = TIMEOUT,
    recheck: bool = True,
) -> Publication:
    """Ask every witness of `policy` with a URL to cosign `cp` (in parallel), keep what verifies,
    and publish `cp` if the cosignatures kept for it meet the quorum: one read before the
    requests, one write transaction after.

    With `recheck` (the default), witnesses that already cosigned `cp` are asked again: only
    asking shows whether one has since seen more of this log than it holds (a log restored from
    a copy that had published `cp`). Without it (the background publisher, which runs again
    after every write anyway) they are not asked."""
    text, _ = _split_note(cp.note)
    sizes = log.witness_sizes()
    before = log.cosigned(cp)
    kept = _kept(policy, before)
    asking = [(w, sizes.get((w.verifier.name, w.verifier.key_hash), 0)) for w in policy.witnesses.values()
              if w.url and (recheck or w.name not in kept)]  # fmt: skip
    proofs = {old: _proof(log, old, cp.tree_size) for _, old in asking if old <= cp.tree_size}  # read once each
    own = client or httpx.Client(timeout=timeout)
    try:
        futures = [_POOL.submit(ask, own, log, w, cp, text, old, proofs.get(old)) for w, old in asking]
        answers = [f.result() for f in futures]
    finally:
        if client is None:
            own.close()
    lines = sorted(line for a in answers for line in a.lines)
    asked = {w.name for w, _ in asking}
    answers += [Asked(name, True, message="cosigned before", timestamp=ts) for name, ts in kept.items()
                if name not in asked]  # fmt: skip
    kept.update({a.witness: a.timestamp for a in answers if a.cosigned})
    answers += [Asked(w.name, False, "WITNESS_NO_URL", "the policy gives no URL for this witness")
                for w in policy.witnesses.values() if not w.url and w.name not in kept]  # fmt: skip
    # a witness that has seen more of this log than it holds outweighs any cosignature kept
    met = policy.satisfied(set(kept)) and not any(a.code == "WITNESS_AHEAD" for a in answers)
    if lines or met:
        log.add_cosignatures(cp.tree_size, lines, publish=met)
    note = before.note if not lines else log.cosigned(cp).note
    return Publication(cp.tree_size, met, policy.describe(), answers, note)


def _kept(policy: Policy, cosigned: StoredCheckpoint) -> dict[str, int]:
    """Policy names of the witnesses whose cosignature is kept on a checkpoint, with timestamps."""
    return {c.witness: c.timestamp for c in policy.cosigners(cosigned.note)}
