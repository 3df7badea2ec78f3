"""`oneclaim carbon-account ...` and `oneclaim claim ...`: the enterprise's side (docs/claims.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ledger.errors import InvalidInput
from oneclaim.home import Home
from oneclaim.output import HomeOpt, JsonOpt, OnOpt, day, emit, failures, opened

carbon_app = typer.Typer(help="Enterprise carbon accounts (碳账户): reports, ETS obligations, surrenders.",
                         no_args_is_help=True)  # fmt: skip
claim_app = typer.Typer(help="Carbon-neutral claims: make, show, certificate, verify offline.", no_args_is_help=True)

RetirementsOpt = Annotated[str, typer.Option("--retirements", help="Retirement ids (<batch>/R<n>), comma-separated.")]


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@carbon_app.command("open")
def carbon_open(
    participant: Annotated[str, typer.Argument(help="The enterprise (a registered participant).")],
    uscc: Annotated[str, typer.Option(help="Its unified social credit code; kept only as a salted hash.")],
    sector: Annotated[str, typer.Option(help="Its sector, for the rating benchmark.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open an enterprise's carbon account."""
    with opened(home, as_json) as ledger:
        account = ledger.open_carbon_account(participant, uscc, Home.at(home).uscc_salt(), sector)
    emit(as_json, {"participant": participant, "uscc_sha256": account.uscc_sha256, "sector": sector},
         f"Opened the carbon account of {participant} ({sector}); credit code kept as"
         f" {account.uscc_sha256}")  # fmt: skip


@carbon_app.command("report")
def carbon_report(
    participant: str,
    year: Annotated[str, typer.Option(help="The reporting year.")],
    inventory: Annotated[Path, typer.Option(help="The inventory document (ISO 14064-1); only its SHA-256 is kept.")],
    statement: Annotated[Path, typer.Option(help="The verifier's statement; only its SHA-256 is kept.")],
    verifier: Annotated[str, typer.Option(help="The verifier (a registered participant).")],
    scope1: Annotated[int, typer.Option(help="Scope 1, kgCO2e.")],
    scope2: Annotated[int, typer.Option(help="Scope 2 (location-based), kgCO2e.")],
    scope3: Annotated[int, typer.Option(help="Scope 3, kgCO2e.")] = 0,
    electricity_mwh: Annotated[int, typer.Option(help="Electricity consumed, MWh.")] = 0,
    value_added: Annotated[int | None, typer.Option(help="Value added, in 10,000 yuan (for the rating).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a year's verified emissions report."""
    import hashlib

    digests = {}
    for name, path in (("inventory", inventory), ("statement", statement)):
        try:
            digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as e:
            with failures(as_json):
                raise InvalidInput(f"{path}: {e.strerror}", code="FILE_UNREADABLE") from None
    with opened(home, as_json) as ledger:
        account = ledger.report_emissions(participant, year, inventory_sha256=digests["inventory"], verifier=verifier,
                                          statement_sha256=digests["statement"], electricity_mwh=electricity_mwh,
                                          value_added_10k_yuan=value_added,
                                          scopes_kg={"scope1": scope1, "scope2": scope2, "scope3": scope3})  # fmt: skip
    emit(as_json, account.reports[year], f"Recorded {participant}'s {year} report: scope 1 {scope1:,},"
         f" scope 2 {scope2:,}, scope 3 {scope3:,} kgCO2e; {electricity_mwh:,} MWh consumed")  # fmt: skip


@carbon_app.command("obligation")
def carbon_obligation(
    participant: str,
    year: Annotated[str, typer.Option()],
    allowances_kg: Annotated[int, typer.Option(help="Allowances it must surrender for the year, kgCO2.")],
    source: Annotated[str, typer.Option(help="The allocation notice it comes from.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a covered emitter's ETS obligation for a year."""
    with opened(home, as_json) as ledger:
        obligation = ledger.record_ets_obligation(participant, year, allowances_kg, source)
    emit(as_json, obligation, f"{participant} must surrender {allowances_kg:,} kg of allowances for {year}")


@carbon_app.command("surrender")
def carbon_surrender(
    participant: str,
    year: Annotated[str, typer.Option()],
    retirements: RetirementsOpt,
    on: OnOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Surrender CCER retired for ETS compliance against the year's obligation (capped)."""
    with opened(home, as_json) as ledger:
        done = ledger.surrender_for_ets(participant, year, _ids(retirements), on=day(on))
    emit(as_json, done, f"Surrendered {done['kg']:,} kg of CCER against {participant}'s {year} obligation;"
                        f" {done['headroom_kg']:,} kg of headroom left")  # fmt: skip


@carbon_app.command("show")
def carbon_show(
    participant: str,
    proofs: Annotated[bool, typer.Option(help="Each retirement with its tlog-proof (signs the head first).")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """An enterprise's carbon account, year by year, with the retirements behind each figure."""
    from ledger.carbon import account_view

    with opened(home, as_json) as ledger:
        if proofs:
            where = Home.at(home)
            ledger.sign_checkpoint(where.signer(), where.origin)
        view = account_view(ledger, participant, with_proofs=proofs)
    lines = [f"Carbon account of {participant} ({view['sector']})"]
    for year, y in view["years"].items():
        report = y["report"]
        emitted = f"{sum(report['scopes_kg'].values()):,} kgCO2e reported" if report else "no verified report"
        lines.append(f"  {year}: {emitted}; green electricity {y['green_electricity_mwh']:,} MWh retired; credits"
                     f" retired {y['credits_retired_kg']}; claims {', '.join(y['claims']) or 'none'}")  # fmt: skip
    emit(as_json, view, "\n".join(lines))


@carbon_app.command("avoided")
def carbon_avoided(
    participant: str,
    year: Annotated[str, typer.Option()],
    factor: Annotated[str, typer.Option(help="The emission factor (ledger/domain/rules.py).")] = "SIP-2020-PURCHASED",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """绿证折算碳减排量: the avoided emissions of the GECs retired for the enterprise in a year.
    Reported as avoided emissions, never as an offset."""
    from ledger.carbon import avoided_emissions

    with opened(home, as_json) as ledger:
        got = avoided_emissions(ledger, participant, year, factor)
    f = got["factor"]
    emit(as_json, got, f"{participant} {year}: {got['gec_mwh']:,} MWh of GECs retired x {f['g_per_mwh'] / 1e6:.4f}"
                       f" tCO2/MWh ({f['code']}: {f['source']}) = {got['avoided_kg_co2e']:,} kgCO2e avoided."
                       f" {got['note']}")  # fmt: skip


@carbon_app.command("rating")
def carbon_rating(
    participant: str,
    year: Annotated[str, typer.Option()],
    scheme: Annotated[str, typer.Option(help="The rating scheme (ledger/domain/rules.py).")] = "FOUR-COLOUR",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """碳效: the enterprise's carbon efficiency against its sector's benchmark, as a colour."""
    from ledger.carbon import rating

    with opened(home, as_json) as ledger:
        got = rating(ledger, participant, year, scheme)
    emit(as_json, got, f"{participant} {year}: {got['colour']} ({got['kg_per_10k_yuan']:,} kgCO2e per 10,000 yuan,"
                       f" {got['percent_of_benchmark']}% of the {got['sector']} benchmark"
                       f" {got['benchmark']['kg_per_10k_yuan']:,})")  # fmt: skip


@claim_app.command("make")
def claim_make(
    participant: str,
    period: Annotated[str, typer.Option(help="The reporting year claimed.")],
    subject: Annotated[str, typer.Option(help="What is claimed carbon-neutral (the organisation, a site).")],
    retirements: RetirementsOpt,
    boundary: Annotated[str, typer.Option(help="Scopes in the boundary, comma-separated.")] = "scope1,scope2",
    rule_set: Annotated[str, typer.Option(help="The rule set (ledger/domain/rules.py).")] = "ISO14068-1:2023",
    on: OnOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a carbon-neutral claim from retirements; refused with the reason (and any shortfall)."""
    with opened(home, as_json) as ledger:
        claim = ledger.make_neutrality_claim(participant, subject=subject, boundary=_ids(boundary), period=period,
                                             retirements=_ids(retirements), rule_set=rule_set, on=day(on))  # fmt: skip
    c = claim.coverage
    emit(as_json, {"code": claim.code, "coverage": c},
         f"Claim {claim.code}: {c['electricity_covered_mwh']:,} of {c['electricity_mwh']:,} MWh covered by GECs;"
         f" residual {c['residual_kg']:,} kgCO2e offset by {c['offsets_kg']:,}")  # fmt: skip


@claim_app.command("certificate")
def claim_certificate(
    code: str,
    out: Annotated[Path, typer.Option("--out", help="Where to write CODE.json and CODE.html.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a claim's certificate: its JSON with the proofs, and a bilingual page to print."""
    from ledger.certificate import certificate, certificate_html

    where = Home.at(home)
    with opened(home, as_json) as ledger:
        ledger.sign_checkpoint(where.signer(), where.origin)
        document = certificate(ledger, code, where.origin)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{code}.json").write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n")
    (out / f"{code}.html").write_text(certificate_html(document))
    proofs = sum(len(v) if isinstance(v, dict) else 1 for v in document["proofs"].values())
    emit(as_json, {"json": str(out / f"{code}.json"), "html": str(out / f"{code}.html"), "proofs": proofs},
         f"Wrote {out / (code + '.json')} (with {proofs} proofs) and {out / (code + '.html')}")  # fmt: skip


@claim_app.command("verify")
def claim_verify(
    file: Annotated[Path, typer.Argument(help="A certificate's JSON file.")],
    policy_file: Annotated[
        Path | None, typer.Option("--policy", help="The tlog-policy you trust for the registry's log.")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Or: the registry's verifier key you trust (no witnesses required).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a certificate offline: every proof under your policy, every figure recomputed. The
    trusted key comes from you (--policy or --key), never from the certificate."""
    from ledger.certificate import verify_certificate
    from ledger.errors import LedgerError
    from ledger.tlog.policy import PolicyError, load_policy, parse_policy

    with failures(as_json):
        if (policy_file is None) == (key is None):
            raise LedgerError("give the registry's key you trust: --policy FILE or --key KEY (one of them); the"
                              " certificate's own proofs cannot vouch for themselves", code="KEY_REQUIRED")  # fmt: skip
        try:
            policy = load_policy(policy_file) if policy_file is not None else parse_policy(f"log {key}\nquorum none\n")
            document = json.loads(file.read_text())
        except (OSError, ValueError, PolicyError) as e:
            raise InvalidInput(f"cannot read {file} or the trusted key: {e}", code="CERTIFICATE_UNREADABLE") from None
        summary = verify_certificate(document, policy)
    c = summary["coverage"]
    emit(as_json, {"ok": True, **summary},
         f"✔ {summary['claim']}: {summary['subject']} ({summary['claimant']}, {summary['period']}) under"
         f" {summary['rule_set']}; {summary['retirements']} retirements proved in {summary['registry']} at tree size"
         f" {summary['tree_size']}; residual {c['residual_kg']:,} kgCO2e offset by {c['offsets_kg']:,}")  # fmt: skip


alerts_app = typer.Typer(help="Market surveillance: alerts raised on the log, and the operator's review.",
                         no_args_is_help=True)  # fmt: skip


@alerts_app.command("list")
def alerts_list(
    status: Annotated[str | None, typer.Option(help="open or acknowledged (default: both).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate the rules on every event not yet seen, and list the alerts."""
    from ledger.surveillance import Surveillance

    with opened(home, as_json) as ledger, Surveillance(ledger) as watch:
        found = watch.alerts(status)
    lines = [f"{a['alert_id']}  {a['status']:<12} {a['rule']:<27} {a['message']} (log seqs {a['seqs']})"
             for a in found] or ["no alerts"]  # fmt: skip
    emit(as_json, {"alerts": found}, "\n".join(lines))


@alerts_app.command("show")
def alerts_show(alert: str, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """One alert, with a tlog-proof of each event it names (under the current checkpoint)."""
    from ledger.surveillance import Surveillance

    with opened(home, as_json) as ledger, Surveillance(ledger) as watch:
        found = watch.alert(alert)
    emit(as_json, found, f"{found['alert_id']} {found['rule']} ({found['status']}): {found['message']}\n"
                         + "\n".join(f"--- log seq {s}\n{p}" for s, p in found["proofs"].items()))  # fmt: skip


@alerts_app.command("acknowledge")
def alerts_acknowledge(
    alert: str,
    by: Annotated[str, typer.Option(help="Who reviewed it (the operator's pseudonymous id).")],
    note: Annotated[str, typer.Option(help="What the review found.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge an alert after review: an event in the log, once per alert."""
    from ledger.surveillance import Surveillance

    with opened(home, as_json) as ledger, Surveillance(ledger) as watch:
        done = watch.acknowledge(alert, by, note)
    emit(as_json, done, f"Acknowledged {alert} ({done['rule']}) by {by}")
