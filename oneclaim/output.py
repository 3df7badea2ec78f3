"""What every command group shares: the consoles, the common options, and how results and
refusals are printed. It imports no command group, and loads the ledger only when a command
opens one, so that `oneclaim --help` stays fast.

Every state-changing command prints what it did; `--json` prints a machine-readable result.
Errors print `error CODE: message` on stderr (or the error as JSON) and exit with status 2.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from ledger.errors import InvalidInput, LedgerError
from oneclaim.home import Home

if TYPE_CHECKING:
    from ledger.app import Ledger

# Off a terminal (a pipe, a file, a script) lines are not wrapped at 80 columns.
PIPED_WIDTH = 240
out = Console(highlight=False, width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else PIPED_WIDTH)

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
        out.print(text, markup=False)  # data may hold brackets: printed as written


@contextmanager
def failures(as_json: bool = False):
    """Turn refusals into `error CODE: message` and exit status 2."""
    try:
        yield
    except LedgerError as e:
        if as_json:
            print(json.dumps({"error": e.to_dict()}, indent=2))
        else:
            err.print(f"[bold red]error[/] {e.code}: {escape(e.message)}", markup=True)  # the message as written
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


# typer raises click's exceptions, from its own copy of click in recent versions: find the base
# class through typer's public BadParameter, and name the kinds by class name.
UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
USAGE_CODES = {"NoSuchOption": "OPTION_UNKNOWN", "MissingParameter": "OPTION_MISSING", "BadParameter": "OPTION_INVALID"}
"""Stable codes for command lines that do not parse (any other: USAGE)."""


def usage_refusal(e: Exception) -> dict[str, Any]:
    """A command line that does not parse, in the same shape as a ledger refusal."""
    kinds = [c.__name__ for c in type(e).__mro__]
    code = next((USAGE_CODES[k] for k in kinds if k in USAGE_CODES), "USAGE")
    ctx = getattr(e, "ctx", None)
    command = ctx.command_path if ctx is not None else "oneclaim"
    details: dict[str, Any] = {"command": command}
    param = getattr(e, "param", None)
    if param is not None:
        details["option"] = param.opts[0] if getattr(param, "opts", None) else param.name
    message = f"{e.format_message()} (see `{command} --help`)"
    return {"code": code, "message": message, "details": details}


class OneClaimGroup(TyperGroup):
    """The root command: a command line that does not parse is refused like any other input,
    `error CODE: message` on stderr (or the error as JSON with --json) and exit status 2, never
    a usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: ANN001
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # `oneclaim` or `oneclaim log` alone: the help
                print(e.ctx.get_help(), file=sys.stderr)
                sys.exit(2)
            refusal = usage_refusal(e)
            if "--json" in argv:
                print(json.dumps({"error": refusal}, indent=2))
            else:
                err.print(f"error {refusal['code']}: {refusal['message']}", markup=False, highlight=False)
            sys.exit(2)
        except typer.Abort:
            err.print("Aborted.", markup=False)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)
