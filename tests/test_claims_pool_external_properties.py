"""Property, through the whole application: over random readings, corrections, GEC issuances,
carbon-inclusion issuances and claims reported by other registries (import_external) on one
device, the kWh claimed never exceed the kWh metered for any reading, the claims' allocations
add up to what the pool says is claimed, every DOUBLE_CLAIM names earlier claims that really
exist, every refusal writes nothing, and every case opened names real claims.

Runs on SQLite and on PostgreSQL. All examples of a run share one ledger (a fresh database per
run); each example has a device, owner and programme of its own. `hypothesis.event` labels each
step's outcome: run with --hypothesis-show-statistics to see how often each command succeeds or is
refused (DOUBLE_CLAIM, READING_ALREADY_CERTIFIED, ...).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger.app import Ledger
from ledger.domain.values import CHINA
from ledger.errors import LedgerError
from tests.pg import create_database, drop_database

START = datetime(2025, 1, 1, tzinfo=CHINA)
DAYS = 90  # daily readings over January to March 2025
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
MONTHS = ("2025-01", "2025-02", "2025-03")


@dataclass(frozen=True)
class Names:
    """The codes one example works with."""

    n: int

    @property
    def device(self) -> str:
        return f"PROP-PV-{self.n:04d}"

    @property
    def owner(self) -> str:
        return f"PROP-GEN-{self.n:04d}"

    @property
    def account(self) -> str:
        return f"acct:prop-gen-{self.n:04d}"

    @property
    def programme(self) -> str:
        return f"PROP-PHCER-{self.n:04d}"


days = st.integers(0, DAYS - 1)
kwh = st.integers(0, 20_000)  # the 1,000 kW device can make 24,000 kWh a day

external_row = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["JS-PHCER", "I-REC-CN"]),
        "reference": st.integers(0, 5),  # repeats: a re-imported claim is skipped
        "instrument": st.sampled_from(["INCLUSION", "CCER", "GREEN_POWER"]),
        "day": days,
        "days": st.integers(1, 15),
        "hours": st.sampled_from([0, 0, 6]),  # an interval need not follow the readings
        "amount": st.one_of(
            st.tuples(st.just("kwh"), st.integers(1, 60_000)),
            st.tuples(st.just("kg_co2e"), st.integers(1, 30_000)),
        ),
    }
)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("read"), days, kwh, st.sampled_from([0, 0, 300])),
        # the i-th current reading (of those with claims on them, if `claimed`), re-read as kwh
        st.tuples(st.just("correct"), st.integers(0, 1_000), kwh, st.booleans()),
        st.tuples(st.just("gec"), st.integers(0, 2)),
        st.tuples(st.just("inclusion"), days, st.integers(1, 5), st.sampled_from([0, 0, 0, 12])),
        st.tuples(st.just("inclusion_month"), st.integers(0, 2)),
        st.tuples(st.just("external"), st.lists(external_row, min_size=1, max_size=3)),
    ),
    max_size=25,
)
# Readings recorded before the steps (one import), so issuances mostly find electricity to claim.
metered = st.one_of(st.dictionaries(days, kwh, max_size=10), st.dictionaries(days, kwh, min_size=30, max_size=DAYS))


def at(day: int, hours: int = 0) -> str:
    return (START + day * DAY + hours * HOUR).isoformat()


def pick_reading(ledger: Ledger, code: str, i: int, claimed: bool) -> int | None:
    device = ledger.device(code)
    versions = sorted(device.readings)
    if claimed and any(device.claimed.get(v) for v in versions):
        versions = [v for v in versions if device.claimed.get(v)]
    return versions[i % len(versions)] if versions else None


def run_step(ledger: Ledger, x: Names, step: tuple, line: list[int]) -> dict | None:
    kind = step[0]
    if kind == "read":
        _, day, on_grid, own = step
        ledger.record_reading(x.device, at(day), at(day + 1), on_grid, own)
    elif kind == "correct":
        _, i, on_grid, claimed = step
        version = pick_reading(ledger, x.device, i, claimed)
        if version is not None:
            ledger.correct_reading(x.device, version, on_grid, 0, "meter re-read")
    elif kind == "gec":
        ledger.issue_gec(x.device, MONTHS[step[1]], x.account)
    elif kind == "inclusion":
        _, day, n, hours = step
        end = min(day + n, DAYS)
        ledger.issue_inclusion(
            x.programme, "distributed_pv", x.account, device=x.device, start=at(day, hours), end=at(end, hours)
        )
    elif kind == "inclusion_month":
        ledger.issue_inclusion(x.programme, "distributed_pv", x.account, device=x.device, month=MONTHS[step[1]])
    else:
        rows = []
        for r in step[1]:
            line[0] += 1
            end = min(r["day"] + r["days"], DAYS)
            name, amount = r["amount"]
            row = {
                "line": line[0],
                "source": r["source"],
                # References are this example's own: a case is keyed by source and reference only
                # (see test_one_claim_stories.py, the case-key collision), and examples share a log.
                "reference": f"R-{x.n}-{r['reference']}",
                "instrument": r["instrument"],
                "device": x.device,
                "start": at(r["day"], r["hours"]),
                "end": at(end, r["hours"]),
                name: amount,
            }
            if name == "kg_co2e":
                row["factor"] = "SIP-2020-PURCHASED"
            rows.append(row)
        return ledger.import_external(rows)
    return None


def check_pool(ledger: Ledger, code: str) -> None:
    device = ledger.device(code)
    for version, reading in device.readings.items():
        assert 0 <= device.claimed.get(version, 0) <= reading.on_grid_kwh, f"reading v{version} is over-claimed"
    assert set(device.claimed) <= set(device.readings)  # claims follow corrections
    allocated: dict[int, int] = {}
    for claim in device.claims.values():
        assert claim.kwh == sum(k for _, k in claim.allocations)
        for version, k in claim.allocations:
            assert version in device.readings and k > 0
            allocated[version] = allocated.get(version, 0) + k
    assert allocated == {v: k for v, k in device.claimed.items() if k}
    check = ledger.claims_check(code)
    assert check["claimed_kwh"] + check["free_kwh"] == check["metered_kwh"]
    assert check["metered_kwh"] == sum(r.on_grid_kwh for r in device.readings.values())


def run(ledger: Ledger, readings: dict[int, int], steps: list[tuple], n: int) -> None:
    x = Names(n)
    ledger.add_participant(x.owner, "园区光伏运营商", "generator", "江苏", "苏州")
    ledger.open_account(x.account, x.owner)
    ledger.register_device(
        x.device, "distributed_pv", 1_000, "江苏", "苏州", x.owner, "2023-05-01", ("GEC", "INCLUSION")
    )
    ledger.establish_programme(x.programme, "苏州工业园区碳普惠", "苏州", ["distributed_pv"], "SIP-2020-PURCHASED")
    rows = [
        {"line": i, "device": x.device, "start": at(day), "end": at(day + 1), "on_grid_kwh": k}
        for i, (day, k) in enumerate(sorted(readings.items()))
    ]
    ledger.import_readings(rows)
    line = [1]
    for step in steps:
        size = ledger.log.size()
        try:
            result = run_step(ledger, x, step, line)
        except LedgerError as e:
            event(f"{step[0]}: {e.code}")
            assert e.code != "CONCURRENT_UPDATE", "one writer alone can never lose a race"
            assert ledger.log.size() == size, f"{e.code}: a refused command appended to the log"
            if e.code == "DOUBLE_CLAIM":
                claims = ledger.device(x.device).claims
                named = [c["claim"] for c in e.details["earlier_claims"]]
                assert named and set(named) <= set(claims), f"{named} are not all claims of {x.device}"
                for c in e.details["earlier_claims"]:
                    assert 0 < c["kwh"] <= claims[c["claim"]].kwh
                assert e.details["overlap_kwh"] == e.details["requested_kwh"] - e.details["free_kwh"] > 0
        else:
            event(f"{step[0]}: done")
            if result is not None:
                event(f"external: {result['accepted']} accepted, {len(result['cases_opened'])} case(s)")
                claims = ledger.device(x.device).claims
                for code in result["cases_opened"]:
                    case = ledger.case(code)
                    assert {c["claim"] for c in case.ours} <= set(claims)
                    assert case.overlap_kwh == case.theirs["kwh"] - case.theirs["free_kwh"] > 0
        check_pool(ledger, x.device)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(request: pytest.FixtureRequest) -> Iterator[Ledger]:
    """One ledger for all examples (hypothesis calls the test many times); each example works on
    a device, owner and programme of its own, so examples never see each other's claims."""
    if request.param == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            ledger = Ledger(f"sqlite:///{tmp}/ledger.sqlite")
            try:
                yield ledger
            finally:
                ledger.close()
        return
    server = request.getfixturevalue("pg_server_url")
    url = create_database(server, "claims_pool_external")
    ledger = Ledger(url)
    try:
        yield ledger
    finally:
        ledger.close()
        drop_database(server, url)


EXAMPLES = count()


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readings=metered, steps=steps)
def test_claims_never_exceed_metered_kwh_whatever_the_order_of_commands(shared: Ledger, readings, steps) -> None:
    run(shared, readings, steps, next(EXAMPLES))
