"""Which database a URL names, and eventsourcing's settings for it. Light on purpose: commands
that only read (a checkpoint, an audit) need this without loading the application."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ledger.errors import InvalidInput

EVENTS_TABLE = {"sqlite": "stored_events", "postgres": "oneclaim_events"}


LOCK_TIMEOUT = int(os.environ.get("ONECLAIM_LOCK_TIMEOUT", "60"))
"""Seconds a command waits for the database's write lock before it is refused (LEDGER_BUSY)."""


def persistence_env(db_url: str) -> dict[str, str]:
    """eventsourcing settings for a database URL: `sqlite:///PATH` or `postgresql://...`."""
    parts = urlsplit(db_url)
    if parts.scheme == "sqlite":
        path = db_url[len("sqlite:///") :]
        if not path:
            raise InvalidInput("sqlite URL needs a file path: sqlite:///PATH", code="DB_URL_INVALID")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
            "APPLICATION_RECORDER_TOPIC": "ledger.tlog.log:SQLiteLogRecorder",
        }
    if parts.scheme in ("postgresql", "postgres"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "APPLICATION_RECORDER_TOPIC": "ledger.tlog.log_postgres:PostgresLogRecorder",
        }
    raise InvalidInput(
        f"unsupported database URL {db_url!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
        code="DB_URL_INVALID",
    )


def dialect(db_url: str) -> str:
    return "postgres" if db_url.startswith(("postgresql://", "postgres://")) else "sqlite"


def read_only(db_url: str) -> Any:
    """A read-only DB-API connection to a OneClaim database (SQLite file or PostgreSQL), for
    readers that must not go through the application: auditors, and the checkpoint command."""
    if dialect(db_url) == "postgres":
        import psycopg

        conn = psycopg.connect(db_url)
        conn.read_only = True
        return conn
    path = db_url[len("sqlite:///") :] if db_url.startswith("sqlite:///") else db_url
    if not Path(path).exists():
        raise FileNotFoundError(f"no database at {path}")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _has_table(conn, postgres: bool, table: str) -> bool:
    if postgres:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone() is not None


def stored_checkpoints(conn, postgres: bool, which: str = "all") -> list[tuple[int, bytes, str]]:
    """The signed checkpoints in a database, (tree size, root, note) by tree size, each note
    followed by the witnesses' cosignature lines kept for it (an older database may have none).
    `which`: "all"; "latest" (the latest signed); "current" (the one readers are given: the latest
    that met the witness quorum once one has, else the latest signed)."""
    witnessed = _has_table(conn, postgres, "log_cosignatures")
    sql = "SELECT tree_size, root, note FROM log_checkpoints"
    if which == "current" and witnessed and conn.execute("SELECT COUNT(*) FROM log_published").fetchone()[0]:
        sql += " WHERE tree_size = (SELECT MAX(tree_size) FROM log_published)"
    rows = conn.execute(sql + " ORDER BY tree_size" + ("" if which == "all" else " DESC LIMIT 1")).fetchall()
    lines: dict[int, list[str]] = {}
    if witnessed and rows:
        mark = "%s" if postgres else "?"
        low = rows[0][0] if which == "all" else rows[-1][0]
        for size, line in conn.execute(
            f"SELECT tree_size, line FROM log_cosignatures WHERE tree_size >= {mark}"
            " ORDER BY tree_size, witness, key_id",
            [low],
        ):
            lines.setdefault(size, []).append(line)
    return [(size, bytes(root), note + "".join(lines.get(size, []))) for size, root, note in rows]


def checkpoint_notes(db_url: str, which: str = "all") -> list[tuple[int, bytes, str]]:
    """`stored_checkpoints` of a database opened read-only."""
    conn = read_only(db_url)
    try:
        return stored_checkpoints(conn, dialect(db_url) == "postgres", which)
    finally:
        conn.close()


def event_states(db_url: str, topic: str) -> list[dict]:
    """The stored state of every event whose topic is exactly `topic`, in the order stored: for
    auditors who need one kind of event (e.g. the log's own Anchored records), read directly."""
    conn = read_only(db_url)
    postgres = dialect(db_url) == "postgres"
    order, mark = ("notification_id", "%s") if postgres else ("rowid", "?")
    try:
        sql = f"SELECT state FROM {EVENTS_TABLE[dialect(db_url)]} WHERE topic = {mark} ORDER BY {order}"
        rows = conn.execute(sql, [topic]).fetchall()
    finally:
        conn.close()
    return [json.loads(bytes(state)) for (state,) in rows]
