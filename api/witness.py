"""The witness over HTTP (C2SP tlog-witness): `oneclaim witness serve`, or mounted at /witness
inside `oneclaim serve --witness DIR`.

    POST /add-checkpoint              the protocol (ledger/tlog/witness.py), status for status
    GET  /{origin hash}/checkpoint    the latest checkpoint cosigned for a log (monitoring prefix)
    GET  /logs                        the logs witnessed, with the size last cosigned, and the
                                      EVM address it cosigns anchors from, if any
    GET  /alerts                      proofs of misbehaviour recorded (split views, rollbacks)
    GET  /healthz

The submission and monitoring prefixes are both the app's root. There is no authentication: a
request is only as good as the log signature on the checkpoint it carries.
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from api.background import pause
from ledger.tlog.witness import Witness


def _cosigner(witness: Witness, stop: threading.Event, every: float) -> None:
    """Cosign anchored roots on chain (anchoring/witnessing.py), a pass every `every` seconds."""
    from anchoring.witnessing import cosign_anchors, settings

    chain = settings(witness.directory)
    while chain is not None and pause(stop, every):
        try:
            cosign_anchors(witness, chain)
        except Exception:  # noqa: BLE001 - the chain down or slow: the next pass tries again
            continue


MAX_BODY = 64 * 1024
"""An add-checkpoint body is an old-size line, at most 63 hashes and a checkpoint: a few KiB."""


def create_witness_app(directory: str | Path | None = None, witness: Witness | None = None) -> FastAPI:
    import os

    witness = witness or Witness(directory or os.environ["ONECLAIM_WITNESS_DIR"])
    every = float(os.environ.get("ONECLAIM_WITNESS_COSIGN_EVERY", "5"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        stop = threading.Event()
        worker = None
        if (witness.directory / "chain.json").exists():  # a chain key: cosign anchors in the background
            worker = threading.Thread(target=_cosigner, args=(witness, stop, every), daemon=True)
            worker.start()
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                worker.join(timeout=10)

    app = FastAPI(
        title=f"OneClaim witness {witness.name}", version="1", summary="A C2SP tlog-witness.", lifespan=lifespan
    )
    app.state.witness = witness

    @app.post("/add-checkpoint", response_class=PlainTextResponse)
    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse(f"the body exceeds {MAX_BODY} bytes\n", status_code=400)
        answer = await run_in_threadpool(witness.add_checkpoint, body)  # an fsync'd commit
        # the Content-Type exactly as the spec names it (a media_type would get "; charset=utf-8")
        return Response(answer.body, status_code=answer.status, headers={"Content-Type": answer.content_type})

    @app.get("/logs")
    def logs() -> JSONResponse:
        from anchoring.witnessing import chain_address

        # the EVM address it cosigns anchors from (if it has a chain key): auditors name it in
        # `anchor verify --witness-address`, as they take the verifier key into their policy
        return JSONResponse({"witness": witness.name, "verifier_key": witness.verifier_key,
                             "chain_address": chain_address(witness.directory), "logs": witness.logs()})  # fmt: skip

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
