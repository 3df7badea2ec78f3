"""The reference verifier of a OneClaim audit bundle, meant to be read in one sitting.

It trusts nothing in the bundle but what the auditor's own trust root (ledger.tlog.trust) signs, and
checks, in this order, stopping at the first failure (a stable code and the seq where it is):

1. The manifest: format, fields and their types.
2. The keys: the bundle's two copies (manifest.json, verifier.key) agree, and they are the
   trusted key. The key that checks signatures is always the trusted one.
3. The checkpoints: every note is signed by the trusted key, is for the trusted origin, is
   named after its size, and the manifest lists exactly these sizes. At least one is non-empty.
4. Every line of events.jsonl, in order: it is canonical JSON (RFC 8785 over I-JSON), so its
   `event` member is canonical too; `seq` counts from 0; leaf = SHA-256(0x00 || event);
   chain = SHA-256(chain || leaf). At each checkpoint size, the RFC 9162 root of the leaves so
   far equals the signed root.
5. Coverage: the last checkpoint's size is the number of events (no event unsigned, none
   missing); the manifest's tree size and SHA-256 of events.jsonl are right.

The fast verifier (ledger.tlog.audit) does the same in parallel batches; tests/test_verifiers.py
proves the two agree on every tamper in tests/vectors/bundle.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ledger.tlog.canonical import NotCanonical, canonical_json, parse_canonical
from ledger.tlog.merkle import ZERO_CHAIN, CompactRange, chain_hash, leaf_hash
from ledger.tlog.note import NoteError, open_note, parse_checkpoint
from ledger.tlog.trust import Trust
from ledger.tlog.verdict import Failure, Report, VerificationFailed

BUNDLE_FORMAT = "oneclaim-audit-bundle/1"
MANIFEST_FIELDS = {
    "format": str,
    "origin": str,
    "tree_size": int,
    "verifier_key": str,
    "checkpoints": list,
    "events_sha256": str,
}


def fail(code: str, seq: int | None, message: str) -> VerificationFailed:
    return VerificationFailed(Failure(code, seq, message))


def verify_bundle(directory: Path, trust: Trust) -> Report:
    started = time.perf_counter()
    try:
        signed = check_preamble(Path(directory), trust)
        events, root, digest = check_events(Path(directory) / "events.jsonl", signed)
        check_coverage(Path(directory), events, signed, digest)
    except VerificationFailed as e:
        return Report(False, 0, 0, 0, "", time.perf_counter() - started, e.failure, trust.source, "reference")
    return Report(True, events, events, len(signed), root.hex(), time.perf_counter() - started, None, trust.source,
                  "reference")  # fmt: skip


# ------------------------------------------------------------------ 1-3: before the events


def check_preamble(directory: Path, trust: Trust) -> dict[int, bytes]:
    """Steps 1 to 3. Returns the signed roots by tree size, every one checked with the trusted key."""
    manifest = read_manifest(directory)
    copy = read_text(directory / "verifier.key").strip()
    if manifest["verifier_key"] != copy:
        raise fail("KEY_COPIES_DIFFER", None, "manifest.json and verifier.key name different keys")
    if copy != trust.vkey:
        raise fail("KEY_NOT_TRUSTED", None, f"the bundle's key {copy.split('+')[0]}+… is not the trusted key")
    if manifest["origin"] != trust.origin:
        raise fail("ORIGIN_MISMATCH", None, f"the bundle is for {manifest['origin']!r}, not {trust.origin!r}")
    signed: dict[int, bytes] = {}
    for path in sorted((directory / "checkpoints").glob("*.note")):
        try:
            text, _ = open_note(read_text(path), [trust.verifier])
            checkpoint = parse_checkpoint(text)
        except NoteError as e:
            raise fail("CHECKPOINT_SIGNATURE", None, f"{path.name}: {e}") from None
        if checkpoint.origin != trust.origin:
            raise fail("CHECKPOINT_ORIGIN", None, f"{path.name} is for origin {checkpoint.origin!r}")
        if path.name != f"{checkpoint.size:012d}.note":
            raise fail("CHECKPOINT_MISNAMED", None, f"{path.name} holds the checkpoint of size {checkpoint.size}")
        signed[checkpoint.size] = checkpoint.root
    if manifest["checkpoints"] != sorted(signed):
        raise fail("MANIFEST_MISMATCH", None, f"the manifest lists checkpoints {manifest['checkpoints']}, the"
                   f" bundle holds {sorted(signed)}")  # fmt: skip
    if not any(signed):
        raise fail("NO_SIGNED_CHECKPOINT", None, "no checkpoint of a non-empty tree is signed by the trusted key")
    return signed


def read_manifest(directory: Path) -> dict:
    try:
        manifest = json.loads(read_text(directory / "manifest.json"))
    except json.JSONDecodeError as e:
        raise fail("BUNDLE_MALFORMED", None, f"manifest.json is not JSON: {e.msg}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise fail("BUNDLE_MALFORMED", None, f"manifest.json is not a {BUNDLE_FORMAT} manifest")
    for name, kind in MANIFEST_FIELDS.items():
        if type(manifest.get(name)) is not kind:
            raise fail("BUNDLE_MALFORMED", None, f"manifest.json: {name} must be a {kind.__name__}")
    return manifest


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise fail("BUNDLE_MALFORMED", None, f"cannot read {path.name}: {e}") from None


# ------------------------------------------------------------------ 4: the events


def check_events(path: Path, signed: dict[int, bytes]) -> tuple[int, bytes, str]:
    """Step 4. Returns (number of events, root of them all, SHA-256 of the file), reading it once."""
    tree, chain, verified, digest = CompactRange(), ZERO_CHAIN, 0, hashlib.sha256()
    try:
        lines = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as e:
        raise fail("BUNDLE_MALFORMED", None, f"cannot read events.jsonl: {e.strerror}") from None
    with lines:
        for n, line in enumerate(lines):
            digest.update(line)
            if n in signed:
                verified = check_root(tree, signed[n], verified)
            seq, event, leaf, link = parse_line(line, n)
            if seq != n:
                raise fail("LEAF_MISSING", n, f"line {n + 1} has seq {seq}: log entry {n} is missing")
            if leaf_hash(event) != leaf:
                raise fail("LEAF_MISMATCH", n, f"event {n}'s bytes do not hash to its leaf: the event was altered")
            chain = chain_hash(chain, leaf)
            if chain != link:
                raise fail("CHAIN_MISMATCH", n, f"the chain hash at seq {n} does not follow")
            tree.append(leaf)
    if tree.size in signed:
        check_root(tree, signed[tree.size], verified)
    return tree.size, tree.root(), digest.hexdigest()


def parse_line(line: bytes, n: int) -> tuple[int, bytes, bytes, bytes]:
    """A line must be canonical JSON with exactly the members chain, event, leaf and seq. Since
    the line is canonical, its event member's bytes are the canonical bytes of the event."""
    if not line.endswith(b"\n"):
        raise fail("BUNDLE_MALFORMED", n, f"events.jsonl line {n + 1} does not end with a newline")
    try:
        record = parse_canonical(line[:-1])
    except NotCanonical as e:
        raise fail("NOT_CANONICAL", n, f"events.jsonl line {n + 1}: {e}") from None
    if not isinstance(record, dict) or sorted(record) != ["chain", "event", "leaf", "seq"]:
        raise fail("BUNDLE_MALFORMED", n, f"line {n + 1} must hold exactly chain, event, leaf and seq")
    if not isinstance(record["event"], dict) or type(record["seq"]) is not int:
        raise fail("BUNDLE_MALFORMED", n, f"line {n + 1}: event must be an object and seq an integer")
    try:
        return (
            record["seq"],
            canonical_json(record["event"]),
            bytes.fromhex(record["leaf"]),
            bytes.fromhex(record["chain"]),
        )
    except (TypeError, ValueError) as e:
        raise fail("BUNDLE_MALFORMED", n, f"line {n + 1}: {e}") from None


def check_root(tree: CompactRange, root: bytes, verified: int) -> int:
    if tree.root() != root:
        raise fail("ROOT_MISMATCH", verified, f"the Merkle root over the first {tree.size} events differs from the"
                   f" signed checkpoint: an event in seq {verified}..{tree.size - 1} was altered")  # fmt: skip
    return tree.size


# ------------------------------------------------------------------ 5: coverage


def check_coverage(directory: Path, events: int, signed: dict[int, bytes], digest: str) -> None:
    last = max(signed)
    if last > events:
        raise fail("LOG_TRUNCATED", events, f"a checkpoint covers {last} events but the bundle holds {events}")
    if last < events:
        raise fail("EVENTS_NOT_COVERED", last, f"events {last}..{events - 1} are covered by no signed checkpoint")
    manifest = read_manifest(directory)
    if manifest["tree_size"] != events:
        raise fail("MANIFEST_MISMATCH", None, f"the manifest says {manifest['tree_size']} events, the bundle holds"
                   f" {events}")  # fmt: skip
    if manifest["events_sha256"] != digest:
        raise fail("MANIFEST_MISMATCH", None, "the manifest's events_sha256 is not the SHA-256 of events.jsonl")


def root_of_first(path: Path, size: int) -> bytes:
    """The RFC 9162 root of the first `size` leaves of a verified events.jsonl (for gossip: is a
    checkpoint someone else was shown the same tree as this bundle's prefix?)."""
    tree = CompactRange()
    with open(path, "rb") as lines:
        for line in lines:
            if tree.size == size:
                break
            tree.append(bytes.fromhex(json.loads(line)["leaf"]))
    return tree.root()
