"""Cross-region routes (issue 16): agreements, and the transfer channel they open.

What the partner's log says arrives only as proofs (`PartnerProofBody`), so any party may carry
them: the relayer (`oneclaim relay`) uses a partner token, and is trusted for nothing. The
answers carry the log position of each event a relayer has to prove to the other side.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.auth import Role
from api.deps import LedgerDep, OriginDep, WriteDep, allow, own_account
from api.schemas import AgreementBody, PartnerProofBody, SendBody
from ledger.app import Ledger
from ledger.crossing import TOPIC_RECEIVED, TOPIC_REFUSED
from ledger.domain.agreement import Agreement
from ledger.domain.serials import spans_for
from ledger.errors import LedgerError
from ledger.failpoint import failpoint

OPERATOR, HOLDER, AUDITOR, PARTNER = Role.OPERATOR, Role.HOLDER, Role.AUDITOR, Role.PARTNER
CARRIERS = (OPERATOR, PARTNER)
READERS = (OPERATOR, AUDITOR, PARTNER)

agreements = APIRouter(tags=["cross-region"])


def publish_soon(request: Request) -> None:
    """A partner waits for this write to be under a published checkpoint (the packet sent, the
    decision taken, the settlement): the background publisher runs now, not at its next turn."""
    wake = getattr(request.app.state, "publish_soon", None)
    if wake is not None:
        wake.set()


def view(ledger: Ledger, agreement: Agreement) -> dict:
    return {
        "code": agreement.code,
        "us": agreement.us,
        "partner": agreement.partner,
        "terms": agreement.terms,
        "terms_sha256": agreement.terms_sha256,
        "recorded_seq": ledger.log.seq_of(agreement.id, 1),
        "confirmed": agreement.confirmed,
        "partner_seen": agreement.partner_seen,
        "next_send": agreement.next_send,
        "next_receive": agreement.next_receive,
    }


@agreements.post("/v1/agreements", status_code=201, **allow(OPERATOR))
def record_agreement(ledger: LedgerDep, origin: OriginDep, body: AgreementBody, request: Request) -> dict:
    """Record recognition terms this registry agrees to (the same terms again change nothing)."""
    answer = view(ledger, ledger.record_agreement(body.terms, origin))
    publish_soon(request)
    return answer


@agreements.get("/v1/agreements/{code}", **allow(*READERS))
def show_agreement(ledger: LedgerDep, code: str) -> dict:
    """An agreement, whether it is in force, and what this registry relied on of the partner's log."""
    return view(ledger, ledger.agreement(code))


@agreements.post("/v1/agreements/{code}/confirmation", **allow(*CARRIERS))
def confirm_agreement(ledger: LedgerDep, code: str, body: PartnerProofBody) -> dict:
    """Put the agreement in force with a proof of the partner's own record of the same terms."""
    return view(ledger, ledger.confirm_agreement(code, body.proof, body.consistency))


@agreements.post("/v1/agreements/{code}/transfers", status_code=201, **allow(HOLDER))
def send_transfer(ledger: LedgerDep, code: str, body: SendBody, w: WriteDep, request: Request) -> dict:
    """Send units to the partner registry: they are in transit here until it decides."""
    own_account(ledger, w.who, body.from_account)
    answer = ledger.send_transfer(
        code, body.batch, body.from_account, body.to_account, timeout_after=body.timeout_after,
        quantity=body.quantity, spans=spans_for(body.batch, body.serials), on=body.on, request_id=w.request_id,
    )  # fmt: skip
    publish_soon(request)
    return answer


@agreements.get("/v1/agreements/{code}/packets", **allow(*READERS))
def packets(ledger: LedgerDep, code: str, state: Literal["in_transit", "exported", "refunded"] | None = None) -> dict:
    """The packets this registry sent on the channel, with the log seq of each TransferOut."""
    agreement = ledger.agreement(code)
    out = [ledger.packet(code, n) for n, sent in sorted(agreement.sent.items()) if state in (None, sent["state"])]
    return {"channel": code, "packets": out}


@agreements.get("/v1/agreements/{code}/decisions", **allow(*READERS))
def decisions(ledger: LedgerDep, code: str, after: Annotated[int, Query(ge=0)] = 0) -> dict:
    """This registry's decisions on the partner's packets (received or refused), each with the
    log seq of its event: what the partner needs proved to settle them."""
    agreement = ledger.agreement(code)
    out = []
    for n, decided in sorted(agreement.decided.items()):
        if n <= after:
            continue
        topic = TOPIC_RECEIVED if decided["outcome"] == "received" else TOPIC_REFUSED
        out.append({**decided, "log_seq": ledger._event_seq(agreement, topic, n)})
    return {"channel": code, "decisions": out}


@agreements.post("/v1/agreements/{code}/receipts", **allow(*CARRIERS))
def receive_transfer(ledger: LedgerDep, code: str, body: PartnerProofBody, request: Request) -> dict:
    """Decide a packet of the partner, proved by its TransferOut event: received or refused,
    once; a replay answers the first decision."""
    answer = ledger.receive_transfer(code, body.proof, body.consistency)
    return answer | decision_proof(request, ledger, code, answer["sequence"])


def decision_proof(request: Request, ledger: Ledger, code: str, sequence: int) -> dict:
    """Publish the head now (the witnesses asked at once), so that the answer can carry the
    tlog-proof of the decision the partner needs: `tlog_proof` and its `log_seq`. Without a
    policy, or if the quorum is not met now, the background publisher covers it later."""
    publishing = getattr(request.app.state, "publishing", None)
    agreement = ledger.agreement(code)
    topic = TOPIC_RECEIVED if agreement.decided[sequence]["outcome"] == "received" else TOPIC_REFUSED
    seq = ledger._event_seq(agreement, topic, sequence)
    if publishing is None:
        return {"log_seq": seq}
    try:
        publishing.publish(request.app, recheck=False)
        failpoint("transfer.published")
        return {"log_seq": seq, "tlog_proof": ledger.log.tlog_proof(seq)}
    except LedgerError:  # e.g. SEQ_NOT_COVERED: the quorum was not met this time
        publish_soon(request)
        return {"log_seq": seq}


@agreements.post("/v1/agreements/{code}/acknowledgements", **allow(*CARRIERS))
def acknowledge_transfer(ledger: LedgerDep, code: str, body: PartnerProofBody, request: Request) -> dict:
    """Settle a packet sent, with a proof of the partner's decision: exported or refunded."""
    answer = ledger.acknowledge_transfer(code, body.proof, body.consistency)
    publish_soon(request)
    return answer
