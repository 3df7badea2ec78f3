"""The routes, by router. Each calls the `Ledger` or `ReadModel` method the CLI calls.

Every route states its rule with `allow(...)` (api/deps.py). Writes take an `Idempotency-Key`
header, scoped to the caller's participant, and recorded in the same transaction as the
command's events, so a retry answers the first result and the same key with another body is
refused (REQUEST_ID_REUSED): transfers, retirements and cancellations record it in the batch's
own event (as the CLI's request ids); other writes record a Request (`Ledger.once`). Imports and
expiry are idempotent by what they carry (rows already recorded are skipped, expired units
stay expired): a retry runs again, writes nothing, and says so. Reads say which log state they
were read against.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, PlainTextResponse, Response
from starlette.background import BackgroundTask

from api import problems
from api.auth import PUBLIC, Role
from api.deps import CallerDep, LedgerDep, ReadModelDep, WriteDep, allow, own_account
from api.enterprise import enterprise
from api.schemas import (
    AccountBody,
    CancelBody,
    CCERBody,
    ContractBody,
    DeviceBody,
    ElectionBody,
    ExpiryBody,
    InclusionBody,
    IssueGECBody,
    ParticipantBody,
    ProgrammeBody,
    ProjectBody,
    ResolutionBody,
    RetireBody,
    RowsBody,
    SettlementBody,
    TransferBody,
)
from api.transfers import agreements
from ledger import inventory
from ledger.app import Ledger
from ledger.database import EVENTS_TABLE, dialect
from ledger.domain.batch import Batch
from ledger.domain.serials import format_range, spans_for
from ledger.errors import InvalidInput, LedgerError, NotFound
from ledger.personal import is_commitment, public_event
from ledger.rows import CorrectionRow, MeterReadingRow, read_csv
from ledger.tlog import audit
from ledger.tlog import tiles as tile_format

DESCRIPTION = """OneClaim's registry ledger over HTTP. Authenticate with `Authorization: Bearer <token>`
(tokens from `oneclaim token issue`); routes marked public need none. Errors are RFC 9457
`application/problem+json` whose `code` is the ledger's stable code. Writes accept an
`Idempotency-Key` header."""

OPERATOR, HOLDER, AUDITOR = Role.OPERATOR, Role.HOLDER, Role.AUDITOR


def read_against(ledger: Ledger) -> dict[str, Any]:
    """The log state a read answer reflects: the log's size, and the current checkpoint (the
    latest witnessed one once the log has a witness quorum, else the latest signed)."""
    latest = ledger.log.current_checkpoint()
    signed = None if latest is None else {"tree_size": latest.tree_size, "root": latest.root.hex()}
    return {"log_size": ledger.log.size(), "checkpoint": signed}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


PERSONAL = ("beneficiary", "location")
"""Fields of a retirement that may name a person or a household. The log records commitments to
them (ledger/personal.py), which public answers give as they are; a ledger older than that
recorded the text, and public answers give its SHA-256 instead (`<field>_sha256`)."""


def _legacy_personal(k: str, v: Any) -> bool:
    return k in PERSONAL and isinstance(v, str) and not is_commitment(v)


def redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            (f"{k}_sha256" if _legacy_personal(k, v) else k): (_digest(v) if _legacy_personal(k, v) else redacted(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


EVENT_READERS = (OPERATOR, AUDITOR, Role.PARTNER)
"""Who may read every event's own bytes. Anyone may read a public one (ledger.personal.public_event:
certificates, devices, cases, anchors, projects; retirements name who and where by commitment)."""


def may_read_event(who: Any, event: bytes) -> bool:
    return (who is not None and who.role in EVENT_READERS) or public_event(event)


def tlog_proofs(ledger: Ledger, who: Any, seqs: list[int]) -> dict[int, str | None]:
    """The C2SP tlog-proof of each entry under the current checkpoint (None for an entry it does
    not cover yet), with the event's bytes where the caller may read them."""
    current = ledger.log.current_checkpoint()
    covered = 0 if current is None else current.tree_size
    out: dict[int, str | None] = {}
    for seq in seqs:
        if seq >= covered:
            out[seq] = None
            continue
        (event,) = ledger.log.entries(seq, seq + 1)
        out[seq] = ledger.log.tlog_proof(seq, with_event=may_read_event(who, event))
    return out


# ---------------------------------------------------------------------------------- the log

log = APIRouter(tags=["log"])


@log.get("/healthz", **allow(PUBLIC))
def healthz(ledger: LedgerDep) -> dict:
    """Alive, with the log's size."""
    return {"ok": True, "log_size": ledger.log.size()}


@log.get(
    "/v1/checkpoint",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"example": "oneclaim.local/registry\n42\n<root>\n\n— …\n"}}}},
    **allow(PUBLIC),
)
def checkpoint(ledger: LedgerDep) -> PlainTextResponse:
    """The current checkpoint, the C2SP signed note byte for byte, with its witnesses'
    cosignature lines: the latest that met the witness quorum once one has (a newer signed one is
    not current until its quorum is met), else the latest signed."""
    latest = ledger.log.current_checkpoint()
    if latest is None:
        raise NotFound("no checkpoint has been signed yet", code="NO_CHECKPOINT")
    return PlainTextResponse(latest.note, media_type="text/plain; charset=utf-8")


@log.get(
    "/v1/log/policy",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"example": "log oneclaim.local/registry+1a2b3c4d+AX…\nquorum none\n"}}}
    },
    **allow(PUBLIC),
)
def log_policy() -> PlainTextResponse:
    """The log's witness policy (C2SP tlog-policy) as a checker applies it: the log's key, the
    witnesses' keys and the quorum, without the witnesses' addresses. The explorer reads it. It is
    worth what its source is worth: compare the key with one you obtained elsewhere (e.g. the
    anchor contract's registered key hash)."""
    policy_file, vkey = os.environ.get("ONECLAIM_PUBLISH_POLICY"), os.environ.get("ONECLAIM_VERIFIER_KEY")
    if policy_file and FilePath(policy_file).is_file():
        lines = [" ".join(line.split()[:3]) if line.startswith("witness ") else line
                 for line in FilePath(policy_file).read_text().splitlines()]  # fmt: skip
        return PlainTextResponse("\n".join(lines) + "\n")
    if not vkey:
        raise NotFound("this server was started without the log's verifier key", code="NO_VERIFIER_KEY")
    return PlainTextResponse(f"log {vkey}\nquorum none\n")


@log.get(
    "/v1/proofs/inclusion/{seq}",
    responses={200: {"content": {"application/json": {}, "text/plain": {"example": "c2sp.org/tlog-proof@v1\n…"}}}},
    **allow(PUBLIC),
)
def inclusion_proof(
    ledger: LedgerDep,
    who: CallerDep,
    seq: Annotated[int, Path(ge=0)],
    tree_size: Annotated[int | None, Query(ge=1)] = None,
    proof_format: Annotated[
        Literal["json", "tlog-proof"],
        Query(alias="format", description="tlog-proof: a C2SP tlog-proof (event, proof, cosigned checkpoint)."),
    ] = "json",
) -> Any:
    """The RFC 9162 inclusion proof of entry `seq` in the tree of `tree_size` (default: the head),
    as `oneclaim log prove-inclusion` prints it; with `format=tlog-proof`, the C2SP tlog-proof
    against the current checkpoint (or the signed one of `tree_size`), as
    `oneclaim log prove-inclusion --format tlog-proof` prints it. The tlog-proof carries the
    event's bytes (its `extra` line) where the caller may read them: a public event's for anyone,
    any event's for an operator, auditor or partner token. Otherwise the proof has no `extra`, and
    whoever holds the event checks it with those bytes."""
    if proof_format == "tlog-proof":
        entry = ledger.log.entries(seq, seq + 1)
        proof = ledger.log.tlog_proof(seq, tree_size, with_event=bool(entry) and may_read_event(who, entry[0]))
        return PlainTextResponse(proof, media_type="text/plain; charset=utf-8")
    return ledger.log.inclusion_proof(seq, tree_size).to_json()


@log.get("/v1/proofs/consistency", **allow(PUBLIC))
def consistency_proof(ledger: LedgerDep, old: Annotated[int, Query(ge=1)], new: Annotated[int, Query(ge=1)]) -> dict:
    """The RFC 9162 consistency proof between two tree sizes, as `oneclaim log prove-consistency`
    prints it."""
    return ledger.log.consistency_proof(old, new).to_json()


MAX_PAGE = 1_000


@log.get("/v1/log/entries", **allow(OPERATOR, AUDITOR))
def entries(
    ledger: LedgerDep,
    after_seq: Annotated[int, Query(ge=-1, description="The last seq of the previous page (-1: from the start).")] = -1,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    proof: Annotated[
        bool, Query(description="Attach each entry's inclusion proof in the current checkpoint, and its tlog-proof.")
    ] = False,
) -> dict:
    """The log's entries in seq order, a page at a time: each entry's seq, leaf hash and the
    event's canonical bytes (as JSON). With `proof=true`, each carries its RFC 9162 inclusion
    proof in the tree of the current checkpoint and the same as a C2SP tlog-proof with the
    cosigned checkpoint (entries beyond it carry none yet)."""
    against = read_against(ledger)
    start = after_seq + 1
    data = ledger.log.entries(start, start + limit)
    leaves = ledger.log.hashes(0, start, start + len(data))
    signed = against["checkpoint"]["tree_size"] if against["checkpoint"] else 0
    items = []
    for seq, (event, leaf) in enumerate(zip(data, leaves, strict=True), start):
        item = {"seq": seq, "leaf": leaf.hex(), "event": json.loads(event)}
        if proof:
            item["inclusion_proof"] = ledger.log.inclusion_proof(seq, signed).to_json() if seq < signed else None
            item["tlog_proof"] = ledger.log.tlog_proof(seq, signed) if seq < signed else None
        items.append(item)
    following = items[-1]["seq"] if len(items) == limit else None
    return {"entries": items, "next_after_seq": following, "read_against": against}


# ---------------------------------------------------------------------------------- registry

registry = APIRouter(tags=["registry"])


@registry.get("/v1/serials/{serial}/provenance", **allow(PUBLIC))
def provenance(
    ledger: LedgerDep,
    model: ReadModelDep,
    serial: str,
    who: CallerDep,
    proof: Annotated[bool, Query(description="Attach each event's C2SP tlog-proof, with its bytes.")] = False,
) -> dict:
    """Where a serial came from, who held it (pseudonymous account ids), who retired it: every
    event that touched it, with its seq for an inclusion proof. Without a token, a retirement's
    beneficiary and location are the commitments the log records (ledger/personal.py). With
    `proof=true`, each event carries `tlog_proof` under the current checkpoint (null for an event
    it does not cover yet): the explorer checks every row with it, from the event's own bytes."""
    answer = model.provenance(serial, reveal=who is not None)
    if proof:
        proofs = tlog_proofs(ledger, who, [e["seq"] for e in answer["events"]])
        answer["events"] = [{**e, "tlog_proof": proofs[e["seq"]]} for e in answer["events"]]
    if imported := ledger.imported(
        ledger.batch(answer["batch"]), with_event=who is not None and who.role in EVENT_READERS
    ):
        answer["imported"] = imported  # the source registry's TransferOut, with the proof relied on
    return {**(answer if who is not None else redacted(answer)), "read_against": read_against(ledger)}


@registry.get("/v1/accounts/{account}/holdings", **allow(OPERATOR, AUDITOR, HOLDER))
def holdings(ledger: LedgerDep, model: ReadModelDep, account: str, who: CallerDep) -> dict:
    """What an account holds, per batch and state. A holder sees its own accounts only."""
    ledger.account(account)
    own_account(ledger, who, account)
    return {"account": account, "holdings": model.holdings(account), "read_against": read_against(ledger)}


@registry.get("/v1/devices/{code}/claims", **allow(OPERATOR, AUDITOR))
def claims_check(ledger: LedgerDep, code: str, month: str | None = None) -> dict:
    """The claims pool of a device: what is metered, claimed (by whom) and free, per reading."""
    return {**ledger.claims_check(code, month), "read_against": read_against(ledger)}


@registry.post("/v1/devices/{code}/gec-issuances", status_code=201, **allow(OPERATOR))
def issue_gec(ledger: LedgerDep, code: str, body: IssueGECBody, w: WriteDep) -> dict:
    """绿证核发: issue a device's GECs for a production month (1 per MWh, the rest carried)."""
    w.once(f"issue-gec/{code}", body, lambda: ledger.issue_gec(code, body.month, body.account))
    batches = [ledger.batch(b) for b in ledger.device(code).gec_months.get(body.month, [])]
    return {
        "device": code,
        "month": body.month,
        "batches": [
            {"batch": b.code, "quantity": b.quantity, "serials": format_range(b.code, 0, b.quantity)} for b in batches
        ],
    }


@registry.post("/v1/devices/{code}/elections", status_code=201, **allow(OPERATOR))
def elect(ledger: LedgerDep, code: str, body: ElectionBody, w: WriteDep) -> dict:
    """GEC–CCER election for a deep-sea offshore wind or CSP device (in force from a date)."""
    w.once(f"elect/{code}", body,
         lambda: ledger.elect(code, body.scheme, body.effective_from))  # fmt: skip
    return {"device": code, "scheme": body.scheme, "effective_from": body.effective_from}


def _issued(ledger: Ledger, first: Any, made: dict, instrument: str) -> Batch:
    """The batch an issuance made: now, or by the first request with the same key."""
    if first is None:
        return made["batch"]
    return next(b for b in ledger.created_by(first) if isinstance(b, Batch) and b.instrument == instrument)


@registry.post("/v1/programmes/{code}/issuances", status_code=201, **allow(OPERATOR))
def issue_inclusion(ledger: LedgerDep, code: str, body: InclusionBody, w: WriteDep) -> dict:
    """碳普惠签发: carbon-inclusion credits, from a device's metered kWh or from kgCO2e."""
    made: dict = {}
    fields = body.model_dump(exclude={"methodology", "account"})

    def act() -> None:
        made["batch"] = ledger.issue_inclusion(code, body.methodology, body.account, **fields)

    first = w.once(f"issue-inclusion/{code}", body, act)
    return inventory.batch_summary(_issued(ledger, first, made, "INCLUSION"))


@registry.post("/v1/projects/{code}/issuances", status_code=201, **allow(OPERATOR))
def issue_ccer(ledger: LedgerDep, code: str, body: CCERBody, w: WriteDep) -> dict:
    """核查与登记: issue CCER for verified reductions in one period; a renewable project's
    untraded GECs for that electricity are cancelled and disclosed."""
    made: dict = {}

    def act() -> None:
        made["batch"] = ledger.issue_ccer(code, body.period_start, body.period_end, body.kg_co2e, body.account)

    first = w.once(f"issue-ccer/{code}", body, act)
    return inventory.batch_summary(_issued(ledger, first, made, "CCER"))


@registry.post("/v1/contracts/{code}/settlements", status_code=201, **allow(OPERATOR))
def settle(ledger: LedgerDep, code: str, body: SettlementBody) -> dict:
    """月结月清: settle a month (the least of consumption, contract and on-grid) and move its
    GECs to the consumer. A month settles once: a retry answers the first settlement."""
    return ledger.settle(code, body.month, body.consumption_kwh, on=body.on)


@registry.post("/v1/batches/{code}/transfers", status_code=201, **allow(HOLDER))
def transfer(ledger: LedgerDep, code: str, body: TransferBody, w: WriteDep) -> dict:
    """Move units of a batch from one of the caller's accounts to another account."""
    own_account(ledger, w.who, body.from_account)
    ranges = ledger.transfer(
        code,
        body.from_account,
        body.to_account,
        quantity=body.quantity,
        spans=spans_for(code, body.serials),
        on=body.on,
        request_id=w.request_id,
    )
    return {
        "batch": code,
        "from": body.from_account,
        "to": body.to_account,
        "serials": [format_range(code, s, e) for s, e in ranges],
        "units": sum(e - s for s, e in ranges),
    }


@registry.post("/v1/batches/{code}/retirements", status_code=201, **allow(HOLDER))
def retire(ledger: LedgerDep, code: str, body: RetireBody, w: WriteDep) -> dict:
    """核销: retire units of one of the caller's accounts for a claim."""
    own_account(ledger, w.who, body.account)
    retirement_id = ledger.retire(
        code,
        body.account,
        beneficiary=body.beneficiary,
        purpose=body.purpose,
        reporting_period=body.reporting_period,
        location=body.location,
        quantity=body.quantity,
        spans=spans_for(code, body.serials),
        on=body.on,
        request_id=w.request_id,
    )
    record = ledger.personal.reveal(ledger.batch(code).retirements[retirement_id])
    return {
        "retirement_id": retirement_id,
        "batch": code,
        "serials": [format_range(code, s, e) for s, e in record["ranges"]],
        **{k: record[k] for k in ("beneficiary", "purpose", "reporting_period", "location")},
    }


@registry.post("/v1/batches/{code}/cancellations", status_code=201, **allow(OPERATOR))
def cancel(ledger: LedgerDep, code: str, body: CancelBody, w: WriteDep) -> dict:
    """Cancellation by the registry (an issuer dispute, a correction)."""
    ranges = ledger.cancel(code, body.reason, spans_for(code, body.serials), w.request_id)
    return {"batch": code, "serials": [format_range(code, s, e) for s, e in ranges], "reason": body.reason}


# ---------------------------------------------------------------------------------- the register

register = APIRouter(tags=["register"])


@register.post("/v1/participants", status_code=201, **allow(OPERATOR))
def add_participant(ledger: LedgerDep, body: ParticipantBody, w: WriteDep) -> dict:
    """Register a participant (a generator, consumer, trader, verifier or registry)."""
    w.once("participant", body,
         lambda: ledger.add_participant(body.code, body.name, body.role, body.province, body.city))  # fmt: skip
    return {"participant": body.code, "role": body.role}


@register.post("/v1/accounts", status_code=201, **allow(OPERATOR))
def open_account(ledger: LedgerDep, body: AccountBody, w: WriteDep) -> dict:
    """Open a holding account (a pseudonymous id) for a participant."""
    w.once("account", body, lambda: ledger.open_account(body.account, body.owner, body.purpose))
    return {"account": body.account, "owner": body.owner}


@register.post("/v1/devices", status_code=201, **allow(OPERATOR))
def register_device(ledger: LedgerDep, body: DeviceBody, w: WriteDep) -> dict:
    """建档立卡: register a generating device."""
    w.once("device", body, lambda: ledger.register_device(
        body.code, body.technology, body.capacity_kw, body.province, body.city, body.owner, body.commissioned_on,
        tuple(body.schemes),
    ))  # fmt: skip
    device = ledger.device(body.code)
    return {"device": body.code, "schemes": device.schemes, "gec_tradable": device.gec_tradable}


@register.post("/v1/contracts", status_code=201, **allow(OPERATOR))
def sign_contract(ledger: LedgerDep, body: ContractBody, w: WriteDep) -> dict:
    """绿电交易: a green-power contract, contracted MWh per month of a device's output."""
    w.once("contract", body, lambda: ledger.sign_contract(
        body.code, body.device, body.generator_account, body.consumer_account, body.monthly_mwh
    ))  # fmt: skip
    return {"contract": body.code, "monthly_mwh": ledger.contract(body.code).monthly_mwh}


@register.post("/v1/programmes", status_code=201, **allow(OPERATOR))
def establish_programme(ledger: LedgerDep, body: ProgrammeBody, w: WriteDep) -> dict:
    """Establish a carbon-inclusion programme (碳普惠) with its methodologies and emission factor."""
    w.once("programme", body, lambda: ledger.establish_programme(
        body.code, body.name, body.region, body.methodologies, body.factor
    ))  # fmt: skip
    return {"programme": body.code}


@register.post("/v1/projects", status_code=201, **allow(OPERATOR))
def register_project(ledger: LedgerDep, body: ProjectBody, w: WriteDep) -> dict:
    """审定与登记: register a CCER project; a renewable project's untraded GECs for the crediting
    period are frozen in the same transaction."""
    w.once("project", body, lambda: ledger.register_ccer_project(
        body.code, body.methodology, body.owner, body.devices, body.crediting_start, body.crediting_end,
        factor=body.factor, on=body.on,
    ))  # fmt: skip
    frozen = ledger.frozen_gecs(body.code)
    return {"project": body.code, "frozen_gecs": frozen, "frozen_units": sum(f["units"] for f in frozen)}


@register.post("/v1/meter/readings", **allow(OPERATOR))
def import_readings(ledger: LedgerDep, body: RowsBody) -> dict:
    """Import readings (the rows of a meter file): all checked first, all or none. Rows already
    recorded are skipped; a new figure for an interval already read is refused."""
    return ledger.import_readings(body.numbered())


@register.post("/v1/meter/corrections", **allow(OPERATOR))
def import_corrections(ledger: LedgerDep, body: RowsBody) -> dict:
    """Correct readings before their month is issued (each row: the interval, the new figures,
    the reason). All rows or none; rows already applied are skipped."""
    return ledger.import_corrections(body.numbered())


CSV_LIMIT = 16 * 1024 * 1024
CSV_BODY = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"},
            "example": "device,start,end,on_grid_kwh,self_consumed_kwh\n"
                       "SIP-PV-0001,2025-01-01T00:00:00+08:00,2025-02-01T00:00:00+08:00,52400,0\n"}}}}  # fmt: skip


class UnsupportedMedia(LedgerError):
    """A body in a media type the route does not read (415)."""

    http_status = 415


async def _csv_rows(request: Request, model: type) -> tuple[list[dict], list[dict]]:
    """The rows of a CSV body, read by the same code as the CLI's files (ledger.rows.read_csv)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "text/csv":
        raise UnsupportedMedia("send the file as Content-Type: text/csv", code="MEDIA_TYPE_UNSUPPORTED")
    data = await request.body()
    if len(data) > CSV_LIMIT:
        raise InvalidInput(f"a CSV body may hold at most {CSV_LIMIT} bytes", code="BODY_TOO_LARGE")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV is not UTF-8", code="CSV_NOT_UTF8") from None
    return read_csv(io.StringIO(text, newline=""), model, "the uploaded CSV")


@register.post("/v1/meter/readings/csv", **allow(OPERATOR, openapi=CSV_BODY))
async def upload_readings(ledger: LedgerDep, request: Request) -> dict:
    """Import readings from a CSV upload (header device,start,end,on_grid_kwh,self_consumed_kwh):
    the same rules as the CLI's `meter import`, with each bad row named by its line."""
    rows, unreadable = await _csv_rows(request, MeterReadingRow)
    return await run_in_threadpool(ledger.import_readings, rows, errors=unreadable)


@register.post("/v1/meter/corrections/csv", **allow(OPERATOR, openapi=CSV_BODY))
async def upload_corrections(ledger: LedgerDep, request: Request) -> dict:
    """Corrections from a CSV upload (the readings header and a reason column), as `meter correct`."""
    rows, unreadable = await _csv_rows(request, CorrectionRow)
    return await run_in_threadpool(ledger.import_corrections, rows, errors=unreadable)


@register.post("/v1/external-claims", **allow(OPERATOR))
def import_external(ledger: LedgerDep, body: RowsBody) -> dict:
    """Claims other registries report: each that overlaps ours opens a double-counting case."""
    return ledger.import_external(body.numbered())


@register.post("/v1/expirations", **allow(OPERATOR))
def expire(ledger: LedgerDep, model: ReadModelDep, body: ExpiryBody) -> dict:
    """Expire every unit past its validity as of a date (idempotent)."""
    expired = ledger.expire_batches(model.batches(expiring_before=body.as_of), body.as_of)
    return {
        "as_of": body.as_of.isoformat(),
        "expired": {code: [format_range(code, s, e) for s, e in ranges] for code, ranges in expired.items()},
    }


@register.get("/v1/cases", **allow(OPERATOR, AUDITOR))
def cases(ledger: LedgerDep, model: ReadModelDep, status: str | None = None) -> dict:
    """Double-counting cases, oldest first."""
    return {"cases": model.cases(status), "read_against": read_against(ledger)}


@register.get("/v1/cases/{code}", **allow(OPERATOR, AUDITOR))
def case_trace(ledger: LedgerDep, code: str) -> dict:
    """A case's trace report: the device, the MWh, each claim's lineage, every event proven."""
    return ledger.trace_case(code)


@register.post("/v1/cases/{code}/resolution", status_code=201, **allow(OPERATOR))
def resolve_case(ledger: LedgerDep, code: str, body: ResolutionBody, w: WriteDep) -> dict:
    """Resolve a case with an explicit event; who resolved it is the caller's participant."""
    w.once(f"resolve/{code}", body,
         lambda: ledger.resolve_case(code, body.outcome, body.reason, w.who.participant))  # fmt: skip
    case = ledger.case(code)
    return {"case": case.code, "resolution": case.resolution}


@register.get("/v1/disclosures/{code}", **allow(PUBLIC))
def disclosure(ledger: LedgerDep, code: str) -> dict:
    """公示: the public disclosure of the GECs cancelled for a CCER batch's reductions."""
    d = ledger.disclosure(code)
    out = {k: getattr(d, k) for k in ("code", "project", "device", "period", "kg_co2e", "factor", "kwh")}
    return out | {"cancelled": d.public_cancelled(), "traded_untouched": d.traded_untouched,
                  "read_against": read_against(ledger)}  # fmt: skip


RECORDS = {"batches": "batch", "devices": "device", "cases": "case", "disclosures": "disclosure",
           "projects": "project", "programmes": "programme"}  # fmt: skip
"""The records whose events are public (ledger.personal.PUBLIC_AGGREGATES), by their path."""


@register.get("/v1/{kind}/{code}/events", **allow(PUBLIC))
def record_events(
    ledger: LedgerDep,
    who: CallerDep,
    kind: Literal["batches", "devices", "cases", "disclosures", "projects", "programmes"],
    code: str,
    after_version: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    proof: Annotated[bool, Query(description="Attach each event's C2SP tlog-proof, with its bytes.")] = False,
) -> dict:
    """Every event of one batch, device, case, disclosure, project or programme, in its own order
    (version 1, 2, …), with its log seq: cursor-paginated on the version. A checker holding them
    all knows none was left out, since versions have no gaps. With `proof=true`, each carries its
    C2SP tlog-proof (with the event's bytes) under the current checkpoint, or null if that
    checkpoint does not cover it yet."""
    record = getattr(ledger, RECORDS[kind])(code)
    rows = ledger.log.versions_of(record.id, after_version, limit)
    proofs = tlog_proofs(ledger, who, [seq for _, seq, _ in rows]) if proof else {}
    events = [
        {"version": v, "seq": seq, "type": topic.rsplit(".", 1)[-1], **({"tlog_proof": proofs[seq]} if proof else {})}
        for v, seq, topic in rows
    ]
    following = events[-1]["version"] if len(events) == limit else None
    return {"kind": RECORDS[kind], "code": code, "originator_id": record.id.hex, "events": events,
            "next_after_version": following, "read_against": read_against(ledger)}  # fmt: skip


@register.get("/v1/anchors", **allow(PUBLIC))
def anchors(
    ledger: LedgerDep,
    who: CallerDep,
    proof: Annotated[bool, Query(description="Attach each anchor's Anchored event with its tlog-proof.")] = False,
) -> dict:
    """Where the log is anchored, as the ledger recorded it: each chain and contract, and every
    anchor (tree size, root, transaction, block). Check them against the chain yourself
    (`oneclaim anchor verify`); this answer is the operator's word. With `proof=true`, each anchor
    carries the seq and the C2SP tlog-proof of the `Anchored` event that recorded it, so a checker
    proves the log records it (and the anchored root against a checkpoint it verified)."""
    size = ledger.log.size()
    histories = []
    for h in ledger.registered("anchor"):
        listed = h.anchors
        if proof:  # the n-th anchor is the history's event n + 2 (version 1 started it)
            seqs = [ledger.log.seq_of(h.id, n + 2) for n in range(len(h.anchors))]
            proofs = tlog_proofs(ledger, who, [s for s in seqs if s is not None])
            listed = [{**a, "seq": s, "tlog_proof": proofs.get(s)} for a, s in zip(h.anchors, seqs, strict=True)]
        histories.append({"chain_id": h.chain_id, "contract": h.contract, "log_id": h.log_id, "anchors": listed,
                          "anchored_tree_size": h.anchors[-1]["tree_size"] if h.anchors else 0})  # fmt: skip
    return {"tree_size": size, "anchorings": histories, "read_against": read_against(ledger)}


INDEXED = {"batches": "batch", "devices": "device", "cases": "case", "projects": "project", "programmes": "programme"}


@register.get("/v1/index/{kind}", **allow(PUBLIC))
def record_index(
    ledger: LedgerDep,
    kind: Literal["batches", "devices", "cases", "projects", "programmes"],
    after_seq: Annotated[int, Query(ge=-1)] = -1,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict:
    """The codes of the public records of a kind, in the order they were created, each with the
    seq of its creation event: what a visitor of the explorer starts from. Cursor-paginated on
    that seq. The records themselves are at `/v1/{kind}/{code}/events`."""
    found = ledger.registered_page(INDEXED[kind], after_seq, limit)
    codes = [{"code": r.code, "seq": seq} for seq, r in found]
    following = codes[-1]["seq"] if len(codes) == limit else None
    return {"kind": INDEXED[kind], "records": codes, "next_after_seq": following, "read_against": read_against(ledger)}


@register.get(
    "/v1/audit/bundle",
    response_class=Response,
    responses={200: {"content": {"application/gzip": {}}}},
    **allow(OPERATOR, AUDITOR),
)
def audit_bundle(request: Request) -> Response:
    """An audit bundle (docs/audit-bundle.md) as a gzipped tar: the events up to the latest
    signed checkpoint, every checkpoint, the verifier key and the README, as `oneclaim audit
    export` writes it. Verify it with `oneclaim audit verify`, trusting only a key you hold."""
    state = request.app.state
    if not state.verifier_key:
        raise NotFound("this server was started without the log's verifier key", code="NO_VERIFIER_KEY")
    url = state.ledger.db_url
    tmp = FilePath(tempfile.mkdtemp(prefix="oneclaim-bundle-"))
    try:
        try:
            audit.export_bundle(url, tmp / "bundle", events_table=EVENTS_TABLE[dialect(url)], origin=state.origin,
                                verifier_key=state.verifier_key, readme=audit.BUNDLE_README.read_text())  # fmt: skip
        except ValueError as e:
            raise NotFound(str(e), code="NO_CHECKPOINT") from None
        with tarfile.open(tmp / "bundle.tar.gz", mode="w:gz") as tar:
            tar.add(tmp / "bundle", arcname="bundle")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(tmp / "bundle.tar.gz", media_type="application/gzip", filename="oneclaim-bundle.tar.gz",
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))  # fmt: skip


KINDS = ("participant", "account", "device", "batch", "contract", "programme", "project")


def _inventory(kind: str) -> None:
    """GET /v1/KINDs (a page of rows, cursor on the seq of each record's creation event) and
    GET /v1/KINDs/{code} (one record in full), as `oneclaim KIND list|show --json` print them."""
    name = inventory.plural(kind)

    def listing(
        ledger: LedgerDep,
        after_seq: Annotated[int, Query(ge=-1, description="The seq of the last record of the previous page.")] = -1,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict:
        page = ledger.registered_page(kind, after_seq, limit)
        return {
            name: [inventory.row(kind, record) | {"seq": seq} for seq, record in page],
            "next_after_seq": page[-1][0] if len(page) == limit else None,
            "read_against": read_against(ledger),
        }

    def show(ledger: LedgerDep, code: str) -> dict:
        record = ledger.personal.reveal(inventory.detail(kind, getattr(ledger, kind)(code)))
        return record | {"read_against": read_against(ledger)}

    listing.__doc__ = f"Every {kind} the registry holds, in the order each was created, a page at a time."
    show.__doc__ = f"One {kind}: every field, with serials in the registry's notation."
    register.get(f"/v1/{name}", name=f"list_{name}", **allow(OPERATOR, AUDITOR))(listing)
    register.get(f"/v1/{name}/{{code}}", name=f"show_{kind}", **allow(OPERATOR, AUDITOR))(show)


for _kind in KINDS:
    _inventory(_kind)


# ---------------------------------------------------------------------------------- tiles

tiles = APIRouter(tags=["tiles"])
IMMUTABLE = "public, max-age=31536000, immutable"
"""A full tile never changes: any HTTP cache or CDN may keep it for good."""
FRESH = "no-cache"
"""A partial tile, and the checkpoint, are superseded as the log grows."""
OCTETS = {200: {"content": {"application/octet-stream": {}}}}


@tiles.get("/checkpoint", response_class=PlainTextResponse, **allow(PUBLIC))
def tiles_checkpoint(ledger: LedgerDep) -> PlainTextResponse:
    """The latest signed checkpoint, where C2SP tlog-tiles clients look for it."""
    answer = checkpoint(ledger)
    answer.headers["Cache-Control"] = FRESH
    return answer


PRIVATE_IMMUTABLE = "private, max-age=31536000, immutable"
"""A full entry bundle never changes either, but it holds the events' bytes: only the caller's
own cache may keep it, never a shared one."""


def _tile(data: bytes, width: int, full: str = IMMUTABLE) -> Response:
    cache = full if width == tile_format.WIDTH else FRESH
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})


@tiles.get("/tile/entries/{index:path}", response_class=Response, responses=OCTETS, **allow(*EVENT_READERS))
def entry_bundle(ledger: LedgerDep, index: str) -> Response:
    """An entry bundle: each entry's canonical event bytes, with a 16-bit length. The events name
    retirements' beneficiaries, so an entry bundle needs an operator's, auditor's or partner's
    token; the hash tiles and the checkpoint are public."""
    n, width = tile_format.parse_index(index)
    return _tile(tile_format.entry_bundle(ledger.log, n, width), width, PRIVATE_IMMUTABLE)


@tiles.get("/tile/{level}/{index:path}", response_class=Response, responses=OCTETS, **allow(PUBLIC))
def hash_tile(ledger: LedgerDep, level: Annotated[int, Path(ge=0, le=63)], index: str) -> Response:
    """A hash tile: the hashes of up to 256 nodes at height 8·level, 32 bytes each."""
    n, width = tile_format.parse_index(index)
    return _tile(tile_format.hash_tile(ledger.log, level, n, width), width)


ROUTERS = (log, registry, register, tiles, agreements, enterprise)


def _document_refusals() -> None:
    """Each route's OpenAPI lists the problems it answers with, an example of each code
    (api/problems.py)."""
    for router in ROUTERS:
        for route in router.routes:
            public = PUBLIC in (route.openapi_extra or {}).get("x-roles", [])
            route.responses = {**problems.responses(route.name, public), **route.responses}


_document_refusals()
