"""The OneClaim application: thin, one method per command, persistence chosen by settings.

Rules live in the aggregates (`ledger.domain`); the tamper-evident log lives in the recorder
(`ledger.log`). This class only loads aggregates, calls them, and saves atomically.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Transcoder

from ledger.canonical import CanonicalJSONTranscoder
from ledger.domain.device import Device, device_id
from ledger.errors import Conflict, InvalidInput, NotFound
from ledger.log import LogStore, StoredCheckpoint
from ledger.note import Checkpoint, Signer, sign_note

APP_NAME = "OneClaim"
EVENTS_TABLE = {"sqlite": "stored_events", "postgres": "oneclaim_events"}


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
            "SQLITE_LOCK_TIMEOUT": "60",
            "APPLICATION_RECORDER_TOPIC": "ledger.log:SQLiteLogRecorder",
        }
    if parts.scheme in ("postgresql", "postgres"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_LOCK_TIMEOUT": "60",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "APPLICATION_RECORDER_TOPIC": "ledger.log:PostgresLogRecorder",
        }
    raise InvalidInput(
        f"unsupported database URL {db_url!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
        code="DB_URL_INVALID",
    )


def dialect(db_url: str) -> str:
    return "postgres" if db_url.startswith(("postgresql://", "postgres://")) else "sqlite"


class Ledger(Application[UUID]):
    """The registry ledger."""

    name = APP_NAME

    def __init__(self, db_url: str, env: dict[str, Any] | None = None) -> None:
        self.db_url = db_url
        super().__init__(env={**persistence_env(db_url), **(env or {})})

    def construct_transcoder(self) -> Transcoder:
        transcoder = CanonicalJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    @property
    def log(self) -> LogStore:
        return self.recorder.log  # type: ignore[attr-defined]

    @property
    def events_table(self) -> str:
        return self.recorder.events_table_name  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ checkpoints

    def sign_checkpoint(self, signer: Signer, origin: str) -> StoredCheckpoint:
        """Sign the current tree head (a no-op returning the latest if the tree has not grown)."""
        latest = self.log.latest_checkpoint()
        size, _, root_hash = self.log.head()
        if latest is not None and latest.tree_size == size:
            return latest
        text = Checkpoint(origin=origin, size=size, root=root_hash).text()
        return self.log.add_checkpoint(size, root_hash, sign_note(text, signer))

    # ------------------------------------------------------------------ devices and readings

    def register_device(
        self,
        code: str,
        technology: str,
        capacity_kw: int,
        province: str,
        city: str,
        owner: str,
        commissioned_on: str,
    ) -> UUID:
        if type(capacity_kw) is not int or capacity_kw <= 0:
            raise InvalidInput(
                f"capacity_kw must be a positive integer, got {capacity_kw!r}",
                code="QUANTITY_OUT_OF_RANGE",
            )
        device = Device(
            code=code,
            technology=technology,
            capacity_kw=capacity_kw,
            province=province,
            city=city,
            owner=owner,
            commissioned_on=commissioned_on,
        )
        try:
            self.save(device)
        except IntegrityError:
            raise Conflict(
                f"device {code} is already registered", code="DEVICE_EXISTS", device=code
            ) from None
        return device.id

    def device(self, code: str) -> Device:
        try:
            return self.repository.get(device_id(code))
        except Exception as e:  # eventsourcing's AggregateNotFoundError
            if type(e).__name__ == "AggregateNotFoundError":
                raise NotFound(f"unknown device {code}", code="DEVICE_NOT_FOUND", device=code) from None
            raise

    def record_reading(
        self, code: str, start: str, end: str, on_grid_kwh: int, self_consumed_kwh: int = 0
    ) -> int:
        device = self.device(code)
        device.record_reading(start, end, on_grid_kwh, self_consumed_kwh)
        self._save_or_conflict(device)
        return device.version

    def correct_reading(
        self,
        code: str,
        corrects_version: int,
        on_grid_kwh: int,
        self_consumed_kwh: int,
        reason: str,
    ) -> int:
        device = self.device(code)
        device.correct_reading(corrects_version, on_grid_kwh, self_consumed_kwh, reason)
        self._save_or_conflict(device)
        return device.version

    def _save_or_conflict(self, *aggregates: Any) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise Conflict(
                "another command changed the same records at the same time; retry",
                code="CONCURRENT_UPDATE",
            ) from None
