"""One MWh, one claim, on the command line: the claims pool, external claims, double-counting
cases and their trace reports, the GEC–CCER election and its public disclosures."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ledger.errors import InvalidInput
from oneclaim.output import HomeOpt, JsonOpt, emit, opened, out

claims_app = typer.Typer(help="The claims pool: one MWh, one claim.", no_args_is_help=True)
cases_app = typer.Typer(help="Double-counting cases (a claim elsewhere overlaps ours).", no_args_is_help=True)


def read_external(path: Path) -> list[dict]:
    """Rows of an external claims file: CSV with a header (the columns of ledger.rows.ExternalClaimRow, unused ones
    empty) or JSON (a list of objects with the same keys). Each row gets its line (CSV) or its
    1-based position (JSON) for error reports."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror}", code="FILE_UNREADABLE") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"{path} is not JSON: {e}", code="JSON_INVALID") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InvalidInput(f"{path} must hold a JSON list of claim objects", code="JSON_INVALID")
        return [{**row, "line": i} for i, row in enumerate(data, 1)]
    from ledger.rows import ExternalClaimRow

    reader = csv.DictReader(text.splitlines())
    missing = [c for c in ("source", "reference", "instrument") if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            f"{path} lacks column(s) {', '.join(missing)}; columns are {','.join(ExternalClaimRow.columns())}",
            code="CSV_HEADER_INVALID",
        )
    return [{k: (v or "").strip() for k, v in row.items() if k} | {"line": reader.line_num} for row in reader]


@claims_app.command("check")
def claims_check(
    device: Annotated[str, typer.Argument(help="Device code.")],
    month: Annotated[str | None, typer.Option(help="Production month YYYY-MM (default: every month).")] = None,
    detail: Annotated[bool, typer.Option("--detail", help="Every metered interval, not one line per month.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What is metered, claimed (by whom) and free: one line per production month, or with
    --detail one per metered interval (a month of hourly readings is 744 lines). --json has both."""
    with opened(home, as_json) as ledger:
        report = ledger.claims_check(device, month)
    if as_json:
        emit(True, report, "")
        return
    if detail:
        table = Table("interval", "metered kWh", "claimed kWh", "free kWh", "claimed by")
        for i in report["intervals"]:
            by = "; ".join(f"{c['instrument']} {c['batch']} ({c['kwh']})" for c in i["claims"]) or "-"
            table.add_row(
                f"{i['start']} .. {i['end']}", str(i["metered_kwh"]), str(i["claimed_kwh"]), str(i["free_kwh"]), by
            )
    else:
        table = Table("month", "readings", "metered kWh", "claimed kWh", "free kWh", "claimed by", "GECs")
        for m in report["months"]:
            by = "; ".join(f"{who} ({kwh})" for who, kwh in m["claimed_by"].items()) or "-"
            gecs = "not issued" if m["gec_batches"] is None else ", ".join(m["gec_batches"]) or "none (carried over)"
            cells = (m["month"], m["readings"], m["metered_kwh"], m["claimed_kwh"], m["free_kwh"], by, gecs)
            table.add_row(*map(str, cells))
    out.print(table)
    out.print(
        f"{report['device']}: {report['metered_kwh']} kWh metered, {report['claimed_kwh']} claimed,"
        f" {report['free_kwh']} free" + ("" if detail else " (--detail: every metered interval)")
    )


@claims_app.command("import-external")
def claims_import_external(
    file: Annotated[Path, typer.Argument(help="CSV or JSON (.json) of claims reported by other registries.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import claims another registry or platform reports, and open a case for each overlap.

    A row is a generation claim (source, reference, instrument, device, start, end, and kwh, or
    kg_co2e with factor or g_per_mwh) or a GEC sale report (source, reference, instrument=GEC,
    serials, sold_on). All rows are checked first; one bad row rejects the file. Rows already
    imported (same source and reference) are skipped.
    """
    with opened(home, as_json) as ledger:
        result = ledger.import_external(read_external(file))
    text = (
        f"{result['rows']} row(s): {result['accepted']} recorded, {len(result['cases_opened'])} case(s) opened,"
        f" {result['skipped_already_imported']} already imported, {len(result['unmatched'])} on devices we do not know"
    )
    for code in result["cases_opened"][:20]:
        text += f"\n  case {code} opened (oneclaim cases show {code})"
    emit(as_json, result, text)


@cases_app.command("list")
def cases_list(
    status: Annotated[str | None, typer.Option(help="open or resolved.")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Double-counting cases, newest last."""
    from ledger.readmodel import ReadModel

    with opened(home, as_json) as ledger, ReadModel(ledger) as model:
        cases = model.cases(status)
    if as_json:
        emit(True, {"cases": cases}, "")
        return
    table = Table("case", "kind", "subject", "overlap kWh", "source", "status")
    for c in cases:
        table.add_row(c["code"], c["kind"], c["subject"], str(c["overlap_kwh"]), c["source"], c["status"])
    out.print(table)


def _claim_line(claim: dict[str, Any]) -> str:
    return f"{claim['instrument']} {claim['batch']}: {claim['kwh']} kWh"


@cases_app.command("show")
def cases_show(
    code: Annotated[str, typer.Argument(help="Case code, DC-...")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The trace report of a case: device, MWh, each claim's lineage, and the proofs to check."""
    with opened(home, as_json) as ledger:
        report = ledger.trace_case(code)
    if as_json:
        emit(True, report, "")
        return
    lines = [f"Case {report['case']} ({report['kind']}, {report['status']}): {report['subject']}"]
    if report["kind"] == "OVERLAPPING_CLAIM":
        d = report["device"]
        lines.append(f"Device {d['code']}: {d['technology']}, {d['capacity_kw']} kW, {d['city']}, owner {d['owner']}")
        lines.append(
            f"Interval {report['interval'][0]} .. {report['interval'][1]}: {report['metered_kwh']} kWh metered"
            f" in {len(report['metered'])} reading(s); {report['overlap_kwh']} kWh claimed twice"
        )
        lines.append("Ours:")
        for claim in report["ours"]:
            lines.append(f"  {_claim_line(claim)}  (claimed at seq {claim['claimed_by']['seq']})")
            for step in claim["lineage"]:
                lines.append(f"    seq {step['seq']}: {step['topic']}")
        t = report["theirs"]
        lines.append(
            f"Theirs: {t['source']} {t['reference']}: {t['instrument']} {t['kwh']} kWh {t['start']} .. {t['end']}"
            f" (recorded at seq {t['recorded_by']['seq']})"
        )
    else:
        lines.append("Sales of the same serials, as recorded first:")
        for claim in report["earlier"]:
            lines.append(f"  {claim['source']} {claim['reference']}: {', '.join(claim['serials'])}")
        t = report["theirs"]
        lines.append("Then reported:")
        lines.append(f"  {t['source']} {t['reference']}: {t['serials']} ({t['units']} serial(s) in both)")
    if report["resolution"]:
        r = report["resolution"]
        lines.append(f"Resolved: {r['outcome']} by {r['by']}: {r['reason']}")
    proofs = "signed checkpoint" if report["checkpoint"] else "log head (no checkpoint covers the case yet)"
    lines.append(f"Proofs: inclusion in the tree of size {report['tree_size']} ({proofs}); --json prints them all")
    out.print("\n".join(lines), markup=False)


@cases_app.command("resolve")
def cases_resolve(
    code: Annotated[str, typer.Argument(help="Case code, DC-...")],
    outcome: Annotated[str, typer.Option(help="external_withdrawn, ours_cancelled or no_double_count.")],
    reason: Annotated[str, typer.Option(help="Why; recorded in the log.")],
    by: Annotated[str, typer.Option(help="Who decided (pseudonymous id).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resolve a case with an explicit event and a reason."""
    with opened(home, as_json) as ledger:
        case = ledger.resolve_case(code, outcome, reason, by)
    emit(as_json, {"case": case.code, "resolution": case.resolution}, f"Case {case.code} resolved: {outcome}")
