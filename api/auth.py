"""Who is calling: bearer tokens with one role each, stored only as hashes, revocable.

A token is `oc_<id>_<secret>`, printed once by `oneclaim token issue`. The database keeps the
SHA-256 of the whole token, the participant it speaks for, its role, when it expires and, once
revoked, when. Identity always comes from the token, never from a request body. Checking a token
reads this table only: an authentication failure writes nothing, to the ledger or anywhere.

Tokens live in the ledger's database beside the read models, in a table of their own: they are
not ledger events (they are not hashed, anchored or exported), so revoking one changes no log.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Column, MetaData, String, Table, create_engine, select, update
from sqlalchemy.engine import make_url

from ledger.errors import InvalidInput, LedgerError, NotFound
from ledger.readmodel import sqlalchemy_url


class Role(StrEnum):
    """What a credential may do (docs/api.md has the route table)."""

    OPERATOR = "operator"  # the registry operator: issue, cancel, expire, register, import, resolve
    HOLDER = "holder"  # an account holder: transfer and retire from its participant's accounts
    AUDITOR = "auditor"  # reads everything, proofs, export; no writes
    PARTNER = "partner"  # a partner registry (cross-region endpoints, issue 16)


PUBLIC = "public"
"""No credential: provenance, checkpoints, proofs, disclosures; nothing personal."""


class Unauthenticated(LedgerError):
    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(LedgerError):
    code = "FORBIDDEN"
    http_status = 403


@dataclass(frozen=True)
class Principal:
    """The caller, as its token says."""

    token_id: str
    participant: str
    role: Role


metadata = MetaData()
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String, primary_key=True),
    Column("token_sha256", String, nullable=False, unique=True),
    Column("participant", String, nullable=False),
    Column("role", String, nullable=False),
    Column("issued_at", String, nullable=False),  # ISO 8601, UTC
    Column("expires_at", String, nullable=True),
    Column("revoked_at", String, nullable=True),
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


class TokenStore:
    """The api_tokens table of a ledger's database."""

    def __init__(self, db_url: str) -> None:
        url = make_url(sqlalchemy_url(db_url))
        connect_args = {"timeout": 60} if url.get_backend_name() == "sqlite" else {}
        self.engine = create_engine(url, connect_args=connect_args)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def issue(self, participant: str, role: str, now: datetime, expires_in: timedelta | None = None) -> dict:
        """A new token for a participant (who must exist: the caller checks) in a role."""
        try:
            role = Role(role)
        except ValueError:
            raise InvalidInput(
                f"role must be one of {', '.join(r.value for r in Role)}, got {role!r}", code="ROLE_INVALID"
            ) from None
        if expires_in is not None and expires_in <= timedelta(0):
            raise InvalidInput("a token must expire after it is issued", code="EXPIRY_INVALID")
        token_id = secrets.token_hex(4)
        token = f"oc_{token_id}_{secrets.token_urlsafe(24)}"
        row = {
            "token_id": token_id,
            "token_sha256": _digest(token),
            "participant": participant,
            "role": role.value,
            "issued_at": _instant(now),
            "expires_at": None if expires_in is None else _instant(now + expires_in),
            "revoked_at": None,
        }
        with self.engine.begin() as conn:
            conn.execute(api_tokens.insert().values(**row))
        return {k: v for k, v in row.items() if k != "token_sha256"} | {"token": token}

    def revoke(self, token_id: str, now: datetime) -> dict:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(api_tokens)
                .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=_instant(now))
            )
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).mappings().first()
        if row is None:
            raise NotFound(f"no token {token_id}", code="TOKEN_NOT_FOUND")
        return {k: v for k, v in row.items() if k != "token_sha256"} | {"revoked_now": done.rowcount == 1}

    def list(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.issued_at)).mappings().all()
        return [{k: v for k, v in row.items() if k != "token_sha256"} for row in rows]

    def authenticate(self, token: str, now: datetime) -> Principal:
        """The principal a bearer token speaks for, or UNAUTHENTICATED saying why not."""
        with self.engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_sha256 == _digest(token))).mappings().first()
        if row is None:
            raise Unauthenticated("the bearer token is not one this registry issued")
        if row["revoked_at"] is not None:
            raise Unauthenticated(f"token {row['token_id']} was revoked at {row['revoked_at']}", code="TOKEN_REVOKED")
        if row["expires_at"] is not None and _instant(now) >= row["expires_at"]:
            raise Unauthenticated(f"token {row['token_id']} expired at {row['expires_at']}", code="TOKEN_EXPIRED")
        return Principal(row["token_id"], row["participant"], Role(row["role"]))
