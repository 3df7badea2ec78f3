"""The enterprise's side: its carbon account (碳账户), and the claims it makes from what it retired.

A `CarbonAccount` belongs to one participant, known by its pseudonymous code. The unified social
credit code (统一社会信用代码) is kept only as a salted SHA-256. Per reporting year the account
holds the verified emissions report (the inventory's and the verifier's statement's hashes,
totals by scope in kgCO2e, the electricity consumed) and the ETS obligation with what was
surrendered against it.

A `NeutralityClaim` is one carbon-neutral claim. It cites retirements by id. `coverage` computes
what they cover; it is the only place the formula is written, and the offline certificate check
(ledger/certificate.py) runs the same function on the proved events. Which claim or surrender a
retirement backs is recorded on its batch (`Batch.use_retirement`), in the claim's transaction.
So no retirement can back two claims, even when two claims are written at once.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.rules import NeutralityRules
from ledger.errors import Conflict, InvalidInput

SCOPES = ("scope1", "scope2", "scope3")

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of a unified social credit code (GB 32100-2015; no I, O, S, V, Z)."""


def check_uscc(uscc: object) -> str:
    """A unified social credit code: 18 characters of USCC_CHARS, the last a check character
    (GB 32100-2015: weights 3^i mod 31, check = 31 - sum mod 31)."""
    if not isinstance(uscc, str) or len(uscc) != 18 or any(c not in USCC_CHARS for c in uscc):
        raise InvalidInput("a unified social credit code is 18 characters of 0-9 and A-Y without I, O, S, V, Z",
                           code="USCC_INVALID")  # fmt: skip
    total = sum(USCC_CHARS.index(c) * pow(3, i, 31) for i, c in enumerate(uscc[:17]))
    if USCC_CHARS[(31 - total % 31) % 31] != uscc[17]:
        raise InvalidInput("the unified social credit code's check character is wrong", code="USCC_INVALID")
    return uscc


def uscc_sha256(uscc: str, salt: bytes) -> str:
    """What the log keeps of a credit code: SHA-256 of the registry's secret salt and the code.
    Anyone who knows the code and is given the salt can check it; the log alone reveals nothing."""
    return hashlib.sha256(salt + check_uscc(uscc).encode()).hexdigest()


def carbon_account_id(participant: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:carbon-account:{participant}")


def claim_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:neutrality-claim:{code}")


def _kg(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**15:
        raise InvalidInput(f"{name} must be a whole number of kgCO2e from 0 to 10^15, got {value!r}",
                           code="QUANTITY_OUT_OF_RANGE")  # fmt: skip
    return value


def _sha256_hex(name: str, value: object) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidInput(f"{name} must be a SHA-256 in lowercase hex", code="DIGEST_INVALID")
    return value


def _year(value: object) -> str:
    if not isinstance(value, str) or len(value) != 4 or not value.isdigit() or not "2000" <= value <= "2100":
        raise InvalidInput(f"a reporting year is four digits (e.g. 2025), got {value!r}", code="YEAR_INVALID")
    return value


class CarbonAccount(Aggregate):
    """An enterprise's carbon account: its reports, its ETS obligations and surrenders."""

    @staticmethod
    def create_id(participant: str, **_: object) -> UUID:
        return carbon_account_id(participant)

    @event("Opened")
    def __init__(self, participant: str, uscc_sha256: str, sector: str) -> None:
        self.participant = participant
        self.uscc_sha256 = uscc_sha256
        self.sector = sector
        self.reports: dict[str, dict] = {}  # year -> the verified emissions report
        self.obligations: dict[str, dict] = {}  # year -> {allowances_kg, source, surrendered_kg, surrenders}
        self.claims: list[str] = []  # neutrality claim codes

    @classmethod
    def open(cls, participant: str, uscc: str, salt: bytes, sector: str) -> CarbonAccount:
        if not isinstance(sector, str) or not sector.strip() or len(sector) > 64:
            raise InvalidInput("a carbon account needs its sector (up to 64 characters)", code="SECTOR_INVALID")
        return cls(participant=participant, uscc_sha256=uscc_sha256(uscc, salt), sector=sector)

    def report(self, year: str, inventory_sha256: str, verifier: str, statement_sha256: str,
               scopes_kg: dict, electricity_mwh: int, value_added_10k_yuan: int | None = None) -> None:  # fmt: skip
        """Record the year's verified emissions report (ISO 14064-1 inventory, third-party
        verified). A corrected report replaces it with a new event; claims already made keep
        the report they were checked against."""
        _year(year)
        if not isinstance(verifier, str) or not verifier.strip():
            raise InvalidInput("name the verifier (a participant code)", code="REPORT_INCOMPLETE")
        if not isinstance(scopes_kg, dict) or set(scopes_kg) != set(SCOPES):
            raise InvalidInput(f"give the totals of {', '.join(SCOPES)} in kgCO2e", code="REPORT_INCOMPLETE")
        scopes = {scope: _kg(scope, scopes_kg[scope]) for scope in SCOPES}
        if not isinstance(electricity_mwh, int) or isinstance(electricity_mwh, bool) or electricity_mwh < 0:
            raise InvalidInput("electricity consumed is a whole number of MWh", code="QUANTITY_OUT_OF_RANGE")
        if value_added_10k_yuan is not None and (
            not isinstance(value_added_10k_yuan, int)
            or isinstance(value_added_10k_yuan, bool)
            or value_added_10k_yuan < 1
        ):
            raise InvalidInput("value added is a whole number of 10,000 yuan, at least 1", code="QUANTITY_OUT_OF_RANGE")
        self._reported(year, _sha256_hex("inventory_sha256", inventory_sha256), verifier,
                       _sha256_hex("statement_sha256", statement_sha256), scopes, electricity_mwh,
                       value_added_10k_yuan)  # fmt: skip

    @event("EmissionsReported")
    def _reported(self, year: str, inventory_sha256: str, verifier: str, statement_sha256: str, scopes_kg: dict,
                  electricity_mwh: int, value_added_10k_yuan: int | None = None) -> None:  # fmt: skip
        self.reports[year] = {
            "year": year, "inventory_sha256": inventory_sha256, "verifier": verifier,
            "statement_sha256": statement_sha256, "scopes_kg": scopes_kg, "electricity_mwh": electricity_mwh,
            "value_added_10k_yuan": value_added_10k_yuan,
        }  # fmt: skip

    def report_of(self, year: str) -> dict:
        if year not in self.reports:
            raise Conflict(f"{self.participant} has no verified emissions report for {year}",
                           code="REPORT_NOT_FOUND")  # fmt: skip
        return self.reports[year]

    # ------------------------------------------------------------------ the national ETS

    def record_obligation(self, year: str, allowances_kg: int, source: str) -> None:
        """The allowances (tCO2, here kg) the emitter must surrender for `year` under the ETS."""
        _year(year)
        if year in self.obligations:
            raise Conflict(f"{self.participant}'s {year} ETS obligation is already recorded",
                           code="OBLIGATION_EXISTS")  # fmt: skip
        if not isinstance(source, str) or not source.strip():
            raise InvalidInput("name the obligation's source (the allocation notice)", code="OBLIGATION_INCOMPLETE")
        self._obligation(year, _kg("allowances_kg", allowances_kg), source)

    @event("ObligationRecorded")
    def _obligation(self, year: str, allowances_kg: int, source: str) -> None:
        self.obligations[year] = {"allowances_kg": allowances_kg, "source": source, "surrendered_kg": 0,
                                  "surrenders": []}  # fmt: skip

    def offset_headroom(self, year: str, max_percent: int) -> int:
        """kg of CCER the emitter may still surrender against `year` (max_percent of the
        obligation, less what it surrendered already), rounded down."""
        obligation = self.obligations.get(year)
        if obligation is None:
            raise Conflict(f"{self.participant} has no ETS obligation for {year}", code="OBLIGATION_NOT_FOUND")
        return obligation["allowances_kg"] * max_percent // 100 - obligation["surrendered_kg"]

    def surrender(self, year: str, retirements: list[str], kg: int, max_percent: int, rule_source: str) -> None:
        headroom = self.offset_headroom(year, max_percent)
        if kg > headroom:
            allowances = self.obligations[year]["allowances_kg"]
            raise Conflict(
                f"surrendering {kg:,} kg of CCER against {year} is {kg * 100 / allowances:.2f}% of the"
                f" {allowances:,} kg obligation; at most {max_percent}% may be offset, so {headroom:,} kg remain",
                code="ETS_OFFSET_CAP_EXCEEDED", headroom_kg=headroom, requested_kg=kg, max_percent=max_percent,
                rule=rule_source,
            )  # fmt: skip
        self._surrendered(year, retirements, kg)

    @event("Surrendered")
    def _surrendered(self, year: str, retirements: list[str], kg: int) -> None:
        self.obligations[year]["surrendered_kg"] += kg
        self.obligations[year]["surrenders"].append({"retirements": retirements, "kg": kg})

    @event("ClaimRecorded")
    def record_claim(self, code: str) -> None:
        self.claims.append(code)


@dataclass(frozen=True)
class Cited:
    """One retirement a claim cites, as its batch records it."""

    retirement_id: str
    instrument: str
    units: int
    beneficiary: str
    purpose: str
    reporting_period: str
    on: str
    used_by: dict | None = None  # the claim or surrender it already backs (Batch.use_retirement)

    def recorded(self) -> dict:
        """As the claim's event lists it."""
        return {k: v for k, v in vars(self).items() if k != "used_by"}


def period_bounds(period: str) -> tuple[date, date]:
    year = int(_year(period))
    return date(year, 1, 1), date(year, 12, 31)


def window_end(period: str, rules: NeutralityRules) -> date:
    """The last day a claim for `period` may count a retirement: the end of the month that is
    the rule set's window after the period's last month."""
    end = period_bounds(period)[1]
    month = end.year * 12 + end.month - 1 + rules.offset_window_months + 1  # the month after the window
    return date(month // 12, month % 12 + 1, 1) - timedelta(days=1)


def check_cited(claimant: str, period: str, rules: NeutralityRules, cited: list[Cited]) -> None:
    """Each retirement a claim cites must be for the claimant and the period, with a purpose the
    rule set allows for its kind, retired within the period and its window; GECs are never
    offsets. Raises on the first that is not."""
    if not cited:
        raise InvalidInput("a claim cites at least one retirement", code="CLAIM_EMPTY")
    if len({c.retirement_id for c in cited}) != len(cited):
        raise InvalidInput("a claim cites each retirement once", code="RETIREMENT_CITED_TWICE")
    start, last = period_bounds(period)[0], window_end(period, rules)
    for c in cited:
        if c.used_by is not None:
            raise Conflict(f"{c.retirement_id} already backs {c.used_by['kind']} {c.used_by['ref']}; a retirement"
                           " backs one claim", code="RETIREMENT_ALREADY_USED", retirement=c.retirement_id,
                           first=c.used_by)  # fmt: skip
    for c in cited:
        kind = next((k for k, kinds in (("electricity", rules.electricity), ("offsets", rules.offsets))
                     if c.instrument in kinds), None)  # fmt: skip
        if kind is None:
            raise Conflict(f"{c.retirement_id} is {c.instrument}, which {rules.code} counts neither for"
                           " electricity nor as an offset", code="INSTRUMENT_NOT_CLAIMABLE",
                           retirement=c.retirement_id)  # fmt: skip
        if c.beneficiary != claimant:
            raise Conflict(f"{c.retirement_id} was retired for {c.beneficiary}, not for the claimant {claimant}",
                           code="RETIREMENT_NOT_FOR_CLAIMANT", retirement=c.retirement_id)  # fmt: skip
        if c.reporting_period != period:
            raise Conflict(f"{c.retirement_id} was retired for the period {c.reporting_period}, not {period}",
                           code="RETIREMENT_PERIOD_MISMATCH", retirement=c.retirement_id)  # fmt: skip
        if c.purpose not in rules.purposes[kind]:
            raise Conflict(
                f"{c.retirement_id} was retired for {c.purpose}; {rules.code} counts {kind} retired for"
                f" {', '.join(sorted(rules.purposes[kind]))}", code="RETIREMENT_PURPOSE_NOT_CLAIMABLE",
                retirement=c.retirement_id,
            )  # fmt: skip
        if not start.isoformat() <= c.on <= last.isoformat():
            raise Conflict(f"{c.retirement_id} was retired on {c.on}; a {period} claim under {rules.code} counts"
                           f" retirements from {start} to {last}", code="RETIREMENT_OUTSIDE_WINDOW",
                           retirement=c.retirement_id)  # fmt: skip


def coverage(report: dict, boundary: list[str], rules: NeutralityRules, cited: list[Cited]) -> dict:
    """What the cited retirements cover of the report, in whole units (the one formula).

    Electricity: GECs retired cover consumed MWh, at most the MWh consumed; the Scope 2
    emissions of the MWh not covered stay, pro rata, rounded up. Residual: Scope 1, that Scope 2,
    and Scope 3 if the boundary includes it. Offsets (CCER, carbon-inclusion kgCO2e) must cover
    the residual. GECs never count as offsets, whatever is left over."""
    consumed = report["electricity_mwh"]
    gec_mwh = sum(c.units for c in cited if c.instrument in rules.electricity)
    offsets_kg = sum(c.units for c in cited if c.instrument in rules.offsets)
    covered = min(gec_mwh, consumed)
    scope2 = report["scopes_kg"]["scope2"] if "scope2" in boundary else 0
    scope2_left = math.ceil(scope2 * (consumed - covered) / consumed) if consumed else scope2
    residual = (
        report["scopes_kg"]["scope1"] * ("scope1" in boundary)
        + scope2_left
        + (report["scopes_kg"]["scope3"] if "scope3" in boundary else 0)
    )
    return {
        "electricity_mwh": consumed,
        "gec_mwh": gec_mwh,
        "electricity_covered_mwh": covered,
        "electricity_shortfall_mwh": consumed - covered,
        "scope2_not_covered_kg": scope2_left,
        "residual_kg": residual,
        "offsets_kg": offsets_kg,
        "shortfall_kg": max(0, residual - offsets_kg),
    }


def check_boundary(boundary: object) -> list[str]:
    if not isinstance(boundary, list) or not boundary or any(s not in SCOPES for s in boundary):
        raise InvalidInput(f"a claim's boundary is a list of {', '.join(SCOPES)}", code="BOUNDARY_INVALID")
    if not {"scope1", "scope2"} <= set(boundary):
        raise InvalidInput("a carbon-neutral claim's boundary includes scope1 and scope2", code="BOUNDARY_INVALID")
    return sorted(set(boundary))


class NeutralityClaim(Aggregate):
    """A carbon-neutral claim (ISO 14068-1): its subject, boundary and period, the report it was
    checked against, the retirements it cites and what they cover. Made once; never edited."""

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return claim_id(code)

    @event("Made")
    def __init__(self, code: str, claimant: str, subject: str, boundary: list[str], period: str, rule_set: str,
                 report: dict, retirements: list[dict], coverage: dict, made_on: str) -> None:  # fmt: skip
        self.code = code
        self.claimant = claimant
        self.subject = subject
        self.boundary = boundary
        self.period = period
        self.rule_set = rule_set
        self.report = report
        self.retirements = retirements
        self.coverage = coverage
        self.made_on = made_on

    @classmethod
    def make(cls, code: str, claimant: str, subject: str, boundary: list[str], period: str, rules: NeutralityRules,
             report: dict, cited: list[Cited], day: date) -> NeutralityClaim:  # fmt: skip
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 256:
            raise InvalidInput("name the claim's subject (the organisation or product, up to 256 characters)",
                               code="SUBJECT_INVALID")  # fmt: skip
        boundary = check_boundary(boundary)
        if day < rules.valid_from:
            raise Conflict(f"{rules.code} is in force from {rules.valid_from}", code="RULE_SET_NOT_IN_FORCE")
        check_cited(claimant, period, rules, cited)
        covered = coverage(report, boundary, rules, cited)
        if covered["shortfall_kg"]:
            raise Conflict(
                f"the claim does not add up: residual emissions {covered['residual_kg']:,} kg, offsets retired"
                f" {covered['offsets_kg']:,} kg, short by {covered['shortfall_kg']:,} kgCO2e"
                f" (electricity: {covered['electricity_covered_mwh']:,} of {covered['electricity_mwh']:,} MWh covered"
                " by GECs)", code="CLAIM_SHORTFALL", **covered,
            )  # fmt: skip
        report_ref = {k: report[k] for k in ("year", "inventory_sha256", "verifier", "statement_sha256")}
        return cls(code=code, claimant=claimant, subject=subject, boundary=boundary, period=period,
                   rule_set=rules.code, report={**report_ref, "scopes_kg": report["scopes_kg"],
                                                "electricity_mwh": report["electricity_mwh"]},
                   retirements=[c.recorded() for c in cited], coverage=covered, made_on=day.isoformat())  # fmt: skip


def cited_from(retirement_id: str, instrument: str, record: dict[str, Any]) -> Cited:
    """A batch's retirement record (Batch.retirements) as a claim cites it."""
    return Cited(retirement_id, instrument, sum(e - s for s, e in record["ranges"]), record["beneficiary"],
                 record["purpose"], record["reporting_period"], record["on"], record.get("used_by"))  # fmt: skip
