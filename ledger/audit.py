"""Audit: export a self-contained bundle, and verify a bundle or a live database.

The verifier trusts nothing the operator computed. It recomputes every leaf from the canonical
event bytes, the hash chain, and the Merkle root at every checkpoint size, and checks every
checkpoint's Ed25519 signature. It stops at the first failure and names its sequence number.
It reads the database directly (read-only), not through the application.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ledger.canonical import canonical_event, originator_hex
from ledger.merkle import EMPTY_ROOT, CompactRange
from ledger.note import NoteError, Verifier, open_note, parse_checkpoint

BUNDLE_FORMAT = "oneclaim-audit-bundle/1"
ZERO_CHAIN = bytes(32)
BATCH = 20_000


@dataclass
class Failure:
    code: str
    seq: int | None
    message: str


@dataclass
class Report:
    ok: bool
    events: int
    tree_size_checked: int
    checkpoints: int
    root: str
    seconds: float
    failure: Failure | None = None
    key_source: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CheckpointRow:
    tree_size: int
    root: bytes  # as stored beside the note (the note itself is what is trusted)
    note: str


class VerificationFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.code} at seq {failure.seq}: {failure.message}")
        self.failure = failure


# ------------------------------------------------------------------------------- core


def _check_checkpoint(cp: CheckpointRow, verifier: Verifier, origin: str | None) -> bytes:
    """Check one checkpoint's signature and form; return the root it commits to."""
    try:
        text, _ = open_note(cp.note, [verifier])
        checkpoint = parse_checkpoint(text)
    except NoteError as e:
        raise VerificationFailed(
            Failure("CHECKPOINT_SIGNATURE", None, f"checkpoint at size {cp.tree_size}: {e}")
        ) from e
    if checkpoint.size != cp.tree_size or checkpoint.root != cp.root:
        raise VerificationFailed(
            Failure(
                "CHECKPOINT_MISMATCH",
                None,
                f"the checkpoint stored for size {cp.tree_size} says size {checkpoint.size}"
                " with a different root than stored beside it",
            )
        )
    if origin is not None and checkpoint.origin != origin:
        raise VerificationFailed(
            Failure(
                "CHECKPOINT_ORIGIN",
                None,
                f"checkpoint at size {cp.tree_size} is for origin {checkpoint.origin!r}, not {origin!r}",
            )
        )
    return checkpoint.root


def verify_stream(
    batches: Iterable[list[tuple[int, bytes | None, bytes, bytes]]],
    checkpoints: list[CheckpointRow],
    verifier: Verifier,
    *,
    origin: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, bytes]:
    """Verify (seq, canonical_bytes, leaf, chain) rows in seq order against the checkpoints.

    `canonical_bytes` is None where the event row is missing. Returns (events, final root).
    Raises VerificationFailed at the first failure.
    """
    pending = sorted(checkpoints, key=lambda c: c.tree_size)
    roots = [(cp.tree_size, _check_checkpoint(cp, verifier, origin)) for cp in pending]
    roots.reverse()  # pop from the end, smallest first
    tree = CompactRange()
    sha256 = hashlib.sha256
    chain = ZERO_CHAIN
    expected = 0
    append = tree.append

    good = [0]  # the largest checkpointed size verified so far

    def check_roots(size: int) -> None:
        while roots and roots[-1][0] == size:
            _, want = roots.pop()
            if tree.root() != want:
                # Every leaf and chain hash matched, so hashes were rewritten after an event was
                # altered: the signed roots bound where, not exactly which.
                raise VerificationFailed(
                    Failure(
                        "ROOT_MISMATCH",
                        good[0],
                        f"the Merkle root over the first {size} events differs from the signed"
                        f" checkpoint: an event in seq {good[0]}..{size - 1} was altered and its"
                        " leaf and chain hashes rewritten",
                    )
                )
            good[0] = size

    check_roots(0)
    next_checkpoint = roots[-1][0] if roots else -1
    for batch in batches:
        for seq, data, leaf, stored_chain in batch:
            if seq != expected:
                raise VerificationFailed(
                    Failure("LEAF_MISSING", expected, f"log entry {expected} is missing (next is {seq})")
                )
            if data is None:
                raise VerificationFailed(
                    Failure(
                        "EVENT_MISSING",
                        seq,
                        f"the event logged at seq {seq} is not in the event store",
                    )
                )
            computed = sha256(b"\x00" + data).digest()
            if computed != leaf:
                raise VerificationFailed(
                    Failure(
                        "LEAF_MISMATCH",
                        seq,
                        f"event {seq}'s bytes hash to {computed.hex()[:16]}…, the log says"
                        f" {leaf.hex()[:16]}…: the event was altered",
                    )
                )
            chain = sha256(chain + leaf).digest()
            if chain != stored_chain:
                raise VerificationFailed(
                    Failure("CHAIN_MISMATCH", seq, f"the chain hash at seq {seq} does not follow")
                )
            append(leaf)
            expected += 1
            if expected == next_checkpoint:
                check_roots(expected)
                next_checkpoint = roots[-1][0] if roots else -1
        if progress is not None:
            progress(expected)
    if roots:
        size = roots[0][0]  # the largest checkpoint beyond the end of the log
        raise VerificationFailed(
            Failure(
                "LOG_TRUNCATED",
                expected,
                f"a checkpoint covers {size} events but the log ends after {expected}:"
                f" events {expected}..{size - 1} are gone",
            )
        )
    return expected, tree.root() if expected else EMPTY_ROOT


def _run(
    produce: Callable[[], tuple[Iterator, list[CheckpointRow], int]],
    verifier: Verifier,
    origin: str | None,
    key_source: str,
    progress_factory: Callable[[int], Callable[[int], None]] | None,
    extra_check: Callable[[int], None] | None = None,
) -> Report:
    started = time.perf_counter()
    events = 0
    root = EMPTY_ROOT
    checkpoints: list[CheckpointRow] = []
    try:
        batches, checkpoints, total = produce()
        progress = progress_factory(total) if progress_factory else None
        events, root = verify_stream(batches, checkpoints, verifier, origin=origin, progress=progress)
        if extra_check is not None:
            extra_check(events)
    except VerificationFailed as e:
        return Report(
            ok=False,
            events=events,
            tree_size_checked=events,
            checkpoints=len(checkpoints),
            root=root.hex(),
            seconds=time.perf_counter() - started,
            failure=e.failure,
            key_source=key_source,
        )
    return Report(
        ok=True,
        events=events,
        tree_size_checked=events,
        checkpoints=len(checkpoints),
        root=root.hex(),
        seconds=time.perf_counter() - started,
        key_source=key_source,
    )


# ------------------------------------------------------------------------------- database


class _Database:
    """Direct, read-only access to a OneClaim database (SQLite file or PostgreSQL)."""

    def __init__(self, db_url: str, events_table: str) -> None:
        self.events_table = events_table
        self.postgres = db_url.startswith(("postgresql://", "postgres://"))
        if self.postgres:
            import psycopg

            self.conn = psycopg.connect(db_url)
            self.conn.read_only = True
            self.mark, self.event_key = "%s", "notification_id"
        else:
            path = db_url[len("sqlite:///") :] if db_url.startswith("sqlite:///") else db_url
            if not Path(path).exists():
                raise FileNotFoundError(f"no database at {path}")
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            self.mark, self.event_key = "?", "rowid"

    def close(self) -> None:
        self.conn.close()

    def one(self, sql: str, params: list | None = None):
        return self.conn.execute(sql, params or []).fetchone()

    def checkpoints(self) -> list[CheckpointRow]:
        rows = self.conn.execute(
            "SELECT tree_size, root, note FROM log_checkpoints ORDER BY tree_size"
        ).fetchall()
        return [CheckpointRow(size, bytes(root), note) for size, root, note in rows]

    def batches(self) -> Iterator[list[tuple[int, bytes | None, bytes, bytes]]]:
        """(seq, canonical event bytes or None if the event row is gone, leaf, chain)."""
        sql = (
            "SELECT l.seq, e.originator_id, e.originator_version, e.topic, e.state, l.leaf, l.chain"
            f" FROM log_leaves l LEFT JOIN {self.events_table} e"
            f" ON e.{self.event_key} = l.notification_id ORDER BY l.seq"
        )
        if self.postgres:
            with self.conn.cursor(name="oneclaim_audit") as cur:
                cur.execute(sql)
                while rows := cur.fetchmany(BATCH):
                    yield [
                        (
                            seq,
                            None
                            if oid is None
                            else canonical_event(originator_hex(oid), ver, topic, bytes(state)),
                            bytes(leaf),
                            bytes(chain),
                        )
                        for seq, oid, ver, topic, state, leaf, chain in rows
                    ]
        else:
            cur = self.conn.execute(sql)
            while rows := cur.fetchmany(BATCH):
                yield [
                    (
                        seq,
                        None if oid is None else canonical_event(oid, ver, topic, state),
                        leaf,
                        chain,
                    )
                    for seq, oid, ver, topic, state, leaf, chain in rows
                ]

    def check_no_unlogged_events(self, events: int) -> None:
        """Every stored event must have a log entry: find one inserted behind the ledger's back."""
        (stored,) = self.one(f"SELECT COUNT(*) FROM {self.events_table}")
        if stored == events:
            return
        key = self.event_key
        (notification_id,) = self.one(
            f"SELECT MIN(e.{key}) FROM {self.events_table} e WHERE NOT EXISTS"
            f" (SELECT 1 FROM log_leaves l WHERE l.notification_id = e.{key})"
        )
        if notification_id is None:
            raise VerificationFailed(
                Failure("EVENT_COUNT", events, f"{stored} events stored but {events} logged")
            )
        (position,) = self.one(
            f"SELECT COUNT(*) FROM log_leaves WHERE notification_id < {self.mark}",
            [notification_id],
        )
        raise VerificationFailed(
            Failure(
                "EVENT_NOT_IN_LOG",
                position,
                f"an event (notification {notification_id}) sits in the event store at seq"
                f" {position} with no log entry: it was inserted outside the ledger",
            )
        )


def verify_database(
    db_url: str,
    verifier: Verifier,
    *,
    events_table: str,
    origin: str | None = None,
    key_source: str = "",
    progress_factory: Callable[[int], Callable[[int], None]] | None = None,
) -> Report:
    """Verify a live OneClaim database, opened read-only and read directly."""
    db = _Database(db_url, events_table)
    try:

        def produce():
            (total,) = db.one("SELECT COUNT(*) FROM log_leaves")
            return db.batches(), db.checkpoints(), total

        return _run(produce, verifier, origin, key_source, progress_factory, db.check_no_unlogged_events)
    finally:
        db.close()


def export_bundle(
    db_url: str,
    directory: Path,
    *,
    events_table: str,
    origin: str,
    verifier_key: str,
    readme: str,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write a self-contained audit bundle (format in docs/audit-bundle.md)."""
    directory = Path(directory)
    (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
    db = _Database(db_url, events_table)
    digest = hashlib.sha256()
    count = 0
    try:
        checkpoints = db.checkpoints()
        with open(directory / "events.jsonl", "wb") as out:
            for batch in db.batches():
                if any(d is None for _, d, _, _ in batch):
                    raise ValueError("the database is missing events: run `oneclaim audit verify`")
                chunk = b"".join(bundle_line(s, d, lf, c) for s, d, lf, c in batch)
                out.write(chunk)
                digest.update(chunk)
                count += len(batch)
                if progress:
                    progress(count)
    finally:
        db.close()
    for cp in checkpoints:
        (directory / "checkpoints" / f"{cp.tree_size:012d}.note").write_text(cp.note)
    (directory / "verifier.key").write_text(verifier_key + "\n")
    (directory / "README.md").write_text(readme)
    manifest = {
        "format": BUNDLE_FORMAT,
        "origin": origin,
        "tree_size": count,
        "verifier_key": verifier_key,
        "checkpoints": [cp.tree_size for cp in checkpoints],
        "events_sha256": digest.hexdigest(),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# ------------------------------------------------------------------------------- bundle

_LINE_HEAD = b'{"chain":"'
_EVENT_KEY = b'","event":'
_LEAF_KEY = b',"leaf":"'


def bundle_line(seq: int, data: bytes, leaf: bytes, chain: bytes) -> bytes:
    """One events.jsonl line. It is itself RFC 8785 canonical JSON, with the event's canonical
    bytes embedded verbatim as the `event` member."""
    return b'{"chain":"%s","event":%s,"leaf":"%s","seq":%d}\n' % (
        chain.hex().encode(),
        data,
        leaf.hex().encode(),
        seq,
    )


def _parse_bundle_line(line: bytes, lineno: int) -> tuple[int, bytes, bytes, bytes]:
    # Slicing, not json.loads: the event's bytes must be hashed exactly as written.
    cut = line.rfind(_LEAF_KEY)
    if not line.startswith(_LINE_HEAD) or line[74:84] != _EVENT_KEY or cut < 0:
        raise VerificationFailed(
            Failure("BUNDLE_MALFORMED", lineno, f"events.jsonl line {lineno + 1} is malformed")
        )
    try:
        chain = bytes.fromhex(line[10:74].decode())
        leaf = bytes.fromhex(line[cut + 9 : cut + 73].decode())
        seq = int(line[cut + 81 : line.rindex(b"}")])
    except ValueError as e:
        raise VerificationFailed(
            Failure("BUNDLE_MALFORMED", lineno, f"events.jsonl line {lineno + 1}: {e}")
        ) from e
    return seq, line[84:cut], leaf, chain


def verify_bundle(
    directory: Path,
    verifier: Verifier,
    *,
    origin: str | None = None,
    key_source: str = "",
    progress_factory: Callable[[int], Callable[[int], None]] | None = None,
) -> Report:
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    if manifest.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{directory} is not a {BUNDLE_FORMAT} bundle")
    checkpoints = []
    for path in sorted((directory / "checkpoints").glob("*.note")):
        note = path.read_text()
        try:
            parsed = parse_checkpoint(note.split("\n\n", 1)[0] + "\n")
        except NoteError as e:
            raise ValueError(f"{path.name} is not a checkpoint: {e}") from e
        checkpoints.append(CheckpointRow(parsed.size, parsed.root, note))
    total = int(manifest["tree_size"])

    def batches() -> Iterator[list]:
        with open(directory / "events.jsonl", "rb") as f:
            batch = []
            for lineno, line in enumerate(f):
                batch.append(_parse_bundle_line(line, lineno))
                if len(batch) == BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch

    return _run(lambda: (batches(), checkpoints, total), verifier, origin, key_source, progress_factory)
