"""Property, through the whole application: over random interleavings of every instrument's
issuance (GECs for months in any order, generation-based carbon inclusion, CCER reductions that
cancel frozen GECs), meter readings and corrections, green-power settlement, sales here, sale
reports and claims from other platforms, case resolutions and cancellations, one MWh never earns
two claims.

After every step:
- no kWh carries two claims: no reading is claimed beyond its metered on-grid kWh, and the claims'
  allocations add up to what the pool says is claimed;
- every month's metered kWh is claimed, free or carried, never lost: per month metered = claimed
  + free, and per device the GEC claims plus the kWh cancelled GECs gave back equal the GECs
  issued (1,000 kWh each) plus the remainder carried to the next month;
- no unit is both sold, retired or cancelled (or otherwise ended) here and reported sold
  elsewhere without a double-counting case that records it;
- conservation per batch: its ranges partition its serials, and its supply adds up to its quantity;
- every refusal writes nothing.

SQLite in a RAM directory where there is one, a fresh ledger per example. `hypothesis.event`
labels each step's outcome (--hypothesis-show-statistics).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date
from itertools import count

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from ledger.app import Ledger
from ledger.errors import LedgerError
from tests.conftest import TODAY
from tests.registry_support import CON, GEN, GENERATOR, market, pv
from tests.support import month
from tests.test_claims_pool_external_properties import check_pool

PV, WIND = "SIP-PV-0042", "JS-DSOW-01"
DEVICES = (PV, WIND)
MONTHS = ("2025-01", "2025-02", "2025-03", "2025-04")
PROJECT, PROGRAMME, CONTRACT = "CCER-JS-0001", "SIP-PHCER", "GP-SIP-0042"
FACTOR = "SIP-2020-PURCHASED"
SOLD_ON = date(2025, 5, 10)  # every move is dated after the last production month has ended
FAST_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
ENDED = ("retired", "cancelled", "expired", "exported")
RETIREMENT = {"beneficiary": "SIP-FAB-01", "purpose": "green_consumption_claim", "reporting_period": "2025",
              "location": "江苏省苏州市"}  # fmt: skip

device = st.sampled_from(DEVICES)
months = st.integers(0, len(MONTHS) - 1)
kwh = st.sampled_from([0, 999, 1_000, 12_345, 40_000, 250_000])
sources = st.integers(0, 3)
# the readings recorded before the steps, per device and month (None: that month is unmetered)
initial = st.fixed_dictionaries({(d, m): st.one_of(st.none(), kwh) for d in DEVICES for m in range(len(MONTHS))})
steps = st.lists(
    st.one_of(
        st.tuples(st.just("read"), device, months, kwh),
        st.tuples(st.just("correct"), device, months, kwh),
        st.tuples(st.just("gec"), device, months),  # any month: earlier open months are refused
        st.tuples(st.just("gec_next"), device),  # the earliest metered month without GECs
        st.tuples(st.just("gec_next"), device),
        st.tuples(st.just("inclusion"), months),
        st.tuples(st.just("ccer"), months, st.integers(1, 200_000)),
        st.tuples(st.just("external"), device, months, st.integers(1, 60_000), st.integers(0, 3)),
        st.tuples(
            st.just("sale_report"), st.integers(0, 99), st.integers(0, 300), st.integers(1, 40), st.integers(0, 3)
        ),
        st.tuples(st.just("transfer"), st.integers(0, 99), st.integers(1, 30)),
        st.tuples(st.just("retire"), st.integers(0, 99), st.sampled_from([GEN, CON]), st.integers(1, 30)),
        st.tuples(st.just("settle"), months, st.integers(0, 60_000)),
        st.tuples(st.just("resolve"), st.integers(0, 99), st.sampled_from(["ours_cancelled", "external_withdrawn"])),
        st.tuples(st.just("cancel"), st.integers(0, 99), st.booleans(), st.integers(0, 300), st.integers(1, 40)),
    ),
    min_size=5,
    max_size=40,
)


def new_ledger(directory: str) -> Ledger:
    ledger = Ledger(f"sqlite:///{directory}/ledger.sqlite", clock=lambda: TODAY)
    market(ledger)
    pv(ledger, PV, capacity_kw=5_000, schemes=("GEC", "INCLUSION"))
    pv(ledger, WIND, "deep_sea_offshore_wind", capacity_kw=5_000, schemes=("GEC", "CCER"))
    ledger.elect(WIND, "CCER", "2025-01-01")
    ledger.register_ccer_project(
        PROJECT, "CCER-01-001-V01", GENERATOR, [WIND], "2025-01-01", "2034-12-31", factor=FACTOR, on=date(2025, 1, 1)
    )
    ledger.establish_programme(PROGRAMME, "苏州工业园区碳普惠", "江苏苏州", ["distributed_pv"], FACTOR)
    ledger.sign_contract(CONTRACT, PV, GEN, CON, {m: 30 for m in MONTHS})
    return ledger


def gec_batches(ledger: Ledger) -> list[str]:
    return sorted(code for d in DEVICES for codes in ledger.device(d).gec_months.values() for code in codes)


def picked_batch(ledger: Ledger, pick: int) -> str | None:
    """The GEC batch a step's `pick` names, among those issued so far (None if there are none)."""
    batches = gec_batches(ledger)
    return batches[pick % len(batches)] if batches else None


def run_step(ledger: Ledger, step: tuple, references: count) -> str:
    """Run one step; returns what it was (for the statistics)."""
    kind = step[0]
    if kind == "read":
        _, code, m, on_grid = step
        ledger.record_reading(code, *month(2025, m + 1), on_grid, 0)
    elif kind == "correct":
        _, code, m, on_grid = step
        start, end = month(2025, m + 1)
        row = {"line": 2, "device": code, "start": start, "end": end, "on_grid_kwh": on_grid, "reason": "re-read"}
        ledger.import_corrections([row])
    elif kind == "gec":
        ledger.issue_gec(step[1], MONTHS[step[2]], GEN)
    elif kind == "gec_next":
        d = ledger.device(step[1])
        open_months = sorted(m for m in d.months if m not in d.gec_months)
        if not open_months:
            return "gec_next: none open"
        ledger.issue_gec(step[1], open_months[0], GEN)
    elif kind == "inclusion":
        ledger.issue_inclusion(PROGRAMME, "distributed_pv", GEN, device=PV, month=MONTHS[step[1]])
    elif kind == "ccer":
        _, m, kg = step
        start, end = month(2025, m + 1)
        last = date.fromisoformat(end[:10]).toordinal() - 1
        ledger.issue_ccer(PROJECT, start[:10], date.fromordinal(last).isoformat(), kg, GEN)
    elif kind == "external":
        _, code, m, amount, source = step
        start, end = month(2025, m + 1)
        row = {"line": 2, "source": f"REG-{source}", "reference": f"C-{next(references)}", "instrument": "INCLUSION",
               "device": code, "start": start, "end": end, "kwh": amount}  # fmt: skip
        ledger.import_external([row])
    elif kind == "sale_report":
        _, pick, first, length, source = step
        if (code := picked_batch(ledger, pick)) is None:
            return "sale_report: no batch"
        quantity = ledger.batch(code).quantity
        first = first % quantity
        last = min(first + length, quantity)
        row = {"line": 2, "source": f"PLATFORM-{source}", "reference": f"S-{next(references)}", "instrument": "GEC",
               "serials": f"{code}:{first + 1}-{last}", "sold_on": SOLD_ON.isoformat()}  # fmt: skip
        ledger.import_external([row])
    elif kind == "transfer":
        if (code := picked_batch(ledger, step[1])) is None:
            return "transfer: no batch"
        ledger.transfer(code, GEN, CON, quantity=step[2], on=SOLD_ON)
    elif kind == "retire":
        if (code := picked_batch(ledger, step[1])) is None:
            return "retire: no batch"
        ledger.retire(code, step[2], quantity=step[3], on=SOLD_ON, **RETIREMENT)
    elif kind == "settle":
        ledger.settle(CONTRACT, MONTHS[step[1]], step[2], on=SOLD_ON)
    elif kind == "resolve":
        cases = [c for c in ledger.registered("case") if c.status == "open"]
        if not cases:
            return "resolve: no open case"
        ledger.resolve_case(cases[step[1] % len(cases)].code, step[2], "investigated", "SIP-REGISTRY")
    elif kind == "cancel":
        _, pick, whole, first, length = step
        if (code := picked_batch(ledger, pick)) is None:
            return "cancel: no batch"
        quantity = ledger.batch(code).quantity
        spans = None if whole else [(first % quantity, min(first % quantity + length, quantity))]
        ledger.cancel(code, "issuer dispute", spans)
    return f"{kind}: done"


def released_gec_kwh(ledger: Ledger, code: str) -> int:
    """kWh that cancelled GECs gave back to the pool, from the device's ClaimReleased events."""
    device = ledger.device(code)
    return sum(
        k
        for e in ledger.events.get(device.id)
        if type(e).__name__ == "ClaimReleased" and e.claim_id.startswith("GEC/")
        for _, k in e.allocations
    )


def check(ledger: Ledger) -> None:
    for code in DEVICES:
        device = ledger.device(code)
        check_pool(ledger, code)  # no kWh carries two claims, and the claims add up to the pool
        # every month's metered kWh is claimed, free or carried, never lost
        report = ledger.claims_check(code)
        released = released_gec_kwh(ledger, code)
        for m in report["months"]:
            metered = sum(device.readings[v].on_grid_kwh for v in device.months[m["month"]])
            assert m["metered_kwh"] == metered == m["claimed_kwh"] + m["free_kwh"], (code, m)
            if m["gec_batches"] is not None:  # issuance took all that was free; only releases free kWh again
                assert m["free_kwh"] <= released, (code, m)
        gec_claims = sum(c.kwh for cid, c in device.claims.items() if cid.startswith("GEC/"))
        issued = sum(ledger.batch(b).quantity for codes in device.gec_months.values() for b in codes)
        assert gec_claims + released == issued * 1_000 + device.carry_kwh["tradable"], code
        assert device.carry_kwh["non_tradable"] == 0 and device.carry_kwh["tradable"] >= 0
    # green power sold is a claim on the same MWh: never settled from kWh another instrument holds
    pool = ledger.claims_check(PV)["months"]
    for m, settlement in ledger.contract(CONTRACT).settlements.items():
        (row,) = [r for r in pool if r["month"] == m]
        others = sum(k for who, k in row["claimed_by"].items() if not who.startswith("GEC "))
        assert settlement["settled_mwh"] * 1_000 <= row["metered_kwh"] - others, (m, settlement, row)
    for code in gec_batches(ledger):
        batch = ledger.batch(code)
        # conservation per batch
        ranges = batch.ranges
        assert ranges[0].start == 0 and ranges[-1].end == batch.quantity
        assert all(a.end == b.start for a, b in zip(ranges, ranges[1:], strict=False))
        assert sum(batch.supply().values()) == batch.quantity
        # no unit ended here and reported sold elsewhere without a case recording it
        recorded = {
            (x["source"], x["reference"])
            for case in ledger.registered("case")
            if case.subject == code and case.kind in ("SALE_OF_ENDED_UNITS", "GEC_SOLD_TWICE")
            for x in (*case.ours, case.theirs)
        }
        for report in batch.sale_reports.values():
            taken = [  # sold, retired or otherwise ended here
                (max(s, r[0]), min(e, r[1]))
                for s, e in report["spans"]
                for r in ranges
                if (r[3] in ENDED or r[4] > 0) and max(s, r[0]) < min(e, r[1])
            ]
            if taken:
                assert (report["source"], report["reference"]) in recorded, (
                    f"{code}: {taken} sold or ended here and reported sold by {report['source']} with no case"
                )


EXAMPLES = count()


@settings(
    max_examples=int(os.environ.get("ONECLAIM_PROPERTY_EXAMPLES", "60")),  # more for a deeper search
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no line tracing (explain)
    suppress_health_check=[HealthCheck.too_slow],
)
@given(readings=initial, steps=steps)
def test_one_mwh_never_earns_two_claims_whatever_the_interleaving(readings, steps) -> None:
    directory = tempfile.mkdtemp(prefix="oneclaim-prop-", dir=FAST_DIR)
    ledger = new_ledger(directory)
    for (code, m), on_grid in readings.items():
        if on_grid is not None:
            ledger.record_reading(code, *month(2025, m + 1), on_grid, 0)
    references = count(next(EXAMPLES) * 1_000)
    try:
        for step in steps:
            size = ledger.log.size()
            try:
                event(run_step(ledger, step, references))
            except LedgerError as e:
                event(f"{step[0]}: {e.code}")
                assert e.code != "CONCURRENT_UPDATE", "one writer alone can never lose a race"
                assert ledger.log.size() == size, f"{e.code}: a refused {step[0]} appended to the log"
            check(ledger)
    finally:
        ledger.close()
        shutil.rmtree(directory, ignore_errors=True)
