"""`oneclaim serve` (the HTTP API, api/) and `oneclaim token` (its credentials)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from ledger.errors import InvalidInput, LedgerError
from oneclaim.home import USCC_SALT, Home
from oneclaim.output import HomeOpt, JsonOpt, emit, failures, opened


def token_now() -> datetime:
    """When a token is issued or revoked (the wall clock: tokens expire in real time)."""
    return datetime.now(UTC)


@contextmanager
def serving(home: Path) -> Iterator[str]:
    """`oneclaim serve --port 0` on a home in a child process, for as long as the block runs;
    yields its URL once uvicorn says where it listens."""
    with serving_command("serve", "--home", str(home)) as url:
        yield url


@contextmanager
def serving_witness(directory: Path) -> Iterator[str]:
    """`oneclaim witness serve --port 0` on a witness directory in a child process, as `serving`."""
    with serving_command("witness", "serve", "--dir", str(directory)) as url:
        yield url


@contextmanager
def serving_command(*command: str) -> Iterator[str]:
    """A `oneclaim ... --port 0` server in a child process, for as long as the block runs; yields
    its URL once uvicorn says where it listens."""
    with serving_process(*command) as (url, _):
        yield url


@contextmanager
def serving_process(*command: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """As `serving_command`, and the child process too (fault tests kill it, or start it with
    a failpoint in `env`: ledger/failpoint.py)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "oneclaim", *command, "--port", "0", "--no-access-log"],
        stderr=subprocess.PIPE,
        text=True,
        env=None if env is None else {**os.environ, **env},
    )
    try:
        for line in proc.stderr:
            if m := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line):
                threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its log
                yield m.group(1), proc
                return
        raise LedgerError("the API server stopped before it was listening", code="SERVER_DID_NOT_START")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


token_app = typer.Typer(help="Credentials for the HTTP API: issue, list, revoke.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one; the line 'Uvicorn running on' says which).")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (several need PostgreSQL).")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log each request (uvicorn's access log).")] = True,
    witness: Annotated[
        str | None, typer.Option("--witness", help="Also serve this witness data directory under /witness.")
    ] = None,
    publish_every: Annotated[
        float, typer.Option(help="Seconds between publications of the head to the policy's witnesses.")
    ] = 5.0,
    home: HomeOpt = None,
) -> None:
    """Start the HTTP API (uvicorn) on the home's ledger (or ONECLAIM_DB_URL). With a witness
    policy set (`oneclaim log set-policy`), the head is signed and submitted to the witnesses in
    the background, and GET /v1/checkpoint serves the latest one that met the quorum."""
    import uvicorn

    with failures():
        h = Home.at(home)
        db_url = h.db_url
        if workers > 1 and db_url.startswith("sqlite"):
            raise InvalidInput("several workers need PostgreSQL; SQLite takes one", code="WORKERS_NEED_POSTGRES")
    os.environ["ONECLAIM_DB_URL"], os.environ["ONECLAIM_ORIGIN"] = db_url, h.origin
    os.environ["ONECLAIM_VERIFIER_KEY"] = h.verifier_key()  # public: for the audit bundles it serves
    h.uscc_salt()  # made now if new: the carbon-account routes hash credit codes with it
    os.environ["ONECLAIM_USCC_SALT"] = str(h.path / USCC_SALT)
    if h.policy() is not None:
        from oneclaim.home import KEY

        os.environ["ONECLAIM_PUBLISH_KEY"] = str(h.path / KEY)
        os.environ["ONECLAIM_PUBLISH_POLICY"] = str(h.policy_path)
        os.environ["ONECLAIM_PUBLISH_EVERY"] = str(publish_every)
    if witness is not None:
        from ledger.tlog.witness import Witness

        Witness(witness).close()  # refused now, clearly, if it is not a witness
        os.environ["ONECLAIM_WITNESS_DIR"] = str(Path(witness).resolve())
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=access_log,
    )


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
            issued = store.issue(participant, role, token_now(), expires)
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
            revoked = store.revoke(token_id, token_now())
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
