"""Devices and their metered production (计量上网电量).

A reading is on-grid and self-consumed kWh for one device over a half-open interval
[start, end). A correction is a new event that names the reading it supersedes; nothing is
ever changed in place.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.election import CCERLink
from ledger.domain.issuance import gec_batches, gec_claim, gec_claim_id, gec_quantities
from ledger.domain.meter import Meter
from ledger.domain.pool import Claim, ClaimsPool, external_claim
from ledger.domain.rules import (
    HYDRO_TRADABLE_FROM,
    TECHNOLOGIES,
    TRADABLE_TECHNOLOGIES,
)
from ledger.domain.values import (
    Reading,
    check_capacity_kw,
    check_device_code,
    check_ended,
    check_kwh,
    check_reason,
    interval,
    month_of,
    month_start,
    next_month,
    one_of,
    parse_day,
    parse_instant,
    parse_month,
    some_of,
)
from ledger.errors import Conflict, InvalidInput, NotFound

SCHEME_NAMES = ("GEC", "CCER", "INCLUSION")


def device_id(code: str) -> UUID:
    """Devices are keyed by their registry code, so registering one twice is refused."""
    return uuid5(NAMESPACE_URL, f"oneclaim:device:{code}")


class Device(Aggregate):
    """A registered (建档立卡) generating device and its readings."""

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return device_id(code)

    @event("Registered")
    def __init__(
        self,
        code: str,
        technology: str,
        capacity_kw: int,
        province: str,
        city: str,
        owner: str,
        commissioned_on: str,
        schemes: list[str] | None = None,
    ) -> None:
        self.code = code
        self.technology = technology
        self.capacity_kw = capacity_kw
        self.province = province
        self.city = city
        self.owner = owner
        self.commissioned_on = commissioned_on
        self.schemes = list(schemes or ["GEC"])
        self.meter = Meter()  # the current readings, by version and by production month
        self.gec_months: dict[str, list[str]] = {}  # month -> batch codes issued for it
        self.carry_kwh = {"tradable": 0, "non_tradable": 0}  # 不足1个绿证的电量结转至次月
        self.pool = ClaimsPool()  # one MWh, one claim
        self.ccer = CCERLink()  # the GEC–CCER election and the CCER projects joined
        self.external: dict[str, str] = {}  # "source/reference" -> "accepted" | "disputed"

    @classmethod
    def register(
        cls,
        code: str,
        technology: str,
        capacity_kw: int,
        province: str,
        city: str,
        owner: str,
        commissioned_on: str,
        schemes: tuple[str, ...] = ("GEC",),
    ) -> Device:
        check_device_code(code)
        one_of("technology", technology, TECHNOLOGIES, "TECHNOLOGY_INVALID")
        check_capacity_kw(capacity_kw)
        parse_day("commissioned_on", commissioned_on)
        some_of("schemes", schemes, SCHEME_NAMES, "SCHEME_INVALID")
        return cls(
            code=code,
            technology=technology,
            capacity_kw=capacity_kw,
            province=province,
            city=city,
            owner=owner,
            commissioned_on=commissioned_on,
            schemes=list(schemes),
        )

    def check_scheme(self, scheme: str) -> None:
        if scheme not in self.schemes:
            raise Conflict(
                f"device {self.code} is registered for {', '.join(self.schemes)}, not {scheme}",
                code="SCHEME_NOT_REGISTERED",
            )

    @property
    def claims(self) -> dict[str, Claim]:
        """Claim id -> the claim (the pool's)."""
        return self.pool.claims

    @property
    def claimed(self) -> dict[int, int]:
        """Reading version -> kWh claimed (the pool's)."""
        return self.pool.claimed

    @property
    def readings(self) -> dict[int, Reading]:
        """Reading version -> the current reading (the meter's); corrected ones are gone."""
        return self.meter.readings

    @property
    def months(self) -> dict[str, list[int]]:
        """Production month -> versions of its current readings (the meter's)."""
        return self.meter.months

    def metered(self, versions: list[int]) -> dict[int, int]:
        return self.meter.metered(versions)

    def readings_in(self, begin: datetime, finish: datetime) -> list[int]:
        return self.meter.readings_in(begin, finish)

    def month_totals(self, month: str) -> tuple[int, int]:
        return self.meter.month_totals(month)

    @property
    def gec_tradable(self) -> bool:
        """On-grid electricity of this device earns tradable GECs (rules.py)."""
        if self.technology == "hydro":
            return date.fromisoformat(self.commissioned_on) >= HYDRO_TRADABLE_FROM
        return self.technology in TRADABLE_TECHNOLOGIES

    def issuable(self, month: str) -> bool:
        """Whether issuing GECs for a month would find electricity to certify: self-consumed kWh,
        or on-grid kWh that no other instrument has claimed."""
        on_grid, self_used = self.month_totals(month)
        if self_used:
            return True
        return on_grid > 0 and self.free_kwh(month_start(month), month_start(next_month(month))) > 0

    def green_power_kwh(self, month: str) -> int:
        """The month's on-grid kWh that green power can be settled from: those its GECs certify.
        kWh that another instrument claims (carbon inclusion, CCER, another registry's claim)
        are not green power: one MWh, one claim."""
        parse_month(month)
        if month not in self.gec_months:
            raise Conflict(
                f"GECs for {self.code} in {month} are not issued yet; issue them before settling",
                code="GEC_NOT_ISSUED",
            )
        claim = self.claims.get(gec_claim_id(month))
        return claim.kwh if claim else 0

    def issue_gec(self, month: str, today: date) -> list[dict]:
        """Work out the GEC batches for a production month (绿证核发): 1 GEC per 1000 kWh, the
        remainder carried to the next month; self-consumed electricity gets non-tradable GECs.
        Months are issued in order once they have ended (EARLIER_MONTH_OPEN), and a month whose
        meter data arrives after a later month was issued is still issued, so no metered month
        is ever stranded."""
        parse_month(month)
        if month in self.gec_months:
            raise Conflict(
                f"GECs for {self.code} in {month} were already issued:"
                f" {', '.join(self.gec_months[month]) or 'none (all carried over)'}",
                code="ALREADY_ISSUED",
            )
        # Meter data can arrive late, for a month earlier than one already issued. That month stays
        # issuable: its GECs are its own kWh only (no carried kWh of later months flows back into an
        # earlier vintage), and its remainder joins what carries into the next month issued.
        late = any(m > month for m in self.gec_months)
        check_ended(f"production month {month}", month_start(next_month(month)), today)
        self._check_earlier_months_issued(month)
        on_grid, self_used = self.month_totals(month)
        if on_grid + self_used == 0:
            raise Conflict(f"{self.code} has no metered electricity in {month}", code="NO_READINGS")
        begin, finish = month_start(month), month_start(next_month(month))
        allocations = self.allocate(begin, finish, None)  # the month's on-grid kWh nobody has claimed
        free = sum(kwh for _, kwh in allocations)
        if on_grid and not free and not self_used:
            self.allocate(begin, finish, on_grid)  # raises DOUBLE_CLAIM naming who holds the month
        quantities, carry = gec_quantities(free, self_used, self.gec_tradable, self.carry_kwh, late)
        batches = gec_batches(month, self.code, quantities)
        claim = None
        if free:
            claim = gec_claim(month, self.code, self.gec_tradable, batches, allocations, late)
        self._gec_issued(month, on_grid, self_used, [b["code"] for b in batches], carry, claim)
        return batches

    def _check_earlier_months_issued(self, month: str) -> None:
        open_months = sorted(m for m in self.months if m < month and m not in self.gec_months and self.issuable(m))
        if open_months:
            raise Conflict(
                f"{self.code} has metered electricity in {open_months[0]} with no GECs issued yet; months are"
                f" issued in order, so issue {open_months[0]} first (its remainder carries into the next month)",
                code="EARLIER_MONTH_OPEN",
                month=open_months[0],
            )

    @event("GECIssued")
    def _gec_issued(
        self,
        month: str,
        on_grid_kwh: int,
        self_consumed_kwh: int,
        batches: list,
        carry_kwh: dict,
        claim: dict | None = None,
    ) -> None:
        self.gec_months[month] = batches
        self.carry_kwh = dict(carry_kwh)
        if claim:
            self._add_claim(claim)

    # ------------------------------------------------------------------ the claims pool

    def allocate(self, begin: datetime, finish: datetime, kwh: int | None) -> list[list[int]]:
        """Take `kwh` (None: all that is free) of on-grid electricity metered in [begin, finish)
        from the readings inside it, earliest first, and return [[reading version, kWh], ...].

        Metered on-grid kWh is the cap of every reading. A claim must cover whole readings: an
        hourly claim inside a month metered as one reading cannot know its share of that month.
        Asking for more than is free is refused with the earlier claims named (DOUBLE_CLAIM).
        """
        versions = self.readings_in(begin, finish)
        self.meter.check_whole(self.code, begin, finish, versions)
        metered = self.metered(versions)
        free_by_version = self.pool.free(metered)
        free = sum(free_by_version.values())
        want = free if kwh is None else check_kwh("kwh", kwh)
        if want > free:
            earlier = self.pool.earlier_claims(versions)
            first = earlier[0] if earlier else None
            raise Conflict(
                f"{want} kWh of {self.code} in [{begin.isoformat()}, {finish.isoformat()}) asked for, but of the"
                f" {sum(metered.values())} kWh metered on grid only {free} kWh are free"
                + (
                    f": already claimed by {first['instrument']} {first['batch']} ({first['kwh']} kWh)" if first else ""
                ),
                code="DOUBLE_CLAIM",
                device=self.code,
                requested_kwh=want,
                free_kwh=free,
                overlap_kwh=want - free,
                earlier_claims=earlier,
            )
        return self._fit(versions, free_by_version, want)

    def claim(self, claim_id: str, instrument: str, batch: str, begin: datetime, finish: datetime, kwh: int) -> None:
        """Consume `kwh` of [begin, finish) for an instrument's batch, or refuse (DOUBLE_CLAIM)."""
        if claim_id in self.claims:
            raise Conflict(f"{self.code} already has a claim {claim_id}", code="ALREADY_ISSUED")
        allocations = self.allocate(begin, finish, kwh)
        claim = {
            "id": claim_id,
            "instrument": instrument,
            "batch": batch,
            "start": begin.isoformat(),
            "end": finish.isoformat(),
            "allocations": allocations,
        }
        self._claimed(claim)

    @event("Claimed")
    def _claimed(self, claim: dict) -> None:
        self._add_claim(claim)

    def _add_claim(self, claim: dict) -> None:
        """A claim as its event records it (plain JSON) joins the pool."""
        self.pool.add(Claim.of(claim, self.version + 1))

    def record_reading(self, start: str, end: str, on_grid_kwh: int, self_consumed_kwh: int = 0) -> None:
        begin, finish = interval(start, end)
        check_kwh("on_grid_kwh", on_grid_kwh)
        check_kwh("self_consumed_kwh", self_consumed_kwh)
        month = month_of(begin)
        if finish > month_start(next_month(month)):
            raise InvalidInput(
                f"interval [{start}, {end}) crosses the end of production month {month} (China time);"
                " split it into one reading per month",
                code="INTERVAL_CROSSES_MONTH",
            )
        self._check_not_certified(month)
        self._check_capacity(begin, finish, on_grid_kwh + self_consumed_kwh)
        self.meter.check_free_of(self.code, begin, finish)
        self._record_reading(begin.isoformat(), finish.isoformat(), on_grid_kwh, self_consumed_kwh)

    @event("ReadingRecorded")
    def _record_reading(self, start: str, end: str, on_grid_kwh: int, self_consumed_kwh: int) -> None:
        self.meter.record(self.version + 1, Reading(start, end, on_grid_kwh, self_consumed_kwh))

    def check_metered(self, begin: datetime, finish: datetime, what: str) -> None:
        if not self.readings_in(begin, finish):
            raise Conflict(f"{self.code} has no metered electricity {what}", code="NO_READINGS")

    def has_reading(self, start: str, end: str, on_grid_kwh: int, self_consumed_kwh: int = 0) -> bool:
        """This exact reading is already current (so a re-import can skip it)."""
        try:
            key = (parse_instant("start", start).isoformat(), parse_instant("end", end).isoformat())
        except InvalidInput:
            return False
        return self.meter.is_current(Reading(*key, on_grid_kwh, self_consumed_kwh))

    def reading_at(self, start: str, end: str) -> int:
        """The version of the current reading for exactly [start, end) (what a correction names)."""
        begin, finish = parse_instant("start", start), parse_instant("end", end)
        version = self.meter.exactly(begin, finish)
        if version is not None:
            return version
        found = [self.readings[v].describe() for v in self.readings_in(begin, finish)]
        raise NotFound(
            f"device {self.code} has no reading for exactly [{start}, {end})"
            + (f"; the readings there are {', '.join(found)}" if found else ""),
            code="READING_NOT_FOUND",
        )

    def _check_capacity(self, begin: datetime, finish: datetime, kwh: int) -> None:
        """事前初核: no reading may exceed what the installed capacity can produce in its interval."""
        seconds = int((finish - begin).total_seconds())
        if kwh * 3600 > self.capacity_kw * seconds:
            raise InvalidInput(
                f"{kwh} kWh in [{begin.isoformat()}, {finish.isoformat()}) is more than {self.code}'s"
                f" {self.capacity_kw} kW can generate ({self.capacity_kw * seconds // 3600} kWh at most)",
                code="READING_EXCEEDS_CAPACITY",
            )

    def _check_not_certified(self, month: str) -> None:
        if month in self.gec_months:
            raise Conflict(
                f"GECs for {self.code} in {month} are issued; its readings can no longer change"
                " (raise a dispute with the issuer instead)",
                code="READING_ALREADY_CERTIFIED",
            )

    def correct_reading(self, corrects_version: int, on_grid_kwh: int, self_consumed_kwh: int, reason: str) -> None:
        if corrects_version not in self.readings:
            raise NotFound(
                f"device {self.code} has no current reading at version {corrects_version}",
                code="READING_NOT_FOUND",
            )
        check_kwh("on_grid_kwh", on_grid_kwh)
        check_kwh("self_consumed_kwh", self_consumed_kwh)
        start, end = (datetime.fromisoformat(t) for t in self.readings[corrects_version].interval())
        self._check_not_certified(month_of(start))
        if self.claimed.get(corrects_version, 0) > on_grid_kwh:
            raise Conflict(
                f"{self.claimed[corrects_version]} kWh of that reading are claimed; it cannot drop to {on_grid_kwh}",
                code="READING_ALREADY_CLAIMED",
            )
        self._check_capacity(start, end, on_grid_kwh + self_consumed_kwh)
        check_reason(reason, "a correction")
        self._correct_reading(corrects_version, on_grid_kwh, self_consumed_kwh, reason)

    @event("ReadingCorrected")
    def _correct_reading(self, corrects_version: int, on_grid_kwh: int, self_consumed_kwh: int, reason: str) -> None:
        self.meter.correct(corrects_version, self.version + 1, on_grid_kwh, self_consumed_kwh)
        self.pool.supersede(corrects_version, self.version + 1)  # claims follow the new reading

    # ------------------------------------------------------------------ the GEC–CCER link

    def elect(self, scheme: str, effective_from: str) -> bool:
        """Elect GEC or CCER (deep-sea offshore wind and CSP, rules.CCER_ADMISSION). Returns False,
        recording nothing, if that election is already in force from that date."""
        rule = self.ccer.check_election(self.code, self.technology, scheme, effective_from)
        if rule is None:
            return False
        self._elected(scheme, effective_from, rule.source)
        return True

    @event("Elected")
    def _elected(self, scheme: str, effective_from: str, rule: str) -> None:
        self.ccer.elections.append([effective_from, scheme])

    def join_ccer_project(self, project: str, crediting_start: str, crediting_end: str, on: date) -> None:
        """A CCER project naming this device is registered: check the admission rule in force on
        the registration date and, where the technology elects, that CCER was elected."""
        self.check_scheme("CCER")
        rule = self.ccer.check_joining(self.code, self.technology, crediting_start, on)
        self._joined_ccer_project(project, crediting_start, crediting_end, rule.source)

    @event("JoinedCCERProject")
    def _joined_ccer_project(self, project: str, crediting_start: str, crediting_end: str, rule: str = "") -> None:
        # rule: the GEC–CCER rule that admitted the device, as recorded (absent from older events)
        self.ccer.projects[project] = [crediting_start, crediting_end]
        self.ccer.rules[project] = rule

    def free_kwh(self, begin: datetime, finish: datetime) -> int:
        return sum(self.pool.free(self.metered(self.readings_in(begin, finish))).values())

    def release(self, claim_id: str, kwh: int, reason: str) -> int:
        """Give back up to `kwh` of a claim to the pool (its latest kWh first), e.g. when GECs are
        cancelled for CCER reductions. Returns the kWh released."""
        allocations = self.pool.release_plan(claim_id, kwh)
        released = sum(k for _, k in allocations)
        if released:
            self._released(claim_id, allocations, reason)
        return released

    @event("ClaimReleased")
    def _released(self, claim_id: str, allocations: list, reason: str) -> None:
        self.pool.release(claim_id, allocations)

    # ------------------------------------------------------------------ claims made elsewhere

    def record_external(self, source: str, claims: list[dict]) -> tuple[list[dict], list[dict]]:
        """Check claims another registry reports on this device's generation against the pool.

        Each claim is {"reference", "instrument", "start", "end", "kwh"}. A claim that fits in
        what is unclaimed in its interval takes those kWh (earliest readings first), so our later
        issuance cannot claim them again. A claim that does not fit is disputed: it takes nothing,
        and the kWh it overlaps and the claims it overlaps are returned for a double-counting case.
        Claims already recorded (same source and reference) are skipped, so re-imports are harmless.
        """
        fresh = [c for c in claims if f"{source}/{c['reference']}" not in self.external]
        accepted, disputed = self.pool.check_external(source, fresh, self.meter.span, self.version + 1)
        if accepted or disputed:
            self._external_recorded(source, accepted, disputed)
        return accepted, disputed

    def _fit(self, versions: list[int], free: dict[int, int], kwh: int) -> list[list[int]]:
        """Take `kwh` from the free kWh of `versions`, earliest reading first."""
        return self.pool.fit(self.meter.earliest_first(versions), free, kwh)

    def accept_disputed(self, source: str, claim: dict, reason: str) -> None:
        """A disputed external claim takes its kWh after all, once our overlapping claim gave
        them back (a case resolved by cancelling our side)."""
        key = f"{source}/{claim['reference']}"
        if self.external.get(key) != "disputed":
            raise Conflict(f"{key} is not a disputed claim on {self.code}", code="EXTERNAL_NOT_DISPUTED")
        accepted = self.pool.accept_disputed(key, claim, self.meter.span(claim["start"], claim["end"]))
        self._disputed_accepted(source, accepted, reason)

    @event("DisputedClaimAccepted")
    def _disputed_accepted(self, source: str, claim: dict, reason: str) -> None:
        self._accept_external(source, claim)

    @event("ExternalClaimsRecorded")
    def _external_recorded(self, source: str, accepted: list, disputed: list) -> None:
        for claim in accepted:
            self._accept_external(source, claim)
        for claim in disputed:
            self.external[claim["key"]] = "disputed"

    def _accept_external(self, source: str, claim: dict) -> None:
        """A claim another registry reported takes its kWh in the pool, as `EXT/<source>/<reference>`."""
        self._add_claim(external_claim(source, claim))
        self.external[claim["key"]] = "accepted"
