"""`oneclaim`: the command line. Thin: it parses, calls the ledger, and prints.

Only this module assembles the command groups; each group owns its `typer.Typer()` in its own
module, shares the output helpers of `oneclaim.output`, and never imports this one. A command
loads what it needs when it runs (web3 only for chain and anchor commands), so start-up is fast.
"""

from __future__ import annotations

import shutil
from typing import Annotated

import typer

from ledger.errors import LedgerError
from oneclaim import (
    agreement_cli,
    anchor_cli,
    audit_cli,
    claims_cli,
    enterprise_cli,
    log_cli,
    registry_cli,
    serve_cli,
    witness_cli,
)
from oneclaim.home import DEFAULT_ORIGIN, Home
from oneclaim.output import HomeOpt, JsonOpt, OneClaimGroup, emit, failures, out

app = typer.Typer(
    help="OneClaim: the registry ledger. One MWh, one claim.",
    no_args_is_help=True,
    cls=OneClaimGroup,  # a command line that does not parse is `error CODE: message`, exit 2
    pretty_exceptions_enable=False,  # a plain traceback, and rich.traceback not loaded at each start
)
app.add_typer(log_cli.log_app, name="log")
app.add_typer(audit_cli.audit_app, name="audit")
app.add_typer(anchor_cli.chain_app, name="chain")
app.add_typer(anchor_cli.anchor_app, name="anchor")
app.add_typer(claims_cli.claims_app, name="claims")
app.add_typer(claims_cli.cases_app, name="cases")
app.add_typer(serve_cli.token_app, name="token")
app.add_typer(witness_cli.witness_app, name="witness")
app.add_typer(agreement_cli.agreement_app, name="agreement")
app.add_typer(enterprise_cli.carbon_app, name="carbon-account")
app.add_typer(enterprise_cli.claim_app, name="claim")
app.add_typer(enterprise_cli.alerts_app, name="alerts")
app.command()(agreement_cli.relay)
app.command()(serve_cli.serve)
app.add_typer(registry_cli.commands)  # the registry's commands (transfer, retire, ...) and groups, at the top


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
