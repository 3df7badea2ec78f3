"""The witness over HTTP (C2SP tlog-witness): `oneclaim witness serve`, or mounted at /witness
inside `oneclaim serve --witness DIR`.

    POST /add-checkpoint              the protocol (ledger/tlog/witness.py), status for status
    GET  /{origin hash}/checkpoint    the latest checkpoint cosigned for a log (monitoring prefix)
    GET  /logs                        the logs witnessed, with the size last cosigned
    GET  /alerts                      proofs of misbehaviour recorded (split views, rollbacks)
    GET  /healthz

The submission and monitoring prefixes are both the app's root. There is no authentication: a
request is only as good as the log signature on the checkpoint it carries.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ledger.tlog.witness import Witness

MAX_BODY = 64 * 1024
"""An add-checkpoint body is an old-size line, at most 63 hashes and a checkpoint: a few KiB."""


def create_witness_app(directory: str | Path | None = None, witness: Witness | None = None) -> FastAPI:
    import os

    witness = witness or Witness(directory or os.environ["ONECLAIM_WITNESS_DIR"])
    app = FastAPI(title=f"OneClaim witness {witness.name}", version="1", summary="A C2SP tlog-witness.")
    app.state.witness = witness

    @app.post("/add-checkpoint", response_class=PlainTextResponse)
    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse(f"the body exceeds {MAX_BODY} bytes\n", status_code=400)
        answer = await run_in_threadpool(witness.add_checkpoint, body)  # an fsync'd commit
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    @app.get("/logs")
    def logs() -> JSONResponse:
        return JSONResponse({"witness": witness.name, "verifier_key": witness.verifier_key, "logs": witness.logs()})

    @app.get("/alerts")
    def alerts() -> JSONResponse:
        return JSONResponse({"witness": witness.name, "alerts": witness.alerts()})

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "witness": witness.name})

    @app.get("/{digest}/checkpoint", response_class=PlainTextResponse)
    def checkpoint(digest: str) -> Response:
        note = witness.latest(digest)
        if note is None:
            return PlainTextResponse("this witness has cosigned no checkpoint of that log\n", status_code=404)
        return PlainTextResponse(note)

    return app
