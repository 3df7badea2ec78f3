"""Enterprise commands of the Ledger: carbon accounts, ETS offset surrenders and carbon-neutral
claims (docs/claims.md).

Thin, like the rest of the application: the rules are in `ledger.domain.enterprise` and the
rule data in `ledger.domain.rules`. A claim or surrender saves, in one transaction, its own event,
the carbon account's, and a `RetirementUsed` on the batch of every retirement it cites. So two
claims written at once on the same retirement cannot both land: the second loses the race on
the batch, is retried, and is refused with RETIREMENT_ALREADY_USED naming the first.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from eventsourcing.utils import get_topic

from ledger.domain.batch import Batch
from ledger.domain.enterprise import (
    CarbonAccount,
    Cited,
    NeutralityClaim,
    carbon_account_id,
    cited_from,
    claim_id,
)  # fmt: skip
from ledger.domain.rules import NEUTRALITY_RULES, ets_offset_rule
from ledger.domain.values import one_of
from ledger.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from ledger.app import Ledger

ETS_INSTRUMENTS = ("CCER",)
"""What a covered emitter may surrender against its ETS obligation (domain.md: CCER, within the cap)."""

TOPIC_REPORTED = get_topic(CarbonAccount.EmissionsReported)
TOPIC_RETIRED = get_topic(Batch.Retired)
TOPIC_USED = get_topic(Batch.RetirementUsed)


def batch_of(retirement_id: object) -> str:
    """The batch a retirement id (`<batch>/R<n>`) belongs to."""
    if not isinstance(retirement_id, str) or "/R" not in retirement_id:
        raise InvalidInput(f"a retirement id is <batch>/R<n>, got {retirement_id!r}", code="RETIREMENT_ID_INVALID")
    return retirement_id.rsplit("/R", 1)[0]


class EnterpriseClaims:
    """Mixed into `Ledger`."""

    def carbon_account(self: Ledger, participant: str) -> CarbonAccount:
        return self._get(carbon_account_id(participant), "carbon_account", participant)

    def neutrality_claim(self: Ledger, code: str) -> NeutralityClaim:
        return self._get(claim_id(code), "claim", code)

    def open_carbon_account(self: Ledger, participant: str, uscc: str, salt: bytes, sector: str) -> CarbonAccount:
        """An enterprise's carbon account, for a registered participant; its credit code is
        kept only as a salted hash."""
        self.participant(participant)
        account = CarbonAccount.open(participant, uscc, salt, sector)
        self._create(account, "carbon_account", participant)
        return account

    def report_emissions(self: Ledger, participant: str, year: str, *, inventory_sha256: str, verifier: str,
                         statement_sha256: str, scopes_kg: dict, electricity_mwh: int,
                         value_added_10k_yuan: int | None = None) -> CarbonAccount:  # fmt: skip
        """Record a year's verified emissions inventory (its digest, the verifier, totals, and the
        value added the carbon-efficiency rating divides by)."""
        self.participant(verifier)
        account = self.carbon_account(participant)
        account.report(
            year, inventory_sha256, verifier, statement_sha256, scopes_kg, electricity_mwh, value_added_10k_yuan
        )
        self._save_or_conflict(account)
        return account

    def record_ets_obligation(self: Ledger, participant: str, year: str, allowances_kg: int, source: str) -> dict:
        account = self.carbon_account(participant)
        account.record_obligation(year, allowances_kg, source)
        self._save_or_conflict(account)
        return account.obligations[year]

    def _cite(self: Ledger, retirement_ids: list[str]) -> tuple[list[Cited], dict[str, Batch]]:
        """The retirements named, as their batches record them, and those batches (loaded once)."""
        if not isinstance(retirement_ids, list) or not retirement_ids:
            raise InvalidInput("name at least one retirement", code="CLAIM_EMPTY")
        batches: dict[str, Batch] = {}
        named = []
        for retirement_id in retirement_ids:
            code = batch_of(retirement_id)
            batch = batches.get(code) or batches.setdefault(code, self.batch(code))
            named.append((retirement_id, batch.instrument, batch.retirement(retirement_id)))
        # the log records the beneficiary's commitment: opened for all in one query
        opened = self.personal.openings({record["beneficiary"] for _, _, record in named})
        cited = [
            cited_from(rid, instrument, {**r, "beneficiary": opened[r["beneficiary"]]["value"]}
                       if r["beneficiary"] in opened else r)
            for rid, instrument, r in named
        ]  # fmt: skip
        return cited, batches

    def surrender_for_ets(self: Ledger, participant: str, year: str, retirement_ids: list[str],
                          on: date | None = None) -> dict:  # fmt: skip
        """Surrender CCER retired for ETS compliance against `year`'s obligation, within the cap
        in force (5 % of the allowances to surrender): refused above it, naming the headroom.
        The units are used up: they can back no voluntary claim."""
        day = self.business_day(on)
        rule = ets_offset_rule(day)

        def attempt() -> dict:
            account = self.carbon_account(participant)
            cited, batches = self._cite(retirement_ids)
            for c in cited:
                if c.used_by is not None:
                    raise Conflict(f"{c.retirement_id} already backs {c.used_by['kind']} {c.used_by['ref']}",
                                   code="RETIREMENT_ALREADY_USED", retirement=c.retirement_id,
                                   first=c.used_by)  # fmt: skip
                if c.instrument not in ETS_INSTRUMENTS:
                    raise Conflict(f"{c.retirement_id} is {c.instrument}; only CCER offsets an ETS obligation",
                                   code="ETS_UNIT_NOT_ELIGIBLE", retirement=c.retirement_id)  # fmt: skip
                if (c.beneficiary, c.purpose, c.reporting_period) != (participant, "ets_offset", year):
                    raise Conflict(f"{c.retirement_id} was retired for {c.beneficiary}, {c.purpose},"
                                   f" {c.reporting_period}; an ETS surrender needs units retired for {participant},"
                                   f" ets_offset, {year}",
                                   code="RETIREMENT_NOT_FOR_SURRENDER", retirement=c.retirement_id)  # fmt: skip
            kg = sum(c.units for c in cited)
            ref = f"{participant}/{year}/{len(account.obligations.get(year, {}).get('surrenders', [])) + 1}"
            account.surrender(year, [c.retirement_id for c in cited], kg, rule.max_percent, rule.source)
            for c in cited:
                use = {"kind": "ets_surrender", "ref": ref}
                batches[batch_of(c.retirement_id)].use_retirement(c.retirement_id, use)
            self._save_or_conflict(account, *batches.values())
            obligation = account.obligations[year]
            return {"surrender": ref, "kg": kg, "obligation_kg": obligation["allowances_kg"],
                    "surrendered_kg": obligation["surrendered_kg"],
                    "headroom_kg": account.offset_headroom(year, rule.max_percent), "rule": rule.source}  # fmt: skip

        return self._idempotent("surrender", attempt)

    def make_neutrality_claim(self: Ledger, participant: str, *, subject: str, boundary: list[str], period: str,
                              retirements: list[str], rule_set: str = "ISO14068-1:2023",
                              on: date | None = None) -> NeutralityClaim:  # fmt: skip
        """A carbon-neutral claim for `period`, from the retirements cited, checked against the
        year's verified report under `rule_set`: refused with a stable code if a retirement is
        not the claimant's, not the period's, out of the window, of the wrong purpose, already
        backing a claim or an ETS surrender, or if the coverage falls short (with the shortfall)."""
        day = self.business_day(on)
        rules = NEUTRALITY_RULES[one_of("rule_set", rule_set, NEUTRALITY_RULES, "RULE_SET_UNKNOWN")]

        def attempt() -> NeutralityClaim:
            account = self.carbon_account(participant)
            report = account.report_of(period)
            cited, batches = self._cite(retirements)
            code = f"NC-{participant}-{period}-{len(account.claims) + 1}"
            claim = NeutralityClaim.make(code, participant, subject, boundary, period, rules, report, cited, day)
            for c in cited:
                use = {"kind": "neutrality_claim", "ref": code}
                batches[batch_of(c.retirement_id)].use_retirement(c.retirement_id, use)
            account.record_claim(code)
            self._save_or_conflict(claim, account, *batches.values())
            return claim

        return self._idempotent("claim", attempt)

    # ------------------------------------------------------------------ where the events are

    def event_seqs(self: Ledger, claim: NeutralityClaim) -> dict:
        """The log positions a claim's certificate proves: the claim, the report it was checked
        against, each batch's issuance (its instrument), each retirement and its use by the claim."""
        account = self.carbon_account(claim.claimant)
        out: dict = {"claim": self.log.seq_of(claim.id, 1), "batches": {}, "retirements": {}, "uses": {}}
        for stored in self.events.get(account.id):
            if get_topic(type(stored)) == TOPIC_REPORTED and stored.year == claim.period:
                out["report"] = self.log.seq_of(account.id, stored.originator_version)  # the last before the claim
            if getattr(stored, "code", None) == claim.code:
                break
        cited = {r["retirement_id"] for r in claim.retirements}
        for code in sorted({batch_of(r) for r in cited}):
            batch = self.batch(code)
            out["batches"][code] = self.log.seq_of(batch.id, 1)
            for stored in self.events.get(batch.id):
                topic, rid = get_topic(type(stored)), getattr(stored, "retirement_id", None)
                if rid in cited and topic == TOPIC_RETIRED:
                    out["retirements"][rid] = self.log.seq_of(batch.id, stored.originator_version)
                elif rid in cited and topic == TOPIC_USED and stored.use.get("ref") == claim.code:
                    out["uses"][rid] = self.log.seq_of(batch.id, stored.originator_version)
        return out
