"""The routes, by router. Each calls the `Ledger` or `ReadModel` method the CLI calls.

Every route states its rule with `allow(...)` (api/deps.py). Writes take an `Idempotency-Key`
header: it becomes the command's request id, recorded in the same transaction as the command's
events, so a retry answers the first result and the same key with another body is refused
(REQUEST_ID_REUSED). Reads say which log state they were read against.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import PlainTextResponse, Response

from api.auth import PUBLIC, Principal, Role
from api.deps import CallerDep, LedgerDep, ReadModelDep, allow, own_account
from api.schemas import (
    AccountBody,
    CancelBody,
    DeviceBody,
    ExpiryBody,
    IssueGECBody,
    ParticipantBody,
    ResolutionBody,
    RetireBody,
    RowsBody,
    TransferBody,
)
from ledger.app import Ledger
from ledger.domain.serials import format_range, spans_for
from ledger.errors import NotFound
from ledger.tlog import tiles as tile_format

DESCRIPTION = """OneClaim's registry ledger over HTTP. Authenticate with `Authorization: Bearer <token>`
(tokens from `oneclaim token issue`); routes marked public need none. Errors are RFC 9457
`application/problem+json` whose `code` is the ledger's stable code. Writes accept an
`Idempotency-Key` header."""

OPERATOR, HOLDER, AUDITOR = Role.OPERATOR, Role.HOLDER, Role.AUDITOR
IdempotencyKey = Annotated[
    str | None, Header(max_length=64, description="Makes a retried write answer its first result.")
]


def request_id(who: Principal | None, key: str | None) -> str | None:
    """An idempotency key, scoped to the participant that sent it."""
    return None if key is None or who is None else f"{who.participant}/{key}"


def read_against(ledger: Ledger) -> dict[str, Any]:
    """The log state a read answer reflects: the log's size, and the latest signed checkpoint."""
    latest = ledger.log.latest_checkpoint()
    signed = None if latest is None else {"tree_size": latest.tree_size, "root": latest.root.hex()}
    return {"log_size": ledger.log.size(), "checkpoint": signed}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


PERSONAL = ("beneficiary", "location")
"""Fields of a retirement that may name a person or a household: public answers carry their
SHA-256 instead, which a certifier holding the claim can check."""


def redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            (f"{k}_sha256" if k in PERSONAL and isinstance(v, str) else k): (
                _digest(v) if k in PERSONAL and isinstance(v, str) else redacted(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


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
    """The latest signed checkpoint: the C2SP signed note, byte for byte."""
    latest = ledger.log.latest_checkpoint()
    if latest is None:
        raise NotFound("no checkpoint has been signed yet", code="NO_CHECKPOINT")
    return PlainTextResponse(latest.note, media_type="text/plain; charset=utf-8")


@log.get("/v1/proofs/inclusion/{seq}", **allow(PUBLIC))
def inclusion_proof(
    ledger: LedgerDep, seq: Annotated[int, Path(ge=0)], tree_size: Annotated[int | None, Query(ge=1)] = None
) -> dict:
    """The RFC 9162 inclusion proof of entry `seq` in the tree of `tree_size` (default: the head),
    as `oneclaim log prove-inclusion` prints it."""
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
    proof: Annotated[bool, Query(description="Attach each entry's inclusion proof in the signed tree.")] = False,
) -> dict:
    """The log's entries in seq order, a page at a time: each entry's seq, leaf hash and the
    event's canonical bytes (as JSON). With `proof=true`, each carries its RFC 9162 inclusion
    proof in the tree of the latest signed checkpoint (entries beyond it carry none yet)."""
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
        items.append(item)
    following = items[-1]["seq"] if len(items) == limit else None
    return {"entries": items, "next_after_seq": following, "read_against": against}


# ---------------------------------------------------------------------------------- registry

registry = APIRouter(tags=["registry"])


@registry.get("/v1/serials/{serial}/provenance", **allow(PUBLIC))
def provenance(ledger: LedgerDep, model: ReadModelDep, serial: str, who: CallerDep) -> dict:
    """Where a serial came from, who held it (pseudonymous account ids), who retired it: every
    event that touched it, with its seq for an inclusion proof. Without a token, a retirement's
    beneficiary and location are given as SHA-256 only."""
    answer = model.provenance(serial)
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
def issue_gec(ledger: LedgerDep, code: str, body: IssueGECBody) -> dict:
    """绿证核发: issue a device's GECs for a production month (1 per MWh, the rest carried)."""
    batches = ledger.issue_gec(code, body.month, body.account)
    return {
        "device": code,
        "month": body.month,
        "batches": [
            {"batch": b.code, "quantity": b.quantity, "serials": format_range(b.code, 0, b.quantity)} for b in batches
        ],
    }


@registry.post("/v1/batches/{code}/transfers", status_code=201, **allow(HOLDER))
def transfer(
    ledger: LedgerDep, code: str, body: TransferBody, who: CallerDep, idempotency_key: IdempotencyKey = None
) -> dict:
    """Move units of a batch from one of the caller's accounts to another account."""
    own_account(ledger, who, body.from_account)
    ranges = ledger.transfer(
        code,
        body.from_account,
        body.to_account,
        quantity=body.quantity,
        spans=spans_for(code, body.serials),
        on=body.on,
        request_id=request_id(who, idempotency_key),
    )
    return {
        "batch": code,
        "from": body.from_account,
        "to": body.to_account,
        "serials": [format_range(code, s, e) for s, e in ranges],
        "units": sum(e - s for s, e in ranges),
    }


@registry.post("/v1/batches/{code}/retirements", status_code=201, **allow(HOLDER))
def retire(
    ledger: LedgerDep, code: str, body: RetireBody, who: CallerDep, idempotency_key: IdempotencyKey = None
) -> dict:
    """核销: retire units of one of the caller's accounts for a claim."""
    own_account(ledger, who, body.account)
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
        request_id=request_id(who, idempotency_key),
    )
    record = ledger.batch(code).retirements[retirement_id]
    return {
        "retirement_id": retirement_id,
        "batch": code,
        "serials": [format_range(code, s, e) for s, e in record["ranges"]],
        **{k: record[k] for k in ("beneficiary", "purpose", "reporting_period", "location")},
    }


@registry.post("/v1/batches/{code}/cancellations", status_code=201, **allow(OPERATOR))
def cancel(
    ledger: LedgerDep, code: str, body: CancelBody, who: CallerDep, idempotency_key: IdempotencyKey = None
) -> dict:
    """Cancellation by the registry (an issuer dispute, a correction)."""
    ranges = ledger.cancel(code, body.reason, spans_for(code, body.serials), request_id(who, idempotency_key))
    return {"batch": code, "serials": [format_range(code, s, e) for s, e in ranges], "reason": body.reason}


# ---------------------------------------------------------------------------------- the register

register = APIRouter(tags=["register"])


@register.post("/v1/participants", status_code=201, **allow(OPERATOR))
def add_participant(ledger: LedgerDep, body: ParticipantBody) -> dict:
    """Register a participant (a generator, consumer, trader, verifier or registry)."""
    ledger.add_participant(body.code, body.name, body.role, body.province, body.city)
    return {"participant": body.code, "role": body.role}


@register.post("/v1/accounts", status_code=201, **allow(OPERATOR))
def open_account(ledger: LedgerDep, body: AccountBody) -> dict:
    """Open a holding account (a pseudonymous id) for a participant."""
    ledger.open_account(body.account, body.owner, body.purpose)
    return {"account": body.account, "owner": body.owner}


@register.post("/v1/devices", status_code=201, **allow(OPERATOR))
def register_device(ledger: LedgerDep, body: DeviceBody) -> dict:
    """建档立卡: register a generating device."""
    device = ledger.register_device(
        body.code, body.technology, body.capacity_kw, body.province, body.city, body.owner, body.commissioned_on,
        tuple(body.schemes),
    )  # fmt: skip
    return {"device": body.code, "schemes": device.schemes, "gec_tradable": device.gec_tradable}


@register.post("/v1/meter/readings", **allow(OPERATOR))
def import_readings(ledger: LedgerDep, body: RowsBody) -> dict:
    """Import readings (the rows of a meter file): all checked first, all or none."""
    return ledger.import_readings(body.numbered())


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
def resolve_case(ledger: LedgerDep, code: str, body: ResolutionBody, who: CallerDep) -> dict:
    """Resolve a case with an explicit event; who resolved it is the caller's participant."""
    case = ledger.resolve_case(code, body.outcome, body.reason, who.participant)
    return {"case": case.code, "resolution": case.resolution}


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


def _tile(data: bytes, width: int) -> Response:
    cache = IMMUTABLE if width == tile_format.WIDTH else FRESH
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})


@tiles.get("/tile/entries/{index:path}", response_class=Response, responses=OCTETS, **allow(PUBLIC))
def entry_bundle(ledger: LedgerDep, index: str) -> Response:
    """An entry bundle: each entry's canonical event bytes, with a 16-bit length."""
    n, width = tile_format.parse_index(index)
    return _tile(tile_format.entry_bundle(ledger.log, n, width), width)


@tiles.get("/tile/{level}/{index:path}", response_class=Response, responses=OCTETS, **allow(PUBLIC))
def hash_tile(ledger: LedgerDep, level: Annotated[int, Path(ge=0, le=63)], index: str) -> Response:
    """A hash tile: the hashes of up to 256 nodes at height 8·level, 32 bytes each."""
    n, width = tile_format.parse_index(index)
    return _tile(tile_format.hash_tile(ledger.log, level, n, width), width)


ROUTERS = (log, registry, register, tiles)
