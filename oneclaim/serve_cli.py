"""`oneclaim serve` (the HTTP API, api/) and `oneclaim token` (its credentials)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from ledger.errors import InvalidInput
from oneclaim.home import Home
from oneclaim.output import HomeOpt, JsonOpt, emit, failures, opened

def _now() -> datetime:
    """When a token is issued or revoked (the wall clock: tokens expire in real time)."""
    return datetime.now(UTC)


token_app = typer.Typer(help="Credentials for the HTTP API: issue, list, revoke.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one; the line 'Uvicorn running on' says which).")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (several need PostgreSQL).")] = 1,
    home: HomeOpt = None,
) -> None:
    """Start the HTTP API (uvicorn) on the home's ledger (or ONECLAIM_DB_URL)."""
    import uvicorn

    with failures():
        h = Home.at(home)
        db_url = h.db_url
        if workers > 1 and db_url.startswith("sqlite"):
            raise InvalidInput("several workers need PostgreSQL; SQLite takes one", code="WORKERS_NEED_POSTGRES")
    os.environ["ONECLAIM_DB_URL"], os.environ["ONECLAIM_ORIGIN"] = db_url, h.origin
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@token_app.command("issue")
def token_issue(
    participant: Annotated[str, typer.Option(help="The participant the token speaks for.")],
    role: Annotated[str, typer.Option(help="operator, holder, auditor or partner.")],
    expires_in_days: Annotated[int | None, typer.Option(help="Days until it expires (default: never).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a token. It is printed once; only its SHA-256 is stored."""
    from api.auth import TokenStore

    with opened(home, as_json) as ledger:
        ledger.participant(participant)
        store = TokenStore(ledger.db_url)
        try:
            expires = None if expires_in_days is None else timedelta(days=expires_in_days)
            issued = store.issue(participant, role, _now(), expires)
        finally:
            store.close()
    emit(as_json, issued, f"{issued['token']}\n(token {issued['token_id']}: {role} for {participant})")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument()], home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Revoke a token by its id: it is refused from then on (TOKEN_REVOKED)."""
    from api.auth import TokenStore

    with opened(home, as_json) as ledger:
        store = TokenStore(ledger.db_url)
        try:
            revoked = store.revoke(token_id, _now())
        finally:
            store.close()
    emit(as_json, revoked, f"Revoked token {token_id} ({revoked['role']} for {revoked['participant']})")


@token_app.command("list")
def token_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Every token issued, without the tokens themselves."""
    from api.auth import TokenStore

    with opened(home, as_json) as ledger:
        store = TokenStore(ledger.db_url)
        try:
            tokens = store.list()
        finally:
            store.close()
    lines = [f"{t['token_id']} {t['role']} {t['participant']} revoked={t['revoked_at']}" for t in tokens]
    emit(as_json, {"tokens": tokens}, "\n".join(lines) or "no tokens")
