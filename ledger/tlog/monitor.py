"""A monitor: gather what each witness of a policy last cosigned for a log, and check that all of
it, and what the log itself serves, is one history.

A witness never cosigns two inconsistent views of a log, but two witnesses may each have been
shown a different one (a split view), and a quorum smaller than half the witnesses would then let
both views be published. Only someone who compares the witnesses' checkpoints catches that. The
monitor reads each witness's monitoring endpoint (`GET <witness url>/<SHA-256 of the origin, hex>
/checkpoint`), keeps a checkpoint only if the policy's log key signed it and the witness's own
cosignature on it verifies, and then compares every checkpoint it kept, and the log's own
`GET /v1/checkpoint`, against the largest one:

- the same size with another root: SPLIT_VIEW. The two signed notes are the proof, and need
  nothing from the log;
- a smaller size: the log must give the RFC 9162 consistency proof to the largest
  (`GET /v1/proofs/consistency`), which is verified here. A proof that does not verify, or none,
  is CONSISTENCY_UNPROVEN: the log cannot show that the smaller view is a prefix of the larger.

A witness (or the log) that does not answer, or answers with something that does not verify, is
reported (WITNESS_UNREACHABLE, LOG_UNREACHABLE, CHECKPOINT_INVALID) but is no proof against the
log.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx

from ledger.errors import InvalidInput
from ledger.tlog.merkle import ProofError, verify_consistency
from ledger.tlog.note import NoteError, open_note, parse_checkpoint
from ledger.tlog.policy import Policy
from ledger.tlog.witness import origin_hash

TIMEOUT = 5.0


@dataclass
class Seen:
    """A checkpoint of the log as one source holds it (a witness, or the log itself)."""

    source: str  # a policy witness name, or "log"
    size: int
    root: bytes
    note: str


def gather(policy: Policy, origin: str, log_url: str, client: httpx.Client) -> tuple[list[Seen], list[dict]]:
    """What each witness of `policy` with a URL, and the log at `log_url`, hold for `origin`,
    verified; and a problem per source that gave nothing usable."""
    verifiers = policy.log_verifiers(origin)
    seen, problems = [], []
    sources = [(w.name, f"{w.url.rstrip('/')}/{origin_hash(origin)}/checkpoint") for w in policy.witnesses.values()
               if w.url]  # fmt: skip
    for name, url in [*sources, ("log", f"{log_url.rstrip('/')}/v1/checkpoint")]:
        unreachable = "LOG_UNREACHABLE" if name == "log" else "WITNESS_UNREACHABLE"
        try:
            answer = client.get(url)
        except httpx.HTTPError as e:
            problems.append({"source": name, "code": unreachable, "message": f"{url}: {type(e).__name__}"})
            continue
        if answer.status_code != 200:
            problems.append({"source": name, "code": unreachable, "message": f"{url}: HTTP {answer.status_code}"})
            continue
        note = answer.text
        try:
            text, _ = open_note(note, verifiers)
            checkpoint = parse_checkpoint(text)
            if name != "log" and name not in {c.witness for c in policy.cosigners(note)}:
                raise NoteError("COSIGNATURE_MISSING", f"no cosignature from {name} on it")
        except NoteError as e:
            problems.append({"source": name, "code": "CHECKPOINT_INVALID", "message": f"{url}: {e}"})
            continue
        if checkpoint.origin != origin:
            problems.append({"source": name, "code": "CHECKPOINT_INVALID", "message": f"{url}: origin"
                             f" {checkpoint.origin!r}, not {origin!r}"})  # fmt: skip
            continue
        seen.append(Seen(name, checkpoint.size, checkpoint.root, note))
    return seen, problems


def compare(seen: list[Seen], log_url: str, client: httpx.Client) -> list[dict]:
    """Every checkpoint against the largest: a split view at one size (proved by the two notes), or
    a smaller one the log cannot prove a prefix of it."""
    if not seen:
        return []
    largest = max(seen, key=lambda s: s.size)
    findings = []
    for s in seen:
        if s.size == largest.size:
            if s.root != largest.root:
                findings.append({"code": "SPLIT_VIEW", "sources": [largest.source, s.source], "size": s.size,
                                 "message": f"{largest.source} and {s.source} hold two checkpoints of size {s.size}"
                                 " with different roots, both signed by the log's key: a split view",
                                 "notes": [largest.note, s.note]})  # fmt: skip
            continue
        if s.size == 0:
            continue
        url = f"{log_url.rstrip('/')}/v1/proofs/consistency"
        try:
            answer = client.get(url, params={"old": s.size, "new": largest.size})
            hashes = [base64.b64decode(h) for h in answer.json()["hashes"]] if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            hashes = None
        problem = "the log gave no consistency proof" if hashes is None else None
        if hashes is not None:
            try:
                verify_consistency(s.size, largest.size, hashes, s.root, largest.root)
            except ProofError as e:
                problem = f"the log's consistency proof does not verify: {e}"
        if problem:
            findings.append({"code": "CONSISTENCY_UNPROVEN", "sources": [s.source, largest.source],
                             "size": s.size, "message": f"{s.source}'s checkpoint of size {s.size} is not proved a"
                             f" prefix of {largest.source}'s of size {largest.size}: {problem}",
                             "notes": [s.note, largest.note]})  # fmt: skip
    return findings


def monitor(policy: Policy, origin: str, log_url: str, *, timeout: float = TIMEOUT) -> dict:
    """Gather and compare; `consistent` is False when a finding proves or suggests two histories,
    and None when no view at all could be verified (nothing was compared)."""
    if not policy.log_verifiers(origin):
        raise InvalidInput(f"the policy has no log key for origin {origin!r}: nothing could be verified",
                           code="ORIGIN_NOT_IN_POLICY")  # fmt: skip
    with httpx.Client(timeout=timeout) as client:
        seen, problems = gather(policy, origin, log_url, client)
        findings = compare(seen, log_url, client)
    return {
        "origin": origin,
        "consistent": None if not seen else not findings,
        "seen": [{"source": s.source, "tree_size": s.size, "root": s.root.hex()} for s in seen],
        "largest": max((s.size for s in seen), default=0),
        "findings": findings,
        "problems": problems,
    }
