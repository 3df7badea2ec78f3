"""Double-counting cases and public disclosures.

A case opens when a claim reported by another registry or platform cannot fit in what our pool
has left for that device and interval (OVERLAPPING_CLAIM), or when two platforms report selling
the same GEC serials (GEC_SOLD_TWICE). It holds both sides as they stood when it opened; the trace
report (`Ledger.trace_case`) adds the log positions and proofs. Only an explicit event, with a
reason, resolves it.

A disclosure is the public record the GEC–CCER link requires whenever GECs are cancelled because
the same electricity was registered as CCER reductions.
"""

from __future__ import annotations

from hashlib import sha256
from typing import TYPE_CHECKING
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.rules import KWH_PER_GEC
from ledger.domain.serials import format_range
from ledger.domain.values import check_reason, one_of
from ledger.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from ledger.domain.batch import Batch

REPORTED = ("source", "reference", "instrument", "device", "start", "end", "kwh", "kg_co2e", "factor", "g_per_mwh")
"""The fields of a reported claim a case keeps, as reported."""

CASE_KINDS = ("OVERLAPPING_CLAIM", "GEC_SOLD_TWICE", "SALE_OF_ENDED_UNITS")
OUTCOMES = {
    "external_withdrawn": "the other registry withdrew or cancelled its claim",
    "ours_cancelled": "our units for the overlapping electricity were cancelled",
    "no_double_count": "investigated: the two claims do not cover the same electricity",
}


def case_code(key: str) -> str:
    """Cases are keyed by what opened them, so re-importing a report never opens a second case."""
    return "DC-" + sha256(key.encode()).hexdigest()[:12].upper()


def case_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:case:{code}")


def disclosure_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:disclosure:{code}")


class Case(Aggregate):
    """One double-counting case."""

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return case_id(code)

    @event("Opened")
    def __init__(
        self, code: str, kind: str, subject: str, interval: list, overlap_kwh: int, ours: list, theirs: dict
    ) -> None:
        self.code = code
        self.kind = kind
        self.subject = subject  # a device code (OVERLAPPING_CLAIM) or a batch code (the sale cases)
        self.interval = list(interval)  # [start, end) for a claim; [] for serials
        self.overlap_kwh = overlap_kwh
        self.ours = list(ours)  # the claims already in the ledger that the report collides with
        self.theirs = dict(theirs)  # the reported claim, as reported, with its source and reference
        self.resolution: dict | None = None

    @classmethod
    def open(cls, key: str, kind: str, subject: str, interval: list, overlap_kwh: int, ours: list, theirs: dict):
        if kind not in CASE_KINDS:
            raise InvalidInput(f"unknown case kind {kind!r}", code="CASE_KIND_INVALID")
        return cls(
            code=case_code(key),
            kind=kind,
            subject=subject,
            interval=interval,
            overlap_kwh=overlap_kwh,
            ours=ours,
            theirs=theirs,
        )

    @classmethod
    def of_disputed_claim(cls, device: str, source: str, disputed: dict, device_version: int) -> Case:
        """The case a claim reported on `device` opens when it does not fit what the pool has left
        (a `disputed` entry of ClaimsPool.check_external), holding both sides."""
        theirs = {k: disputed[k] for k in REPORTED if k in disputed}
        theirs |= {"source": source, "device_version": device_version}
        theirs |= {"metered_kwh": disputed["metered_kwh"], "free_kwh": disputed["free_kwh"]}
        return cls.open(
            f"{device}|{disputed['key']}",
            "OVERLAPPING_CLAIM",
            device,
            [disputed["start"], disputed["end"]],
            disputed["overlap_kwh"],
            disputed["earlier_claims"],
            theirs,
        )

    @classmethod
    def of_sale_clash(cls, batch: str, report: dict, clash: dict, batch_version: int) -> Case:
        """The case a reported GEC sale opens when it collides with another sale or with units
        that ended here (a clash from Batch.report_sale)."""
        theirs = {k: report[k] for k in ("source", "reference", "serials", "sold_on")}
        return cls.open(
            f"{batch}|{report['source']}/{report['reference']}|{clash['source']}/{clash['reference']}",
            clash["kind"],
            batch,
            [],
            clash["units"] * KWH_PER_GEC,
            [{k: v for k, v in clash.items() if k != "kind"}],
            theirs | {"batch_version": batch_version, "units": clash["units"]},
        )

    @classmethod
    def of_cancelled_report(cls, batch: Batch, ranges: list[list[int]], reason: str, report: dict) -> Case:
        """The case the registry's cancellation of units opens for each sale another platform
        reported of them (SALE_OF_ENDED_UNITS): a report from Batch.reports_touching."""
        ours = {
            "source": "this registry",
            "reference": f"cancelled at batch version {batch.version}",
            "serials": ", ".join(format_range(batch.code, s, e) for s, e in ranges),
            "reason": reason,
            "batch_version": batch.version,
        }
        return cls.open(
            f"{batch.code}|this registry/cancelled@{batch.version}|{report['source']}/{report['reference']}",
            report["kind"],
            batch.code,
            [],
            report["units"] * KWH_PER_GEC if batch.instrument == "GEC" else 0,
            [{k: v for k, v in report.items() if k != "kind"}],
            ours | {"units": report["units"]},
        )

    @property
    def status(self) -> str:
        return "open" if self.resolution is None else "resolved"

    def resolve(self, outcome: str, reason: str, by: str) -> None:
        if self.resolution is not None:
            raise Conflict(
                f"case {self.code} was already resolved ({self.resolution['outcome']})", code="CASE_ALREADY_RESOLVED"
            )
        one_of("outcome", outcome, OUTCOMES, "OUTCOME_INVALID")
        check_reason(reason, "resolving a case")
        if not isinstance(by, str) or not by.strip():
            raise InvalidInput("say who resolved the case", code="RESOLVER_REQUIRED")
        self._resolved(outcome, reason, by)

    @event("Resolved")
    def _resolved(self, outcome: str, reason: str, by: str) -> None:
        self.resolution = {"outcome": outcome, "reason": reason, "by": by}


class Disclosure(Aggregate):
    """公示: GECs cancelled because their electricity was registered as CCER reductions."""

    def public_cancelled(self) -> list[dict]:
        """The cancelled GECs as the public reads them: serial notation (inclusive), no ranges."""
        return [
            {
                "batch": c["batch"],
                "serials": c.get("serials") or [format_range(c["batch"], s, e) for s, e in c["ranges"]],
                "units": c["units"],
            }
            for c in self.cancelled
        ]

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return disclosure_id(code)

    @classmethod
    def of_ccer(
        cls, code: str, project: str, device: str, period: list, kg_co2e: int, factor, kwh: int, cancelled, traded
    ) -> Disclosure:
        """The disclosure of CCER batch `code`: the GECs cancelled for its reductions (and the sold
        ones left with their buyers), with the factor that converted kgCO2e to kWh."""
        return cls(
            code=code,
            project=project,
            ccer_batch=code,
            device=device,
            period=period,
            kg_co2e=kg_co2e,
            factor={"code": factor.code, "g_per_mwh": factor.g_per_mwh},
            kwh=kwh,
            cancelled=cancelled,
            traded_untouched=traded,
        )

    @event("Published")
    def __init__(
        self,
        code: str,
        project: str,
        ccer_batch: str,
        device: str,
        period: list,
        kg_co2e: int,
        factor: dict,
        kwh: int,
        cancelled: list,
        traded_untouched: list,
    ) -> None:
        self.code = code
        self.project = project
        self.ccer_batch = ccer_batch
        self.device = device
        self.period = list(period)
        self.kg_co2e = kg_co2e
        self.factor = dict(factor)  # {"code", "g_per_mwh"}: kWh = kgCO2e × 10^6 ÷ g_per_mwh, rounded up
        self.kwh = kwh
        self.cancelled = list(cancelled)  # [{"batch", "serials", "ranges", "units"}], ranges 0-based half-open
        self.traded_untouched = list(traded_untouched)  # GECs in the period already sold: left alone
