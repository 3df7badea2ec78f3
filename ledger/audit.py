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
from ledger.merkle import EMPTY_ROOT, BulkTree
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


Columns = tuple[list[int], list, list[bytes], list[bytes]]
"""A batch of log rows as columns: seqs, canonical event bytes (None where the event row is
gone), stored leaf hashes, stored chain hashes."""


def _first_difference(a: list, b: list) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)


def verify_stream(
    batches: Iterable[Columns],
    checkpoints: list[CheckpointRow],
    verifier: Verifier,
    *,
    origin: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, bytes]:
    """Verify batches of log rows, in seq order, against the signed checkpoints.

    Returns (events, final root); raises VerificationFailed at the first bad seq. Work is done a
    batch at a time with list comprehensions and whole-list comparisons, so that a million events
    verify in a few seconds; only on a mismatch is the first bad position searched for.
    """
    roots = sorted(
        ((cp.tree_size, _check_checkpoint(cp, verifier, origin)) for cp in checkpoints), reverse=True
    )
    tree = BulkTree()
    sha256 = hashlib.sha256
    chain = ZERO_CHAIN
    expected = 0
    good = 0  # the largest checkpointed size verified so far

    def check_roots() -> None:
        nonlocal good
        size = tree.size
        while roots and roots[-1][0] == size:
            _, want = roots.pop()
            if tree.root() != want:
                # Every leaf and chain hash matched, so hashes were rewritten after an event was
                # altered: the signed roots bound where, not exactly which.
                raise VerificationFailed(
                    Failure(
                        "ROOT_MISMATCH",
                        good,
                        f"the Merkle root over the first {size} events differs from the signed"
                        f" checkpoint: an event in seq {good}..{size - 1} was altered and its"
                        " leaf and chain hashes rewritten",
                    )
                )
            good = size

    check_roots()
    for seqs, datas, leaves, chains in batches:
        n = len(seqs)
        failures = []
        if seqs != list(range(expected, expected + n)):
            i = _first_difference(seqs, list(range(expected, expected + n)))
            failures.append(
                (i, Failure("LEAF_MISSING", expected + i, f"log entry {expected + i} is missing"))
            )
        if None in datas:
            i = datas.index(None)
            failures.append(
                (
                    i,
                    Failure(
                        "EVENT_MISSING",
                        seqs[i],
                        f"the event logged at seq {seqs[i]} is not in the event store",
                    ),
                )
            )
        else:
            computed = [sha256(b"\x00" + d).digest() for d in datas]
            if computed != leaves:
                i = _first_difference(computed, leaves)
                failures.append(
                    (
                        i,
                        Failure(
                            "LEAF_MISMATCH",
                            seqs[i],
                            f"event {seqs[i]}'s bytes hash to {computed[i].hex()[:16]}…, the log says"
                            f" {leaves[i].hex()[:16]}…: the event was altered",
                        ),
                    )
                )
        c = chain
        recomputed = [(c := sha256(c + leaf).digest()) for leaf in leaves]
        if recomputed != chains:
            i = _first_difference(recomputed, chains)
            failures.append(
                (i, Failure("CHAIN_MISMATCH", seqs[i], f"the chain hash at seq {seqs[i]} does not follow"))
            )
        if failures:
            raise VerificationFailed(min(failures, key=lambda f: f[0])[1])
        chain = c
        start = 0
        while roots and roots[-1][0] <= expected + n:
            cut = roots[-1][0] - expected
            tree.extend(leaves[start:cut])
            start = cut
            check_roots()
        tree.extend(leaves[start:])
        expected += n
        if progress is not None:
            progress(expected)
    if roots:
        size = roots[0][0]  # the largest checkpoint, beyond the end of the log
        raise VerificationFailed(
            Failure(
                "LOG_TRUNCATED",
                expected,
                f"a checkpoint covers {size} events but the log ends after {expected}:"
                f" events {expected}..{size - 1} are gone",
            )
        )
    return expected, tree.root()


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

    def batches(self) -> Iterator[Columns]:
        """Log rows in seq order, as columns, with each event's canonical bytes rebuilt from the
        stored event row (None where that row is gone)."""
        sql = (
            "SELECT l.seq, e.originator_id, e.originator_version, e.topic, e.state, l.leaf, l.chain"
            f" FROM log_leaves l LEFT JOIN {self.events_table} e"
            f" ON e.{self.event_key} = l.notification_id ORDER BY l.seq"
        )
        cur = self.conn.cursor(name="oneclaim_audit") if self.postgres else self.conn.cursor()
        try:
            cur.execute(sql)
            while rows := cur.fetchmany(BATCH):
                seqs, oids, versions, topics, states, leaves, chains = map(list, zip(*rows, strict=True))
                if self.postgres:
                    oids = [None if o is None else originator_hex(o) for o in oids]
                datas = [
                    None if o is None else canonical_event(o, v, t, st)
                    for o, v, t, st in zip(oids, versions, topics, states, strict=True)
                ]
                yield seqs, datas, leaves, chains
        finally:
            cur.close()

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
            for seqs, datas, leaves, chains in db.batches():
                if None in datas:
                    raise ValueError("the database is missing events: run `oneclaim audit verify`")
                chunk = b"".join(map(bundle_line, seqs, datas, leaves, chains))
                out.write(chunk)
                digest.update(chunk)
                count += len(seqs)
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

    def batches() -> Iterator[Columns]:
        with open(directory / "events.jsonl", "rb") as f:
            batch = []
            for lineno, line in enumerate(f):
                batch.append(_parse_bundle_line(line, lineno))
                if len(batch) == BATCH:
                    yield tuple(map(list, zip(*batch, strict=True)))
                    batch = []
            if batch:
                yield tuple(map(list, zip(*batch, strict=True)))

    return _run(lambda: (batches(), checkpoints, total), verifier, origin, key_source, progress_factory)
