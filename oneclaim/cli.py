"""`oneclaim`: the command line. Thin: it parses, calls the ledger, and prints.

Every state-changing command prints what it did; `--json` prints a machine-readable result.
Errors print `error CODE: message` on stderr (or the error as JSON) and exit with status 2.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ledger import audit
from ledger.app import EVENTS_TABLE, Ledger, dialect
from ledger.errors import LedgerError
from ledger.note import NoteError, parse_verifier_key
from oneclaim.home import DEFAULT_ORIGIN, Home

app = typer.Typer(help="OneClaim: the registry ledger. One MWh, one claim.", no_args_is_help=True)
log_app = typer.Typer(help="The tamper-evident log: checkpoints, keys and proofs.", no_args_is_help=True)
audit_app = typer.Typer(help="Export and verify audit bundles.", no_args_is_help=True)
app.add_typer(log_app, name="log")
app.add_typer(audit_app, name="audit")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

HomeOpt = Annotated[
    str | None,
    typer.Option("--home", help="Data directory (default: $ONECLAIM_HOME or ./.oneclaim)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result.")]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    if as_json:
        print(json.dumps(payload, indent=2))
    else:
        out.print(text)


@contextmanager
def failures(as_json: bool = False):
    """Turn refusals into `error CODE: message` and exit status 2."""
    try:
        yield
    except LedgerError as e:
        if as_json:
            print(json.dumps({"error": e.to_dict()}, indent=2))
        else:
            err.print(f"[bold red]error[/] {e.code}: {e.message}", markup=True)
            for item in e.details.get("errors", [])[:100]:  # e.g. every bad row of an import
                err.print(f"  line {item['line']}: {item['code']}: {item['message']}", markup=False)
        raise typer.Exit(2) from None


@contextmanager
def opened(home: str | None, as_json: bool) -> Iterator[Ledger]:
    """The home's ledger for one command, closed afterwards; refusals become `error CODE`."""
    with failures(as_json):
        ledger = Home.at(home).ledger()
        try:
            yield ledger
        finally:
            ledger.close()


def progress_bar(label: str, enabled: bool = True) -> Callable[[int], Callable[[int], None]] | None:
    """A factory for rich progress bars, shown on a terminal for long runs only."""
    if not enabled or not err.is_terminal:
        return None

    def factory(total: int) -> Callable[[int], None]:
        bar = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        task = bar.add_task(label, total=total)
        bar.start()

        def update(done: int) -> None:
            bar.update(task, completed=done)
            if done >= total:
                bar.stop()

        return update

    return factory


# ---------------------------------------------------------------------------------- init


@app.command()
def init(
    origin: Annotated[
        str, typer.Option(help="The log's origin line, e.g. oneclaim.local/suzhou-sip.")
    ] = DEFAULT_ORIGIN,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: a SQLite file in the home).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a ledger: data directory, Ed25519 log key (0600), database, first checkpoint."""
    h = Home.at(home)
    with failures(as_json):
        created = h.init(origin, db)
        payload = {
            "home": str(h.path),
            "origin": h.origin,
            "db_url": h.db_url,
            "verifier_key": h.verifier_key(),
            "created": created,
        }
    verb = "Initialised" if created else "Already initialised"
    emit(
        as_json,
        payload,
        f"{verb} ledger {h.origin} in {h.path}\nverifier key: {payload['verifier_key']}",
    )


# ---------------------------------------------------------------------------------- log


@log_app.command("checkpoint")
def log_checkpoint(home: HomeOpt = None) -> None:
    """Print the latest signed checkpoint (the note text, signature lines included)."""
    with opened(home, False) as ledger:
        latest = ledger.log.latest_checkpoint()
        if latest is None:
            raise LedgerError("no checkpoint has been signed yet: run `oneclaim log sign`", code="NO_CHECKPOINT")
    sys.stdout.write(latest.note)


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


# ---------------------------------------------------------------------------------- audit


BUNDLE_README = Path(__file__).parent / "bundle_readme.md"


@audit_app.command("export")
def audit_export(
    directory: Annotated[Path, typer.Argument(help="Folder to write the bundle into (must be empty or new).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a self-contained audit bundle: events, checkpoints, verifier key, README."""
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
    if (rpc is None) != (contract is None):
        err.print("error USAGE: --rpc and --contract go together")
        raise typer.Exit(2)
    if (directory is None) == (db is None):
        err.print("error USAGE: give either a bundle DIR or --db URL")
        raise typer.Exit(2)
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
            anchors = (
                anchor_cli.check_bundle_anchored(directory, rpc, contract)
                if directory is not None
                else anchor_cli.check_database_anchored(db, rpc, contract)
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


# ---------------------------------------------------------------------------------- demo


@app.command()
def demo(
    home: HomeOpt = None,
    devices: Annotated[int, typer.Option(help="Distributed-PV devices to register.")] = 300,
    reset: Annotated[bool, typer.Option("--reset", help="Remove a previous demo's data directory first.")] = False,
) -> None:
    """The end-to-end demo on the embedded default (SQLite file)."""
    from oneclaim.demo import run_demo

    h = Home.at(home)
    with failures():
        if reset and h.path.exists():
            if not (h.path / "DEMO").exists():
                raise LedgerError(
                    f"{h.path} was not made by `oneclaim demo`; not removing it",
                    code="DEMO_HOME_NOT_DEMO",
                )
            from anchoring.chain import Chain

            Chain(h.path).down()  # a chain a crashed demo left running
            shutil.rmtree(h.path)
        ok = run_demo(h, devices=devices, console=out)
    raise typer.Exit(0 if ok else 1)


# The other command groups register themselves on `app`.
from oneclaim import anchor_cli, claims_cli, registry_cli  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
