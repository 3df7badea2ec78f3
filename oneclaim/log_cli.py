"""`oneclaim log ...`: the tamper-evident log's checkpoints, keys and proofs."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ledger.errors import LedgerError
from oneclaim.home import Home
from oneclaim.output import HomeOpt, JsonOpt, b64, failures, opened

log_app = typer.Typer(help="The tamper-evident log: checkpoints, keys and proofs.", no_args_is_help=True)


@log_app.command("checkpoint")
def log_checkpoint(home: HomeOpt = None) -> None:
    """Print the latest signed checkpoint (the note text, signature lines included)."""
    from ledger.database import checkpoint_notes

    with failures():
        try:  # read straight from the log table: no need to load the application for this
            latest = checkpoint_notes(Home.at(home).db_url, latest_only=True)
        except FileNotFoundError as e:
            raise LedgerError(str(e), code="NOT_INITIALISED") from None
        if not latest:
            raise LedgerError("no checkpoint has been signed yet: run `oneclaim log sign`", code="NO_CHECKPOINT")
    sys.stdout.write(latest[0][2])


@log_app.command("sign")
def log_sign(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Sign a checkpoint of the current tree head (no-op if the tree has not grown) and print it."""
    h = Home.at(home)
    with opened(home, as_json) as ledger:
        cp = ledger.sign_checkpoint(h.signer(), h.origin)
    if as_json:
        print(json.dumps({"tree_size": cp.tree_size, "root_hash": b64(cp.root), "note": cp.note}, indent=2))
    else:
        sys.stdout.write(cp.note)


@log_app.command("verifier-key")
def log_verifier_key(home: HomeOpt = None) -> None:
    """Print the log's verifier key (Go sumdb/note form: name+hash+base64(0x01||pubkey))."""
    with failures():
        print(Home.at(home).verifier_key())


@log_app.command("prove-inclusion")
def log_prove_inclusion(
    seq: Annotated[int, typer.Argument(help="The event's sequence number (its leaf index).")],
    tree_size: Annotated[
        int | None,
        typer.Option("--tree-size", help="Prove against this tree size (default: current)."),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Print an RFC 9162 inclusion proof for one event as JSON."""
    with opened(home, True) as ledger:
        print(json.dumps(ledger.log.inclusion_proof(seq, tree_size).to_json(), indent=2))


@log_app.command("prove-consistency")
def log_prove_consistency(
    old_size: Annotated[int, typer.Argument(help="The earlier tree size.")],
    new_size: Annotated[int, typer.Argument(help="The later tree size.")],
    home: HomeOpt = None,
) -> None:
    """Print an RFC 9162 consistency proof between two tree sizes as JSON."""
    with opened(home, True) as ledger:
        print(json.dumps(ledger.log.consistency_proof(old_size, new_size).to_json(), indent=2))
