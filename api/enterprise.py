"""The enterprise's side over HTTP (issue 17, docs/enterprise.md): carbon accounts and their
figures, ETS surrenders, carbon-neutral claims and their certificates, and market surveillance
alerts. Thin: each route calls what the CLI calls (ledger.claiming, ledger.carbon,
ledger.certificate, ledger.surveillance)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import Forbidden, Principal, Role
from api.deps import CallerDep, LedgerDep, OriginDep, allow
from api.schemas import (
    AcknowledgementBody,
    CarbonAccountBody,
    ClaimBody,
    ObligationBody,
    ReportBody,
    SurrenderBody,
)  # fmt: skip
from api.transfers import publish_soon
from ledger.app import Ledger
from ledger.errors import Conflict

OPERATOR, HOLDER, AUDITOR = Role.OPERATOR, Role.HOLDER, Role.AUDITOR
READERS = (OPERATOR, AUDITOR, HOLDER)

enterprise = APIRouter(tags=["enterprise"])


def own(who: Principal | None, participant: str) -> None:
    """An account holder sees and acts for its own participant only (the operator and auditors
    for any)."""
    if who is not None and who.role == HOLDER and who.participant != participant:
        raise Forbidden(f"{participant} is not {who.participant}", code="PARTICIPANT_NOT_YOURS",
                        participant=participant)  # fmt: skip


async def uscc_salt(request: Request) -> bytes:
    path = getattr(request.app.state, "uscc_salt_file", None)
    if not path:
        raise Conflict("this server was started without the registry's credit-code salt (oneclaim serve sets it)",
                       code="USCC_SALT_UNAVAILABLE")  # fmt: skip
    return bytes.fromhex(Path(path).read_text().strip())


@enterprise.post("/v1/carbon-accounts", status_code=201, **allow(OPERATOR))
def open_carbon_account(ledger: LedgerDep, body: CarbonAccountBody, salt: Annotated[bytes, Depends(uscc_salt)]):
    """Open an enterprise's carbon account; its credit code is kept only as a salted hash."""
    account = ledger.open_carbon_account(body.participant, body.uscc, salt, body.sector)
    return {"participant": account.participant, "uscc_sha256": account.uscc_sha256, "sector": account.sector}


@enterprise.post("/v1/carbon-accounts/{participant}/reports", status_code=201, **allow(OPERATOR))
def report_emissions(ledger: LedgerDep, participant: str, body: ReportBody) -> dict:
    """Record a year's verified emissions report (digests, verifier, totals by scope)."""
    fields = body.model_dump(exclude={"year"})
    account = ledger.report_emissions(participant, body.year, **fields)
    return account.reports[body.year]


@enterprise.get("/v1/carbon-accounts/{participant}", **allow(*READERS))
def carbon_account(ledger: LedgerDep, participant: str, who: CallerDep, proofs: bool = False) -> dict:
    """The account year by year: report, green electricity and credits retired (each retirement
    with its log seq and what it backs, and with `proofs=true` its tlog-proof under the current
    published checkpoint), ETS use, claims."""
    from ledger.carbon import account_view

    own(who, participant)
    return account_view(ledger, participant, with_proofs=proofs)


@enterprise.get("/v1/carbon-accounts/{participant}/avoided", **allow(*READERS))
def avoided(ledger: LedgerDep, participant: str, who: CallerDep, year: str,
            factor: str = "SIP-2020-PURCHASED") -> dict:  # fmt: skip
    """绿证折算碳减排量: avoided emissions of the GECs retired for the year (not an offset)."""
    from ledger.carbon import avoided_emissions

    own(who, participant)
    return avoided_emissions(ledger, participant, year, factor)


@enterprise.get("/v1/carbon-accounts/{participant}/rating", **allow(*READERS))
def rating(ledger: LedgerDep, participant: str, who: CallerDep, year: str, scheme: str = "FOUR-COLOUR") -> dict:
    """碳效: carbon efficiency against the sector's benchmark, as a colour."""
    from ledger.carbon import rating as rate

    own(who, participant)
    return rate(ledger, participant, year, scheme)


@enterprise.post("/v1/carbon-accounts/{participant}/obligations", status_code=201, **allow(OPERATOR))
def record_obligation(ledger: LedgerDep, participant: str, body: ObligationBody) -> dict:
    """A covered emitter's ETS obligation for a year."""
    return ledger.record_ets_obligation(participant, body.year, body.allowances_kg, body.source)


@enterprise.post("/v1/carbon-accounts/{participant}/surrenders", status_code=201, **allow(OPERATOR, HOLDER))
def surrender(ledger: LedgerDep, participant: str, body: SurrenderBody, who: CallerDep) -> dict:
    """Surrender CCER against the year's ETS obligation, within the cap (5 %)."""
    own(who, participant)
    return ledger.surrender_for_ets(participant, body.year, body.retirements, on=body.on)


@enterprise.post("/v1/claims", status_code=201, **allow(OPERATOR, HOLDER))
def make_claim(ledger: LedgerDep, body: ClaimBody, who: CallerDep, request: Request) -> dict:
    """A carbon-neutral claim from retirements; refused with the reason, or the shortfall."""
    own(who, body.claimant)
    claim = ledger.make_neutrality_claim(body.claimant, subject=body.subject, boundary=body.boundary,
                                         period=body.period, retirements=body.retirements, rule_set=body.rule_set,
                                         on=body.on)  # fmt: skip
    publish_soon(request)  # its certificate needs the claim under a published checkpoint
    return {"code": claim.code, "claimant": claim.claimant, "period": claim.period, "coverage": claim.coverage}


def _claim_of(ledger: Ledger, code: str, who: Principal | None):
    claim = ledger.neutrality_claim(code)
    own(who, claim.claimant)
    return claim


@enterprise.get("/v1/claims/{code}/certificate", **allow(*READERS))
def claim_certificate(ledger: LedgerDep, origin: OriginDep, code: str, who: CallerDep,
                      format: Literal["json", "html"] = "json"):  # fmt: skip
    """The claim's certificate: JSON with a tlog-proof per event under the current published
    checkpoint (SEQ_NOT_COVERED until one covers the claim), or its bilingual page."""
    from ledger.certificate import certificate, certificate_html

    _claim_of(ledger, code, who)
    document = certificate(ledger, code, origin)
    return HTMLResponse(certificate_html(document)) if format == "html" else document


@enterprise.get("/v1/alerts", **allow(OPERATOR, AUDITOR))
def alerts(ledger: LedgerDep, status: Annotated[Literal["open", "acknowledged"] | None, Query()] = None) -> dict:
    """Market-surveillance alerts, the rules run over every event not yet seen."""
    from ledger.surveillance import Surveillance

    with Surveillance(ledger) as watch:
        return {"alerts": watch.alerts(status)}


@enterprise.get("/v1/alerts/{alert_id}", **allow(OPERATOR, AUDITOR))
def alert(ledger: LedgerDep, alert_id: str) -> dict:
    """One alert, with a tlog-proof of each of its events."""
    from ledger.surveillance import Surveillance

    with Surveillance(ledger) as watch:
        return watch.alert(alert_id)


@enterprise.post("/v1/alerts/{alert_id}/acknowledgement", status_code=201, **allow(OPERATOR))
def acknowledge(ledger: LedgerDep, alert_id: str, body: AcknowledgementBody, who: CallerDep) -> dict:
    """The operator's review of an alert, recorded as an event, once."""
    from ledger.surveillance import Surveillance

    with Surveillance(ledger) as watch:
        return watch.acknowledge(alert_id, who.participant if who else "operator", body.note)
