"""Provenance across two registries, end to end with proofs (docs/transfers.md, "Provenance").

A serial received from a partner has two histories: its events here, and its events in the
source registry up to the `TransferOut` that sent it. `trace_across` reads the second from the
partner's API: the source serial's provenance, and a tlog-proof of every event in it. Each
proof is checked under the partner's policy from the agreement and against the partner's
checkpoint this registry relied on before (`ledger.partner.prove`: a consistency proof, so the
partner cannot show a different history now). Each proved event must be of the source batch, and
its `SentOut` for the packet this registry received must be among them (the `TransferOut`
itself is the agreement's event: its proof is the one the receipt relied on, in `imported`). The
partner's API is trusted for nothing: what it answers is either proved or refused.
"""

from __future__ import annotations

import httpx

from ledger.app import Ledger
from ledger.domain.batch import batch_id
from ledger.domain.serials import parse_range, parse_serial
from ledger.errors import Conflict
from ledger.partner import prove
from ledger.readmodel import ReadModel
from oneclaim.relay import Registry, consistency_hashes


def source_serial(imported: dict, index: int, quantity_here: int) -> str:
    """The source serial behind unit `index` (0-based) of a received batch: the packet's serials
    in order, scaled when the agreement converted the quantity (e.g. points to kgCO2e)."""
    spans = [parse_range(text) for text in imported["source_serials"]]
    total = sum(end - start for _, start, end in spans)
    offset = index * total // quantity_here
    for code, start, end in spans:
        if offset < end - start:
            return f"{code}:{start + offset + 1}"
        offset -= end - start
    raise Conflict("the received batch's serials do not map onto the packet's", code="TRACE_MAPPING")


def trace_across(ledger: Ledger, serial: str, partner_url: str, token: str | None = None) -> dict:
    """The provenance of `serial` here, and its source registry's events for the serial it came
    from, each with its proof checked (see the module docstring)."""
    with ReadModel(ledger) as model:
        here = model.provenance(serial)
    batch = ledger.batch(here["batch"])
    imported = ledger.imported(batch)
    if imported is None:
        raise Conflict(f"{batch.code} was issued here, not received from a partner", code="NOT_IMPORTED")
    agreement = ledger.agreement(imported["channel"])
    origin = source_serial(imported, parse_serial(serial)[1], batch.quantity)
    source_batch = parse_serial(origin)[0]
    partner = Registry(partner_url, token or "")
    try:
        answer = partner.get(f"/v1/serials/{origin}/provenance")
        if answer.status_code != 200:
            raise Conflict(f"{partner_url} answered {answer.status_code} for the provenance of {origin}",
                           code="PARTNER_UNAVAILABLE", status=answer.status_code)  # fmt: skip
        events = []
        for shown in answer.json()["events"]:
            proof = partner.get(f"/v1/proofs/inclusion/{shown['seq']}", format="tlog-proof")
            if proof.status_code != 200:
                raise Conflict(f"{partner_url} has no proof of its entry {shown['seq']} ({proof.status_code})",
                               code="PARTNER_UNAVAILABLE", status=proof.status_code)  # fmt: skip
            event = prove(agreement.partner_party, agreement.partner_seen, proof.text,
                          consistency_hashes(partner, agreement.partner_seen, proof.text))  # fmt: skip
            if event.index != shown["seq"] or event.originator_id != batch_id(source_batch).hex:
                raise Conflict(f"{partner_url}'s entry {shown['seq']} is not an event of {source_batch}",
                               code="PARTNER_EVENT_WRONG_KIND")  # fmt: skip
            if event.topic.rpartition(".")[2] != shown["type"]:
                raise Conflict(f"{partner_url} calls its entry {shown['seq']} a {shown['type']}, the proved event"
                               f" is a {event.topic}", code="PARTNER_EVENT_INVALID")  # fmt: skip
            events.append({"seq": event.index, "type": shown["type"], "state": event.state,
                           "proved": {"tree_size": event.tree_size, "root": event.root,
                                      "event_sha256": event.sha256}})  # fmt: skip
    except httpx.HTTPError as e:
        raise Conflict(f"{partner_url} cannot be reached: {e}", code="PARTNER_UNAVAILABLE") from None
    finally:
        partner.close()
    sent = [
        e
        for e in events
        if e["type"] == "SentOut"
        and (e["state"].get("channel"), e["state"].get("sequence")) == (imported["channel"], imported["sequence"])
    ]
    if not sent:
        raise Conflict(f"{partner_url}'s history of {origin} does not show it sent as packet #{imported['sequence']}"
                       f" of {imported['channel']}", code="TRACE_INCOMPLETE")  # fmt: skip
    return {"serial": serial, "here": here, "imported": imported,
            "there": {"registry": agreement.partner, "serial": origin, "events": events}}  # fmt: skip
