"""`oneclaim witness ...`: run a C2SP tlog-witness for partner registries' logs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from oneclaim.output import JsonOpt, emit, failures

witness_app = typer.Typer(help="A witness of partners' logs (C2SP tlog-witness).", no_args_is_help=True)

DirOpt = Annotated[
    str | None,
    typer.Option("--dir", help="Witness data directory (default: $ONECLAIM_WITNESS_HOME or ./.oneclaim-witness)."),
]


def witness_dir(directory: str | None) -> Path:
    return Path(directory or os.environ.get("ONECLAIM_WITNESS_HOME") or ".oneclaim-witness").resolve()


def _open(directory: str | None):
    from ledger.tlog.witness import Witness

    return Witness(witness_dir(directory))


@witness_app.command("init")
def witness_init(
    name: Annotated[str, typer.Option(help="The witness's key name, e.g. witness.chuzhou.example/w1.")],
    directory: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a witness: its data directory, its Ed25519 key (0600) and state."""
    from ledger.tlog.witness import Witness

    with failures(as_json):
        path = witness_dir(directory)
        created = Witness.init(path, name)
        w = Witness(path)
        payload = {"dir": str(path), "name": w.name, "verifier_key": w.verifier_key, "created": created}
        w.close()
    verb = "Initialised" if created else "Already initialised"
    emit(as_json, payload, f"{verb} witness {name} in {path}\nverifier key: {payload['verifier_key']}")


@witness_app.command("verifier-key")
def witness_verifier_key(directory: DirOpt = None) -> None:
    """Print the witness's cosignature/v1 verifier key (for a log's policy file)."""
    with failures():
        w = _open(directory)
        print(w.verifier_key)
        w.close()


@witness_app.command("add-log")
def witness_add_log(
    origin: Annotated[str, typer.Argument(help="The log's origin line.")],
    verifier_key: Annotated[str, typer.Argument(help="The log's verifier key (`oneclaim log verifier-key`).")],
    directory: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Witness a log: checkpoints of ORIGIN signed by VERIFIER_KEY will be cosigned."""
    with failures(as_json):
        w = _open(directory)
        try:
            added = w.add_log(origin, verifier_key)
        finally:
            w.close()
    emit(as_json, {"origin": origin, "added": added}, f"{'Witnessing' if added else 'Already witnessing'} {origin}")


@witness_app.command("list-logs")
def witness_list_logs(directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """The logs witnessed, with the size and root last cosigned."""
    with failures(as_json):
        w = _open(directory)
        logs = w.logs()
        w.close()
    lines = [f"{g['origin']} size={g['size'] if g['size'] is not None else '-'} key={g['verifier_key']}" for g in logs]
    emit(as_json, {"logs": logs}, "\n".join(lines) or "no logs witnessed")


@witness_app.command("alerts")
def witness_alerts(directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """Proofs of misbehaviour recorded: split views (two signed roots for one size), rollbacks,
    checkpoints no consistency proof joins to what was cosigned. Exit 1 if there are any."""
    with failures(as_json):
        w = _open(directory)
        alerts = w.alerts()
        w.close()
    lines = [f"#{a['id']} {a['kind']} {a['origin']}: {a['detail']}" for a in alerts]
    emit(as_json, {"alerts": alerts}, "\n".join(lines) or "no alerts")
    raise typer.Exit(1 if alerts else 0)


@witness_app.command("serve")
def witness_serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one; the line 'Uvicorn running on' says which).")] = 8100,
    access_log: Annotated[bool, typer.Option(help="Log each request (uvicorn's access log).")] = True,
    directory: DirOpt = None,
) -> None:
    """Serve the witness over HTTP: POST /add-checkpoint, GET /<origin hash>/checkpoint, /alerts."""
    import uvicorn

    with failures():
        path = witness_dir(directory)
        _open(str(path)).close()  # refuse now, clearly, if it is not a witness
    os.environ["ONECLAIM_WITNESS_DIR"] = str(path)
    uvicorn.run(
        "api.witness:create_witness_app", factory=True, host=host, port=port, log_level="info", access_log=access_log
    )
