"""`oneclaim witness ...`: run a C2SP tlog-witness for partner registries' logs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ledger.errors import LedgerError
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


@witness_app.command("chain")
def witness_chain(
    rpc: Annotated[str, typer.Option("--rpc", help="The chain's JSON-RPC URL.")],
    contract: Annotated[str, typer.Option("--contract", help="The AnchorRegistry contract's address.")],
    key_file: Annotated[Path, typer.Option("--key-file", help="A file holding the witness's EVM private key.")],
    directory: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give the witness a chain key: it then also cosigns, on chain, the anchored roots it cosigned
    off chain (`cosign-anchors`, and in the background under `serve`). Prints its EVM address, for
    the contract's admin to grant (`grantWitness`; `oneclaim chain grant-witness` on a managed chain)."""
    from anchoring.witnessing import configure

    with failures(as_json):
        path = witness_dir(directory)
        _open(str(path)).close()
        try:
            key = key_file.read_text()
        except OSError as e:
            raise LedgerError(f"cannot read {key_file}: {e.strerror}", code="FILE_UNREADABLE") from None
        address = configure(path, rpc, contract, key)
    emit(as_json, {"address": address, "rpc_url": rpc, "contract": contract},
         f"Witness chain account {address} on {rpc}, contract {contract}")  # fmt: skip


@witness_app.command("cosign-anchors")
def witness_cosign_anchors(directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """One pass: cosign on chain each witnessed log's latest anchor, if this witness cosigned that
    size with that root; a different root on chain is recorded as a CHAIN_SPLIT alert (exit 1)."""
    from anchoring.witnessing import cosign_anchors, settings

    with failures(as_json):
        path = witness_dir(directory)
        chain = settings(path)
        if chain is None:
            raise LedgerError("this witness has no chain: run `oneclaim witness chain`", code="NO_CHAIN")
        w = _open(str(path))
        try:
            done = cosign_anchors(w, chain)
        finally:
            w.close()
    lines = [f"{d['origin']} size {d['tree_size']}: {d['action']}" for d in done]
    emit(as_json, {"anchors": done}, "\n".join(lines) or "no anchors of the witnessed logs")
    raise typer.Exit(1 if any(d["action"].startswith("CHAIN_SPLIT") for d in done) else 0)


@witness_app.command("serve")
def witness_serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one; the line 'Uvicorn running on' says which).")] = 8100,
    access_log: Annotated[bool, typer.Option(help="Log each request (uvicorn's access log).")] = True,
    cosign_every: Annotated[
        float, typer.Option(help="Seconds between on-chain cosigning passes (with `witness chain` set).")
    ] = 5.0,
    directory: DirOpt = None,
) -> None:
    """Serve the witness over HTTP: POST /add-checkpoint, GET /<origin hash>/checkpoint, /alerts.
    With a chain set (`witness chain`), also cosigns the anchored roots on chain in the background."""
    import uvicorn

    with failures():
        path = witness_dir(directory)
        _open(str(path)).close()  # refuse now, clearly, if it is not a witness
    os.environ["ONECLAIM_WITNESS_DIR"] = str(path)
    os.environ["ONECLAIM_WITNESS_COSIGN_EVERY"] = str(cosign_every)
    uvicorn.run(
        "api.witness:create_witness_app", factory=True, host=host, port=port, log_level="info", access_log=access_log
    )
