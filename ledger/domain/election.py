"""A device's side of the GEC–CCER link (NEA/MEE notice, rules.CCER_ADMISSION): which scheme it
elected from which day, and the CCER projects it joined under which rule. Plain state inside the
Device aggregate; the Device records the events and asks this what they may be."""

from __future__ import annotations

from datetime import date, timedelta

from ledger.domain.rules import ccer_admission
from ledger.domain.values import month_start, next_month, parse_day
from ledger.errors import Conflict, InvalidInput


class CCERLink:
    def __init__(self) -> None:
        self.elections: list[list[str]] = []  # [effective from, "GEC" | "CCER"], in date order
        self.projects: dict[str, list[str]] = {}  # project code -> [crediting start, end]
        self.rules: dict[str, str] = {}  # project code -> the GEC–CCER rule that admitted the device

    def __deepcopy__(self, memo: dict) -> CCERLink:
        copy = CCERLink()
        copy.elections = [list(e) for e in self.elections]
        copy.projects = {code: list(period) for code, period in self.projects.items()}
        copy.rules = dict(self.rules)
        return copy

    @staticmethod
    def rule(technology: str, day: date):
        """The GEC–CCER rule for this technology on `day`; refused if none is recorded."""
        rule = ccer_admission(technology, day)
        if rule is None:
            raise Conflict(
                f"no GEC–CCER rule is recorded for {technology} on {day.isoformat()}; the rules"
                " (rules.CCER_ADMISSION) begin with the NEA/MEE notice effective 2024-10-01",
                code="CCER_RULE_MISSING",
            )
        return rule

    def election_on(self, day: date) -> str | None:
        """The scheme (GEC or CCER) elected for electricity produced on `day`."""
        chosen = None
        for effective_from, scheme in self.elections:
            if date.fromisoformat(effective_from) <= day:
                chosen = scheme
        return chosen

    def check_election(self, device: str, technology: str, scheme: str, effective_from: str):
        """The rule under which `device` may elect `scheme` from `effective_from`, or a refusal;
        None if exactly that election is already in force."""
        if scheme not in ("GEC", "CCER"):
            raise InvalidInput(f"a device elects GEC or CCER, not {scheme!r}", code="ELECTION_INVALID")
        rule = self.rule(technology, parse_day("effective date", effective_from))
        if not rule.elects:
            raise Conflict(
                f"{technology} devices do not elect between GEC and CCER ({rule.source})",
                code="ELECTION_NOT_APPLICABLE",
                rule=rule.source,
            )
        if self.elections and [effective_from, scheme] == self.elections[-1]:
            return None
        if self.elections and self.elections[-1][0] >= effective_from:
            raise Conflict(
                f"{device} already has an election effective {self.elections[-1][0]};"
                " a new election must take effect later",
                code="ELECTION_OUT_OF_ORDER",
            )
        if scheme == "GEC":
            for project, (_start, end) in self.projects.items():
                if effective_from <= end:
                    raise Conflict(
                        f"{device} is in CCER project {project} until {end}; it cannot elect GEC before then",
                        code="CCER_PROJECT_ACTIVE",
                        project=project,
                    )
        return rule

    def check_joining(self, device: str, technology: str, crediting_start: str, on: date):
        """The rule under which `device` joins a CCER project registered `on`, or a refusal:
        admitted on that day and, where the technology elects, CCER elected for the crediting start."""
        rule = self.rule(technology, on)
        if not rule.admitted:
            raise Conflict(
                f"{device} ({technology}) is not admitted to new CCER projects: {rule.source}",
                code="CCER_NOT_ADMITTED",
                rule=rule.source,
            )
        if rule.elects:
            elected = self.election_on(date.fromisoformat(crediting_start))
            if elected != "CCER":
                raise Conflict(
                    f"{device} has elected {elected or 'nothing'} for {crediting_start};"
                    " it must elect CCER before joining a CCER project (oneclaim device elect)",
                    code="CCER_NOT_ELECTED",
                    elected=elected,
                )
        return rule

    def project_for(self, month: str) -> str | None:
        """The CCER project whose crediting period covers any of a production month."""
        first = month_start(month).date().isoformat()
        last = (month_start(next_month(month)) - timedelta(days=1)).date().isoformat()
        for project, (start, end) in self.projects.items():
            if start <= last and first <= end:
                return project
        return None
