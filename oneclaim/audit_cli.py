"""`oneclaim audit ...`: export a self-contained audit bundle, and verify one (or a database)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from ledger.database import EVENTS_TABLE, dialect
from ledger.errors import LedgerError
from oneclaim.home import Home
from oneclaim.output import HomeOpt, JsonOpt, emit, err, failures, out, progress_bar, usage_error

audit_app = typer.Typer(help="Export and verify audit bundles.", no_args_is_help=True)

BUNDLE_README = Path(__file__).parent / "bundle_readme.md"


@audit_app.command("export")
def audit_export(
    directory: Annotated[Path, typer.Argument(help="Folder to write the bundle into (must be empty or new).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a self-contained audit bundle: events, checkpoints, verifier key, README."""
    from ledger import audit

    with failures(as_json):
        h = Home.at(home)
        if directory.exists() and any(directory.iterdir()):
            raise LedgerError(f"{directory} is not empty", code="EXPORT_DIR_NOT_EMPTY")
        factory = progress_bar("exporting")
        progress = None
        if factory is not None:
            ledger = h.ledger()
            try:
                progress = factory(ledger.log.size())
            finally:
                ledger.close()
        url = h.db_url
        manifest = audit.export_bundle(
            url,
            directory,
            events_table=EVENTS_TABLE[dialect(url)],
            origin=h.origin,
            verifier_key=h.verifier_key(),
            readme=BUNDLE_README.read_text(),
            progress=progress,
        )
    n_cp = len(manifest["checkpoints"])
    emit(
        as_json,
        manifest,
        f"Exported {manifest['tree_size']} events and {n_cp} checkpoints to {directory}",
    )


@audit_app.command("verify")
def audit_verify(
    directory: Annotated[Path | None, typer.Argument(help="An audit bundle folder.")] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Verify a live database instead: sqlite:///PATH or postgresql://..."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="The verifier key to trust (default: the bundle's or the home's)."),
    ] = None,
    origin: Annotated[str | None, typer.Option("--origin", help="Require checkpoints for this origin.")] = None,
    rpc: Annotated[str | None, typer.Option("--rpc", help="Also check the bundle's anchors on this chain.")] = None,
    contract: Annotated[str | None, typer.Option("--contract", help="The anchor contract (with --rpc).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every leaf, the chain and the roots; check every checkpoint signature.

    With --rpc and --contract, also check that every anchor of the log on chain, up to the
    audited size, is one of the audited log's signed checkpoints. Exits 0 only when everything
    holds; otherwise names the first bad sequence number or anchor.
    """
    from ledger import audit
    from ledger.note import NoteError, parse_verifier_key

    if (rpc is None) != (contract is None):
        raise usage_error("--rpc and --contract go together")
    if (directory is None) == (db is None):
        raise usage_error("give either a bundle DIR or --db URL")
    with failures(as_json):
        if key is not None:
            key_source = "--key"
        elif directory is not None:
            key = json.loads((directory / "manifest.json").read_text())["verifier_key"]
            key_source = "the bundle's manifest (pass --key to trust a key you obtained yourself)"
        else:
            key = Home.at(home).verifier_key()
            key_source = "the home's log.vkey"
        try:
            verifier = parse_verifier_key(key)
        except NoteError as e:
            raise LedgerError(f"bad verifier key: {e}", code="KEY_MALFORMED") from e
        factory = progress_bar("verifying")
        try:
            if directory is not None:
                report = audit.verify_bundle(
                    directory,
                    verifier,
                    origin=origin,
                    key_source=key_source,
                    progress_factory=factory,
                )
            else:
                report = audit.verify_database(
                    db,
                    verifier,
                    events_table=EVENTS_TABLE[dialect(db)],
                    origin=origin,
                    key_source=key_source,
                    progress_factory=factory,
                )
        except (FileNotFoundError, ValueError) as e:
            raise LedgerError(str(e), code="AUDIT_INPUT") from e
    anchors = None
    if rpc is not None and report.ok:
        with failures(as_json):
            from anchoring import audit as anchor_audit  # web3 loads only when anchors are checked

            anchors = (
                anchor_audit.check_bundle_anchored(directory, rpc, contract)
                if directory is not None
                else anchor_audit.check_database_anchored(db, rpc, contract)
            )
        if anchors["failures"]:
            report = replace(report, ok=False)
    if as_json:
        print(json.dumps({**report.to_dict(), "anchors": anchors}, indent=2))
    elif anchors and anchors["failures"]:
        for f in anchors["failures"]:
            err.print(f"[bold red]FAILED[/] {f['code']}: {f['message']}")
    elif report.ok:
        out.print(
            f"[green]OK[/] {report.events} events, {report.checkpoints} checkpoints verified in"
            f" {report.seconds:.2f}s; root {report.root}\nkey from {report.key_source}"
        )
        if anchors is not None:
            out.print(
                f"[green]OK[/] {anchors['anchors_matched']} on-chain anchors are checkpoints of this log"
                f" ({anchors['anchors_after_bundle']} anchor(s) are of a later tree)"
            )
    else:
        f = report.failure
        err.print(f"[bold red]FAILED[/] {f.code} at seq {f.seq}: {f.message}")
    raise typer.Exit(0 if report.ok else 1)
