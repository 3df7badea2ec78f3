"""Certificate and credit batches, held and moved as serial-number ranges.

A batch is one issuance: N units (GEC: 1 MWh each; CCER and carbon-inclusion credits: 1 kgCO2e
each) with serials 1..N. Its units are always a partition of [0, N) into ranges, each with one
holder and one state, so no serial is ever in two places and every event costs O(ranges touched),
never O(units).

Serial format (documented in docs/registry.md): `<batch code>:<n>`, n = 1..N; a range is
`<batch code>:<first>-<last>`, both inclusive. Internally ranges are 0-based and half-open.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.rules import GEC_TRANSITION, GEC_VALIDITY_MONTHS, RETIREMENT_PURPOSES, SCHEMES
from ledger.domain.serials import format_range
from ledger.domain.values import SerialRange, check_reason, first_day_after, month_start, next_month, one_of
from ledger.errors import Conflict, InvalidInput, NotFound

ACTIVE, FROZEN, RETIRED, CANCELLED, EXPIRED, EXPORTED, IN_TRANSIT = (
    "active",
    "frozen",
    "retired",
    "cancelled",
    "expired",
    "exported",
    "in_transit",
)
STATES = (ACTIVE, FROZEN, RETIRED, CANCELLED, EXPIRED, EXPORTED, IN_TRANSIT)
MAX_UNITS = 10**15  # far above any real batch; keeps quantities within exact JSON integers


def visible(totals: dict[str, int]) -> dict[str, int]:
    """Per-state totals as answers give them: `in_transit` only when nonzero (it came later)."""
    return {k: v for k, v in totals.items() if k != IN_TRANSIT or v}


def batch_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:batch:{code}")


def gec_valid_through(production_month: date) -> date:
    """Last day a GEC for `production_month` is valid: 24 months, production month included,
    with the transitional rule for electricity produced before 2024 (see rules.py)."""
    if production_month < GEC_TRANSITION[0]:
        return GEC_TRANSITION[1]
    months = production_month.year * 12 + production_month.month - 1 + GEC_VALIDITY_MONTHS
    first_after = date(months // 12, months % 12 + 1, 1)
    return date.fromordinal(first_after.toordinal() - 1)


def check_units(name: str, value: object, limit: int = MAX_UNITS) -> int:
    if type(value) is not int:
        raise InvalidInput(f"{name} must be a whole number, got {value!r}", code="QUANTITY_NOT_INTEGER")
    if not 0 < value <= limit:
        raise InvalidInput(f"{name} must be between 1 and {limit}, got {value}", code="QUANTITY_OUT_OF_RANGE")
    return value


def _request(request_id: str | None, command: str, params: list) -> dict | None:
    """What a command with a client request id must match when it is retried."""
    if request_id is None:
        return None
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= 128:
        raise InvalidInput("a request id is 1 to 128 characters", code="REQUEST_ID_INVALID")
    return {"id": request_id, "command": command, "params": json.loads(json.dumps(params))}


def check_spans(spans: object, quantity: int, code: str) -> list[tuple[int, int]]:
    """Named serial spans: a non-empty list of (start, end) whole-number pairs inside the batch,
    0-based and half-open, not overlapping."""
    if not isinstance(spans, list | tuple) or not spans:
        raise InvalidInput("name at least one serial range", code="SELECTION_INVALID")
    checked = []
    for span in spans:
        if not (isinstance(span, list | tuple) and len(span) == 2 and all(type(v) is int for v in span)):
            raise InvalidInput(f"{span!r} is not a (start, end) pair of whole numbers", code="SELECTION_INVALID")
        start, end = span
        if not 0 <= start < end <= quantity:
            raise InvalidInput(f"{format_range(code, start, end)} is outside 1..{quantity}", code="SERIAL_UNKNOWN")
        checked.append((start, end))
    checked.sort()
    for (_, end), (start, _) in zip(checked, checked[1:], strict=False):
        if start < end:
            raise InvalidInput("the serial ranges overlap", code="SELECTION_INVALID")
    return checked


class Batch(Aggregate):
    """One issuance of units, and where every one of its serials is."""

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return batch_id(code)

    @event("Issued")
    def __init__(
        self,
        code: str,
        instrument: str,
        quantity: int,
        holder: str,
        tradable: bool,
        valid_through: str | None,
        origin: dict,
    ) -> None:
        self.code = code
        self.instrument = instrument
        self.quantity = quantity
        self.tradable = tradable
        self.valid_through = valid_through
        self.origin = origin
        self.max_sales = SCHEMES[instrument].max_sales
        # sorted, a partition of [0, quantity)
        self.ranges: list[SerialRange] = [SerialRange(0, quantity, holder, ACTIVE, 0)]
        self.retirements: dict[str, dict] = {}
        self.requests: dict[str, dict] = {}  # request id -> the command, its parameters and result
        self.sale_reports: dict[str, dict] = {}  # "source/reference" -> a sale another platform reported
        self.last_on: str | None = None  # the latest business date recorded (moved, retired, expired)
        self.expired_as_of: str | None = None

    @classmethod
    def credits(cls, code: str, instrument: str, kg_co2e: int, holder: str, origin: dict) -> Batch:
        """A batch of carbon credits (CCER, carbon inclusion): 1 unit = 1 kgCO2e, tradable, with
        no validity limit."""
        return cls(
            code=code, instrument=instrument, quantity=kg_co2e, holder=holder, tradable=True, valid_through=None,
            origin=origin,
        )  # fmt: skip

    # ------------------------------------------------------------------ queries

    def totals(self) -> dict[str, int]:
        """Units in each of the STATES, every state named."""
        totals = dict.fromkeys(STATES, 0)
        for r in self.ranges:
            totals[r.state] += r.units
        return totals

    def supply(self) -> dict[str, int]:
        """Units per state: issued = held (active + frozen) + retired + cancelled + expired + exported
        + in transit (sent to a partner registry, not yet acknowledged or refunded). `in_transit`
        is named only while some units are, so answers about batches that never crossed a
        region are what they always were."""
        return visible(self.totals())

    def held_by(self, account: str) -> dict[str, int]:
        totals: dict[str, int] = {}
        for r in self.ranges:
            if r.holder == account:
                totals[r.state] = totals.get(r.state, 0) + r.units
        return totals

    def locate(self, index: int) -> SerialRange:
        for r in self.ranges:
            if r.start <= index < r.end:
                return r
        raise InvalidInput(
            f"serial {index + 1} is outside batch {self.code} (1..{self.quantity})", code="SERIAL_UNKNOWN"
        )

    @property
    def not_before(self) -> date | None:
        """The first day these units can move or be retired: the day after the production behind
        them ended (a GEC of January 2025: 2025-02-01). None where the origin names no interval."""
        origin = self.origin
        if "month" in origin:
            return first_day_after(month_start(next_month(origin["month"])))
        if "end" in origin:
            return first_day_after(datetime.fromisoformat(origin["end"]))
        if isinstance(origin.get("period"), list):
            return date.fromisoformat(origin["period"][1]) + timedelta(days=1)
        return None

    def expired_on(self, day: date) -> bool:
        return self.valid_through is not None and day > date.fromisoformat(self.valid_through)

    # ------------------------------------------------------------------ selection

    def _refusal(self, account: str, r: SerialRange, action: str) -> Conflict | None:
        """Why range `r` (held by `account`) cannot be moved or retired, if it cannot."""
        start, end, holder, state, sales = r
        where = format_range(self.code, start, end)
        if holder != account:
            return Conflict(f"{where} is held by {holder}, not {account}", code="NOT_HOLDER", serials=where)
        if state != ACTIVE:
            code = {
                FROZEN: "UNITS_FROZEN",
                RETIRED: "UNITS_RETIRED",
                CANCELLED: "UNITS_CANCELLED",
                EXPIRED: "UNITS_EXPIRED",
                EXPORTED: "UNITS_EXPORTED",
                IN_TRANSIT: "UNITS_IN_TRANSIT",
            }[state]
            return Conflict(f"cannot {action} {where}: those units are {state}", code=code, serials=where)
        if action == "transfer" and not self.tradable:
            return Conflict(
                f"cannot transfer {where}: batch {self.code} is not tradable",
                code="NOT_TRADABLE",
                serials=where,
            )
        if action == "transfer" and self.max_sales is not None and sales >= self.max_sales:
            return Conflict(
                f"cannot transfer {where}: a {self.instrument} may be sold only {self.max_sales} time(s)"
                " and these were already sold",
                code="ALREADY_SOLD",
                serials=where,
                rule=SCHEMES[self.instrument].source,
            )
        return None

    def select(
        self,
        account: str,
        action: str,
        quantity: int | None = None,
        spans: list[tuple[int, int]] | None = None,
    ) -> list[list[int]]:
        """The exact serial ranges a command will touch: named spans, or the lowest `quantity`
        eligible serials the account holds."""
        if (quantity is None) == (spans is None):
            raise InvalidInput("give either a quantity or serial ranges", code="SELECTION_INVALID")
        reported = self.reported_sold()
        if quantity is not None:
            check_units("quantity", quantity, self.quantity)
            picked, need = [], quantity
            first_refusal = None
            for r in self.ranges:
                if r.holder != account:
                    continue
                refusal = self._refusal(account, r, action) or self._reported_refusal(r.start, r.end, action, reported)
                if refusal is not None:
                    first_refusal = first_refusal or refusal
                if refusal is not None and refusal.code != "REPORTED_SOLD_ELSEWHERE":
                    continue
                for start, end in _gaps(reported, r.start, r.end):  # never units another platform sold
                    take = min(need, end - start)
                    picked.append([start, start + take])
                    need -= take
                    if need == 0:
                        return picked
            have = quantity - need
            raise Conflict(
                f"{account} holds {have} unit(s) of {self.code} that it may {action}, not {quantity}"
                + (f" ({first_refusal.message})" if first_refusal else ""),
                code="INSUFFICIENT_UNITS" if first_refusal is None else first_refusal.code,
                available=have,
                requested=quantity,
            )
        picked = []
        for start, end in check_spans(spans, self.quantity, self.code):
            for r in self.ranges:
                if r.overlaps(start, end):
                    refusal = self._refusal(account, r, action)
                    if refusal is not None:
                        raise refusal
            refusal = self._reported_refusal(start, end, action, reported)
            if refusal is not None:
                raise refusal
            picked.append([start, end])
        return picked

    def _reported_refusal(self, start: int, end: int, action: str, reported: list) -> Conflict | None:
        """Units another platform reported sold are not sold or retired here as well: that would be
        the same GEC sold or claimed twice. The refusal names the reports."""
        if not any(s < end and start < e for s, e in reported):
            return None
        reports = [
            f"{r['source']} {r['reference']}"
            for r in self.sale_reports.values()
            if any(s < end and start < e for s, e in r["spans"])
        ]
        return Conflict(
            f"cannot {action} units of {format_range(self.code, start, end)}: {', '.join(reports)} reported"
            " them sold on another platform (a double-counting case is the way to settle it)",
            code="REPORTED_SOLD_ELSEWHERE",
            reports=reports,
        )

    # ------------------------------------------------------------------ commands

    def _check_date(self, day: date, action: str) -> None:
        """A batch's business dates never go backwards: a command dated before the latest date
        already recorded on its units (a move, a retirement, an expiry) would rewrite history, and
        no unit moves before the electricity behind it was produced."""
        not_before = self.not_before
        if not_before is not None and day < not_before:
            raise Conflict(
                f"batch {self.code} certifies production that ended only on {not_before.isoformat()};"
                f" a {action} cannot be dated {day.isoformat()}, before its units existed",
                code="DATE_BEFORE_PRODUCTION",
                not_before=not_before.isoformat(),
                on=day.isoformat(),
            )
        if self.last_on is not None and day < date.fromisoformat(self.last_on):
            if self.expired_as_of is not None:  # e.g. a move dated inside the validity, recorded after expiry
                raise Conflict(
                    f"batch {self.code} was expired as of {self.expired_as_of}; a {action} dated"
                    f" {day.isoformat()} cannot be recorded after that",
                    code="UNITS_EXPIRED",
                    valid_through=self.valid_through,
                    expired_as_of=self.expired_as_of,
                )
            raise Conflict(
                f"batch {self.code} already records a change dated {self.last_on}; a {action} cannot be"
                f" dated {day.isoformat()}, before it",
                code="DATE_BEFORE_LAST_RECORDED",
                last_on=self.last_on,
                on=day.isoformat(),
            )

    def _check_valid(self, day: date, action: str) -> None:
        self._check_date(day, action)
        if self.expired_on(day):
            raise Conflict(
                f"batch {self.code} expired after {self.valid_through}; a {action} dated {day.isoformat()} is refused",
                code="UNITS_EXPIRED",
                valid_through=self.valid_through,
            )

    def _replay(self, request: dict | None) -> dict | None:
        """A retried command (same request id) gets its first result; a request id reused for a
        different command or different parameters is refused."""
        if not request:
            return None
        first = self.requests.get(request["id"])
        if first is None:
            return None
        if first["command"] != request["command"] or first["params"] != request["params"]:
            raise Conflict(
                f"request id {request['id']!r} was already used for a different {first['command']} on {self.code}",
                code="REQUEST_ID_REUSED",
            )
        return first

    def ranges_moved_by(self, request_id: str) -> list[list[int]]:
        """The serial ranges the command with this client request id touched (none if unknown)."""
        first = self.requests.get(request_id)
        return first["ranges"] if first else []

    def _remember(self, request: dict | None, ranges: list, **result: object) -> None:
        if request:
            self.requests[request["id"]] = {**request, "ranges": ranges, **result}

    def transfer(
        self,
        from_account: str,
        to_account: str,
        day: date,
        quantity: int | None = None,
        spans=None,
        request_id: str | None = None,
        sale: bool = True,
    ) -> list[list[int]]:
        """Move units. `sale` is False only between two accounts of the same participant, which
        is no trade (成交) and does not use up the scheme's allowed sales."""
        request = _request(request_id, "transfer", [from_account, to_account, quantity, spans])
        if first := self._replay(request):
            return first["ranges"]
        if from_account == to_account:
            raise InvalidInput("a transfer needs two different accounts", code="SAME_ACCOUNT")
        self._check_valid(day, "transfer")
        ranges = self.select(from_account, "transfer" if sale else "move", quantity, spans)
        self._transferred(ranges, from_account, to_account, sale, request, day.isoformat())
        return ranges

    @event("Transferred")
    def _transferred(
        self, ranges: list, from_account: str, to_account: str, sale: bool, request: dict | None, on: str
    ) -> None:
        self._set(ranges, holder=to_account, sold=sale)
        self.last_on = on
        self._remember(request, ranges)

    def retire(
        self,
        account: str,
        day: date,
        beneficiary: str,
        purpose: str,
        reporting_period: str,
        location: str,
        quantity: int | None = None,
        spans=None,
        request_id: str | None = None,
    ) -> str:
        """核销: retire units for a claim; returns the retirement record id."""
        params = [account, beneficiary, purpose, reporting_period, location, quantity, spans]
        request = _request(request_id, "retire", params)
        if first := self._replay(request):
            return first["retirement_id"]
        one_of("purpose", purpose, RETIREMENT_PURPOSES, "PURPOSE_INVALID")
        for name, value in (
            ("beneficiary", beneficiary),
            ("reporting_period", reporting_period),
            ("location", location),
        ):
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(f"a retirement needs a {name}", code="RETIREMENT_INCOMPLETE")
        self._check_valid(day, "retirement")
        ranges = self.select(account, "retire", quantity, spans)
        retirement_id = f"{self.code}/R{len(self.retirements) + 1}"
        self._retired(
            retirement_id, ranges, account, beneficiary, purpose, reporting_period, location, request, day.isoformat()
        )
        return retirement_id

    @event("Retired")
    def _retired(
        self,
        retirement_id: str,
        ranges: list,
        account: str,
        beneficiary: str,
        purpose: str,
        reporting_period: str,
        location: str,
        request: dict | None,
        on: str,
    ) -> None:
        self._set(ranges, state=RETIRED)
        self.last_on = on
        self.retirements[retirement_id] = {
            "ranges": ranges,
            "account": account,
            "beneficiary": beneficiary,
            "purpose": purpose,
            "reporting_period": reporting_period,
            "location": location,
            "on": on,
        }
        self._remember(request, ranges, retirement_id=retirement_id)

    def retirement(self, retirement_id: str) -> dict:
        record = self.retirements.get(retirement_id)
        if record is None:
            raise NotFound(f"unknown retirement {retirement_id}", code="RETIREMENT_NOT_FOUND", retirement=retirement_id)
        return record

    def use_retirement(self, retirement_id: str, use: dict) -> None:
        """A retirement backs one claim or one ETS surrender (`use`: {kind, ref}), once: the
        same units may not back a second, and a unit surrendered for compliance backs no
        voluntary claim."""
        first = self.retirement(retirement_id).get("used_by")
        if first is not None:
            raise Conflict(f"{retirement_id} already backs {first['kind']} {first['ref']}; a retirement backs one"
                           " claim", code="RETIREMENT_ALREADY_USED", retirement=retirement_id, first=first)  # fmt: skip
        self._retirement_used(retirement_id, use)

    @event("RetirementUsed")
    def _retirement_used(self, retirement_id: str, use: dict) -> None:
        self.retirements[retirement_id] = {**self.retirements[retirement_id], "used_by": use}

    def cancel(
        self, reason: str, spans: list[tuple[int, int]] | None = None, request_id: str | None = None
    ) -> list[list[int]]:
        """Cancellation by the registry: any active or frozen units (all of the batch's when no
        spans are named, provided none of them was sold: sold units are cancelled only by name)."""
        request = _request(request_id, "cancel", [reason, spans])
        if first := self._replay(request):
            return first["ranges"]
        check_reason(reason, "a cancellation")
        if spans is None:  # the whole batch: never, silently, units a buyer holds or may hold
            unsold = {state: self.never_sold(state) for state in (ACTIVE, FROZEN)}
            sold = [
                [max(r.start, s), min(r.end, e)]
                for r in self.ranges
                if r.state in (ACTIVE, FROZEN)
                for s, e in _gaps(unsold[r.state], r.start, r.end)
            ]
            if sold:
                where = ", ".join(format_range(self.code, s, e) for s, e in sold)
                raise Conflict(
                    f"{where} of {self.code} were sold here or reported sold by a platform; a registry"
                    " cancels sold units only by naming them (--serials) with its reason",
                    code="SOLD_UNITS_NOT_NAMED",
                    serials=[format_range(self.code, s, e) for s, e in sold],
                )
        named = [(0, self.quantity)] if spans is None else check_spans(spans, self.quantity, self.code)
        ranges = [
            [max(r.start, start), min(r.end, end)]
            for start, end in named
            for r in self.ranges
            if r.overlaps(start, end) and r.state in (ACTIVE, FROZEN)
        ]
        if not ranges:
            raise Conflict(
                f"nothing to cancel in {self.code}: no active or frozen units there", code="NOTHING_TO_CANCEL"
            )
        self._cancelled(ranges, reason, request)
        return ranges

    @event("Cancelled")
    def _cancelled(self, ranges: list, reason: str, request: dict | None) -> None:
        self._set(ranges, state=CANCELLED)
        self._remember(request, ranges)

    def cancel_lowest(self, units: int, reason: str, state: str = ACTIVE) -> list[list[int]]:
        """Cancel up to `units` never-sold units in `state`, lowest serials first, as the GEC–CCER
        link and double-counting cases do; returns the ranges cancelled (maybe none). Never-sold
        means sold neither here nor in any sale another platform reported: a registry never
        cancels, on its own motion, units that someone may have bought."""
        spans, left = [], units
        for start, end in self.never_sold(state):
            if left <= 0:
                break
            take = min(end - start, left)
            spans.append([start, start + take])
            left -= take
        if spans:
            self.cancel(reason, spans)
        return spans

    def reported_sold(self) -> list[tuple[int, int]]:
        """The serial spans other platforms reported sold, merged."""
        merged: list[list[int]] = []
        for s, e in sorted((s, e) for report in self.sale_reports.values() for s, e in report["spans"]):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return [(s, e) for s, e in merged]

    def never_sold(self, state: str = ACTIVE) -> list[list[int]]:
        """Ranges in `state` sold neither here nor in any reported sale, lowest first."""
        reported = self.reported_sold()
        out = []
        for r in self.ranges:
            if r.state == state and not r.sales:
                out += [[s, e] for s, e in _gaps(reported, r.start, r.end)]
        return out

    def reports_touching(self, ranges: list) -> list[dict]:
        """The sale reports that name any of `ranges`: a cancellation of reported-sold units is a
        double-counting case (SALE_OF_ENDED_UNITS), as a report of cancelled units is."""
        return self._overlapping_reports(ranges, "SALE_OF_ENDED_UNITS")

    def _overlapping_reports(self, spans: list, kind: str, other_than: str | None = None) -> list[dict]:
        """Each recorded sale report (but those of source `other_than`) sharing units with `spans`,
        as a clash of `kind`: the report, its serials, and how many units the two share."""
        clashes = []
        for report in self.sale_reports.values():
            if report["source"] == other_than:
                continue
            units = sum(max(0, min(e, e2) - max(s, s2)) for s, e in spans for s2, e2 in report["spans"])
            if units:
                clashes.append(
                    {
                        "kind": kind,
                        "source": report["source"],
                        "reference": report["reference"],
                        "serials": [format_range(self.code, s2, e2) for s2, e2 in report["spans"]],
                        "units": units,
                        "batch_version": report["version"],
                    }
                )
        return clashes

    def untraded(self) -> list[list[int]]:
        """Ranges never sold and still active: what the GEC–CCER link freezes and cancels."""
        return [[r.start, r.end] for r in self.ranges if r.state == ACTIVE and r.sales == 0]

    def freeze(self, reason: str) -> list[list[int]]:
        """Freeze every untraded unit (e.g. on registration of a CCER project for the device).
        Frozen units cannot move or be retired; they can still be cancelled or expire."""
        ranges = self.untraded()
        if ranges:
            self._frozen(ranges, reason)
        return ranges

    @event("Frozen")
    def _frozen(self, ranges: list, reason: str) -> None:
        self._set(ranges, state=FROZEN)

    def report_sale(self, source: str, reference: str, spans: list, sold_on: str) -> list[dict] | None:
        """Record a sale of these serials reported by a trading platform. Returns what it collides
        with, each a double-counting case to open: earlier reports by other platforms that overlap
        it (a GEC sold twice), and the units that, here, were already sold, or retired, cancelled,
        expired or exported (they cannot be sold anywhere). None if it was already recorded."""
        key = f"{source}/{reference}"
        if key in self.sale_reports:
            return None
        spans = [list(s) for s in check_spans(spans, self.quantity, self.code)]
        clashes = self._overlapping_reports(spans, "GEC_SOLD_TWICE", other_than=source)
        clashes += self._unavailable(spans)
        self._sale_reported(source, reference, spans, sold_on, len(clashes))
        return clashes

    def _unavailable(self, spans: list) -> list[dict]:
        """The units of `spans` that no platform may sell: sold here already (GEC_SOLD_TWICE), or
        retired, cancelled, expired or exported here (SALE_OF_ENDED_UNITS); one entry per state."""
        found: dict[str, list[list[int]]] = {}
        for s, e in spans:
            for r in self.ranges:
                lo, hi = max(s, r.start), min(e, r.end)
                if lo >= hi:
                    continue
                if r.state in (RETIRED, CANCELLED, EXPIRED, EXPORTED):
                    found.setdefault(r.state, []).append([lo, hi])
                elif r.sales:
                    found.setdefault("sold", []).append([lo, hi])
        return [
            {
                "kind": "GEC_SOLD_TWICE" if state == "sold" else "SALE_OF_ENDED_UNITS",
                "source": "this registry",
                "reference": state,
                "serials": [format_range(self.code, lo, hi) for lo, hi in pieces],
                "units": sum(hi - lo for lo, hi in pieces),
                "batch_version": self.version,
            }
            for state, pieces in found.items()
        ]

    @event("SaleReported")
    def _sale_reported(self, source: str, reference: str, spans: list, sold_on: str, clashes: int) -> None:
        self.sale_reports[f"{source}/{reference}"] = {
            "source": source,
            "reference": reference,
            "spans": spans,
            "sold_on": sold_on,
            "version": self.version + 1,
        }

    # ------------------------------------------------------------------ cross-region transfers

    def send_out(
        self, account: str, day: date, channel: str, sequence: int, quantity: int | None = None, spans=None
    ) -> list[list[int]]:
        """Put units in transit to a partner registry (packet `sequence` of `channel`): they stay
        the sender's, but can no longer move, be retired or expire until the partner's
        acknowledgement finalises them as exported or its refusal returns them."""
        self._check_valid(day, "transfer")
        ranges = self.select(account, "transfer", quantity, spans)
        self._sent_out(ranges, account, channel, sequence, day.isoformat())
        return ranges

    @event("SentOut")
    def _sent_out(self, ranges: list, account: str, channel: str, sequence: int, on: str) -> None:
        self._set(ranges, state=IN_TRANSIT)
        self.last_on = on

    def _in_transit(self, ranges: list, channel: str, sequence: int) -> None:
        for start, end in ranges:
            for r in self.ranges:
                if r.overlaps(start, end) and r.state != IN_TRANSIT:
                    raise Conflict(
                        f"{format_range(self.code, max(r.start, start), min(r.end, end))} is {r.state}, not in"
                        f" transit on {channel} #{sequence}",
                        code="NOT_IN_TRANSIT",
                    )

    def export_sent(self, ranges: list, channel: str, sequence: int) -> None:
        """The partner received packet `sequence`: its units are exported (they exist there now)."""
        self._in_transit(ranges, channel, sequence)
        self._exported(ranges, channel, sequence)

    @event("Exported")
    def _exported(self, ranges: list, channel: str, sequence: int) -> None:
        self._set(ranges, state=EXPORTED)

    def return_sent(self, ranges: list, channel: str, sequence: int, reason: str) -> None:
        """The partner refused packet `sequence` (or it timed out there): its units come back to
        the sender, active again."""
        self._in_transit(ranges, channel, sequence)
        self._returned(ranges, channel, sequence, reason)

    @event("Returned")
    def _returned(self, ranges: list, channel: str, sequence: int, reason: str) -> None:
        self._set(ranges, state=ACTIVE)

    def expire(self, as_of: date) -> list[list[int]]:
        """Expire every active or frozen unit once the batch is past its validity. Idempotent:
        a second call finds nothing and records nothing."""
        if not self.expired_on(as_of):
            return []
        ranges = [[r.start, r.end] for r in self.ranges if r.state in (ACTIVE, FROZEN)]
        if ranges:
            self._check_date(as_of, "expiry")
            self._expired(ranges, as_of.isoformat())
        return ranges

    @event("Expired")
    def _expired(self, ranges: list, as_of: str) -> None:
        self._set(ranges, state=EXPIRED)
        self.last_on = self.expired_as_of = as_of

    # ------------------------------------------------------------------ the range map

    def _set(self, ranges: list, holder: str | None = None, state: str | None = None, sold: bool = False) -> None:
        """Apply a change to exact ranges, splitting and re-merging as needed."""
        for start, end in ranges:
            out = []
            for r in self.ranges:
                if not r.overlaps(start, end):
                    out.append(r)
                    continue
                if r.start < start:
                    out.append(r._replace(end=start))
                out.append(
                    r._replace(
                        start=max(r.start, start),
                        end=min(r.end, end),
                        holder=r.holder if holder is None else holder,
                        state=r.state if state is None else state,
                        sales=r.sales + 1 if sold else r.sales,
                    )
                )
                if end < r.end:
                    out.append(r._replace(start=end))
            self.ranges = out
        merged: list[SerialRange] = []
        for r in self.ranges:
            if merged and merged[-1].end == r.start and merged[-1].same_kind(r):
                merged[-1] = merged[-1]._replace(end=r.end)
            else:
                merged.append(r)
        self.ranges = merged


def _gaps(covered: list[list[int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of [start, end) that the sorted, disjoint `covered` ranges leave out."""
    out, cursor = [], start
    for s, e in covered:
        if e <= cursor or s >= end:
            continue
        if s > cursor:
            out.append((cursor, s))
        cursor = max(cursor, e)
    if cursor < end:
        out.append((cursor, end))
    return out
