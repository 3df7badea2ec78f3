"""The log's PostgreSQL recorder (see `ledger.tlog.log`), apart so that SQLite never loads psycopg."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL

from ledger.tlog.log import SCHEMA_LOCK, LogStore, _canonical_items, postgres_schema


class PostgresLogRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL application recorder, plus the log tables in the same transaction.

    eventsourcing takes an EXCLUSIVE lock on the events table before inserting, so appends to
    the log are serialised exactly as the notification ids are.
    """

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.extend(SQL(s) for s in postgres_schema(self.events_table_name))
        self.log = LogStore(
            "postgres",
            lambda: self.datastore.transaction(commit=False),
            lambda: self.datastore.transaction(commit=True),
            self.events_table_name,
        )

    def create_table(self) -> None:
        # Several processes may start at once; DDL on the same functions and triggers would
        # deadlock, so schema creation is serialised with a session advisory lock.
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", [SCHEMA_LOCK])
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [SCHEMA_LOCK])

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any):
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        self.log.append(curs, _canonical_items(notification_ids, stored_events))
        return notification_ids
