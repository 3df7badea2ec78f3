"""A transparency-log witness (C2SP tlog-witness v1.0.0): it keeps the latest checkpoint it
cosigned for each log it witnesses, cosigns a new one only after checking a consistency proof
from that one, and never cosigns two views that disagree.

`Witness.add_checkpoint(body)` is the whole protocol, answered as (status, content type, body):

    404  the checkpoint's origin is not a log this witness knows
    403  no signature from the log's trusted key, or one from it that does not verify
    400  a malformed body, or an old size beyond the checkpoint's size
    409  the old size is not the size of the checkpoint last cosigned (body: that size, "\\n",
         Content-Type text/x.tlog.size)
    422  a size-0 checkpoint with another root than the empty tree's; a proof with old size 0;
         a consistency proof that does not verify; the same size with another root
    200  the cosignature line(s)

The check against the stored size and the update of it are one SQLite transaction taken with
BEGIN IMMEDIATE, committed before the answer is sent: two racing requests cannot both pass the
check of one stored size (tlog-witness's rollback race).

Misbehaviour. Every validly signed checkpoint of a known log is compared with every checkpoint
this witness cosigned of it, whatever the request's status. Two signed checkpoints of the same
size with different roots are a proof of a split view (SPLIT_VIEW, both notes kept). A
consistency proof from the stored checkpoint that fails is kept as INCONSISTENT (the log signed a
checkpoint it cannot prove consistent with one it had cosigned), and a checkpoint smaller than the
stored one that this witness never cosigned as ROLLBACK (the log, or someone replaying a
checkpoint it signed and never submitted, showed an older or other tree).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import LedgerError
from ledger.tlog.merkle import EMPTY_ROOT
from ledger.tlog.merkle.proof import ProofError, verify_consistency
from ledger.tlog.note import (
    NoteError,
    Signer,
    _split_note,
    cosign,
    generate_signer,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
)

SIZE_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
KEY_FILE = "witness.key"
CONFIG_FILE = "witness.json"
DB_FILE = "witness.sqlite"
_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,19})")

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS logs (origin TEXT PRIMARY KEY, vkey TEXT NOT NULL, size INTEGER, root BLOB, note TEXT)",
    "CREATE TABLE IF NOT EXISTS cosigned (origin TEXT NOT NULL, size INTEGER NOT NULL, root BLOB NOT NULL,"
    " note TEXT NOT NULL, timestamp INTEGER NOT NULL, PRIMARY KEY (origin, size))",
    "CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL,"
    " kind TEXT NOT NULL, detail TEXT NOT NULL, cosigned_note TEXT NOT NULL, shown_note TEXT NOT NULL,"
    " request TEXT NOT NULL, timestamp INTEGER NOT NULL)",
]


class WitnessError(LedgerError):
    """A witness command refused (bad origin or key, not initialised)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: str


def _text(status: int, message: str) -> Answer:
    return Answer(status, "text/plain; charset=utf-8", message.rstrip("\n") + "\n")


def origin_hash(origin: str) -> str:
    """The monitoring path's name for a log: SHA-256 of its origin, lowercase hex."""
    return hashlib.sha256(origin.encode()).hexdigest()


def unix_now() -> int:
    """The cosignature timestamp: the wall clock, POSIX seconds (tlog-cosignature)."""
    return int(time.time())


def parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    """Split an add-checkpoint body into (old size, proof hashes, checkpoint note); ValueError
    with what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None
    head, sep, note = text.partition("\n")
    if not sep or not (m := _OLD_LINE.fullmatch(head)):
        raise ValueError("the first line must be 'old <size>' (decimal, no leading zeroes)")
    old = int(m.group(1))
    proof: list[bytes] = []
    while True:
        line, sep, rest = note.partition("\n")
        if not sep:
            raise ValueError("no empty line ends the consistency proof")
        note = rest
        if line == "":
            break
        if len(proof) == MAX_PROOF_LINES:
            raise ValueError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            raw = base64.b64decode(line, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != 32 or base64.b64encode(raw).decode() != line:
            raise ValueError(f"consistency proof line {len(proof) + 1} is not a base64 SHA-256 hash")
        proof.append(raw)
    return old, proof, note


class Witness:
    """A witness over its data directory: key (0600), settings and state (SQLite)."""

    def __init__(self, directory: str | Path, *, now: Callable[[], int] = unix_now) -> None:
        self.directory = Path(directory)
        if not (self.directory / CONFIG_FILE).exists():
            raise WitnessError(
                "WITNESS_NOT_INITIALISED", f"no witness at {self.directory}: run `oneclaim witness init`"
            )
        self.name = json.loads((self.directory / CONFIG_FILE).read_text())["name"]
        self.signer = Signer.from_private_key_string((self.directory / KEY_FILE).read_text().strip())
        self.now = now
        self._lock = threading.Lock()  # one connection, used by one request at a time
        self.conn = sqlite3.connect(self.directory / DB_FILE, isolation_level=None, check_same_thread=False,
                                    timeout=30)  # fmt: skip
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        for statement in SCHEMA:
            self.conn.execute(statement)

    @staticmethod
    def init(directory: str | Path, name: str) -> bool:
        """Create a witness: its key (0600) and settings. False if it exists already as asked."""
        directory = Path(directory)
        config = directory / CONFIG_FILE
        if config.exists():
            existing = json.loads(config.read_text())["name"]
            if existing != name:
                raise WitnessError("WITNESS_EXISTS", f"{directory} is already the witness {existing!r}")
            return False
        try:
            signer = generate_signer(name)
        except NoteError as e:
            raise WitnessError("WITNESS_NAME_INVALID", f"{name!r} cannot name a witness key: {e}") from None
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = directory / KEY_FILE
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(signer.private_key_string() + "\n")
        os.chmod(key, 0o600)
        tmp = config.with_suffix(".tmp")
        tmp.write_text(json.dumps({"name": name}) + "\n")
        os.replace(tmp, config)  # the settings appear last: a crash before leaves no witness
        return True

    def close(self) -> None:
        self.conn.close()

    @property
    def verifier_key(self) -> str:
        """The witness's cosignature/v1 vkey (type 0x04), for a log's policy file."""
        return self.signer.cosignature_verifier().verifier_key()

    # ------------------------------------------------------------------ the logs it witnesses

    def add_log(self, origin: str, vkey: str) -> bool:
        try:
            verifier = parse_verifier_key(vkey)
        except NoteError as e:
            raise WitnessError("LOG_KEY_INVALID", f"not a verifier key: {e}") from None
        if verifier.name != origin:
            raise WitnessError("LOG_KEY_ORIGIN", f"the key is named {verifier.name!r}, not the origin {origin!r}")
        with self._lock:
            row = self.conn.execute("SELECT vkey FROM logs WHERE origin = ?", [origin]).fetchone()
            if row is not None:
                if row[0] != vkey:
                    raise WitnessError("LOG_EXISTS", f"{origin} is already witnessed under another key")
                return False
            self.conn.execute("INSERT INTO logs (origin, vkey) VALUES (?, ?)", [origin, vkey])
            return True

    def _rows(self, sql: str, params: list | None = None) -> list[tuple]:
        with self._lock:
            return self.conn.execute(sql, params or []).fetchall()

    def logs(self) -> list[dict]:
        rows = self._rows("SELECT origin, vkey, size, root, note FROM logs ORDER BY origin")
        return [
            {"origin": o, "verifier_key": k, "size": s, "origin_hash": origin_hash(o),
             "root_hash": None if r is None else base64.b64encode(r).decode()}
            for o, k, s, r, _ in rows
        ]  # fmt: skip

    def latest(self, digest: str) -> str | None:
        """The latest cosigned checkpoint of the log whose origin hashes to `digest`, with the
        log's signature and this witness's cosignature (the monitoring endpoint)."""
        for origin, note in self._rows("SELECT origin, note FROM logs WHERE note IS NOT NULL"):
            if origin_hash(origin) == digest:
                return note
        return None

    def alerts(self) -> list[dict]:
        rows = self._rows(
            "SELECT id, origin, kind, detail, cosigned_note, shown_note, request, timestamp FROM alerts ORDER BY id"
        )
        keys = ("id", "origin", "kind", "detail", "cosigned_note", "shown_note", "request", "timestamp")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def cosigned_root(self, origin: str, size: int) -> tuple[bytes, str] | None:
        """The root and note this witness cosigned for `origin` at `size`, if it did."""
        rows = self._rows("SELECT root, note FROM cosigned WHERE origin = ? AND size = ?", [origin, size])
        return None if not rows else (bytes(rows[0][0]), rows[0][1])

    def record_alert(self, origin: str, kind: str, detail: str, cosigned_note: str, shown: str) -> None:
        """Keep evidence found outside add-checkpoint (e.g. a chain that anchors another root)."""
        with self._lock:
            self._alert(origin, kind, detail, cosigned_note, shown, b"")

    # ------------------------------------------------------------------ add-checkpoint

    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            old, proof, note = parse_request(body)
            text, _ = _split_note(note)
            checkpoint = parse_checkpoint(text)
        except (ValueError, NoteError) as e:
            return _text(400, f"malformed add-checkpoint request: {e}")
        row = next(iter(self._rows("SELECT vkey FROM logs WHERE origin = ?", [checkpoint.origin])), None)
        if row is None:
            return _text(404, f"unknown log origin {checkpoint.origin!r}")
        try:
            open_note(note, [parse_verifier_key(row[0])])
        except NoteError as e:
            return _text(403, f"the checkpoint is not signed by the log's trusted key: {e}")
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")  # also against another process on this directory
            try:
                if old > checkpoint.size:
                    self._look_for_misbehaviour(checkpoint, note, body)
                    answer = _text(400, f"old size {old} is beyond the checkpoint's size {checkpoint.size}")
                else:
                    answer = self._check_and_cosign(old, proof, checkpoint, text, note, body)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")  # persisted before the answer goes out
        return answer

    def _check_and_cosign(self, old, proof, checkpoint, text, note, body) -> Answer:
        size, root, stored_note = self.conn.execute(
            "SELECT size, root, note FROM logs WHERE origin = ?", [checkpoint.origin]
        ).fetchone()
        stored = size or 0
        split = self._look_for_misbehaviour(checkpoint, note, body)
        if old != stored:
            return Answer(409, SIZE_TYPE, f"{stored}\n")
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            return _text(422, "a checkpoint of size 0 must have the empty tree's root")
        if old == 0:
            if proof:
                return _text(422, "old size 0 takes no consistency proof")
        elif old == checkpoint.size:
            if checkpoint.root != root:
                return _text(422, f"size {old} was cosigned with another root: a split view (recorded)")
            if proof:
                return _text(422, "the same size takes no consistency proof")
        else:
            try:
                verify_consistency(old, checkpoint.size, proof, root, checkpoint.root)
            except ProofError as e:
                if not split:
                    self._alert(checkpoint.origin, "INCONSISTENT",
                                f"no valid consistency proof from the cosigned size {old} to {checkpoint.size}: {e}",
                                stored_note, note, body)  # fmt: skip
                return _text(422, f"the consistency proof from {old} to {checkpoint.size} does not verify: {e}")
        timestamp = self.now()
        line = cosign(text, self.signer, timestamp)
        cosigned = note + line
        self.conn.execute(
            "UPDATE logs SET size = ?, root = ?, note = ? WHERE origin = ?",
            [checkpoint.size, checkpoint.root, cosigned, checkpoint.origin],
        )
        self.conn.execute(
            "INSERT OR IGNORE INTO cosigned (origin, size, root, note, timestamp) VALUES (?, ?, ?, ?, ?)",
            [checkpoint.origin, checkpoint.size, checkpoint.root, cosigned, timestamp],
        )
        return Answer(200, "text/plain; charset=utf-8", line)

    def _look_for_misbehaviour(self, checkpoint, note: str, body: bytes) -> bool:
        """Compare a validly signed checkpoint with what this witness cosigned of its log; record
        a split view (same size, other root) or a rollback (smaller than the latest cosigned, and
        never cosigned). True if it is a split view."""
        same = self.conn.execute(
            "SELECT root, note FROM cosigned WHERE origin = ? AND size = ?", [checkpoint.origin, checkpoint.size]
        ).fetchone()
        if same is not None:
            if same[0] != checkpoint.root:
                self._alert(checkpoint.origin, "SPLIT_VIEW",
                            f"two checkpoints of size {checkpoint.size} signed by the log's key with different roots",
                            same[1], note, body)  # fmt: skip
                return True
            return False
        latest = self.conn.execute("SELECT size, note FROM logs WHERE origin = ?", [checkpoint.origin]).fetchone()
        if latest[0] is not None and checkpoint.size < latest[0]:
            self._alert(checkpoint.origin, "ROLLBACK",
                        f"a checkpoint of size {checkpoint.size}, behind the cosigned size {latest[0]}, never cosigned",
                        latest[1], note, body)  # fmt: skip
        return False

    def _alert(self, origin: str, kind: str, detail: str, cosigned_note: str, shown_note: str, body: bytes) -> None:
        duplicate = self.conn.execute(
            "SELECT 1 FROM alerts WHERE origin = ? AND kind = ? AND shown_note = ?", [origin, kind, shown_note]
        ).fetchone()
        if duplicate is None:  # the same evidence shown again is kept once
            self.conn.execute(
                "INSERT INTO alerts (origin, kind, detail, cosigned_note, shown_note, request, timestamp)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [origin, kind, detail, cosigned_note, shown_note, body.decode("utf-8", "replace"), self.now()],
            )
