"""Cross-region commands of the Ledger: agreements and the transfer channel (docs/transfers.md).

Thin, like the rest of the application: the rules are in `ledger.domain.agreement` and the
batch; what comes from the partner registry is believed only through `ledger.partner.prove`.
Every command saves everything it changed in one transaction, so a crash leaves either all of
it or none; a retried command finds its first result (a packet is decided once, a settlement
recorded once), and a concurrent duplicate (two relayers at once) loses the race and answers
with the winner's outcome.
"""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING, Any

from eventsourcing.utils import get_topic

from ledger.domain.agreement import RECEIVED, REFUSED, Agreement, agreement_id, digest, send_request
from ledger.domain.batch import Batch, check_units
from ledger.domain.rules import SCHEMES
from ledger.domain.serials import format_range
from ledger.domain.values import month_start, next_month
from ledger.errors import Conflict, LedgerError, NotFound
from ledger.failpoint import failpoint
from ledger.partner import expect, party_policy, prove

if TYPE_CHECKING:
    from ledger.app import Ledger

TOPIC_RECORDED = get_topic(Agreement.Recorded)
TOPIC_OUT = get_topic(Agreement.TransferOut)
TOPIC_RECEIVED = get_topic(Agreement.TransferReceived)
TOPIC_REFUSED = get_topic(Agreement.TransferRefused)
TOPIC_SETTLED = get_topic(Agreement.TransferSettled)


def _provenance(batch: Batch, ranges: list) -> list[dict]:
    """The device intervals whose kWh back the units sent, with their share of the batch's kWh
    (rounded up, so that the destination's pool check is never short)."""
    origin = batch.origin
    if "device" not in origin or "kwh" not in origin:
        return []
    if "month" in origin and "start" not in origin:
        start, end = month_start(origin["month"]).isoformat(), month_start(next_month(origin["month"])).isoformat()
    else:
        start, end = origin["start"], origin["end"]
    units = sum(e - s for s, e in ranges)
    return [{"device": origin["device"], "start": start, "end": end,
             "kwh": math.ceil(origin["kwh"] * units / batch.quantity)}]  # fmt: skip


def _vintage(origin: dict) -> str | None:
    if "month" in origin:
        return origin["month"]
    if "start" in origin:
        return origin["start"][:7]
    period = origin.get("period")
    return period if isinstance(period, str) else None


class CrossRegion:
    """Mixed into `Ledger`."""

    def agreement(self: Ledger, code: str) -> Agreement:
        return self._get(agreement_id(code), "agreement", code)

    def record_agreement(self: Ledger, terms: dict, us: str) -> Agreement:
        """Record recognition terms this registry (origin `us`) agrees to. Recording the same terms
        again is harmless; other terms under the same code are refused."""
        agreement = Agreement.record(terms, us)
        party_policy(agreement.partner_party)  # the partner's policy must be usable
        try:
            existing = self.agreement(agreement.code)
        except NotFound:
            self._create(agreement, "agreement", agreement.code)
            return agreement
        if existing.terms_sha256 != agreement.terms_sha256:
            raise Conflict(f"agreement {agreement.code} is already recorded with other terms", code="AGREEMENT_EXISTS")
        return existing

    def confirm_agreement(self: Ledger, code: str, tlog_proof: str, consistency: list[str] | None = None) -> Agreement:
        """Put an agreement in force: a proof of the partner's own `Recorded` event of the same terms."""
        agreement = self.agreement(code)
        event = prove(agreement.partner_party, agreement.partner_seen, tlog_proof, consistency)
        state = expect(event, TOPIC_RECORDED, agreement_id(code))
        agreement.confirm(event.index, event.tree_size, state.get("terms_sha256"), event.seen)
        self._save_or_conflict(agreement)
        return agreement

    # ------------------------------------------------------------------ the source side

    def send_transfer(
        self: Ledger,
        code: str,
        batch_code: str,
        sender: str,
        receiver: str,
        *,
        timeout_after: date,
        quantity: int | None = None,
        spans: list[tuple[int, int]] | None = None,
        on: date | None = None,
        request_id: str | None = None,
    ) -> dict:
        """Send units to the partner: in transit here, and a TransferOut packet in the log. With
        a client request id, a retry (after a lost answer, a crash) answers the first packet."""
        self.owner_of(sender)
        day = self.business_day(on)
        if not isinstance(timeout_after, date) or timeout_after < day:
            raise Conflict(f"a timeout of {timeout_after} is before the transfer's date {day}", code="TIMEOUT_INVALID")
        request = send_request(request_id, [batch_code, sender, receiver, timeout_after.isoformat(), quantity,
                                            spans and [list(s) for s in spans], on and on.isoformat()])  # fmt: skip
        return self._idempotent(request_id, lambda: self._send(code, batch_code, sender, receiver, timeout_after,
                                                               quantity, spans, day, request))  # fmt: skip

    def _send(self: Ledger, code: str, batch_code: str, sender: str, receiver: str, timeout_after: date,
              quantity: int | None, spans: list | None, day: date, request: dict | None) -> dict:  # fmt: skip
        agreement = self.agreement(code)
        if (first := agreement.replayed_send(request)) is not None:
            return self.packet(code, first)
        batch = self.batch(batch_code)
        agreement.check_in_force(day)
        ranges = batch.send_out(sender, day, code, agreement.next_send, quantity, spans)
        packet = {
            "instrument": batch.instrument,
            "batch": batch.code,
            "serials": [format_range(batch.code, s, e) for s, e in ranges],
            "ranges": ranges,
            "quantity": sum(e - s for s, e in ranges),
            "vintage": _vintage(batch.origin),
            "origin": {k: batch.origin[k] for k in ("programme", "methodology", "project") if k in batch.origin},
            "provenance": _provenance(batch, ranges),
            "sender": sender,
            "receiver": receiver,
            "sent_on": day.isoformat(),
            "timeout_after": timeout_after.isoformat(),
        }
        sequence = agreement.send(packet, batch.code, ranges, day, request)
        self._save_or_conflict(agreement, batch)
        failpoint("transfer.sent")
        return self.packet(code, sequence)

    def packet(self: Ledger, code: str, sequence: int) -> dict:
        """A packet sent on a channel: its state and the log sequence of its TransferOut event."""
        agreement = self.agreement(code)
        sent = agreement.sent.get(sequence)
        if sent is None:
            raise NotFound(f"{code} has sent no packet #{sequence}", code="PACKET_NOT_FOUND")
        return {"channel": code, "sequence": sequence, **sent, "log_seq": self._event_seq(agreement, TOPIC_OUT,
                                                                                             sequence)}  # fmt: skip

    def _event_seq(self: Ledger, agreement: Agreement, topic: str, sequence: int) -> int | None:
        """The log sequence of the agreement's event of `topic` for packet `sequence`."""
        for stored in self.events.get(agreement.id):
            if get_topic(type(stored)) != topic:
                continue
            number = stored.packet["sequence"] if topic == TOPIC_OUT else stored.sequence
            if number == sequence:
                return self.log.seq_of(agreement.id, stored.originator_version)
        return None

    def imported(self: Ledger, batch: Batch, with_event: bool = True) -> dict | None:
        """For a batch received from a partner: the source registry's TransferOut behind it, with
        the tlog-proof this registry relied on (without the event's bytes unless `with_event`),
        and the source batch and serials to ask the source registry's provenance of."""
        transfer = batch.origin.get("transfer")
        if not transfer:
            return None
        agreement = self.agreement(transfer["channel"])
        proof = next(e.evidence for e in self.events.get(agreement.id)
                     if get_topic(type(e)) == TOPIC_RECEIVED and e.sequence == transfer["sequence"])  # fmt: skip
        if not with_event:
            proof = "".join(line for line in proof.splitlines(keepends=True) if not line.startswith("extra "))
        received_seq = self._event_seq(agreement, TOPIC_RECEIVED, transfer["sequence"])
        return {**transfer, "received_seq": received_seq, "tlog_proof": proof}

    def transfer_receipt(self: Ledger, code: str, sequence: int) -> dict[str, str]:
        """A settled transfer's receipt (ledger/receipt.py): the proofs of our TransferOut and
        TransferSettled under the current checkpoint, the partner's proof of its decision that
        the settlement relied on, and both parties' policies as the terms give them."""
        agreement = self.agreement(code)
        sent = agreement.sent.get(sequence)
        if sent is None or sent["state"] == "in_transit":
            raise Conflict(f"packet #{sequence} of {code} is not settled yet", code="TRANSFER_NOT_SETTLED")
        settled_seq = self._event_seq(agreement, TOPIC_SETTLED, sequence)
        evidence = next(e.evidence for e in self.events.get(agreement.id)
                        if get_topic(type(e)) == TOPIC_SETTLED and e.sequence == sequence)  # fmt: skip
        ours = next(p for p in agreement.terms["parties"] if p["origin"] == agreement.us)
        return {
            "sent.tlog-proof": self.log.tlog_proof(self.packet(code, sequence)["log_seq"]),
            "decided.tlog-proof": evidence,
            "settled.tlog-proof": self.log.tlog_proof(settled_seq),
            "policy-source.txt": ours["policy"],
            "policy-destination.txt": agreement.partner_party["policy"],
        }

    def acknowledge_transfer(self: Ledger, code: str, tlog_proof: str, consistency: list[str] | None = None) -> dict:
        """Settle a packet with a proof of the partner's decision: exported if it received the
        units, returned to the sender if it refused them (or they timed out there)."""

        def attempt() -> dict:
            agreement = self.agreement(code)
            event = prove(agreement.partner_party, agreement.partner_seen, tlog_proof, consistency)
            topic = event.topic
            state = expect(event, topic if topic in (TOPIC_RECEIVED, TOPIC_REFUSED) else TOPIC_RECEIVED,
                           agreement_id(code))  # fmt: skip
            outcome = RECEIVED if topic == TOPIC_RECEIVED else REFUSED
            sequence = state["sequence"]
            if not agreement.settle(sequence, outcome, state["packet_sha256"], event.index, state.get("code"),
                                    event.seen, tlog_proof):  # fmt: skip
                return self.packet(code, sequence)
            sent = agreement.sent[sequence]
            batch = self.batch(sent["batch"])
            if outcome == RECEIVED:
                batch.export_sent(sent["ranges"], code, sequence)
            else:
                batch.return_sent(sent["ranges"], code, sequence, f"{state['code']}: {state['message']}")
            self._save_or_conflict(agreement, batch)
            failpoint("transfer.settled")
            return self.packet(code, sequence)

        return self._idempotent("acknowledge", attempt)

    # ------------------------------------------------------------------ the destination side

    def receive_transfer(self: Ledger, code: str, tlog_proof: str, consistency: list[str] | None = None) -> dict:
        """Decide a packet from the partner, proved by the tlog-proof of its TransferOut event:
        units issued here, or an error acknowledgement recorded; either way once, in order."""

        def attempt() -> dict:
            agreement = self.agreement(code)
            event = prove(agreement.partner_party, agreement.partner_seen, tlog_proof, consistency)
            state = expect(event, TOPIC_OUT, agreement_id(code))
            packet = state.get("packet")
            if not isinstance(packet, dict) or digest(packet) != state.get("packet_sha256"):
                raise Conflict("the TransferOut event's packet does not match its hash", code="PARTNER_EVENT_INVALID")
            first = agreement.check_packet(packet, event.index)
            if first is not None:
                return {"channel": code, **first, "replayed": True}
            changed = self._decide(agreement, packet, event, tlog_proof)
            self._save_or_conflict(agreement, *changed)
            failpoint("transfer.decided")
            return {"channel": code, **agreement.decided[packet["sequence"]], "replayed": False}

        return self._idempotent("receive", attempt)

    def _decide(self: Ledger, agreement: Agreement, packet: dict, event: Any, evidence: str) -> list[Any]:
        """Receive the packet or refuse it (recorded): returns the other records changed."""
        today, sequence = self.clock(), packet["sequence"]

        def refuse(e: LedgerError) -> list[Any]:
            details = {k: v for k, v in e.details.items() if k in ("earlier_claims", "device", "overlap_kwh")}
            agreement.refuse(packet, event.index, e.code, e.message, details, event.seen, evidence)
            return []

        try:
            if today > date.fromisoformat(packet["timeout_after"]):
                raise Conflict(f"packet #{sequence} timed out after {packet['timeout_after']}; today is {today}",
                               code="TRANSFER_TIMED_OUT")  # fmt: skip
            agreement.check_in_force(today)
            instrument, quantity = self._recognise(agreement, packet)
            devices = self._claim_here(agreement, packet)
        except LedgerError as e:
            return refuse(e)
        batch = Batch(
            code=f"{agreement.code}-{sequence}", instrument=instrument, quantity=quantity, holder=packet["receiver"],
            tradable=True, valid_through=None,
            origin={"transfer": {"channel": agreement.code, "sequence": sequence, "source": packet["source"],
                                 "source_index": event.index, "source_tree_size": event.tree_size,
                                 "source_batch": packet["batch"], "source_serials": packet["serials"],
                                 "packet_sha256": digest(packet)},
                    **packet["origin"], "vintage": packet["vintage"], "provenance": packet["provenance"]},
        )  # fmt: skip
        agreement.receive(packet, event.index, batch.code, quantity, event.seen, evidence)
        return [batch, *devices]

    def _recognise(self: Ledger, agreement: Agreement, packet: dict) -> tuple[str, int]:
        """The instrument and quantity the units become here, under what this registry recognises."""
        what = agreement.recognised_here()
        instrument, quantity = packet["instrument"], packet["quantity"]
        if instrument not in what["instruments"] or instrument not in SCHEMES:
            raise Conflict(f"{agreement.us} does not recognise {instrument} from {agreement.partner}",
                           code="NOT_RECOGNISED")  # fmt: skip
        for kind, key in (("methodologies", "methodology"), ("projects", "project")):
            named = packet["origin"].get(key)
            if what.get(kind) and named is not None and named not in what[kind]:
                raise Conflict(f"{agreement.us} does not recognise {key} {named} from {agreement.partner}",
                               code="NOT_RECOGNISED")  # fmt: skip
        try:
            account = self.account(packet["receiver"])
        except NotFound:
            raise Conflict(f"no account {packet['receiver']} here to receive into", code="ACCOUNT_NOT_FOUND") from None
        if what.get("account_purposes") and account.purpose not in what["account_purposes"]:
            raise Conflict(f"account {account.account} is a {account.purpose} account, which {agreement.code} does not"
                           " recognise", code="NOT_RECOGNISED")  # fmt: skip
        rate = what.get("conversions", {}).get(instrument)
        if rate is not None:
            converted, rest = divmod(quantity * rate["numerator"], rate["denominator"])
            if rest or not converted:
                raise Conflict(f"{quantity} {instrument} do not convert to whole units of {rate['to']}",
                               code="CONVERSION_NOT_WHOLE")  # fmt: skip
            instrument, quantity = rate["to"], converted
            if instrument not in SCHEMES:
                raise Conflict(f"{rate['to']} is no instrument here", code="NOT_RECOGNISED")
        return instrument, check_units("quantity", quantity)

    def _claim_here(self: Ledger, agreement: Agreement, packet: dict) -> list[Any]:
        """One MWh, one claim across registries: the kWh behind the units take their place in this
        registry's pool for devices it knows, or the packet is refused naming the claim there."""
        changed = []
        for i, interval in enumerate(packet["provenance"]):
            try:
                device = self.device(interval["device"])
            except NotFound:
                continue  # a device this registry does not know: nothing here can claim its kWh
            claim = {"reference": f"transfer/{agreement.code}/{packet['sequence']}/{i}",
                     "instrument": packet["instrument"], "start": interval["start"], "end": interval["end"],
                     "kwh": interval["kwh"]}  # fmt: skip
            _, disputed = device.record_external(agreement.partner, [claim])
            if disputed:
                earlier = disputed[0]["earlier_claims"]
                first = earlier[0] if earlier else {}
                raise Conflict(
                    f"{interval['kwh']} kWh of {device.code} in [{interval['start']}, {interval['end']}) come with"
                    f" these units, but {disputed[0]['overlap_kwh']} kWh of them are already claimed here"
                    + (f" by {first.get('instrument')} {first.get('batch')}" if first else ""),
                    code="DOUBLE_CLAIM", device=device.code, overlap_kwh=disputed[0]["overlap_kwh"],
                    earlier_claims=earlier,
                )  # fmt: skip
            changed.append(device)
        return changed
