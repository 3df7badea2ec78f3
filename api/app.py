"""The HTTP API: one FastAPI service over a ledger (`oneclaim serve`).

Thin, as the CLI is: a route checks who is calling (api/auth.py, a dependency), parses its input
(api/schemas.py), calls the same `Ledger` or `ReadModel` method the CLI calls, and answers. Every
refusal is a `LedgerError`, turned into RFC 9457 problem+json by the one handler below.

The app is made by `create_app()`, from the environment `oneclaim serve` sets (ONECLAIM_DB_URL,
ONECLAIM_ORIGIN), so that uvicorn can start several workers of it over one PostgreSQL.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import routes
from api.auth import TokenStore
from api.background import pause
from ledger.errors import LedgerError

PROBLEM = "application/problem+json"
NOBLE_ED25519 = Path(__file__).resolve().parents[1] / "node_modules" / "@noble" / "ed25519"
"""@noble/ed25519 as npm installed it (package.json): served to browsers without Ed25519 in WebCrypto."""

HTTP_CODES = {
    400: "REQUEST_MALFORMED",  # e.g. a body that is not JSON
    404: "ROUTE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    415: "MEDIA_TYPE_UNSUPPORTED",
}
"""Codes for what the HTTP layer refuses before a route runs."""


def problem(status: int, code: str, detail: str, details: dict | None = None) -> JSONResponse:
    """An RFC 9457 problem: `type` names the stable code, `code` repeats it for clients that
    match on a field, `details` holds what the ledger's refusal carries."""
    body = {"type": f"urn:oneclaim:problem:{code}", "title": code, "status": status, "detail": detail, "code": code}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _projector(app: FastAPI, stop: threading.Event, every: float) -> None:
    """Keep the read models and the surveillance projection caught up in the background: reads
    find them current, and the request path only checks (one indexed read) that nothing is new."""
    from ledger.surveillance import Surveillance

    watch = None
    while pause(stop, every):
        try:
            app.state.readmodel.catch_up()
            watch = watch or Surveillance(app.state.ledger)
            watch.catch_up()  # market-surveillance alerts raised as the log grows (ledger/surveillance.py)
        except Exception:  # noqa: BLE001 - a failed pass is retried; reads catch up themselves
            continue
    if watch is not None:
        watch.close()


class Publishing:
    """The log's key and witness policy, for the background publisher and for the routes that
    publish before they answer (a partner's receipt: api/transfers.py). One at a time."""

    def __init__(self, key_file: str, policy_file: str) -> None:
        from ledger.tlog.note import Signer
        from ledger.tlog.policy import load_policy

        self.signer = Signer.from_private_key_string(Path(key_file).read_text().strip())
        self.policy = load_policy(policy_file)
        self.lock = threading.Lock()

    def publish(self, app: FastAPI, **options: object):
        with self.lock:
            return app.state.ledger.publish_checkpoint(self.signer, app.state.origin, self.policy, **options)


def _publisher(app: FastAPI, stop: threading.Event, every: float) -> None:
    """Have the head witnessed in the background: sign it, ask the policy's witnesses to cosign
    it, publish it when they meet the quorum. A witness down or slow delays publishing, never a
    request; the next pass asks again."""
    while pause(stop, every, app.state.publish_soon):
        try:
            app.state.publishing.publish(app, recheck=False)
        except Exception:  # noqa: BLE001 - a failed pass is retried on the next
            continue


def busy(e: BaseException) -> bool:
    """Whether `e` is the database's write lock not coming within the lock timeout: eventsourcing's
    writer connection not returned, or SQLite's "database is locked", or PostgreSQL's lock timeout."""
    from eventsourcing.persistence import ConnectionUnavailableError, OperationalError

    while e is not None:
        if isinstance(e, ConnectionUnavailableError):
            return True
        if isinstance(e, OperationalError | sqlite3.OperationalError) and (
            "locked" in str(e) or "lock timeout" in str(e)
        ):
            return True
        e = e.__cause__ or e.__context__
    return False


def create_app(db_url: str | None = None, origin: str | None = None, *, projector_every: float = 0.5) -> FastAPI:
    db_url = db_url or os.environ["ONECLAIM_DB_URL"]
    origin = origin or os.environ.get("ONECLAIM_ORIGIN", "")
    publishing = os.environ.get("ONECLAIM_PUBLISH_KEY"), os.environ.get("ONECLAIM_PUBLISH_POLICY")
    publish_every = float(os.environ.get("ONECLAIM_PUBLISH_EVERY", "5"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Iterator[None]:
        from ledger.app import Ledger
        from ledger.readmodel import ReadModel

        app.state.ledger = Ledger(db_url)
        app.state.readmodel = ReadModel(app.state.ledger)
        app.state.tokens = TokenStore(db_url)
        app.state.origin = origin
        app.state.uscc_salt_file = os.environ.get("ONECLAIM_USCC_SALT")  # api/enterprise.py
        app.state.verifier_key = os.environ.get("ONECLAIM_VERIFIER_KEY")
        app.state.now = lambda: datetime.now(UTC)
        app.state.publish_soon = threading.Event()  # set by writes a partner waits on (api/transfers.py)
        stop = threading.Event()
        workers = [threading.Thread(target=_projector, args=(app, stop, projector_every), daemon=True)]
        app.state.publishing = Publishing(*publishing) if all(publishing) else None
        if app.state.publishing is not None:
            workers.append(threading.Thread(target=_publisher, args=(app, stop, publish_every), daemon=True))
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=10)
            app.state.readmodel.close()
            app.state.tokens.close()
            app.state.ledger.close()

    from ledger.database import LOCK_TIMEOUT

    app = FastAPI(
        title="OneClaim",
        version="1",
        summary="The registry ledger over HTTP: one MWh, one claim.",
        description=routes.DESCRIPTION,
        lifespan=lifespan,
    )

    @app.exception_handler(LedgerError)
    async def ledger_error(_: Request, e: LedgerError) -> JSONResponse:
        return problem(e.http_status, e.code, e.message, e.details)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in e.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(part) for part in first["loc"])
        return problem(422, "REQUEST_INVALID", f"{where}: {first['msg']}", {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return problem(e.status_code, HTTP_CODES.get(e.status_code, f"HTTP_{e.status_code}"), str(e.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> JSONResponse:
        if busy(e):  # nothing was written: the command's transaction never began or was rolled back
            answer = problem(503, "LEDGER_BUSY", f"the ledger's database stayed locked for {LOCK_TIMEOUT} s; nothing"
                             " was written: retry (with the same Idempotency-Key)")  # fmt: skip
            answer.headers["Retry-After"] = "1"
            return answer
        return problem(500, "INTERNAL", f"an unexpected {type(e).__name__} in the server; see its log")

    for router in routes.ROUTERS:
        app.include_router(router)
    from fastapi.staticfiles import StaticFiles

    # the public explorer (issue 18): static files only; it reads the public routes, and verifies
    # in the visitor's browser what they answer (api/explorer/tlog.js)
    if NOBLE_ED25519.is_dir():  # the browser's Ed25519 where WebCrypto has none (api/explorer/tlog.js)
        app.mount("/explorer/vendor/noble-ed25519", StaticFiles(directory=NOBLE_ED25519), name="noble-ed25519")
    app.mount("/explorer", StaticFiles(directory=Path(__file__).parent / "explorer", html=True), name="explorer")
    if witness_dir := os.environ.get("ONECLAIM_WITNESS_DIR"):
        from api.witness import create_witness_app

        app.mount("/witness", create_witness_app(witness_dir))  # a partner's witness, beside the log
    return app
