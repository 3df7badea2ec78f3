"""Devices and their metered production (计量上网电量).

A reading is on-grid and self-consumed kWh for one device over a half-open interval
[start, end). A correction is a new event that names the reading it supersedes; nothing is
ever changed in place.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.election import CCERLink
from ledger.domain.issuance import KINDS, gec_quantities
from ledger.domain.pool import Claim, ClaimsPool, Span, allocations_of
from ledger.domain.rules import (
    HYDRO_TRADABLE_FROM,
    KWH_PER_GEC,
    TECHNOLOGIES,
    TRADABLE_TECHNOLOGIES,
)
from ledger.domain.values import (
    Reading,
    check_ended,
    check_kwh,
    interval,
    month_of,
    month_start,
    next_month,
    parse_day,
    parse_instant,
    parse_month,
)
from ledger.errors import Conflict, InvalidInput, NotFound

SCHEME_NAMES = ("GEC", "CCER", "INCLUSION")


def device_id(code: str) -> UUID:
    """Devices are keyed by their registry code, so registering one twice is refused."""
    return uuid5(NAMESPACE_URL, f"oneclaim:device:{code}")


def gec_claim_id(month: str) -> str:
    """The pool's claim for the on-grid kWh a month's GECs certify."""
    return f"GEC/{month}"


def gec_batch_code(month: str, device: str, tradable: bool) -> str:
    """The code of a device's GEC batch for a production month (docs/registry.md): one per
    device, month and kind, e.g. GEC-202501-SIP-PV-0001-T (tradable) or -N (non-tradable)."""
    return f"GEC-{month.replace('-', '')}-{device}-{'T' if tradable else 'N'}"


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
        self.readings: dict[int, Reading] = {}  # by the version that recorded it; superseded ones removed
        self.gec_months: dict[str, list[str]] = {}  # month -> batch codes issued for it
        self.carry_kwh = {"tradable": 0, "non_tradable": 0}  # 不足1个绿证的电量结转至次月
        self.pool = ClaimsPool()  # one MWh, one claim
        self.months: dict[str, list[int]] = {}  # production month -> versions of its current readings
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
        if not isinstance(code, str) or not code or len(code) > 64 or any(c in code for c in ": /"):
            raise InvalidInput(
                f"device code {code!r} must be 1-64 characters without ':', '/' or spaces",
                code="DEVICE_CODE_INVALID",
            )
        if technology not in TECHNOLOGIES:
            raise InvalidInput(
                f"technology must be one of {', '.join(TECHNOLOGIES)}, got {technology!r}",
                code="TECHNOLOGY_INVALID",
            )
        if type(capacity_kw) is not int or not 0 < capacity_kw <= 10_000_000:
            raise InvalidInput(
                f"capacity_kw must be a positive whole number of kW, got {capacity_kw!r}",
                code="QUANTITY_OUT_OF_RANGE",
            )
        parse_day("commissioned_on", commissioned_on)
        unknown = set(schemes) - set(SCHEME_NAMES)
        if unknown or not schemes:
            raise InvalidInput(
                f"schemes must be among {', '.join(SCHEME_NAMES)}, got {sorted(schemes)}",
                code="SCHEME_INVALID",
            )
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

    def metered(self, versions: list[int]) -> dict[int, int]:
        """On-grid kWh of each of these readings: the cap of the claims on it."""
        return {v: self.readings[v].on_grid_kwh for v in versions}

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

    def month_totals(self, month: str) -> tuple[int, int]:
        """(on-grid kWh, self-consumed kWh) metered in a production month."""
        on_grid = self_used = 0
        for version in self.months.get(month, ()):
            on_grid += self.readings[version].on_grid_kwh
            self_used += self.readings[version].self_consumed_kwh
        return on_grid, self_used

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
        open_months = sorted(m for m in self.months if m < month and m not in self.gec_months and self.issuable(m))
        if open_months:
            raise Conflict(
                f"{self.code} has metered electricity in {open_months[0]} with no GECs issued yet; months are"
                f" issued in order, so issue {open_months[0]} first (its remainder carries into the next month)",
                code="EARLIER_MONTH_OPEN",
                month=open_months[0],
            )
        on_grid, self_used = self.month_totals(month)
        if on_grid + self_used == 0:
            raise Conflict(f"{self.code} has no metered electricity in {month}", code="NO_READINGS")
        begin, finish = month_start(month), month_start(next_month(month))
        allocations = self.allocate(begin, finish, None)  # the month's on-grid kWh nobody has claimed
        free = sum(kwh for _, kwh in allocations)
        if on_grid and not free and not self_used:
            self.allocate(begin, finish, on_grid)  # raises DOUBLE_CLAIM naming who holds the month
        quantities, carry = gec_quantities(free, self_used, self.gec_tradable, self.carry_kwh, late)
        batches = [
            {
                "code": gec_batch_code(month, self.code, kind == "tradable"),
                "quantity": quantities[kind],
                "tradable": kind == "tradable",
                "kwh": quantities[kind] * KWH_PER_GEC,
            }
            for kind in KINDS
            if quantities[kind]
        ]
        claim = None
        onward = "the next month issued" if late else next_month(month)
        if free:
            code = gec_batch_code(month, self.code, self.gec_tradable)
            issued = any(b["code"] == code for b in batches)
            claim = {
                "id": gec_claim_id(month),
                "instrument": "GEC",
                "batch": code if issued else f"carried into the GECs of {onward}",
                "start": begin.isoformat(),
                "end": finish.isoformat(),
                "allocations": allocations,
            }
        self._gec_issued(month, on_grid, self_used, [b["code"] for b in batches], carry, claim)
        return batches

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
        for version in versions:
            reading = self.readings[version]
            if datetime.fromisoformat(reading.start) < begin or finish < datetime.fromisoformat(reading.end):
                raise InvalidInput(
                    f"[{begin.isoformat()}, {finish.isoformat()}) cuts through the reading {reading.describe()} of"
                    f" {self.code}; a claim must cover whole metered intervals",
                    code="CLAIM_INTERVAL_MISALIGNED",
                )
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
        self.pool.add(
            Claim(
                id=claim["id"],
                instrument=claim["instrument"],
                batch=claim["batch"],
                start=claim["start"],
                end=claim["end"],
                allocations=allocations_of(claim["allocations"]),
                version=self.version + 1,
                source=claim.get("source"),
            )
        )

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
        for version in self.readings_in(begin, finish)[:1]:
            reading = self.readings[version]
            raise Conflict(
                f"device {self.code} already has a reading for {reading.describe()} (version {version})"
                f" overlapping [{start}, {end}), of {reading.on_grid_kwh} kWh on grid; a new figure for it"
                " goes in a corrections file (oneclaim meter correct)",
                code="READING_OVERLAP",
                device=self.code,
                existing_version=version,
            )
        self._record_reading(begin.isoformat(), finish.isoformat(), on_grid_kwh, self_consumed_kwh)

    @event("ReadingRecorded")
    def _record_reading(self, start: str, end: str, on_grid_kwh: int, self_consumed_kwh: int) -> None:
        self.readings[self.version + 1] = Reading(start, end, on_grid_kwh, self_consumed_kwh)
        self.months.setdefault(month_of(datetime.fromisoformat(start)), []).append(self.version + 1)

    def readings_in(self, begin: datetime, finish: datetime) -> list[int]:
        """Versions of the current readings that intersect [begin, finish), found through the
        month index (never a scan of the device's whole history)."""
        found, month, last = [], month_of(begin), month_of(finish - timedelta(microseconds=1))
        while month <= last:
            for version in self.months.get(month, ()):
                reading = self.readings[version]
                if datetime.fromisoformat(reading.start) < finish and begin < datetime.fromisoformat(reading.end):
                    found.append(version)
            month = next_month(month)
        return found

    def has_reading(self, start: str, end: str, on_grid_kwh: int, self_consumed_kwh: int = 0) -> bool:
        """This exact reading is already current (so a re-import can skip it)."""
        try:
            key = (parse_instant("start", start).isoformat(), parse_instant("end", end).isoformat())
        except InvalidInput:
            return False
        return Reading(*key, on_grid_kwh, self_consumed_kwh) in self.readings.values()

    def reading_at(self, start: str, end: str) -> int:
        """The version of the current reading for exactly [start, end) (what a correction names)."""
        begin, finish = parse_instant("start", start), parse_instant("end", end)
        for version in self.readings_in(begin, finish):
            if self.readings[version].interval() == (begin.isoformat(), finish.isoformat()):
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
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("a correction needs a reason", code="REASON_REQUIRED")
        self._correct_reading(corrects_version, on_grid_kwh, self_consumed_kwh, reason)

    @event("ReadingCorrected")
    def _correct_reading(self, corrects_version: int, on_grid_kwh: int, self_consumed_kwh: int, reason: str) -> None:
        old = self.readings.pop(corrects_version)
        self.readings[self.version + 1] = old._replace(on_grid_kwh=on_grid_kwh, self_consumed_kwh=self_consumed_kwh)
        versions = self.months[month_of(datetime.fromisoformat(old.start))]
        versions[versions.index(corrects_version)] = self.version + 1
        self.pool.supersede(corrects_version, self.version + 1)  # claims follow the new reading

    # ------------------------------------------------------------------ the GEC–CCER link

    @property
    def elections(self) -> list[list[str]]:
        return self.ccer.elections

    @property
    def ccer_projects(self) -> dict[str, list[str]]:
        return self.ccer.projects

    @property
    def ccer_rules(self) -> dict[str, str]:
        return self.ccer.rules

    def election_on(self, day: date) -> str | None:
        """The scheme (GEC or CCER) the device has elected for electricity produced on `day`."""
        return self.ccer.election_on(day)

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

    def ccer_project_for(self, month: str) -> str | None:
        """The CCER project whose crediting period covers any of a production month."""
        return self.ccer.project_for(month)

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
        accepted, disputed = self.pool.check_external(source, fresh, self._span, self.version + 1)
        if accepted or disputed:
            self._external_recorded(source, accepted, disputed)
        return accepted, disputed

    def _fit(self, versions: list[int], free: dict[int, int], kwh: int) -> list[list[int]]:
        """Take `kwh` from the free kWh of `versions`, earliest reading first."""
        return self.pool.fit(self._earliest_first(versions), free, kwh)

    def _earliest_first(self, versions: list[int]) -> list[int]:
        return sorted(versions, key=lambda v: datetime.fromisoformat(self.readings[v].start))

    def _span(self, start: str, end: str) -> Span:
        """The readings an interval of a claim covers."""
        begin, finish = parse_instant("start", start), parse_instant("end", end)
        versions = self._earliest_first(self.readings_in(begin, finish))
        return Span(begin.isoformat(), finish.isoformat(), versions, self.metered(versions))

    def accept_disputed(self, source: str, claim: dict, reason: str) -> None:
        """A disputed external claim takes its kWh after all, once our overlapping claim gave
        them back (a case resolved by cancelling our side)."""
        key = f"{source}/{claim['reference']}"
        if self.external.get(key) != "disputed":
            raise Conflict(f"{key} is not a disputed claim on {self.code}", code="EXTERNAL_NOT_DISPUTED")
        where = self._span(claim["start"], claim["end"])
        free = self.pool.free(where.metered)
        if claim["kwh"] > sum(free.values()):
            raise Conflict(
                f"{key} needs {claim['kwh']} kWh but only {sum(free.values())} are free in its interval",
                code="DOUBLE_CLAIM",
                free_kwh=sum(free.values()),
                requested_kwh=claim["kwh"],
            )
        accepted = {
            "reference": claim["reference"],
            "instrument": claim["instrument"],
            "key": key,
            "start": where.start,
            "end": where.end,
            "allocations": self.pool.fit(where.versions, free, claim["kwh"]),
        }
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
        self._add_claim(
            {
                "id": f"EXT/{claim['key']}",
                "instrument": f"EXTERNAL:{claim['instrument']}",
                "batch": claim["reference"],
                "source": source,
                "start": claim["start"],
                "end": claim["end"],
                "allocations": claim["allocations"],
            }
        )
        self.external[claim["key"]] = "accepted"
