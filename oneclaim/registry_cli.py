"""The registry's commands: participants, accounts, devices, meter data, issuance, and moving,
retiring, cancelling and expiring units; provenance and holdings from the read models.

Each command is thin: parse, call one `Ledger` method, print what happened (`--json` for a
machine-readable result). Errors are `error CODE: message` on stderr, exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ledger.domain.serials import format_range, parse_whole, spans_for
from ledger.errors import InvalidInput
from ledger.inventory import batch_summary
from oneclaim.output import HomeOpt, JsonOpt, OnOpt, day, emit, err, opened, out

if TYPE_CHECKING:
    pass

commands = typer.Typer()
"""The registry's top-level commands and groups; `oneclaim.cli` merges them into `oneclaim`."""

participant_app = typer.Typer(help="Organisations taking part in the market.", no_args_is_help=True)
account_app = typer.Typer(help="Holding accounts (pseudonymous ids).", no_args_is_help=True)
device_app = typer.Typer(help="Generating devices (建档立卡).", no_args_is_help=True)
meter_app = typer.Typer(help="Metered production.", no_args_is_help=True)
issue_app = typer.Typer(help="Issue GECs, CCER or carbon-inclusion credits.", no_args_is_help=True)
project_app = typer.Typer(help="CCER projects.", no_args_is_help=True)
programme_app = typer.Typer(help="Carbon-inclusion programmes (碳普惠).", no_args_is_help=True)
readmodel_app = typer.Typer(help="The read models (projections of the log).", no_args_is_help=True)
contract_app = typer.Typer(help="Green-power contracts (绿电交易).", no_args_is_help=True)
batch_app = typer.Typer(help="Batches of certificates and credits: supply, serials, holders.", no_args_is_help=True)
for name, sub in (
    ("batch", batch_app),
    ("participant", participant_app),
    ("account", account_app),
    ("device", device_app),
    ("meter", meter_app),
    ("issue", issue_app),
    ("project", project_app),
    ("programme", programme_app),
    ("readmodel", readmodel_app),
    ("contract", contract_app),
):
    commands.add_typer(sub, name=name)

SerialsOpt = Annotated[
    list[str] | None,
    typer.Option("--serials", help="Serial range <batch>:<first>-<last> (repeatable); instead of --quantity."),
]
QuantityOpt = Annotated[int | None, typer.Option("--quantity", help="Units to take, lowest serials first.")]
RequestOpt = Annotated[
    str | None, typer.Option("--request-id", help="Client id that makes a retried command idempotent.")
]


# ---------------------------------------------------------------------------------- parties


@participant_app.command("add")
def participant_add(
    code: Annotated[str, typer.Argument(help="Registry code of the organisation.")],
    name: Annotated[str, typer.Option(help="Organisation name.")],
    role: Annotated[str, typer.Option(help="generator, consumer, trader, verifier or registry.")],
    province: Annotated[str, typer.Option()],
    city: Annotated[str, typer.Option()],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an organisation."""
    with opened(home, as_json) as ledger:
        ledger.add_participant(code, name, role, province, city)
    emit(as_json, {"participant": code, "role": role}, f"Registered participant {code} ({role})")


@account_app.command("open")
def account_open(
    account: Annotated[str, typer.Argument(help="Pseudonymous account id, acct:…")],
    owner: Annotated[str, typer.Option(help="The participant that holds it.")],
    purpose: Annotated[str, typer.Option(help="What the account is for.")] = "holding",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a holding account for a participant."""
    with opened(home, as_json) as ledger:
        ledger.open_account(account, owner, purpose)
    emit(as_json, {"account": account, "owner": owner}, f"Opened account {account} for {owner}")


@device_app.command("register")
def device_register(
    code: Annotated[str, typer.Argument(help="Device code (no ':' or '/').")],
    technology: Annotated[str, typer.Option(help="wind, offshore_wind, deep_sea_offshore_wind, distributed_pv, …")],
    capacity_kw: Annotated[int, typer.Option("--capacity-kw", help="Installed capacity, kW.")],
    province: Annotated[str, typer.Option()],
    city: Annotated[str, typer.Option()],
    owner: Annotated[str, typer.Option(help="Owning participant.")],
    commissioned_on: Annotated[str, typer.Option("--commissioned-on", help="YYYY-MM-DD")],
    scheme: Annotated[list[str] | None, typer.Option("--scheme", help="GEC, CCER, INCLUSION (repeatable).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register (建档立卡) a generating device."""
    with opened(home, as_json) as ledger:
        device = ledger.register_device(
            code, technology, capacity_kw, province, city, owner, commissioned_on, tuple(scheme or ["GEC"])
        )
    emit(
        as_json,
        {"device": code, "technology": technology, "schemes": device.schemes, "gec_tradable": device.gec_tradable},
        f"Registered device {code}: {technology}, {capacity_kw} kW, schemes {', '.join(device.schemes)}",
    )


# ---------------------------------------------------------------------------------- meter data


def read_meter_csv(path: Path, model: type) -> tuple[list[dict], list[dict]]:
    """Parse a readings (or corrections) CSV file (ledger.rows.read_csv, as the API does)."""
    from ledger.rows import read_csv

    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror}", code="FILE_UNREADABLE") from None
    with handle as f:
        return read_csv(f, model, str(path))


@meter_app.command("import")
def meter_import(
    file: Annotated[Path, typer.Argument(help="CSV with header device,start,end,on_grid_kwh,self_consumed_kwh.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import readings. All rows are checked first; if any is bad, nothing is written and every
    bad row is listed with its line number. Re-importing a file skips rows already recorded; a
    new figure for an interval already read is refused (it belongs in `meter correct`)."""
    from ledger.rows import MeterReadingRow

    _import_meter_file(file, home, as_json, MeterReadingRow, "import_readings", "Imported {} reading(s)")


@meter_app.command("correct")
def meter_correct(
    file: Annotated[
        Path, typer.Argument(help="CSV with header device,start,end,on_grid_kwh,self_consumed_kwh,reason.")
    ],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Correct readings before their month is issued. Each row names the interval of a reading
    exactly and gives its new figures and the reason. Refused: an interval with no such reading,
    a month with GECs issued (raise a dispute with the issuer), a figure below what is already
    claimed, more than the capacity can produce. All rows or none; rows already applied are skipped."""
    from ledger.rows import CorrectionRow

    _import_meter_file(file, home, as_json, CorrectionRow, "import_corrections", "Corrected {} reading(s)")


def _import_meter_file(file: Path, home: Path | None, as_json: bool, model: type, method: str, done: str) -> None:
    with opened(home, as_json) as ledger:
        rows, unreadable = read_meter_csv(file, model)
        from rich.progress import Progress

        with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task(f"{method.replace('_', ' ')}", total=len(rows))
            result = getattr(ledger, method)(rows, progress=lambda n: bar.advance(task, n), errors=unreadable)
    emit(
        as_json,
        result,
        done.format(result["recorded"]) + f" for {result['devices']} device(s); {result['skipped']} already recorded",
    )


# ---------------------------------------------------------------------------------- issuance


@issue_app.command("gec")
def issue_gec(
    device: Annotated[str, typer.Option(help="Device code.")],
    month: Annotated[str, typer.Option(help="Production month YYYY-MM.")],
    account: Annotated[str, typer.Option(help="The generator's account to issue into.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """绿证核发: GECs for a device's production month (1 per 1000 kWh; the rest carries over)."""
    with opened(home, as_json) as ledger:
        batches = ledger.issue_gec(device, month, account)
        carry = ledger.device(device).carry_kwh
    summary = [batch_summary(b) for b in batches]
    lines = [f"Issued {b['quantity']} GEC(s) {b['serials']}" for b in summary] or ["No whole GEC this month"]
    emit(
        as_json,
        {"batches": summary, "carry_kwh": carry},
        "\n".join(lines) + f"\nCarried to next month: {carry['tradable']} kWh tradable, "
        f"{carry['non_tradable']} kWh non-tradable",
    )


@project_app.command("register")
def project_register(
    code: Annotated[str, typer.Argument()],
    methodology: Annotated[str, typer.Option()],
    owner: Annotated[str, typer.Option()],
    crediting_start: Annotated[str, typer.Option("--crediting-start")],
    crediting_end: Annotated[str, typer.Option("--crediting-end")],
    device: Annotated[list[str] | None, typer.Option("--device", help="The project's metered device.")] = None,
    factor: Annotated[
        str | None, typer.Option(help="Emission factor code converting its reductions to kWh (renewable projects).")
    ] = None,
    on: OnOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register (登记) a validated CCER project with its crediting period. A renewable project's
    untraded GECs for the crediting period are frozen."""
    with opened(home, as_json) as ledger:
        ledger.register_ccer_project(
            code, methodology, owner, device or [], crediting_start, crediting_end, factor=factor, on=day(on)
        )
        frozen = ledger.frozen_gecs(code)
        rules = {d: ledger.device(d).ccer.rules[code] for d in device or []}
    units = sum(f["units"] for f in frozen)
    emit(
        as_json,
        {"project": code, "frozen_gecs": frozen, "frozen_units": units, "rules": rules},
        f"Registered CCER project {code} ({crediting_start} to {crediting_end});"
        f" froze {units} GEC(s) for its electricity"
        + "".join(f"\n  {', '.join(f['serials'])} ({f['units']})" for f in frozen)
        + "".join(f"\n{d} admitted under: {rule}" for d, rule in rules.items()),
    )


@issue_app.command("ccer")
def issue_ccer(
    project: Annotated[str, typer.Option()],
    period_start: Annotated[str, typer.Option("--period-start")],
    period_end: Annotated[str, typer.Option("--period-end")],
    kgco2e: Annotated[int, typer.Option("--kgco2e", help="Verified reductions, whole kgCO2e.")],
    account: Annotated[str, typer.Option()],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue CCER for verified reductions in one period."""
    with opened(home, as_json) as ledger:
        batch = ledger.issue_ccer(project, period_start, period_end, kgco2e, account)
    emit(as_json, batch_summary(batch), f"Issued {batch.quantity} kgCO2e of CCER as {batch.code}")


@programme_app.command("add")
def programme_add(
    code: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option()],
    region: Annotated[str, typer.Option()],
    factor: Annotated[str, typer.Option(help="Emission factor code, e.g. SIP-2020-PURCHASED.")],
    methodology: Annotated[list[str], typer.Option("--methodology", help="Repeatable.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Establish a carbon-inclusion programme."""
    with opened(home, as_json) as ledger:
        ledger.establish_programme(code, name, region, methodology, factor)
    emit(as_json, {"programme": code}, f"Established programme {code}")


@issue_app.command("inclusion")
def issue_inclusion(
    programme: Annotated[str, typer.Option()],
    methodology: Annotated[str, typer.Option()],
    account: Annotated[str, typer.Option()],
    device: Annotated[str | None, typer.Option(help="For generation-based methodologies.")] = None,
    month: Annotated[str | None, typer.Option(help="For generation-based methodologies, YYYY-MM.")] = None,
    start: Annotated[str | None, typer.Option(help="Instead of --month: interval start, ISO 8601 with offset.")] = None,
    end: Annotated[str | None, typer.Option(help="Instead of --month: interval end.")] = None,
    subject: Annotated[str | None, typer.Option(help="Site or project, for other methodologies.")] = None,
    period: Annotated[str | None, typer.Option(help="Period, for other methodologies.")] = None,
    kgco2e: Annotated[int | None, typer.Option("--kgco2e", help="For other methodologies.")] = None,
    evidence_sha256: Annotated[str | None, typer.Option("--evidence-sha256")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """碳普惠签发: issue carbon-inclusion credits."""
    with opened(home, as_json) as ledger:
        batch = ledger.issue_inclusion(
            programme,
            methodology,
            account,
            device=device,
            month=month,
            start=start,
            end=end,
            subject=subject,
            period=period,
            kg_co2e=kgco2e,
            evidence_sha256=evidence_sha256,
        )
    emit(as_json, batch_summary(batch), f"Issued {batch.quantity} kgCO2e of carbon-inclusion credits as {batch.code}")


# ---------------------------------------------------------------------------------- green power


@contract_app.command("add")
def contract_add(
    code: Annotated[str, typer.Argument(help="Contract code.")],
    device: Annotated[str, typer.Option(help="The generating device.")],
    generator_account: Annotated[str, typer.Option("--generator-account")],
    consumer_account: Annotated[str, typer.Option("--consumer-account")],
    month: Annotated[list[str], typer.Option("--month", help="YYYY-MM=MWH, contracted MWh for a month (repeatable).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign a green-power contract: contracted MWh per month for a device's output."""
    monthly: dict[str, int] = {}
    with opened(home, as_json) as ledger:
        for item in month:
            key, sep, mwh = item.partition("=")
            if not sep:
                raise InvalidInput(f"--month {item!r} is not YYYY-MM=MWH", code="CONTRACT_MONTH_INVALID")
            monthly[key] = parse_whole(f"--month {key}", mwh)
        ledger.sign_contract(code, device, generator_account, consumer_account, monthly)
    emit(as_json, {"contract": code, "monthly_mwh": monthly}, f"Signed green-power contract {code} for {device}")


@commands.command()
def settle(
    contract: Annotated[str, typer.Argument(help="Contract code.")],
    month: Annotated[str, typer.Option(help="YYYY-MM")],
    consumption_kwh: Annotated[int, typer.Option("--consumption-kwh", help="The consumer's actual consumption.")],
    on: OnOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """月结月清: settle a month (the least of consumption, contract and on-grid) and move its GECs."""
    with opened(home, as_json) as ledger:
        result = ledger.settle(contract, month, consumption_kwh, on=day(on))
    serials = ranges_text(result["batch"], result["serials"])
    emit(
        as_json,
        {**result, "serials": serials},
        f"Settled {contract} for {month}: {result['settled_mwh']} MWh (limited by"
        f" {', '.join(result['limited_by'])}); GECs {', '.join(serials) or 'none'} to the consumer",
    )


# ---------------------------------------------------------------------------------- moving units


def ranges_text(code: str, ranges: list[list[int]]) -> list[str]:
    return [format_range(code, s, e) for s, e in ranges]


@commands.command()
def transfer(
    batch: Annotated[str, typer.Argument(help="Batch code.")],
    from_account: Annotated[str, typer.Option("--from")],
    to_account: Annotated[str, typer.Option("--to")],
    quantity: QuantityOpt = None,
    serials: SerialsOpt = None,
    on: OnOpt = None,
    request_id: RequestOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move units of a batch between accounts, splitting ranges as needed."""
    with opened(home, as_json) as ledger:
        ranges = ledger.transfer(
            batch,
            from_account,
            to_account,
            quantity=quantity,
            spans=spans_for(batch, serials),
            on=day(on),
            request_id=request_id,
        )
    moved = ranges_text(batch, ranges)
    emit(
        as_json,
        {
            "batch": batch,
            "from": from_account,
            "to": to_account,
            "serials": moved,
            "units": sum(e - s for s, e in ranges),
        },
        f"Transferred {', '.join(moved)} from {from_account} to {to_account}",
    )


@commands.command()
def retire(
    batch: Annotated[str, typer.Argument(help="Batch code.")],
    account: Annotated[str, typer.Option()],
    beneficiary: Annotated[str, typer.Option(help="Who the claim is made for.")],
    purpose: Annotated[
        str, typer.Option(help="green_consumption_claim, carbon_neutrality, re100, ets_offset or voluntary.")
    ],
    period: Annotated[str, typer.Option(help="Reporting period, e.g. 2025.")],
    location: Annotated[str, typer.Option(help="Consumption location.")],
    quantity: QuantityOpt = None,
    serials: SerialsOpt = None,
    on: OnOpt = None,
    request_id: RequestOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """核销: retire units for a claim; prints the retirement record id and its exact serials."""
    with opened(home, as_json) as ledger:
        retirement_id = ledger.retire(
            batch,
            account,
            beneficiary=beneficiary,
            purpose=purpose,
            reporting_period=period,
            location=location,
            quantity=quantity,
            spans=spans_for(batch, serials),
            on=day(on),
            request_id=request_id,
        )
        record = ledger.personal.reveal(ledger.batch(batch).retirements[retirement_id])
    retired = ranges_text(batch, record["ranges"])
    emit(
        as_json,
        {
            "retirement_id": retirement_id,
            "batch": batch,
            "serials": retired,
            **{k: record[k] for k in ("beneficiary", "purpose", "reporting_period", "location")},
        },
        f"Retirement {retirement_id}: {', '.join(retired)} for {beneficiary} ({purpose}, {period}, {location})",
    )


@commands.command()
def cancel(
    batch: Annotated[str, typer.Argument(help="Batch code.")],
    reason: Annotated[str, typer.Option(help="Why the registry cancels these units.")],
    serials: SerialsOpt = None,
    request_id: RequestOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel units (all active or frozen units unless --serials is given; sold units only when named)."""
    with opened(home, as_json) as ledger:
        ranges = ledger.cancel(batch, reason, spans_for(batch, serials), request_id)
    cancelled = ranges_text(batch, ranges)
    emit(
        as_json, {"batch": batch, "serials": cancelled, "reason": reason}, f"Cancelled {', '.join(cancelled)}: {reason}"
    )


@commands.command()
def expire(
    as_of: Annotated[str, typer.Option("--as-of", help="Expire everything past its validity on this date.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Expire every unit past its validity as of a date. Idempotent: a second run does nothing."""
    from ledger.readmodel import ReadModel

    with opened(home, as_json) as ledger:
        when = day(as_of)
        candidates = ReadModel(ledger).batches(expiring_before=when)
        expired = ledger.expire_batches(candidates, when)
    payload = {code: ranges_text(code, ranges) for code, ranges in expired.items()}
    units = sum(e - s for ranges in expired.values() for s, e in ranges)
    emit(
        as_json,
        {"as_of": as_of, "expired": payload, "units": units},
        f"Expired {units} unit(s) in {len(expired)} batch(es) as of {as_of}",
    )


# ---------------------------------------------------------------------------------- queries


@commands.command()
def provenance(
    serial: Annotated[str, typer.Argument(help="A serial number, <batch>:<n>.")],
    partner: Annotated[
        str | None, typer.Option(help="For a serial received from a partner: its API, to trace the serial there.")
    ] = None,
    partner_token: Annotated[str | None, typer.Option(help="A partner token at that API.")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Where a serial came from, who held it, who retired it: every event that touched it. With
    --partner, also its events in the source registry, each proved (oneclaim/trace.py)."""
    from ledger.readmodel import ReadModel

    if partner is not None:
        from oneclaim.trace import trace_across

        with opened(home, as_json) as ledger:
            traced = trace_across(ledger, serial, partner, partner_token)
        there = traced["there"]
        lines = [f"{serial}: {len(traced['here']['events'])} event(s) here; from {there['registry']} as"
                 f" {there['serial']}, {len(there['events'])} event(s) there, each proved:"]  # fmt: skip
        lines += [f"  {there['registry']} #{e['seq']} {e['type']} (tree size {e['proved']['tree_size']})"
                  for e in there["events"]]  # fmt: skip
        emit(as_json, traced, "\n".join(lines))
        return
    with opened(home, as_json) as ledger:
        result = ReadModel(ledger).provenance(serial)
        if imported := ledger.imported(ledger.batch(result["batch"])):
            result["imported"] = imported
    if as_json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    out.print(
        f"[bold]{result['serial']}[/] ({result['instrument']}) from {json.dumps(result['origin'], ensure_ascii=False)}"
    )
    out.print(f"now: {result['current']['state']} with {result['current']['holder']}")
    if imported := result.get("imported"):
        out.print(f"received from {imported['source']}: its event {imported['source_index']} (TransferOut of"
                  f" {', '.join(imported['source_serials'])}), proved in its tree of size"
                  f" {imported['source_tree_size']}; the tlog-proof is in --json", markup=False)  # fmt: skip
    table = Table("seq", "event", "when", "serials", "detail")
    for e in result["events"]:
        table.add_row(
            str(e["seq"]), e["type"], str(e["timestamp"])[:19], e["range"], json.dumps(e["detail"], ensure_ascii=False)
        )
    out.print(table)


@commands.command()
def holdings(
    account: Annotated[str, typer.Argument(help="Account id, acct:…")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What an account holds, per batch and state."""
    from ledger.readmodel import ReadModel

    with opened(home, as_json) as ledger:
        ledger.account(account)
        rows = ReadModel(ledger).holdings(account)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("batch", "instrument", "state", "units", "serials")
    for row in rows:
        table.add_row(
            row["batch"], row["instrument"], row["state"], str(row["units"]), " ".join(row.get("serials", []))
        )
    out.print(table)


@readmodel_app.command("rebuild")
def readmodel_rebuild(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Drop the read models and rebuild them from the log."""
    from ledger.readmodel import ReadModel

    with opened(home, as_json) as ledger:
        processed = ReadModel(ledger).rebuild()
    emit(as_json, {"events": processed}, f"Rebuilt the read models from {processed} events")


@device_app.command("elect")
def device_elect(
    device: Annotated[str, typer.Argument(help="Device code.")],
    scheme: Annotated[str, typer.Argument(help="gec or ccer.")],
    effective_from: Annotated[str, typer.Option("--from", help="Effective date YYYY-MM-DD.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """GEC–CCER election for a deep-sea offshore wind or CSP device (NEA/MEE notice, 2024-10-01)."""
    with opened(home, as_json) as ledger:
        changed = ledger.elect(device, scheme.upper(), effective_from)
    text = f"{device} elects {scheme.upper()} from {effective_from}" + ("" if changed else " (already in force)")
    emit(as_json, {"device": device, "scheme": scheme.upper(), "from": effective_from, "recorded": changed}, text)


@project_app.command("disclosure")
def project_disclosure(
    ccer_batch: Annotated[str, typer.Argument(help="The CCER batch whose registration cancelled GECs.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The public disclosure (公示) of GECs cancelled for CCER reductions."""
    with opened(home, as_json) as ledger:
        d = ledger.disclosure(ccer_batch)
    payload = {k: getattr(d, k) for k in ("code", "project", "device", "period", "kg_co2e", "factor", "kwh")}
    payload |= {"cancelled": d.public_cancelled(), "traded_untouched": d.traded_untouched}
    cancelled = sum(c["units"] for c in d.cancelled)
    serials = [serial for c in payload["cancelled"] for serial in c["serials"]]
    untouched = [t["serials"] for t in d.traded_untouched]
    emit(
        as_json,
        payload,
        f"{d.project} / {d.device}: {d.kg_co2e} kgCO2e for {d.period[0]}..{d.period[1]} = {d.kwh} kWh at"
        f" {d.factor['g_per_mwh']} g/MWh; {cancelled} untraded GEC(s) cancelled: {', '.join(serials) or 'none'};"
        f" traded GECs left untouched: {', '.join(untouched) or 'none'}",
    )


# ---------------------------------------------------------------------------------- list and show

WhereOpt = Annotated[
    list[str] | None,
    typer.Option("--where", help="KEY=VALUE: keep records whose field equals VALUE (or lists it); repeatable."),
]


def _listing(kind: str):
    def list_records(where: WhereOpt = None, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
        from ledger import inventory

        with opened(home, as_json) as ledger:
            filters = inventory.parse_where(where)
            rows = [
                r for r in (inventory.row(kind, a) for a in ledger.registered(kind)) if inventory.matches(r, filters)
            ]
        if as_json:
            print(json.dumps({inventory.plural(kind): rows, "count": len(rows)}, indent=2, ensure_ascii=False))
            return
        columns = inventory.COLUMNS[kind]
        table = Table(*columns, title=f"{len(rows)} {inventory.plural(kind) if len(rows) != 1 else kind}")
        for r in rows:
            cells = (", ".join(map(str, r[c])) if isinstance(r[c], list) else str(r[c]) for c in columns)
            table.add_row(*(escape(cell) for cell in cells))
        if kind == "batch" and rows:  # conservation at a glance: every unit is in exactly one state
            table.add_row("total", "", *(str(sum(r[c] for r in rows)) for c in columns[2:]))
        out.print(table)

    list_records.__doc__ = f"List every {kind} the registry holds, in the order it was created (--where to filter)."
    return list_records


def _showing(kind: str):
    def show_record(code: Annotated[str, typer.Argument(help="Its code (an account: its id).")], home: HomeOpt = None,
                    as_json: JsonOpt = False) -> None:  # fmt: skip
        from ledger import inventory

        with opened(home, as_json) as ledger:
            record = ledger.personal.reveal(inventory.detail(kind, getattr(ledger, kind)(code)))
            if kind == "project":
                record["frozen_gecs"] = ledger.frozen_gecs(code)
        if as_json:
            print(json.dumps(record, indent=2, ensure_ascii=False))
            return
        for key, value in record.items():
            out.print(f"{key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value}",
                      markup=False, soft_wrap=True)  # fmt: skip

    show_record.__doc__ = f"Show one {kind}: every field, with serials in the registry's notation."
    return show_record


for _kind, _group in (
    ("participant", participant_app),
    ("account", account_app),
    ("device", device_app),
    ("batch", batch_app),
    ("contract", contract_app),
    ("programme", programme_app),
    ("project", project_app),
):
    _group.command("list")(_listing(_kind))
    _group.command("show")(_showing(_kind))
