"""Attacks on an audit bundle, as an operator holding the log's real signing key could make them:
each mutation rewrites a real bundle and says which error a verifier must answer, and where.

`python -m tests.bundle_mutations` rewrites the published vectors in tests/vectors/bundle (one
JSON file per mutation, in the style of transparency-dev's Merkle vectors), from a bundle of a
real ledger signed with a fixed test key. tests/test_verifiers.py runs them against both
verifiers, and runs the mutations afresh on a new bundle.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.tlog.audit import bundle_line
from ledger.tlog.canonical import canonical_json
from ledger.tlog.merkle import ZERO_CHAIN, CompactRange, chain_hash, leaf_hash
from ledger.tlog.note import Checkpoint, Signer, open_note, parse_checkpoint, sign_note

ORIGIN = "oneclaim.test/vectors"
VECTORS = Path(__file__).parent / "vectors" / "bundle"
SIGNER = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))  # a public test key
OTHER = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))  # the forger's key


@dataclass
class Bundle:
    """A bundle in memory: the manifest, the key copy, the lines (each with its event's raw bytes)
    and the checkpoint notes by file name."""

    manifest: dict
    vkey: str
    lines: list[dict]  # {"seq", "event" (bytes), "leaf" (hex), "chain" (hex)}
    notes: dict[str, str]
    raw_lines: dict[int, bytes] = field(default_factory=dict)  # lines written verbatim (not re-encoded)
    manifest_text: str | None = None

    @classmethod
    def read(cls, directory: Path) -> Bundle:
        lines = []
        for text in (directory / "events.jsonl").read_bytes().splitlines():
            record = json.loads(text)
            record["event"] = canonical_json(record["event"])
            lines.append(record)
        notes = {p.name: p.read_text() for p in sorted((directory / "checkpoints").glob("*.note"))}
        manifest = json.loads((directory / "manifest.json").read_text())
        return cls(manifest, (directory / "verifier.key").read_text().strip(), lines, notes)

    def line(self, i: int) -> bytes:
        if i in self.raw_lines:
            return self.raw_lines[i]
        r = self.lines[i]
        return bundle_line(r["seq"], r["event"], bytes.fromhex(r["leaf"]), bytes.fromhex(r["chain"]))

    def files(self) -> dict[str, str]:
        events = b"".join(self.line(i) for i in range(len(self.lines))).decode("utf-8", "surrogateescape")
        manifest = self.manifest_text if self.manifest_text is not None else json.dumps(self.manifest, indent=2) + "\n"
        out = {"manifest.json": manifest, "verifier.key": self.vkey + "\n", "events.jsonl": events}
        out |= {f"checkpoints/{name}": note for name, note in self.notes.items()}
        return out

    def write(self, directory: Path) -> Path:
        write_files(directory, self.files())
        return directory

    # ------------------------------------------------------------------ what an operator can redo

    def relink(self, start: int = 0) -> None:
        """Recompute leaves and chain from line `start` on, as an operator rewriting history would."""
        chain = bytes.fromhex(self.lines[start - 1]["chain"]) if start else ZERO_CHAIN
        for r in self.lines[start:]:
            leaf = leaf_hash(r["event"])
            chain = chain_hash(chain, leaf)
            r["leaf"], r["chain"] = leaf.hex(), chain.hex()

    def resign(self, signer: Signer = SIGNER, origin: str = ORIGIN, sizes: list[int] | None = None) -> None:
        """Sign fresh checkpoints over the lines as they now are, and fix the manifest to match."""
        sizes = sorted(self.sizes() if sizes is None else sizes)
        tree, notes = CompactRange(), {}
        for i in range(len(self.lines) + 1):
            if i in sizes:
                notes[f"{i:012d}.note"] = sign_note(Checkpoint(origin, i, tree.root()).text(), signer)
            if i < len(self.lines):
                tree.append(bytes.fromhex(self.lines[i]["leaf"]))
        self.notes = notes
        self.fix_manifest()

    def fix_manifest(self) -> None:
        self.manifest["tree_size"] = len(self.lines)
        self.manifest["checkpoints"] = self.sizes()
        self.manifest["events_sha256"] = sha256_hex(b"".join(self.line(i) for i in range(len(self.lines))))

    def sizes(self) -> list[int]:
        return sorted(parse_checkpoint(note.split("\n\n", 1)[0] + "\n").size for note in self.notes.values())


def sha256_hex(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def write_files(directory: Path, files: dict[str, str]) -> None:
    (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_bytes(text.encode("utf-8", "surrogateescape"))


# ------------------------------------------------------------------ the mutations


@dataclass(frozen=True)
class Mutation:
    name: str
    description: str
    apply: Callable[[Bundle, int], tuple[str | None, int | None]]  # -> (want_err, want_seq)


def _altered(b: Bundle, k: int) -> None:
    state = json.loads(b.lines[k]["event"])
    state["state"]["forged"] = "yes"
    b.lines[k]["event"] = canonical_json(state)


def honest(b: Bundle, k: int):
    return None, None


def event_altered(b: Bundle, k: int):
    _altered(b, k)
    b.fix_manifest()
    return "LEAF_MISMATCH", k


def event_altered_leaf_recomputed(b: Bundle, k: int):
    _altered(b, k)
    b.lines[k]["leaf"] = leaf_hash(b.lines[k]["event"]).hex()
    b.fix_manifest()
    return "CHAIN_MISMATCH", k


def event_altered_hashes_recomputed(b: Bundle, k: int):
    _altered(b, k)
    b.relink(k)
    b.fix_manifest()
    before = max((s for s in b.sizes() if s <= k), default=0)  # the last checkpoint still true
    return "ROOT_MISMATCH", before


def events_all_replaced_signed_empty_only(b: Bundle, k: int):
    for i in range(len(b.lines)):
        _altered(b, i)
    b.relink()
    b.resign(sizes=[0])  # only the empty tree is signed: nothing about these events is
    return "NO_SIGNED_CHECKPOINT", None


def checkpoints_removed(b: Bundle, k: int):
    b.notes = {}
    b.fix_manifest()
    return "NO_SIGNED_CHECKPOINT", None


def events_appended_unsigned(b: Bundle, k: int):
    last = len(b.lines)
    extra = copy.deepcopy(b.lines[k])
    extra["seq"] = last
    b.lines.append(extra)
    _altered(b, last)
    b.relink(last)
    b.fix_manifest()
    return "EVENTS_NOT_COVERED", last


def line_deleted(b: Bundle, k: int):
    del b.lines[k]
    b.fix_manifest()
    return "LEAF_MISSING", k


def lines_swapped(b: Bundle, k: int):
    b.lines[k], b.lines[k + 1] = b.lines[k + 1], b.lines[k]
    b.fix_manifest()
    return "LEAF_MISSING", k


def tail_truncated(b: Bundle, k: int):
    del b.lines[k:]
    b.fix_manifest()
    return "LOG_TRUNCATED", k


def resigned_with_another_key(b: Bundle, k: int):
    _altered(b, k)
    b.relink(k)
    b.vkey = b.manifest["verifier_key"] = OTHER.verifier_key()
    b.resign(OTHER)
    return "KEY_NOT_TRUSTED", None


def key_copies_differ(b: Bundle, k: int):
    b.manifest["verifier_key"] = OTHER.verifier_key()
    return "KEY_COPIES_DIFFER", None


def checkpoint_for_another_origin(b: Bundle, k: int):
    b.resign(origin="oneclaim.test/another-log")  # the same real key, another log's checkpoints
    return "CHECKPOINT_ORIGIN", None


def checkpoint_signature_forged(b: Bundle, k: int):
    name = sorted(b.notes)[-1]
    text, sig = b.notes[name].split("\n\n", 1)
    dash, key, signature = sig.split(" ")
    flipped = signature[:20] + ("B" if signature[20] == "A" else "A") + signature[21:]  # the signature, not the key id
    b.notes[name] = f"{text}\n\n{dash} {key} {flipped}"
    return "CHECKPOINT_SIGNATURE", None


def checkpoint_misnamed(b: Bundle, k: int):
    name = sorted(b.notes)[-1]
    b.notes["999999999999.note"] = b.notes.pop(name)
    return "CHECKPOINT_MISNAMED", None


def manifest_tree_size_wrong(b: Bundle, k: int):
    b.manifest["tree_size"] += 1
    return "MANIFEST_MISMATCH", None


def manifest_events_sha256_wrong(b: Bundle, k: int):
    b.manifest["events_sha256"] = "00" * 32
    return "MANIFEST_MISMATCH", None


def manifest_checkpoints_wrong(b: Bundle, k: int):
    b.manifest["checkpoints"] = b.manifest["checkpoints"][:-1]
    return "MANIFEST_MISMATCH", None


def manifest_origin_other(b: Bundle, k: int):
    b.manifest["origin"] = "oneclaim.test/another-log"
    return "ORIGIN_MISMATCH", None


def manifest_not_json(b: Bundle, k: int):
    b.manifest_text = "{not json"
    return "BUNDLE_MALFORMED", None


def _resigned_raw_event(b: Bundle, k: int, event: bytes) -> None:
    b.lines[k]["event"] = event
    b.relink(k)
    b.resign()


def event_not_canonical_resigned(b: Bundle, k: int):
    _resigned_raw_event(b, k, b.lines[k]["event"].replace(b":", b": ", 1))
    return "NOT_CANONICAL", k


def event_with_a_float_resigned(b: Bundle, k: int):
    _resigned_raw_event(
        b, k, b.lines[k]["event"].replace(b'"originator_version":', b'"originator_version":0.5,"v":', 1)
    )
    return "NOT_CANONICAL", k


def event_not_json_resigned(b: Bundle, k: int):
    _resigned_raw_event(b, k, b.lines[k]["event"][:-1] + b",}")
    return "NOT_CANONICAL", k


def line_members_reordered(b: Bundle, k: int):
    r = b.lines[k]
    b.raw_lines[k] = b'{"seq":%d,"chain":"%s","event":%s,"leaf":"%s"}\n' % (
        r["seq"],
        r["chain"].encode(),
        r["event"],
        r["leaf"].encode(),
    )
    b.fix_manifest()
    return "NOT_CANONICAL", k


MUTATIONS = [
    Mutation(f.__name__, (f.__doc__ or f.__name__.replace("_", " ")).strip(), f)
    for f in (
        honest,
        event_altered,
        event_altered_leaf_recomputed,
        event_altered_hashes_recomputed,
        events_all_replaced_signed_empty_only,
        checkpoints_removed,
        events_appended_unsigned,
        line_deleted,
        lines_swapped,
        tail_truncated,
        resigned_with_another_key,
        key_copies_differ,
        checkpoint_for_another_origin,
        checkpoint_signature_forged,
        checkpoint_misnamed,
        manifest_tree_size_wrong,
        manifest_events_sha256_wrong,
        manifest_checkpoints_wrong,
        manifest_origin_other,
        manifest_not_json,
        event_not_canonical_resigned,
        event_with_a_float_resigned,
        event_not_json_resigned,
        line_members_reordered,
    )
]


def honest_bundle(directory: Path) -> Path:
    """A real ledger's bundle: a registry's first events, checkpoints at 7 and at the head."""
    from ledger.app import Ledger
    from ledger.database import EVENTS_TABLE
    from ledger.tlog.audit import export_bundle
    from tests.support import fill

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(f"sqlite:///{tmp}/ledger.sqlite")
        try:
            fill(ledger, devices=2, months=2)
            ledger.sign_checkpoint(SIGNER, ORIGIN)
            fill(ledger, devices=1, months=3, prefix="SIP-PV-B")
            ledger.sign_checkpoint(SIGNER, ORIGIN)
            export_bundle(ledger.db_url, directory, events_table=EVENTS_TABLE["sqlite"], origin=ORIGIN,
                          verifier_key=SIGNER.verifier_key(), readme="")  # fmt: skip
        finally:
            ledger.close()
    return directory


def vector(base: Bundle, mutation: Mutation, k: int) -> dict:
    b = copy.deepcopy(base)
    want_err, want_seq = mutation.apply(b, k)
    return {
        "description": mutation.description,
        "trusted_key": SIGNER.verifier_key(),
        "origin": ORIGIN,
        "bundle": b.files(),
        "want_err": want_err,
        "want_seq": want_seq,
    }


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        base = Bundle.read(honest_bundle(Path(tmp) / "bundle"))
    assert open_note(base.notes[sorted(base.notes)[-1]], [SIGNER.verifier()])
    VECTORS.mkdir(parents=True, exist_ok=True)
    for mutation in MUTATIONS:
        data = vector(base, mutation, 4)
        (VECTORS / f"{mutation.name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(MUTATIONS)} vectors to {VECTORS}")
