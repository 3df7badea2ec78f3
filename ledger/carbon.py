"""What an enterprise's carbon account shows, from the read models (docs/enterprise.md): its
figures per reporting year with the retirements behind them, and the avoided emissions of the
green electricity it retired (GEC → tCO2e, by a versioned emission factor)."""

from __future__ import annotations

from ledger.app import Ledger
from ledger.domain.rules import EMISSION_FACTORS, RATING_SCHEMES, SECTOR_BENCHMARKS, kg_co2e
from ledger.domain.values import one_of
from ledger.errors import Conflict
from ledger.readmodel import ReadModel

CREDITS = ("CCER", "INCLUSION")
RETIREMENT_COLUMNS = ("retirement_id", "instrument", "units", "purpose", "retired_on", "seq", "used_by")


def _retired(ledger: Ledger, participant: str, year: str | None = None) -> list[dict]:
    with ReadModel(ledger) as model:
        return model.retirements(participant, year)


def account_view(ledger: Ledger, participant: str, with_proofs: bool = False) -> dict:
    """Per reporting year: the verified report, the green electricity (GEC MWh) and the credits
    (kgCO2e) retired for the enterprise, its ETS obligation and surrenders, its claims, and each
    retirement with the log seq of its event and what it backs; with `with_proofs`, each
    retirement also carries the tlog-proof of its event under the current checkpoint (without
    the event's bytes: the checker fetches or is given them)."""
    account = ledger.carbon_account(participant)
    retired = _retired(ledger, participant)
    years = sorted({*account.reports, *account.obligations, *(r["reporting_period"] for r in retired)})
    out = {}
    for year in years:
        rows = [r for r in retired if r["reporting_period"] == year]
        out[year] = {
            "report": account.reports.get(year),
            "green_electricity_mwh": sum(r["units"] for r in rows if r["instrument"] == "GEC"),
            "credits_retired_kg": {i: sum(r["units"] for r in rows if r["instrument"] == i) for i in CREDITS},
            "ets": account.obligations.get(year),
            "claims": [c for c in account.claims if ledger.neutrality_claim(c).period == year],
            "retirements": [_row(ledger, r, with_proofs) for r in rows],
        }
    return {"participant": participant, "sector": account.sector, "uscc_sha256": account.uscc_sha256, "years": out}


def _row(ledger: Ledger, row: dict, with_proofs: bool) -> dict:
    out = {k: row[k] for k in RETIREMENT_COLUMNS}
    if with_proofs:
        out["tlog_proof"] = ledger.log.tlog_proof(row["seq"], with_event=False)
    return out


AVOIDED_NOTE = (
    "Avoided emissions: the grid emissions the retired green electricity displaced, at the factor"
    " named. This is a market-based Scope 2 figure, not an offset: it cannot offset emissions in a"
    " carbon-neutral claim or an ETS obligation."
)


def avoided_emissions(ledger: Ledger, participant: str, year: str, factor: str = "SIP-2020-PURCHASED") -> dict:
    """绿证折算碳减排量: the GECs retired for `participant` and `year` (green-power settlements'
    GECs included, once retired), converted to kgCO2e by a versioned emission factor, rounded
    down, with the factor's source and validity and the retirements behind the figure."""
    f = EMISSION_FACTORS[one_of("factor", factor, EMISSION_FACTORS, "FACTOR_UNKNOWN")]
    if not year.isdigit() or not f.valid_for(int(year)):
        raise Conflict(f"factor {f.code} is valid from {f.valid_from} to {f.valid_until or 'its replacement'},"
                       f" not for {year}", code="FACTOR_NOT_VALID", factor=f.code)  # fmt: skip
    rows = [r for r in _retired(ledger, participant, year) if r["instrument"] == "GEC"]
    mwh = sum(r["units"] for r in rows)
    return {
        "participant": participant, "year": year, "gec_mwh": mwh, "avoided_kg_co2e": kg_co2e(mwh * 1_000, f),
        "factor": {"code": f.code, "g_per_mwh": f.g_per_mwh, "valid_from": f.valid_from.isoformat(),
                   "valid_until": f.valid_until and f.valid_until.isoformat(), "source": f.source},
        "retirements": [{k: r[k] for k in ("retirement_id", "units", "retired_on", "seq")} for r in rows],
        "note": AVOIDED_NOTE,
    }  # fmt: skip


def rating(ledger: Ledger, participant: str, year: str, scheme: str = "FOUR-COLOUR") -> dict:
    """The carbon-efficiency rating of an enterprise for a year: its verified emissions per
    10,000 yuan of value added, against its sector's benchmark, coloured by the scheme's bands.
    The benchmark and the bands are dated data with their sources, named in the answer."""
    rules = RATING_SCHEMES[one_of("scheme", scheme, RATING_SCHEMES, "RATING_SCHEME_UNKNOWN")]
    account = ledger.carbon_account(participant)
    report = account.report_of(year)
    if not report.get("value_added_10k_yuan"):
        raise Conflict(f"{participant}'s {year} report gives no value added: no carbon efficiency to rate",
                       code="RATING_NEEDS_VALUE_ADDED")  # fmt: skip
    benchmark = SECTOR_BENCHMARKS.get((account.sector, year))
    if benchmark is None:
        raise Conflict(f"no {year} benchmark for the sector {account.sector}", code="BENCHMARK_NOT_FOUND",
                       sector=account.sector)  # fmt: skip
    emitted = sum(report["scopes_kg"].values())
    efficiency = emitted // report["value_added_10k_yuan"]
    percent = emitted * 100 / (report["value_added_10k_yuan"] * benchmark.kg_per_10k_yuan)
    colour = next(c for top, c in rules.bands if top is None or percent <= top)
    return {
        "participant": participant, "year": year, "sector": account.sector, "colour": colour,
        "kg_per_10k_yuan": efficiency, "percent_of_benchmark": round(percent, 1),
        "benchmark": {"kg_per_10k_yuan": benchmark.kg_per_10k_yuan, "source": benchmark.source},
        "scheme": {"code": rules.code, "bands": [list(b) for b in rules.bands], "source": rules.source},
    }  # fmt: skip
