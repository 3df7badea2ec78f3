"""Audit: export a self-contained bundle, and verify a bundle or a live database.

The verifier trusts nothing the operator computed. It recomputes every leaf from the canonical
event bytes, the hash chain, and the Merkle root at every checkpoint size, and checks every
checkpoint's Ed25519 signature. It stops at the first failure and names its sequence number.
It reads the database directly (read-only), not through the application.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import time
from binascii import unhexlify
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ledger.database import dialect, read_only, stored_checkpoints
from ledger.tlog import reference
from ledger.tlog.canonical import NotCanonical, canonical_event, first_not_canonical, originator_hex, parse_canonical
from ledger.tlog.merkle import EMPTY_ROOT, ZERO_CHAIN, CompactRange, chain_hash, fold, leaf_hash, perfect_root
from ledger.tlog.note import NoteError, Verifier, open_note, parse_checkpoint
from ledger.tlog.trust import Trust
from ledger.tlog.verdict import Failure, Report, VerificationFailed

BUNDLE_FORMAT = reference.BUNDLE_FORMAT
BATCH = 20_000


@dataclass(frozen=True)
class CheckpointRow:
    tree_size: int
    root: bytes  # as stored beside the note (the note itself is what is trusted)
    note: str


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

BLOCK = 1 << 10
"""Leaves are reduced to Merkle roots a block at a time; ranges start on block boundaries."""


def _first_difference(a: list, b: list) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)


@dataclass
class RangeResult:
    """What checking the rows of one seq range found.

    `items` are, in seq order, ("block", root) for each full block of BLOCK leaves and
    ("cut", size, hashes) at each checkpoint size inside the range, where `hashes` are the perfect
    subtrees of the leaves since the last block boundary. `tail` is the same at the range's end.
    """

    events: int
    items: list
    tail: list[bytes]
    failure: Failure | None = None


def _subtree_hashes(leaves: list[bytes]) -> list[bytes]:
    """Perfect-subtree roots covering leaves that start on a block boundary, largest first."""
    hashes, offset, rest = [], 0, len(leaves)
    for level in range(rest.bit_length() - 1, -1, -1):
        if rest >> level & 1:
            hashes.append(perfect_root(leaves[offset : offset + (1 << level)]))
            offset += 1 << level
    return hashes


def check_range(
    batches: Iterable[Columns],
    lo: int,
    hi: int | None,
    prev_chain: bytes,
    cuts: list[int],
    progress: Callable[[int], None] | None = None,
) -> RangeResult:
    """Check the rows with seq in [lo, hi) (hi None: to the end): every seq present, every event
    present, every leaf recomputed from its event's bytes, every chain link. Stops at the first
    failure. Batches are checked with list comprehensions and whole-list comparisons, and the first
    bad position is searched for only on a mismatch. `lo` must be a multiple of BLOCK.
    """
    assert lo % BLOCK == 0
    cuts = sorted(c for c in cuts if c > lo)
    items: list = []
    pending: list[bytes] = []
    chain, expected = prev_chain, lo

    def add(leaves: list[bytes]) -> None:
        pending.extend(leaves)
        full = len(pending) // BLOCK * BLOCK
        items.extend(("block", perfect_root(pending[i : i + BLOCK])) for i in range(0, full, BLOCK))
        del pending[:full]

    def stop(failure: Failure) -> RangeResult:
        return RangeResult(expected - lo, items, _subtree_hashes(pending), failure)

    source = iter(batches)
    while True:
        try:
            seqs, datas, leaves, chains = next(source)
        except StopIteration:
            break
        except VerificationFailed as e:  # a line the source could not read: the rows before it stand
            return stop(e.failure)
        n = len(seqs)
        want = list(range(expected, expected + n))
        found = []
        if seqs != want:
            i = _first_difference(seqs, want)
            found.append((i, Failure("LEAF_MISSING", expected + i, f"log entry {expected + i} is missing")))
        if None in datas:
            i = datas.index(None)
            found.append((i, Failure("EVENT_MISSING", seqs[i], f"the event logged at seq {seqs[i]} is gone")))
        else:
            computed = [leaf_hash(d) for d in datas]
            if computed != leaves:
                i = _first_difference(computed, leaves)
                found.append(
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
        recomputed = [(c := chain_hash(c, leaf)) for leaf in leaves]
        if recomputed != chains:
            i = _first_difference(recomputed, chains)
            found.append((i, Failure("CHAIN_MISMATCH", seqs[i], f"the chain hash at seq {seqs[i]} does not follow")))
        if found:
            i, failure = min(found, key=lambda f: f[0])
            add(leaves[:i])
            expected += i
            return stop(failure)
        chain = c
        start = 0
        while cuts and cuts[0] <= expected + n:
            cut = cuts.pop(0)
            add(leaves[start : cut - expected])
            start = cut - expected
            items.append(("cut", cut, _subtree_hashes(pending)))
        add(leaves[start:])
        expected += n
        if progress is not None:
            progress(n)
    if hi is not None and expected < hi:
        return stop(Failure("LEAF_MISSING", expected, f"log entry {expected} is missing"))
    return RangeResult(expected - lo, items, _subtree_hashes(pending))


def combine(results: Iterable[RangeResult], signed: dict[int, bytes]) -> tuple[int, bytes]:
    """Join consecutive range results: compare the root at every checkpoint size with the signed
    root (already checked against the trusted key), in seq order, and raise the first failure.
    Returns (events, root of the whole log)."""
    blocks = CompactRange()  # over block roots: the RFC tree over whole blocks of leaves
    events, good = 0, 0

    def check(size: int, subtrees: list[bytes]) -> None:
        nonlocal good
        if fold(blocks.hashes + subtrees) != signed[size]:
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

    if 0 in signed:
        check(0, [])
    tail: list[bytes] = []
    for result in results:
        for item in result.items:
            if item[0] == "block":
                blocks.append(item[1])
            else:
                check(item[1], item[2])
        events += result.events
        tail = result.tail
        if result.failure is not None:
            raise VerificationFailed(result.failure)
    beyond = [size for size in signed if size > events]
    if beyond:
        raise VerificationFailed(
            Failure(
                "LOG_TRUNCATED",
                events,
                f"a checkpoint covers {max(beyond)} events but the log ends after {events}:"
                f" events {events}..{max(beyond) - 1} are gone",
            )
        )
    return events, fold(blocks.hashes + tail)


def _report(started: float, checkpoints: list, key_source: str, outcome) -> Report:
    events, root, failure = outcome
    return Report(
        ok=failure is None,
        events=events,
        tree_size_checked=events,
        checkpoints=len(checkpoints),
        root=root.hex(),
        seconds=time.perf_counter() - started,
        failure=failure,
        key_source=key_source,
    )


# ------------------------------------------------------------------------------- database


class _Database:
    """Direct, read-only access to a OneClaim database (SQLite file or PostgreSQL)."""

    def __init__(self, db_url: str, events_table: str) -> None:
        self.events_table = events_table
        self.postgres = dialect(db_url) == "postgres"
        self.conn = read_only(db_url)
        self.mark, self.event_key = ("%s", "notification_id") if self.postgres else ("?", "rowid")

    def close(self) -> None:
        self.conn.close()

    def one(self, sql: str, params: list | None = None):
        return self.conn.execute(sql, params or []).fetchone()

    def checkpoints(self) -> list[CheckpointRow]:
        return [CheckpointRow(*row) for row in stored_checkpoints(self.conn, self.postgres)]

    def batches(self, lo: int = 0, hi: int | None = None) -> Iterator[Columns]:
        """Log rows with seq in [lo, hi), in seq order, as columns, with each event's canonical
        bytes rebuilt from the stored event row (None where that row is gone)."""
        sql = (
            "SELECT l.seq, e.originator_id, e.originator_version, e.topic, e.state, l.leaf, l.chain"
            f" FROM log_leaves l LEFT JOIN {self.events_table} e"
            f" ON e.{self.event_key} = l.notification_id WHERE l.seq >= {int(lo)}"
            + ("" if hi is None else f" AND l.seq < {int(hi)}")
            + " ORDER BY l.seq"
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
                # the stored bytes must be canonical I-JSON too
                i = first_not_canonical([data for data in datas if data is not None])
                if i is not None:
                    i = [k for k, data in enumerate(datas) if data is not None][i]
                    if i:
                        yield seqs[:i], datas[:i], leaves[:i], chains[:i]
                    try:
                        parse_canonical(datas[i])
                    except NotCanonical as e:
                        raise reference.fail("NOT_CANONICAL", seqs[i], f"event {seqs[i]}: {e}") from None
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
            raise VerificationFailed(Failure("EVENT_COUNT", events, f"{stored} events stored but {events} logged"))
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


def _outcome(run: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes, Failure | None]:
    try:
        events, root = run()
    except VerificationFailed as e:
        return 0, EMPTY_ROOT, e.failure
    return events, root, None


_progress_counter = None  # a shared counter, inherited by forked workers


def _check_db_range(db_url: str, events_table: str, lo: int, hi: int | None, cuts: list[int]) -> RangeResult:
    db = _Database(db_url, events_table)
    try:
        prev = ZERO_CHAIN
        if lo > 0:
            row = db.one(f"SELECT chain FROM log_leaves WHERE seq = {db.mark}", [lo - 1])
            if row is None:  # the range before reports this gap first
                return RangeResult(0, [], [], Failure("LEAF_MISSING", lo - 1, f"log entry {lo - 1} is missing"))
            prev = bytes(row[0])

        def tick(n: int) -> None:
            if _progress_counter is not None:
                with _progress_counter.get_lock():
                    _progress_counter.value += n

        return check_range(db.batches(lo, hi), lo, hi, prev, cuts, tick)
    finally:
        db.close()


def verify_database(
    db_url: str,
    trust: Trust,
    *,
    events_table: str,
    progress_factory: Callable[[int], Callable[[int], None]] | None = None,
    workers: int | None = None,
) -> Report:
    """Verify a live OneClaim database, opened read-only and read directly, by the rules of the
    reference verifier: checkpoints signed by the trusted key for the trusted origin, at least one
    non-empty, canonical event bytes, leaves, chain and roots, and coverage (the last checkpoint's
    size is the number of events); then no event stored outside the log.

    Large logs are split into seq ranges checked by parallel worker processes (leaf and chain
    checks need only each row and the stored chain before it); the ranges' block roots are then
    joined in order, so the result is exactly that of one pass.
    """
    global _progress_counter
    started = time.perf_counter()
    db = _Database(db_url, events_table)
    try:
        checkpoints = db.checkpoints()
        (top,) = db.one("SELECT MAX(seq) FROM log_leaves")
        end = 0 if top is None else top + 1
        if workers is None:
            workers = min(2, os.cpu_count() or 1) if end >= 100_000 else 1
        per = max(BLOCK, -(-end // workers // BLOCK) * BLOCK)
        bounds = [(lo, min(lo + per, end)) for lo in range(0, end, per)] or [(0, 0)]
        bounds[-1] = (bounds[-1][0], None)  # the last range reads to the end, whatever is there
        cuts = [cp.tree_size for cp in checkpoints]
        update = progress_factory(end) if progress_factory else None

        def run() -> tuple[int, bytes]:
            global _progress_counter
            signed = {cp.tree_size: _check_checkpoint(cp, trust.verifier, trust.origin) for cp in checkpoints}
            if not any(signed):
                raise reference.fail("NO_SIGNED_CHECKPOINT", None, "no checkpoint of a non-empty tree is signed")
            if len(bounds) == 1:
                events, root = combine([check_range(db.batches(), 0, None, ZERO_CHAIN, cuts, update)], signed)
            else:
                context = multiprocessing.get_context("fork")
                _progress_counter = context.Value("q", 0)
                with ProcessPoolExecutor(len(bounds), mp_context=context) as pool:
                    futures = [pool.submit(_check_db_range, db_url, events_table, lo, hi, cuts) for lo, hi in bounds]
                    while update is not None and not all(f.done() for f in futures):
                        time.sleep(0.2)  # not a timed wait: its deadline would follow a moved clock
                        update(_progress_counter.value)
                    results = [f.result() for f in futures]
                events, root = combine(results, signed)
            if max(signed) < events:
                raise reference.fail(
                    "EVENTS_NOT_COVERED", max(signed), f"events {max(signed)}..{events - 1} are covered by no"
                    " signed checkpoint (sign the head: oneclaim log sign)"
                )  # fmt: skip
            db.check_no_unlogged_events(events)
            return events, root

        events, root, failure = _outcome(run)
        _progress_counter = None
        report = _report(started, checkpoints, trust.source, (events, root, failure))
        report.verifier = "fast"
        return report
    finally:
        db.close()


BUNDLE_README = Path(__file__).parent / "bundle_readme.md"
"""The README every bundle carries: how to verify it with no OneClaim code."""


def export_bundle(
    db_url: str,
    directory: Path,
    *,
    events_table: str,
    origin: str,
    verifier_key: str,
    readme: str,
    progress: Callable[[int], None] | None = None,
    up_to: int | None = None,
) -> dict:
    """Write a self-contained audit bundle (format in docs/audit-bundle.md) of the log up to its
    latest signed checkpoint (or the signed checkpoint of size `up_to`: the current, witnessed
    one), so that every event in it is covered by a signature (events appended after that
    checkpoint are left for the next bundle). Checkpoints carry their witnesses' cosignatures."""
    directory = Path(directory)
    db = _Database(db_url, events_table)
    digest = hashlib.sha256()
    count = 0
    try:
        checkpoints = [cp for cp in db.checkpoints() if up_to is None or cp.tree_size <= up_to]
        if not checkpoints or checkpoints[-1].tree_size == 0:
            raise ValueError("no checkpoint of a non-empty tree is signed yet: run `oneclaim log sign` first")
        size = checkpoints[-1].tree_size
        (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
        with open(directory / "events.jsonl", "wb") as out:
            for seqs, datas, leaves, chains in db.batches(0, size):
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


def bundle_line(seq: int, data: bytes, leaf: bytes, chain: bytes) -> bytes:
    """One events.jsonl line. It is itself RFC 8785 canonical JSON, with the event's canonical
    bytes embedded verbatim as the `event` member."""
    return b'{"chain":"%s","event":%s,"leaf":"%s","seq":%d}\n' % (
        chain.hex().encode(),
        data,
        leaf.hex().encode(),
        seq,
    )


_LINE = re.compile(
    rb'[{]"chain":"([0-9a-f]{64})","event":([{].*[}]),"leaf":"([0-9a-f]{64})","seq":(0|[1-9][0-9]{0,14})[}]'
)
"""A line as bundle_line writes it, less its newline: lowercase hex, a seq as RFC 8785 writes it
(at most 15 digits, within 2^53 − 1; longer seqs are the reference's to judge). The event is
the greedy middle, so the `,"leaf":"` it ends at is the last one."""

_CHUNK = 1 << 20
"""Bytes of events.jsonl read at a time (whole lines are checked a chunk at a time)."""


def _lines_columns(lines: list[bytes], n: int, chunk: bytes) -> tuple[Columns, VerificationFailed | None]:
    """reference.parse_line over lines (newline removed) numbered from n, faster, and the failure
    that ends them (None if none does). A line is canonical exactly when it matches _LINE and its
    event is canonical (its member names are then in order, and hex digits and a decimal seq need
    no escapes), so the layout is checked by one match and only the events are parsed. A line that
    fails either is given to the reference parser, which names the exact failure. `chunk` holds
    the lines (their events' precondition for the round trip is checked on it once)."""
    seqs: list[int] = []
    events: list[bytes] = []
    leaves: list[bytes] = []
    chains: list[bytes] = []
    full, at = _LINE.fullmatch, 0
    while at < len(lines):
        matches = [full(line) for line in lines[at:]]
        good = matches.index(None) if None in matches else len(matches)
        found = [m[2] for m in matches[:good]]
        k = first_not_canonical(found, chunk if at == 0 else None)
        good = good if k is None else k
        rows = [m.groups() for m in matches[:good]]
        seqs += [int(row[3]) for row in rows]
        events += found[:good]
        leaves += [unhexlify(row[2]) for row in rows]
        chains += [unhexlify(row[0]) for row in rows]
        at += good
        if at == len(lines):
            break
        try:
            seq, event, leaf, chain = reference.parse_line(lines[at] + b"\n", n + at)
        except VerificationFailed as e:
            return (seqs, events, leaves, chains), e
        seqs.append(seq)  # the reference took a line the fast path would not: it stands
        events.append(event)
        leaves.append(leaf)
        chains.append(chain)
        at += 1
    return (seqs, events, leaves, chains), None


def _bundle_columns(path: Path, start: int, end: int | None, first: int) -> Iterator[Columns]:
    """The lines of events.jsonl in bytes [start, end), the first being line number `first`, as
    columns, a chunk of whole lines at a time; a line that cannot be read ends the source with its
    failure (rows before it stand)."""
    with open(path, "rb") as f:
        f.seek(start)
        n, rest, left = first, b"", end - start if end is not None else None
        while True:
            data = f.read(_CHUNK if left is None else min(_CHUNK, left))
            if left is not None:
                left -= len(data)
            if not data:
                if rest:  # the last line has no newline: the reference says so
                    reference.parse_line(rest, n)
                return
            data = rest + data
            cut = data.rfind(b"\n") + 1
            chunk, rest = data[:cut], data[cut:]
            lines = chunk.split(b"\n")
            lines.pop()  # the empty piece after the last newline
            columns, failure = _lines_columns(lines, n, chunk)
            if columns[0]:
                yield columns
            if failure is not None:
                raise failure
            n += len(lines)


def _split_lines(path: Path, parts: int) -> list[tuple[int, int]]:
    """(byte offset, line number) where each part starts: line numbers multiples of BLOCK, found
    by counting newlines, so each part can be checked on its own."""
    size = path.stat().st_size
    starts, want = [(0, 0)], [size * k // parts for k in range(1, parts)]
    with open(path, "rb") as f:
        line = at = 0
        for target in want:
            while at < target:  # count whole lines up to the byte target
                chunk = f.readline()
                if not chunk:
                    return starts
                at += len(chunk)
                line += 1
            while line % BLOCK:  # then on to a block boundary
                chunk = f.readline()
                if not chunk:
                    return starts
                at += len(chunk)
                line += 1
            if at < size and line > starts[-1][1]:
                starts.append((at, line))
    return starts


def _check_bundle_range(path: str, start: int, end: int | None, first: int, prev_chain: bytes, cuts: list[int]):
    return check_range(_bundle_columns(Path(path), start, end, first), first, None, prev_chain, cuts)


def verify_bundle(
    directory: Path,
    trust: Trust,
    *,
    progress_factory: Callable[[int], Callable[[int], None]] | None = None,
    workers: int | None = None,
) -> Report:
    """The fast verifier of a bundle: the reference verifier's rules (ledger.tlog.reference: the same
    preamble, line rules and coverage rule), with leaves, chain and roots checked in batches, and
    large bundles split into byte ranges on block boundaries checked by worker processes."""
    started = time.perf_counter()
    directory = Path(directory)
    path = directory / "events.jsonl"

    def run() -> tuple[int, bytes]:
        signed = reference.check_preamble(directory, trust)
        manifest = reference.read_manifest(directory)
        if not path.is_file():
            raise reference.fail("BUNDLE_MALFORMED", None, "cannot read events.jsonl")
        update = progress_factory(manifest["tree_size"]) if progress_factory else None
        cuts = sorted(signed)
        count = workers or (min(2, os.cpu_count() or 1) if path.stat().st_size >= 64 << 20 else 1)
        starts = _split_lines(path, count) if count > 1 else [(0, 0)]
        if len(starts) == 1:
            results = [check_range(_bundle_columns(path, 0, None, 0), 0, None, ZERO_CHAIN, cuts, update)]
        else:
            bounds = [
                (at, starts[i + 1][0] if i + 1 < len(starts) else None, line) for i, (at, line) in enumerate(starts)
            ]
            with ProcessPoolExecutor(len(bounds), mp_context=multiprocessing.get_context("fork")) as pool:
                futures = [
                    pool.submit(_check_bundle_range, str(path), at, end, line, _chain_before(path, at), cuts)
                    for at, end, line in bounds
                ]
                results = [f.result() for f in futures]
        events, root = combine(_joined(results), signed)
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        reference.check_coverage(directory, events, signed, digest.hexdigest())
        return events, root

    outcome = _outcome(run)
    report = _report(started, [], trust.source, outcome)
    report.checkpoints = len(list((directory / "checkpoints").glob("*.note"))) if report.ok else 0
    report.verifier = "fast"
    return report


def _chain_before(path: Path, offset: int) -> bytes:
    """The chain value of the line ending at `offset` (zero chain at the start). A line too
    damaged to read gives a chain that cannot match, and the range before names that line."""
    if offset == 0:
        return ZERO_CHAIN
    with open(path, "rb") as f:
        f.seek(max(0, offset - (1 << 16)))
        tail = f.read(offset - f.tell())
    line = tail[tail.rfind(b"\n", 0, len(tail) - 1) + 1 :]
    try:
        return bytes.fromhex(json.loads(line)["chain"])
    except (ValueError, KeyError, TypeError):
        return bytes(32)


def _joined(results: list[RangeResult]) -> list[RangeResult]:
    """Range results in order, up to and including the first that failed (later ones would
    report consequences of the same fault, e.g. a line missing shifts every later seq)."""
    out = []
    for r in results:
        out.append(r)
        if r.failure is not None:
            break
    return out
