"""What every command group shares: the consoles, the common options, and how results and
refusals are printed. It imports no command group, and loads the ledger only when a command
opens one, so that `oneclaim --help` stays fast.

Every state-changing command prints what it did; `--json` prints a machine-readable result.
Errors print `error CODE: message` on stderr (or the error as JSON) and exit with status 2.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ledger.errors import InvalidInput, LedgerError
from oneclaim.home import Home

if TYPE_CHECKING:
    from ledger.app import Ledger

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

HomeOpt = Annotated[
    str | None,
    typer.Option("--home", help="Data directory (default: $ONECLAIM_HOME or ./.oneclaim)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result.")]
OnOpt = Annotated[
    str | None,
    typer.Option("--on", help="Business date YYYY-MM-DD (default: today, China time; never after today)."),
]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def day(value: str | None) -> date | None:
    """A business date given on the command line, or None."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD)", code="DATE_INVALID") from None


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


def usage_error(message: str) -> typer.Exit:
    """A wrong combination of options: `error USAGE: ...` and exit status 2."""
    err.print(f"error USAGE: {message}", markup=False)
    return typer.Exit(2)


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

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
