"""Personal data beside the log, committed in it.

A retirement names who the claim is for (the beneficiary) and where the electricity was used (the
location). Either may name a person or a household (个人信息), and the log is append-only and meant
to be public. So the event holds neither: it holds a hiding commitment to each,

    commitment = "sha256:" + hex(SHA-256(salt || UTF-8 value))

where `salt` is 16 bytes derived from the value under the ledger's secret, HMAC-SHA-256(secret,
"oneclaim personal-data v1" || 0x00 || value). The same value always gets the same commitment, so
a retried retirement is recognised as the same request and an enterprise's retirements can be
found by its code; without the secret, nobody can test a guess against a commitment.

The value and its salt live in `personal_data`, a table beside the read models and outside the
log, which only the operator's answers read. Whoever holds a value and its salt (the opening)
checks it against the commitment with `opens` and nothing else: a claim certificate carries the
openings of its claimant's commitments, so a certifier checks the beneficiary offline. A value can
be erased (PIPL's right to deletion); the log still verifies, the commitment stays, and answers
show the commitment where the value was.

A value is written to `personal_data` before the event that commits to it, so a crash in between
leaves an unused row, never an event whose value is lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, LargeBinary, MetaData, String, Table, Text, create_engine, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

COMMITMENT = re.compile(r"^sha256:[0-9a-f]{64}$")
_LABEL = b"oneclaim personal-data v1\x00"
SCHEMA_LOCK = 0x0C1A1D  # PostgreSQL advisory lock id (the log uses 0x0C1A1B, the read models 0x0C1A1C)

metadata = MetaData()
personal_secret = Table(
    "personal_secret", metadata, Column("name", String, primary_key=True), Column("secret", LargeBinary, nullable=False)
)
personal_data = Table(
    "personal_data",
    metadata,
    Column("commitment", String, primary_key=True),
    Column("salt", LargeBinary, nullable=False),
    Column("value", Text, nullable=False),
)


def commitment_of(salt: bytes, value: str) -> str:
    """The one formula: the commitment to `value` under `salt`."""
    return "sha256:" + hashlib.sha256(salt + value.encode()).hexdigest()


def opens(commitment: str, salt_hex: str, value: str) -> bool:
    """Whether (salt, value) is an opening of `commitment`."""
    try:
        salt = bytes.fromhex(salt_hex)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str) and hmac.compare_digest(commitment_of(salt, value), commitment)


def is_commitment(value: object) -> bool:
    return isinstance(value, str) and COMMITMENT.match(value) is not None


def commitments_in(value: Any) -> set[str]:
    """Every commitment anywhere in a JSON value."""
    if is_commitment(value):
        return {value}
    if isinstance(value, dict):
        return set().union(*(commitments_in(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(commitments_in(v) for v in value)) if value else set()
    return set()


def substitute(value: Any, values: dict[str, str]) -> Any:
    """`value` with each commitment found in `values` replaced by what it commits to."""
    if isinstance(value, str):
        return values.get(value, value)
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    return value


class PersonalData:
    """The ledger's personal data: values kept outside the log, committed in it."""

    def __init__(self, sqlalchemy_url: str, *, secret: bytes | None = None) -> None:
        """The ledger's store; a new one is keyed by a random secret (or by `secret`, for a
        reproducible test fixture), kept in `personal_secret` for every later use."""
        url = make_url(sqlalchemy_url)
        self.engine = create_engine(url, connect_args={"timeout": 60} if url.get_backend_name() == "sqlite" else {})
        self._insert = (postgresql if url.get_backend_name() == "postgresql" else sqlite).insert
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # concurrent CREATE TABLE IF NOT EXISTS collide there
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
            metadata.create_all(conn, checkfirst=True)
            conn.execute(
                self._insert(personal_secret)
                .values(name="hmac", secret=secret or os.urandom(32))
                .on_conflict_do_nothing()
            )
            self._secret = conn.execute(select(personal_secret.c.secret)).scalar_one()

    def close(self) -> None:
        self.engine.dispose()

    def _salt(self, value: str) -> bytes:
        return hmac.new(self._secret, _LABEL + value.encode(), hashlib.sha256).digest()[:16]

    def commitment(self, value: str) -> str:
        """The commitment `commit(value)` gives, without storing anything."""
        return commitment_of(self._salt(value), value)

    def commit(self, value: str) -> str:
        """Keep `value` and answer its commitment, which is what the log records."""
        salt = self._salt(value)
        commitment = commitment_of(salt, value)
        with self.engine.begin() as conn:
            row = {"commitment": commitment, "salt": salt, "value": value}
            conn.execute(self._insert(personal_data).values(**row).on_conflict_do_nothing())
        return commitment

    def openings(self, commitments: Iterable[str]) -> dict[str, dict[str, str]]:
        """{commitment: {"salt": hex, "value": value}} for those still kept."""
        wanted = sorted({c for c in commitments if is_commitment(c)})
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(personal_data).where(personal_data.c.commitment.in_(wanted))).all()
        return {r.commitment: {"salt": r.salt.hex(), "value": r.value} for r in rows}

    def reveal(self, value: Any) -> Any:
        """`value` (any JSON) with every commitment it holds that is still kept replaced by its
        value: what the operator's answers show. Erased values stay commitments."""
        found = self.openings(commitments_in(value))
        return substitute(value, {c: o["value"] for c, o in found.items()}) if found else value

    def erase(self, commitment: str) -> bool:
        """Forget the value behind `commitment` (the log keeps the commitment); True if it was kept."""
        with self.engine.begin() as conn:
            return conn.execute(delete(personal_data).where(personal_data.c.commitment == commitment)).rowcount > 0


PUBLIC_AGGREGATES = (
    "ledger.domain.batch:Batch.",
    "ledger.domain.device:Device.",
    "ledger.domain.case:Case.",
    "ledger.domain.case:Disclosure.",
    "ledger.domain.anchor:AnchorHistory.",
    "ledger.domain.project:Project.",
    "ledger.domain.project:Programme.",
)
"""The aggregates whose events anyone may read, byte for byte: certificates and credits (held by
pseudonymous account ids), devices and their claims pools, double-counting cases and their
disclosures (公示), anchors, and CCER and carbon-inclusion projects. Not public: participants
(organisations' names), accounts, green-power contracts (prices), carbon accounts and claims
(an enterprise's own figures), surveillance reviews, client requests and transfer agreements."""

PERSONAL_FIELDS = {"ledger.domain.batch:Batch.Retired": ("beneficiary", "location")}
"""Fields that may name a person: public only as commitments (a ledger older than commitments
recorded the text, and those events stay private)."""


def public_event(event: bytes) -> bool:
    """Whether an event's canonical bytes may be given to anyone (see PUBLIC_AGGREGATES)."""
    try:
        parsed = json.loads(event)
        topic, state = parsed["topic"], parsed["state"]
    except (ValueError, KeyError, TypeError):
        return False
    if not isinstance(topic, str) or not topic.startswith(PUBLIC_AGGREGATES) or not isinstance(state, dict):
        return False
    return all(is_commitment(state.get(field)) for field in PERSONAL_FIELDS.get(topic, ()))
