"""Rules that change every year or two, kept as data with their sources.

Code reads these tables; it never hard-codes the figures. Each entry names where it comes from
(see ../shared/domain.md). When a rule changes, add a row with its effective date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

KWH_PER_GEC = 1_000
"""1 GEC = 1 MWh. Source: NEA 《可再生能源绿色电力证书核发和交易规则》 (Sept 2024); seed 001
(1.038 million GECs traded = 1.038 TWh)."""

GEC_VALIDITY_MONTHS = 24
"""A GEC is valid for 2 years from its production month, that month included. Source: NEA GEC
issuance and trading rules (Sept 2024)."""

GEC_TRANSITION = (date(2024, 1, 1), date(2025, 12, 31))
"""Transitional rule of the same NEA rules: GECs for electricity produced before 2024-01-01 stay
valid until 2025-12-31 (first element: production before this date; second: valid through)."""

TECHNOLOGIES = (
    "wind",
    "offshore_wind",
    "deep_sea_offshore_wind",
    "distributed_pv",
    "utility_pv",
    "csp",
    "biomass",
    "geothermal",
    "ocean",
    "hydro",
)

TRADABLE_TECHNOLOGIES = frozenset(TECHNOLOGIES) - {"hydro"}
"""GECs for these are tradable. Source: NEA/NDRC/MOF 发改能源〔2023〕1044号 and the NEA 2024
rules (wind, solar incl. distributed PV and CSP, biomass, geothermal, ocean)."""

HYDRO_TRADABLE_FROM = date(2023, 1, 1)
"""Fully market-based hydro commissioned on or after this date gets tradable GECs; older hydro
gets non-tradable ones. Source: 发改能源〔2023〕1044号."""


@dataclass(frozen=True)
class SchemeRule:
    """How units of one instrument may move."""

    instrument: str
    unit: str
    max_sales: int | None  # None: no limit on how often a unit may change hands
    source: str


SCHEMES = {
    "GEC": SchemeRule(
        "GEC",
        "MWh",
        1,
        "NEA 2024 GEC rules: at present a tradable GEC can be sold only once (同一绿证不重复成交)",
    ),
    "CCER": SchemeRule("CCER", "kgCO2e", None, "MEE 《温室气体自愿减排交易管理办法（试行）》 2023"),
    "INCLUSION": SchemeRule("INCLUSION", "kgCO2e", None, "regional carbon-inclusion programme rules (seeds 000, 002)"),
}


@dataclass(frozen=True)
class EmissionFactor:
    """A grid emission factor in gCO2e per MWh (integers only: 0.6101 tCO2/MWh = 610,100)."""

    code: str
    g_per_mwh: int
    valid_from: date
    source: str
    valid_until: date | None = None  # None: until a later factor replaces it

    def valid_for(self, year: int) -> bool:
        """Whether the factor applies to some day of `year`."""
        return self.valid_from <= date(year, 12, 31) and (
            self.valid_until is None or self.valid_until >= date(year, 1, 1)
        )


EMISSION_FACTORS = {
    f.code: f
    for f in (
        EmissionFactor(
            "SIP-2020-PURCHASED",
            610_100,
            date(2020, 1, 1),
            "seed 004: Suzhou Industrial Park base-year purchased power, 0.6101 tCO2/MWh",
        ),
        EmissionFactor(
            "CN-PV-0.7787",
            778_700,
            date(2020, 1, 1),
            "seed 002: PV emission reduction factor 0.7787 kgCO2/kWh",
        ),
    )
}


def kg_co2e(kwh: int, factor: EmissionFactor) -> int:
    """Carbon claimed by `kwh` of generation, in whole kgCO2e, rounded down (never over-credit)."""
    return kwh * factor.g_per_mwh // 1_000_000


INCLUSION_METHODOLOGIES = {
    "distributed_pv": True,  # generation-based: converts metered kWh through an emission factor
    "ev_charging": False,
    "lighting_retrofit": False,
    "wetland_sink": False,
}
"""Suzhou Industrial Park's carbon-inclusion methodologies (seed 000): distributed PV first,
then EV charging, lighting energy saving and wetland carbon sinks. True: generation-based."""

RETIREMENT_PURPOSES = ("green_consumption_claim", "carbon_neutrality", "re100", "ets_offset", "voluntary")

PARTICIPANT_ROLES = ("generator", "consumer", "trader", "verifier", "registry")


@dataclass(frozen=True)
class CCERAdmission:
    """Whether a technology's new projects are admitted to CCER, and whether its devices must
    first elect GEC or CCER, for registrations made in [valid_from, valid_until]."""

    technologies: frozenset[str]
    admitted: bool
    elects: bool
    valid_from: date
    valid_until: date | None
    source: str


GEC_CCER_NOTICE = "NEA/MEE notice linking GEC and CCER, effective 2024-10-01 with a two-year transition"

GEC_CCER_AFTER_TRANSITION = (
    "no successor to the notice has been published (sources checked 2026-12-03); the notice itself"
    " calls its arrangement a transition of two years, tentatively, to be adjusted in light of how it"
    " works, so its arrangement is recorded as continuing from 2026-10-01 until a successor is added"
)

_GEC_CCER_GROUPS = (
    # (technologies, admitted to new CCER, must elect GEC or CCER, what the notice says)
    (frozenset({"deep_sea_offshore_wind", "csp"}), True, True, "deep-sea offshore wind and CSP may choose GEC or CCER"),
    (
        frozenset({"wind", "offshore_wind", "distributed_pv", "utility_pv"}),
        False,
        False,
        "other PV and wind are not newly admitted to CCER for now",
    ),
    (frozenset({"biomass", "geothermal", "ocean", "hydro"}), True, False, "the notice restricts only wind and solar"),
)

TRANSITION_ENDS = date(2026, 9, 30)

CCER_ADMISSION = tuple(
    CCERAdmission(technologies, admitted, elects, valid_from, valid_until, source)
    for technologies, admitted, elects, says in _GEC_CCER_GROUPS
    for valid_from, valid_until, source in (
        (date(2024, 10, 1), TRANSITION_ENDS, f"{GEC_CCER_NOTICE}: {says}"),
        (TRANSITION_ENDS + timedelta(days=1), None, f"{GEC_CCER_NOTICE}: {says} ({GEC_CCER_AFTER_TRANSITION})"),
    )
)
"""One row per group of technologies and period. The transition rows end on 2026-09-30. From
2026-10-01 the same arrangement is recorded as the notice's own statement for the time after its
transition, marked as such in its source, because no successor rule is published; a successor
is added here as new rows (the ledger never guesses one). Before 2024-10-01 no row applies, and a
renewable CCER registration is refused (CCER_RULE_MISSING)."""


def ccer_admission(technology: str, on: date) -> CCERAdmission | None:
    for rule in CCER_ADMISSION:
        if (
            technology in rule.technologies
            and rule.valid_from <= on
            and (rule.valid_until is None or on <= rule.valid_until)
        ):
            return rule
    return None


def kwh_for(kg: int, factor_g_per_mwh: int) -> int:
    """The generation a carbon credit of `kg` kgCO2e claims at a factor, in whole kWh, rounded up
    (a credit is never backed by less electricity than it needs)."""
    return -(-kg * 1_000_000 // factor_g_per_mwh)


# ------------------------------------------------------------------ enterprise claims (docs/claims.md)


@dataclass(frozen=True)
class NeutralityRules:
    """The rule set a carbon-neutrality claim is checked against, as dated data with its source.

    `offset_window_months`: how long after the claim period ends its units may still be retired.
    `electricity`: the instruments that cover consumed electricity (market-based Scope 2), never
    emissions. `offsets`: the instruments that offset residual emissions. `purposes`: the
    retirement purposes a claim may cite, per kind."""

    code: str
    offset_window_months: int
    electricity: frozenset[str]
    offsets: frozenset[str]
    purposes: dict[str, frozenset[str]]
    valid_from: date
    source: str


NEUTRALITY_RULES = {
    r.code: r
    for r in (
        NeutralityRules(
            "ISO14068-1:2023",
            12,
            frozenset({"GEC"}),
            frozenset({"CCER", "INCLUSION"}),
            {
                "electricity": frozenset({"green_consumption_claim", "carbon_neutrality", "re100"}),
                "offsets": frozenset({"carbon_neutrality", "voluntary"}),
            },
            date(2023, 11, 1),
            "ISO 14068-1:2023 Climate change management - Transition to net zero - Part 1: Carbon neutrality"
            " (replaced PAS 2060, which BSI withdrew at the end of November 2025): a verified ISO 14064-1"
            " inventory, offsets retired for the claimant and the period; the 12-month retirement window is"
            " this registry's parameter of the rule set (check the certifier's programme)",
        ),
    )
}


@dataclass(frozen=True)
class EtsOffsetRule:
    """How much of a covered emitter's annual surrender may be CCER, from `valid_from`."""

    max_percent: int
    valid_from: date
    source: str


ETS_OFFSET_RULES = (
    EtsOffsetRule(
        5,
        date(2021, 2, 1),
        "MEE 《碳排放权交易管理办法（试行）》 (2020), art. 29: CCER may offset up to 5% of the allowances a key"
        " emitter must surrender; check the State Council's 2024 《碳排放权交易管理暂行条例》 and MEE notices"
        " before relying on the figure",
    ),
)


def ets_offset_rule(on: date) -> EtsOffsetRule:
    """The ETS offset rule in force on `on`."""
    from ledger.errors import Conflict

    rules = [r for r in ETS_OFFSET_RULES if r.valid_from <= on]
    if not rules:
        raise Conflict(f"no ETS offset rule is in force on {on}", code="ETS_RULE_NOT_IN_FORCE")
    return max(rules, key=lambda r: r.valid_from)


# ------------------------------------------------------------------ market surveillance (docs/enterprise.md)


@dataclass(frozen=True)
class SurveillanceRule:
    """A pattern the registry watches for in its log, with its parameters and source."""

    code: str
    watches: str
    params: dict
    valid_from: date
    source: str


_SEED_001 = "seed 001, §4.1 and §5.5: platforms must monitor abnormal trading"
SURVEILLANCE_RULES = {
    r.code: r
    for r in (
        SurveillanceRule(
            "WASH_TRANSFER",
            "units of one batch passing from A to B and back from B to A",
            {"window_days": 30},
            date(2024, 1, 1),
            _SEED_001 + "; domain.md: wash transfers between related accounts",
        ),
        SurveillanceRule(
            "TRANSFER_FAR_ABOVE_HISTORY",
            "a transfer of more units than `factor` times the sender's largest earlier transfer of the same"
            " instrument, once it has `min_history` of them",
            {"factor": 10, "min_history": 5},
            date(2024, 1, 1),
            _SEED_001 + "; domain.md: volumes far above an account's history",
        ),
        SurveillanceRule(
            "SOLD_ON_TWO_PLATFORMS",
            "a GEC another platform reports sold that was sold here (a GEC_SOLD_TWICE case)",
            {},
            date(2024, 1, 1),
            "NEA 2024 GEC rules: a GEC is sold once (同一绿证不重复成交); domain.md §3.4",
        ),
        SurveillanceRule(
            "CLAIMED_KWH_CORRECTED_DOWN",
            "a meter reading corrected downward after kWh of it were claimed",
            {},
            date(2024, 1, 1),
            _SEED_001 + "; a claim's electricity later found smaller",
        ),
    )
}


# ------------------------------------------------------------------ carbon-efficiency ratings (docs/enterprise.md)


@dataclass(frozen=True)
class SectorBenchmark:
    """A sector's average carbon efficiency for a year: kgCO2e per 10,000 yuan of value added."""

    sector: str
    year: str
    kg_per_10k_yuan: int
    source: str


SECTOR_BENCHMARKS = {
    (b.sector, b.year): b
    for b in (
        SectorBenchmark(
            "electronics", "2025", 420, "sample benchmark for the tests and the demo, not a published figure"
        ),
        SectorBenchmark(
            "data_centre", "2025", 1_900, "sample benchmark for the tests and the demo, not a published figure"
        ),
        SectorBenchmark("steel", "2025", 18_000, "sample benchmark for the tests and the demo, not a published figure"),
    )
}


@dataclass(frozen=True)
class RatingScheme:
    """Colours by the ratio of an enterprise's carbon efficiency to its sector's benchmark: the
    first band whose upper ratio (percent) the enterprise's is at or under."""

    code: str
    bands: tuple[tuple[int | None, str], ...]  # (max percent of the benchmark, colour); None: no upper bound
    valid_from: date
    source: str


RATING_SCHEMES = {
    s.code: s
    for s in (
        RatingScheme(
            "FOUR-COLOUR",
            ((80, "dark_green"), (100, "light_green"), (120, "yellow"), (None, "red")),
            date(2022, 1, 1),
            "seed 003: Hangzhou's 碳效码 rates an enterprise by its CO2 per unit of value added against its"
            " sector's average; Quzhou rates 600+ firms in four colours (domain.md). The band edges are this"
            " registry's parameters: replace them with the programme's published ones",
        ),
    )
}
