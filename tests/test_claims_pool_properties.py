"""Property: over random readings, corrections, issuances and claims, the kWh claimed never exceed
the kWh metered for any reading, and every refusal names real earlier claims."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.device import Device
from ledger.errors import LedgerError

CHINA = timezone(timedelta(hours=8))
DAY = timedelta(days=1)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(0, 9), st.integers(0, 9_000)),
        st.tuples(st.just("correct"), st.integers(0, 9), st.integers(0, 9_000)),
        st.tuples(st.just("claim"), st.integers(0, 9), st.integers(1, 3), st.integers(1, 12_000)),
        st.tuples(st.just("claim_all"), st.integers(0, 9), st.integers(1, 3), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(steps=steps)
def test_claims_never_exceed_what_was_metered(steps) -> None:
    device = Device.register("PROP-PV", "distributed_pv", 1_000, "江苏", "苏州", "OWNER", "2023-01-01")
    start = datetime(2025, 3, 1, tzinfo=CHINA)
    n = 0
    for step in steps:
        kind, day = step[0], step[1]
        begin = start + day * DAY
        try:
            if kind == "read":
                device.record_reading(begin.isoformat(), (begin + DAY).isoformat(), step[2])
            elif kind == "correct":
                current = [v for v, r in device.readings.items() if datetime.fromisoformat(r.start) == begin]
                if current:
                    device.correct_reading(current[0], step[2], 0, "re-read")
            else:
                n += 1
                end = min(begin + step[2] * DAY, start + 10 * DAY)
                want = (
                    step[3]
                    if kind == "claim"
                    else sum(
                        r.on_grid_kwh - device.claimed.get(v, 0)
                        for v, r in device.readings.items()
                        if begin <= datetime.fromisoformat(r.start) < end
                    )
                )
                if want:
                    device.claim(f"c{n}", "INCLUSION", f"B{n}", begin, end, want)
        except LedgerError as e:
            if e.code == "DOUBLE_CLAIM":
                named = {c["claim"] for c in e.details["earlier_claims"]}
                assert named <= set(device.claims)  # only real earlier claims are named
                assert e.details["overlap_kwh"] == e.details["requested_kwh"] - e.details["free_kwh"] > 0
        for version, reading in device.readings.items():
            assert 0 <= device.claimed.get(version, 0) <= reading.on_grid_kwh
        assert set(device.claimed) <= set(device.readings)  # claims follow corrections
        for claim in device.claims.values():
            assert claim.kwh == sum(k for _, k in claim.allocations)
        assert sum(device.claimed.values()) == sum(c.kwh for c in device.claims.values())
