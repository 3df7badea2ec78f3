"""Cross-region recognition agreements, and the transfer channel each one opens (IBC's packet
semantics over two witnessed logs).

An agreement's *terms* are plain JSON that both registries record, each in its own log:

    {"code": "SIP-CZ-2026",
     "parties": [{"origin": ..., "verifier_key": ..., "policy": "<C2SP tlog-policy text>"}, ...two],
     "recognises": {"<origin>": {"instruments": [...], "methodologies": [...], "projects": [...],
                                 "account_purposes": [...], "conversions": {...}}, ...},
     "valid_from": "2026-01-01", "valid_until": "2028-12-31"}

`recognises[X]` is what registry X recognises *from the other* (the four kinds of seed 002:
projects, accounts by purpose, reductions by instrument and methodology, points by conversion).
An agreement is **in force** on one side once it has seen, under the partner's policy, the
partner's own `Recorded` event with the same terms hash (`confirm`).

The channel is ordered, one per agreement and direction. On the source, `TransferOut` gives each
packet the next sequence number; on the destination each sequence is *decided* exactly once, in
order: `TransferReceived` (units issued here) or `TransferRefused` (an error acknowledgement: the
timeout passed, the units are not recognised, their kWh collide with a claim here...). The source
finalises a packet as exported only with a proof of the receipt, and refunds it only with a proof
of the refusal. Since the destination's log is witnessed and append-only, it can never show both
for one sequence: a refund and a receipt of the same packet cannot both happen.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import rfc8785
from eventsourcing.domain import Aggregate, event

from ledger.errors import Conflict, InvalidInput

RECEIVED, REFUSED = "received", "refused"
IN_TRANSIT, EXPORTED, REFUNDED = "in_transit", "exported", "refunded"
KINDS = ("instruments", "methodologies", "projects", "account_purposes", "conversions")


def send_request(request_id: str | None, params: list) -> dict | None:
    """A send's client request, as the log keeps it: digests of its id (which names the
    participant) and of its parameters, so that a retry is recognised and nothing personal is
    in the event."""
    if request_id is None:
        return None
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= 128:
        raise InvalidInput("a request id is 1 to 128 characters", code="REQUEST_ID_INVALID")
    return {"id_sha256": hashlib.sha256(request_id.encode()).hexdigest(), "params_sha256": digest(params)}


def agreement_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:agreement:{code}")


def digest(value: Any) -> str:
    """SHA-256 of the RFC 8785 bytes of plain JSON (terms, packets): one formula, both sides."""
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def _text(name: str, value: object, limit: int = 256, stripped: bool = True) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit or (stripped and value != value.strip()):
        raise InvalidInput(f"agreement {name} must be 1-{limit} characters, got {value!r}", code="TERMS_INVALID")
    return value


def check_terms(terms: object) -> dict:
    """Terms as both registries record them; refused with TERMS_INVALID naming what is wrong."""
    if not isinstance(terms, dict):
        raise InvalidInput("agreement terms are a JSON object", code="TERMS_INVALID")
    unknown = set(terms) - {"code", "parties", "recognises", "valid_from", "valid_until"}
    if unknown:
        raise InvalidInput(f"unknown agreement terms: {sorted(unknown)}", code="TERMS_INVALID")
    code = _text("code", terms.get("code"), 64)
    if any(c in code for c in ":/ "):
        raise InvalidInput(f"agreement code {code!r} may not contain ':', '/' or spaces", code="TERMS_INVALID")
    parties = terms.get("parties")
    if not (isinstance(parties, list) and len(parties) == 2 and all(isinstance(p, dict) for p in parties)):
        raise InvalidInput("an agreement has exactly two parties", code="TERMS_INVALID")
    for party in parties:
        if set(party) != {"origin", "verifier_key", "policy"}:
            raise InvalidInput("each party is {origin, verifier_key, policy}", code="TERMS_INVALID")
        _text("origin", party["origin"])
        _text("verifier_key", party["verifier_key"], 512)
        _text("policy", party["policy"], 16384, stripped=False)
    origins = [p["origin"] for p in parties]
    if origins[0] == origins[1]:
        raise InvalidInput("the two parties are two registries (two origins)", code="TERMS_INVALID")
    recognises = terms.get("recognises")
    if not isinstance(recognises, dict) or set(recognises) != set(origins):
        raise InvalidInput("recognises has one entry per party's origin", code="TERMS_INVALID")
    for origin, what in recognises.items():
        if not isinstance(what, dict) or not set(what) <= set(KINDS) or not what.get("instruments"):
            raise InvalidInput(f"{origin} recognises at least one instrument, and only {', '.join(KINDS)}",
                               code="TERMS_INVALID")  # fmt: skip
        for kind in ("instruments", "methodologies", "projects", "account_purposes"):
            values = what.get(kind, [])
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                raise InvalidInput(f"{origin}: {kind} is a list of names", code="TERMS_INVALID")
        for instrument, rate in what.get("conversions", {}).items():
            if not (isinstance(rate, dict) and set(rate) == {"to", "numerator", "denominator"}
                    and type(rate["numerator"]) is int and type(rate["denominator"]) is int
                    and rate["numerator"] > 0 and rate["denominator"] > 0 and isinstance(rate["to"], str)):  # fmt: skip
                raise InvalidInput(f"{origin}: the conversion of {instrument} is {{to, numerator, denominator}}"
                                   " with positive whole numbers", code="TERMS_INVALID")  # fmt: skip
    try:
        first, last = date.fromisoformat(terms["valid_from"]), date.fromisoformat(terms["valid_until"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("valid_from and valid_until are dates (YYYY-MM-DD)", code="TERMS_INVALID") from None
    if last < first:
        raise InvalidInput("valid_until is before valid_from", code="TERMS_INVALID")
    return terms


class Agreement(Aggregate):
    """One recognition agreement as this registry recorded it, and its transfer channel."""

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return agreement_id(code)

    @classmethod
    def record(cls, terms: dict, us: str) -> Agreement:
        terms = check_terms(terms)
        origins = [p["origin"] for p in terms["parties"]]
        if us not in origins:
            raise InvalidInput(f"this registry ({us}) is not a party to {terms['code']}", code="NOT_A_PARTY")
        partner = next(o for o in origins if o != us)
        return cls(code=terms["code"], terms=terms, terms_sha256=digest(terms), us=us, partner=partner)

    @event("Recorded")
    def __init__(self, code: str, terms: dict, terms_sha256: str, us: str, partner: str) -> None:
        self.code, self.terms, self.terms_sha256, self.us, self.partner = code, terms, terms_sha256, us, partner
        self.confirmed: dict | None = None  # where the partner recorded the same terms
        self.partner_seen: dict | None = None  # {"size", "root"}: the largest partner checkpoint relied on
        self.next_send = 1
        self.sent: dict[int, dict] = {}  # sequence -> {packet_sha256, batch, ranges, sender, state, ...}
        self.next_receive = 1
        self.decided: dict[int, dict] = {}  # sequence -> {outcome, packet_sha256, source_index, ...}
        self.imported: dict[int, int] = {}  # partner log index of a TransferOut decided -> its sequence
        self.requests: dict[str, dict] = {}  # sha256 of a client request id -> {params_sha256, sequence}

    # ------------------------------------------------------------------ terms

    @property
    def partner_party(self) -> dict:
        return next(p for p in self.terms["parties"] if p["origin"] == self.partner)

    def recognised_here(self) -> dict:
        """What this registry recognises from the partner."""
        return self.terms["recognises"][self.us]

    def recognised_there(self) -> dict:
        return self.terms["recognises"][self.partner]

    def check_in_force(self, day: date) -> None:
        if self.confirmed is None:
            raise Conflict(f"agreement {self.code} is not in force: {self.partner} has not been shown to record the"
                           " same terms (oneclaim agreement confirm)", code="AGREEMENT_NOT_CONFIRMED")  # fmt: skip
        first, last = self.terms["valid_from"], self.terms["valid_until"]
        if not first <= day.isoformat() <= last:
            raise Conflict(f"agreement {self.code} is valid from {first} to {last}, not on {day.isoformat()}",
                           code="AGREEMENT_NOT_VALID")  # fmt: skip

    def confirm(self, partner_index: int, tree_size: int, terms_sha256: str, seen: dict) -> None:
        """The partner's log holds its `Recorded` event for these terms (proved by the caller)."""
        if terms_sha256 != self.terms_sha256:
            raise Conflict(f"{self.partner} recorded other terms for {self.code} (sha256 {terms_sha256}, ours"
                           f" {self.terms_sha256})", code="TERMS_DIFFER")  # fmt: skip
        if self.confirmed is not None:
            return
        self._confirmed(partner_index, tree_size, seen)

    @event("Confirmed")
    def _confirmed(self, partner_index: int, tree_size: int, seen: dict) -> None:
        self.confirmed = {"partner_index": partner_index, "tree_size": tree_size}
        self._see(seen)

    def _see(self, seen: dict | None) -> None:
        if seen and (self.partner_seen is None or seen["size"] > self.partner_seen["size"]):
            self.partner_seen = seen

    # ------------------------------------------------------------------ the source side

    def replayed_send(self, request: dict | None) -> int | None:
        """The sequence a retried send (same client request id, same parameters) sent first;
        None for a new request. The same id with other parameters is refused."""
        first = self.requests.get(request["id_sha256"]) if request else None
        if first is None:
            return None
        if first["params_sha256"] != request["params_sha256"]:
            raise Conflict(f"this request id was already used on {self.code} for another send (packet"
                           f" #{first['sequence']}); nothing was sent", code="REQUEST_ID_REUSED")  # fmt: skip
        return first["sequence"]

    def send(self, packet: dict, batch: str, ranges: list, day: date, request: dict | None = None) -> int:
        """Give a packet the channel's next sequence and record it (TransferOut), with the
        client request that asked for it, if any (`send_request`)."""
        self.check_in_force(day)
        recognised = self.recognised_there()
        instrument = packet["instrument"]
        if instrument not in recognised["instruments"]:
            raise Conflict(f"{self.partner} does not recognise {instrument} under {self.code}",
                           code="NOT_RECOGNISED")  # fmt: skip
        sequence = self.next_send
        packet = {**packet, "channel": self.code, "sequence": sequence, "source": self.us,
                  "destination": self.partner}  # fmt: skip
        self._transfer_out(packet, digest(packet), batch, ranges, request)
        return sequence

    @event("TransferOut")
    def _transfer_out(
        self, packet: dict, packet_sha256: str, batch: str, ranges: list, request: dict | None = None
    ) -> None:
        self.sent[packet["sequence"]] = {
            "packet_sha256": packet_sha256, "batch": batch, "ranges": ranges, "sender": packet["sender"],
            "timeout_after": packet["timeout_after"], "state": IN_TRANSIT,
        }  # fmt: skip
        self.next_send = packet["sequence"] + 1
        if request:
            self.requests[request["id_sha256"]] = {**request, "sequence": packet["sequence"]}

    def settle(self, sequence: int, outcome: str, packet_sha256: str, partner_index: int, code: str | None,
               seen: dict, evidence: str) -> bool:  # fmt: skip
        """The destination decided packet `sequence` (proved by the caller): exported if it was
        received, refunded if refused. False if this was already settled the same way."""
        sent = self.sent.get(sequence)
        if sent is None:
            raise Conflict(f"{self.code} never sent packet #{sequence}", code="PACKET_UNKNOWN")
        if packet_sha256 != sent["packet_sha256"]:
            raise Conflict(f"the acknowledgement is for another packet #{sequence} (sha256 {packet_sha256}) than the"
                           f" one sent ({sent['packet_sha256']})", code="PACKET_MISMATCH")  # fmt: skip
        state = EXPORTED if outcome == RECEIVED else REFUNDED
        if sent["state"] == state:
            return False
        if sent["state"] != IN_TRANSIT:
            raise Conflict(f"packet #{sequence} of {self.code} was already {sent['state']}; {self.partner} now shows it"
                           f" {outcome}: its log contradicts itself (keep both proofs)",
                           code="PARTNER_EQUIVOCATION")  # fmt: skip
        self._settled(sequence, state, partner_index, code, seen, evidence)
        return True

    @event("TransferSettled")
    def _settled(
        self, sequence: int, state: str, partner_index: int, code: str | None, seen: dict, evidence: str
    ) -> None:
        """`evidence`: the partner's tlog-proof of its decision, kept so that the settlement
        carries what it relied on (a transfer's receipt, docs/transfers.md)."""
        self.sent[sequence] = {**self.sent[sequence], "state": state, "partner_index": partner_index, "code": code}
        self._see(seen)

    # ------------------------------------------------------------------ the destination side

    def check_packet(self, packet: dict, source_index: int) -> dict | None:
        """Whether a proved packet may be decided now: the first decision of a sequence returns
        None; a packet already decided returns that decision (a replay changes nothing)."""
        if (
            packet.get("channel") != self.code
            or packet.get("source") != self.partner
            or packet.get("destination") != self.us
        ):
            raise Conflict(f"the packet is not for channel {self.code} from {self.partner} to {self.us}",
                           code="PACKET_NOT_FOR_CHANNEL")  # fmt: skip
        sequence, sha = packet["sequence"], digest(packet)
        if sequence in self.decided:
            first = self.decided[sequence]
            if first["packet_sha256"] != sha:
                raise Conflict(f"packet #{sequence} of {self.code} was already decided for another packet; the source"
                               " log shows two packets with one sequence", code="PARTNER_EQUIVOCATION")  # fmt: skip
            return first
        if source_index in self.imported:
            raise Conflict(f"{self.partner} event {source_index} was already imported", code="ALREADY_IMPORTED")
        if sequence != self.next_receive:
            raise Conflict(f"channel {self.code} is ordered: packet #{self.next_receive} is next, not #{sequence}",
                           code="PACKET_OUT_OF_ORDER", expected=self.next_receive)  # fmt: skip
        return None

    def receive(self, packet: dict, source_index: int, batch: str, quantity: int, seen: dict, evidence: str) -> dict:
        self._received(packet["sequence"], digest(packet), source_index, batch, quantity, seen, evidence)
        return self.decided[packet["sequence"]]

    @event("TransferReceived")
    def _received(self, sequence: int, packet_sha256: str, source_index: int, batch: str, quantity: int,
                  seen: dict, evidence: str) -> None:  # fmt: skip
        """`evidence`: the tlog-proof of the source's TransferOut this decision relied on."""
        self._decide(sequence, {"outcome": RECEIVED, "packet_sha256": packet_sha256, "source_index": source_index,
                                "batch": batch, "quantity": quantity}, seen)  # fmt: skip

    def refuse(self, packet: dict, source_index: int, code: str, message: str, details: dict, seen: dict,
               evidence: str) -> dict:  # fmt: skip
        self._refused(packet["sequence"], digest(packet), source_index, code, message, details, seen, evidence)
        return self.decided[packet["sequence"]]

    @event("TransferRefused")
    def _refused(self, sequence: int, packet_sha256: str, source_index: int, code: str, message: str,
                 details: dict, seen: dict, evidence: str) -> None:  # fmt: skip
        self._decide(sequence, {"outcome": REFUSED, "packet_sha256": packet_sha256, "source_index": source_index,
                                "code": code, "message": message, "details": details}, seen)  # fmt: skip

    def _decide(self, sequence: int, decision: dict, seen: dict) -> None:
        self.decided[sequence] = {"sequence": sequence, **decision}
        self.imported[decision["source_index"]] = sequence
        self.next_receive = sequence + 1
        self._see(seen)
