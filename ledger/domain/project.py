"""CCER projects (国家核证自愿减排量) and carbon-inclusion programmes (碳普惠).

A CCER project is validated and registered with a methodology and a crediting period (计入期);
reductions are verified and registered per period, and each registration issues a batch.
A carbon-inclusion programme (e.g. Suzhou Industrial Park's) issues credits under its
methodologies; generation-based ones convert metered kWh through a versioned emission factor.
Quantities are whole kgCO2e.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.batch import check_units
from ledger.domain.device import Device
from ledger.domain.participant import check_code
from ledger.domain.rules import EMISSION_FACTORS, INCLUSION_METHODOLOGIES, kg_co2e
from ledger.domain.values import CHINA, VerifiedPeriod, check_ended, interval, month_start, next_month, parse_day
from ledger.errors import Conflict, InvalidInput


def project_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:ccer-project:{code}")


def programme_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:inclusion-programme:{code}")


class Project(Aggregate):
    """A registered CCER project and its verified periods."""

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return project_id(code)

    @event("Registered")
    def __init__(
        self,
        code: str,
        methodology: str,
        owner: str,
        devices: list[str],
        crediting_start: str,
        crediting_end: str,
        factor: str | None = None,
    ) -> None:
        self.code = code
        self.factor = factor  # emission factor code: renewable projects convert tCO2e to kWh with it
        self.methodology = methodology
        self.owner = owner
        self.devices = list(devices)
        self.crediting_start = crediting_start
        self.crediting_end = crediting_end
        self.periods: list[VerifiedPeriod] = []
        self.generation: dict[str, dict] = {}  # batch -> the kWh it claims and the factor that gave them

    @classmethod
    def register(
        cls,
        code: str,
        methodology: str,
        owner: str,
        devices: list[str],
        crediting_start: str,
        crediting_end: str,
        factor: str | None = None,
    ) -> Project:
        check_code("project", code)
        if not isinstance(methodology, str) or not methodology.strip():
            raise InvalidInput("a CCER project needs its methodology", code="METHODOLOGY_INVALID")
        if parse_day("crediting_end", crediting_end) <= parse_day("crediting_start", crediting_start):
            raise InvalidInput("the crediting period must end after it starts", code="PERIOD_INVALID")
        if len(devices) > 1:
            raise InvalidInput(
                "a renewable CCER project names one metered device (register a site as one device)",
                code="PROJECT_DEVICES_INVALID",
            )
        if devices and factor not in EMISSION_FACTORS:
            raise InvalidInput(
                f"a renewable CCER project needs the emission factor that converts its reductions to kWh;"
                f" known: {', '.join(EMISSION_FACTORS)}, got {factor!r}",
                code="FACTOR_UNKNOWN",
            )
        return cls(
            factor=factor,
            code=code,
            methodology=methodology,
            owner=owner,
            devices=list(devices),
            crediting_start=crediting_start,
            crediting_end=crediting_end,
        )

    def register_reductions(
        self, period_start: str, period_end: str, kg_co2e: int, generation: dict | None = None
    ) -> str:
        """核查与登记: verified reductions for a period inside the crediting period; returns the
        batch code to issue."""
        start, end = parse_day("period_start", period_start), parse_day("period_end", period_end)
        check_units("kg_co2e", kg_co2e)
        if end < start:
            raise InvalidInput("the verified period must end after it starts", code="PERIOD_INVALID")
        if start < date.fromisoformat(self.crediting_start) or end > date.fromisoformat(self.crediting_end):
            raise Conflict(
                f"[{period_start}, {period_end}] is outside the crediting period"
                f" [{self.crediting_start}, {self.crediting_end}] of {self.code}",
                code="OUTSIDE_CREDITING_PERIOD",
            )
        for p in self.periods:
            if start <= date.fromisoformat(p.end) and date.fromisoformat(p.start) <= end:
                raise Conflict(
                    f"reductions for [{p.start}, {p.end}] were already registered as {p.batch}",
                    code="PERIOD_ALREADY_VERIFIED",
                )
        code = f"CCER-{self.code}-{start.strftime('%Y%m%d')}-{end.strftime('%Y%m%d')}"
        self._reductions_registered(period_start, period_end, kg_co2e, code, generation)
        return code

    @event("ReductionsRegistered")
    def _reductions_registered(
        self, period_start: str, period_end: str, kg_co2e: int, batch: str, generation: dict | None = None
    ) -> None:
        self.periods.append(VerifiedPeriod(period_start, period_end, batch))
        if generation:
            self.generation[batch] = generation


class Programme(Aggregate):
    """A regional carbon-inclusion programme and the methodologies it issues under."""

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return programme_id(code)

    @event("Established")
    def __init__(self, code: str, name: str, region: str, methodologies: list[str], factor: str) -> None:
        self.code = code
        self.name = name
        self.region = region
        self.methodologies = list(methodologies)
        self.factor = factor
        self.issued: dict[str, str] = {}  # claim key -> batch code

    @classmethod
    def establish(cls, code: str, name: str, region: str, methodologies: list[str], factor: str) -> Programme:
        check_code("programme", code)
        unknown = set(methodologies) - set(INCLUSION_METHODOLOGIES)
        if unknown or not methodologies:
            raise InvalidInput(
                f"methodologies must be among {', '.join(INCLUSION_METHODOLOGIES)}, got {sorted(methodologies)}",
                code="METHODOLOGY_INVALID",
            )
        if factor not in EMISSION_FACTORS:
            raise InvalidInput(
                f"emission factor {factor!r} is unknown; known: {', '.join(EMISSION_FACTORS)}", code="FACTOR_UNKNOWN"
            )
        return cls(code=code, name=name, region=region, methodologies=list(methodologies), factor=factor)

    def generation(
        self,
        device: Device,
        account: str,
        holder: str,
        month: str | None,
        start: str | None,
        end: str | None,
        today: date,
    ) -> tuple[datetime, datetime, dict]:
        """What a generation-based credit of `device` for a month (or an interval of whole readings,
        e.g. some hours) stands on: its interval, and the origin fields: the metered on-grid kWh,
        this programme's emission factor, the kgCO2e they convert to, and the period's name. The
        credits go to an account of the device owner (`account`, held by `holder`), for
        production that has ended."""
        device.check_scheme("INCLUSION")
        if holder != device.owner:
            raise Conflict(
                f"account {account} belongs to {holder}, not the device owner {device.owner}",
                code="ACCOUNT_NOT_OWNED",
            )
        if month is not None:
            begin, finish, period = month_start(month), month_start(next_month(month)), month
        else:
            begin, finish = interval(start, end)
            period = f"{begin.astimezone(CHINA):%Y%m%dT%H%M}_{finish.astimezone(CHINA):%Y%m%dT%H%M}"
        check_ended(f"{device.code}'s production in {period}", finish, today)
        kwh = sum(device.metered(device.readings_in(begin, finish)).values())
        factor = EMISSION_FACTORS[self.factor]
        kg = kg_co2e(kwh, factor)
        if kg == 0:
            raise Conflict(f"{device.code} has no metered on-grid electricity in {period}", code="NO_READINGS")
        origin = {"device": device.code, "start": begin.isoformat(), "end": finish.isoformat(), "kwh": kwh}
        origin |= {"factor": factor.code, "g_per_mwh": factor.g_per_mwh} | ({"month": month} if month else {})
        return begin, finish, origin | {"period": period, "kg_co2e": kg}

    def credit(self, methodology: str, subject: str, period: str, kg_co2e: int) -> str:
        """Register one issuance (签发) for a subject (a device, site or project) and period;
        returns the batch code. The same subject and period cannot be credited twice."""
        if methodology not in self.methodologies:
            raise Conflict(
                f"programme {self.code} does not issue under {methodology!r}", code="METHODOLOGY_NOT_IN_PROGRAMME"
            )
        check_units("kg_co2e", kg_co2e)
        key = f"{methodology}/{subject}/{period}"
        if key in self.issued:
            raise Conflict(f"{subject} was already credited for {period}: {self.issued[key]}", code="ALREADY_ISSUED")
        code = f"{self.code}-{methodology.upper()}-{subject}-{period.replace('-', '')}"
        self._credited(methodology, subject, period, kg_co2e, code)
        return code

    @event("Credited")
    def _credited(self, methodology: str, subject: str, period: str, kg_co2e: int, batch: str) -> None:
        self.issued[f"{methodology}/{subject}/{period}"] = batch
