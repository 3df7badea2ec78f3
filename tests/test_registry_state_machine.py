"""A stateful property test of the registry: random issues, transfers, retirements, cancellations
and expiries, checked after every step against a plain model kept by the test (one entry per
serial), and against a replay of every batch from the store.

SQLite only, for speed: the stories and the bad-input tests cover PostgreSQL.
"""

from __future__ import annotations

import calendar
import importlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ledger.app import Ledger
from ledger.errors import LedgerError
from tests.conftest import TODAY
from tests.registry_support import CON, GEN, GENERATOR, RETIREMENT, TRD, market, pv
from tests.support import month

ACCOUNTS = (GEN, TRD, CON)
# mostly days on which everything is still valid; then the edges of the 2025-12-31 (transitional)
# and 2026-12-31 (January 2025) validity, and a day after most of it
DAYS = (
    date(2025, 6, 1),
    date(2025, 9, 1),
    date(2025, 12, 31),
    date(2026, 1, 1),
    date(2026, 12, 31),
    date(2027, 1, 1),
    date(2028, 6, 1),
)
# device -> (technology, commissioned on, first production month): PV starts before 2024 so the
# transitional validity rule is exercised; old hydro earns only non-tradable GECs
DEVICES = {
    "SIP-PV-0001": ("distributed_pv", "2023-05-01", (2023, 12)),
    "YN-HYDRO-OLD": ("hydro", "2015-06-01", (2025, 1)),
}
PROJECT, PROGRAMME = "CCER-GD-0001", "SIP-PHCER"
# SQLite fsyncs every commit; a RAM-backed directory, where there is one, makes the examples 3x faster
FAST_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
STATE_CODES = {"retired": "UNITS_RETIRED", "cancelled": "UNITS_CANCELLED", "expired": "UNITS_EXPIRED"}


@dataclass(frozen=True)
class Refusal:
    codes: frozenset[str]


def refusal(*codes: str) -> Refusal:
    return Refusal(frozenset(codes))


SUCCEEDS = "the command succeeds"


def merged(pieces: list[list[int]]) -> list[list[int]]:
    """Sorted, disjoint pieces joined where they touch (the serials they cover, as ranges)."""
    out: list[list[int]] = []
    for start, end in sorted(pieces):
        assert start < end, pieces
        assert not out or out[-1][1] <= start, f"pieces overlap: {pieces}"
        if out and out[-1][1] == start:
            out[-1][1] = end
        else:
            out.append([start, end])
    return out


def runs(serials: list[int]) -> list[list[int]]:
    return merged([[i, i + 1] for i in serials])


def last_valid_day(year: int, m: int) -> date:
    """24 months, the production month included; production before 2024 valid through 2025-12-31."""
    if year < 2024:
        return date(2025, 12, 31)
    index = year * 12 + m - 1 + 23
    y, mm = divmod(index, 12)
    return date(y, mm + 1, calendar.monthrange(y, mm + 1)[1])


class Model:
    """The test's own account of one batch: [holder, state, sales] per serial."""

    def __init__(
        self,
        code: str,
        quantity: int,
        tradable: bool,
        max_sales: int | None,
        valid_through: date | None,
        not_before: date | None = None,
    ):
        self.code = code
        self.quantity = quantity
        self.tradable = tradable
        self.max_sales = max_sales
        self.valid_through = valid_through
        self.not_before = not_before  # the day after the production behind the units ended
        self.units = [[GEN, "active", 0] for _ in range(quantity)]
        self.retirements = 0
        self.last_on: date | None = None  # the latest business date recorded on the batch
        self.expired_as_of: date | None = None

    def expired_on(self, day: date) -> bool:
        return self.valid_through is not None and day > self.valid_through

    def dated(self, day: date, account: str, action: str, quantity: int | None, span: tuple[int, int] | None):
        """What a move or retirement dated `day` does: the serials it takes, or a Refusal. Dates
        never go backwards on a batch; a date behind a recorded expiry is an expired unit; nothing
        moves before the units exist."""
        if self.not_before is not None and day < self.not_before:
            return refusal("DATE_BEFORE_PRODUCTION")
        if self.last_on is not None and day < self.last_on:
            return refusal("UNITS_EXPIRED" if self.expired_as_of else "DATE_BEFORE_LAST_RECORDED")
        if self.expired_on(day):
            return refusal("UNITS_EXPIRED")
        return self.select(account, action, quantity, span)

    def why_not(self, i: int, account: str, action: str) -> str | None:
        holder, state, sales = self.units[i]
        if holder != account:
            return "NOT_HOLDER"
        if state != "active":
            return STATE_CODES[state]
        if action == "transfer" and not self.tradable:
            return "NOT_TRADABLE"
        if action == "transfer" and self.max_sales is not None and sales >= self.max_sales:
            return "ALREADY_SOLD"
        return None

    def select(self, account: str, action: str, quantity: int | None, span: tuple[int, int] | None):
        """The serials a command takes, or a Refusal."""
        if quantity is not None:
            if quantity > self.quantity:
                return refusal("QUANTITY_OUT_OF_RANGE")
            held = [i for i in range(self.quantity) if self.units[i][0] == account]
            movable = [i for i in held if self.why_not(i, account, action) is None]
            if len(movable) >= quantity:
                return movable[:quantity]
            reasons = [self.why_not(i, account, action) for i in held if i not in movable]
            return refusal(reasons[0] if reasons else "INSUFFICIENT_UNITS")
        reasons = [self.why_not(i, account, action) for i in range(*span)]
        problems = [r for r in reasons if r is not None]
        return refusal(problems[0]) if problems else list(range(*span))

    def ranges(self) -> list[list]:
        out: list[list] = []
        for i, unit in enumerate(self.units):
            if out and out[-1][2:] == unit:
                out[-1][1] = i + 1
            else:
                out.append([i, i + 1, *unit])
        return out

    def supply(self) -> dict[str, int]:
        totals = dict.fromkeys(("active", "frozen", "retired", "cancelled", "expired", "exported"), 0)
        for _, state, _ in self.units:
            totals[state] += 1
        return totals


class RegistryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="oneclaim-sm-", dir=FAST_DIR))
        self.db_url = f"sqlite:///{self.directory / 'ledger.sqlite'}"
        self.ledger = Ledger(self.db_url, clock=lambda: TODAY)
        market(self.ledger)
        for code, (technology, commissioned_on, _) in DEVICES.items():
            pv(self.ledger, code, technology, capacity_kw=100_000, commissioned_on=commissioned_on)
        self.ledger.register_ccer_project(PROJECT, "CCER-14-001-V01", GENERATOR, [], "2025-01-01", "2030-12-31")
        self.ledger.establish_programme(
            PROGRAMME, "苏州工业园区碳普惠", "江苏苏州", ["ev_charging"], "SIP-2020-PURCHASED"
        )
        self.next_month = {code: first for code, (_, _, first) in DEVICES.items()}
        self.carry = {code: {"tradable": 0, "non_tradable": 0} for code in DEVICES}
        self.ccer_periods: list[tuple[str, str]] = []
        self.inclusion_periods: dict[str, int] = {}
        self.batches: dict[str, Model] = {}
        self.replayer = Ledger(self.db_url)  # a second application: everything it knows, it reads from the store
        self.readmodel = self._readmodel()

    # ------------------------------------------------------------------ running a command

    def run(self, predicted, command, *args, events: int = 1, **kwargs):
        """Run a command; it must do what the model predicts, and write exactly when it succeeds."""
        size = self.ledger.log.size()
        try:
            result = command(*args, **kwargs)
        except LedgerError as e:
            event(f"{command.__name__}: {e.code}")
            assert isinstance(predicted, Refusal), f"refused with {e}; the model expected {predicted}"
            assert e.code in predicted.codes, f"refused with {e}; the model expected {set(predicted.codes)}"
            assert self.ledger.log.size() == size, f"{e.code}: a refused command wrote to the log"
            return None
        event(f"{command.__name__}: ok")
        assert not isinstance(predicted, Refusal), f"succeeded; the model expected {set(predicted.codes)}"
        assert self.ledger.log.size() == size + events
        return result

    def model(self, pick: int) -> Model:
        return list(self.batches.values())[pick % len(self.batches)]

    @staticmethod
    def parties(model: Model, who: int, to: int) -> tuple[str, str]:
        """A holder of some of the batch's units (whatever their state), and another account."""
        holders = sorted({holder for holder, _, _ in model.units})
        source = holders[who % len(holders)]
        others = [a for a in ACCOUNTS if a != source]
        return source, others[to % len(others)]

    @initialize(on_grid=st.integers(1_000, 40_000), kg=st.integers(1, 60))
    def some_units_to_start_with(self, on_grid: int, kg: int) -> None:
        self.issue_gecs("SIP-PV-0001", on_grid, 0)
        self.issue_ccer(kg, again=False)

    # ------------------------------------------------------------------ issuing

    @rule(
        device=st.sampled_from(sorted(DEVICES)),
        on_grid=st.one_of(st.integers(0, 40_000), st.just(2_500_000)),
        self_consumed=st.integers(0, 3_000),
    )
    def issue_gecs(self, device: str, on_grid: int, self_consumed: int) -> None:
        year, m = self.next_month[device]
        self.next_month[device] = (year + m // 12, m % 12 + 1)
        self.ledger.record_reading(device, *month(year, m), on_grid, self_consumed)
        tradable = DEVICES[device][0] != "hydro"
        pools = {"tradable": on_grid if tradable else 0, "non_tradable": self_consumed + (0 if tradable else on_grid)}
        expected = []
        if on_grid + self_consumed:
            for kind, suffix in (("tradable", "T"), ("non_tradable", "N")):
                quantity, self.carry[device][kind] = divmod(pools[kind] + self.carry[device][kind], 1_000)
                if quantity:
                    expected.append((f"GEC-{year}{m:02d}-{device}-{suffix}", quantity, kind == "tradable"))
        predicted = expected if on_grid + self_consumed else refusal("NO_READINGS")
        batches = self.run(predicted, self.ledger.issue_gec, device, f"{year}-{m:02d}", GEN, events=1 + len(expected))
        if batches is None:
            return
        assert [(b.code, b.quantity, b.tradable) for b in batches] == expected
        assert self.ledger.device(device).carry_kwh == self.carry[device]
        for code, quantity, sellable in expected:
            produced = date(year + m // 12, m % 12 + 1, 1)
            self.batches[code] = Model(code, quantity, sellable, 1, last_valid_day(year, m), produced)
        for batch in batches:
            assert batch.valid_through == last_valid_day(year, m).isoformat()

    @rule(kg=st.integers(1, 60), again=st.booleans())
    def issue_ccer(self, kg: int, again: bool) -> None:
        if again and self.ccer_periods:
            start, end = self.ccer_periods[-1]
            self.run(refusal("PERIOD_ALREADY_VERIFIED"), self.ledger.issue_ccer, PROJECT, start, end, kg, GEN)
            return
        year, m = divmod(len(self.ccer_periods), 12)
        start = date(2025 + year, m + 1, 1)
        end = date(start.year, start.month, calendar.monthrange(start.year, start.month)[1])
        batch = self.run(
            SUCCEEDS, self.ledger.issue_ccer, PROJECT, start.isoformat(), end.isoformat(), kg, GEN, events=2
        )
        self.ccer_periods.append((start.isoformat(), end.isoformat()))
        assert (batch.instrument, batch.quantity) == ("CCER", kg)
        self.batches[batch.code] = Model(batch.code, kg, True, None, None, end + timedelta(days=1))

    @rule(kg=st.integers(1, 60), subject=st.sampled_from(["SIP-EV-01", "SIP-EV-02"]), again=st.booleans())
    def issue_inclusion(self, kg: int, subject: str, again: bool) -> None:
        issued = self.inclusion_periods.get(subject, 0)
        if again and issued:
            period, predicted = f"2025-W{issued:02d}", refusal("ALREADY_ISSUED")
        else:
            period, predicted = f"2025-W{issued + 1:02d}", SUCCEEDS
            self.inclusion_periods[subject] = issued + 1
        issue = self.ledger.issue_inclusion
        batch = self.run(
            predicted, issue, PROGRAMME, "ev_charging", GEN, subject=subject, period=period, kg_co2e=kg, events=2
        )
        if batch is not None:
            assert (batch.instrument, batch.quantity) == ("INCLUSION", kg)
            self.batches[batch.code] = Model(batch.code, kg, True, None, None)

    # ------------------------------------------------------------------ moving and ending units

    def _span(self, model: Model, start: int, length: int) -> tuple[int, int]:
        start %= model.quantity
        return start, min(start + length, model.quantity)

    def _transfer(self, model: Model, source: str, target: str, day: date, quantity=None, span=None) -> None:
        predicted = model.dated(day, source, "transfer", quantity, span)
        spans = None if span is None else [span]
        moved = self.run(
            predicted if isinstance(predicted, Refusal) else SUCCEEDS,
            self.ledger.transfer,
            model.code,
            source,
            target,
            quantity=quantity,
            spans=spans,
            on=day,
        )
        if moved is not None:
            assert merged(moved) == runs(predicted)
            model.last_on = day
            for i in predicted:
                model.units[i][0] = target
                model.units[i][2] += 1

    @rule(
        pick=st.integers(0, 10**6),
        who=st.integers(0, 2),
        to=st.integers(0, 1),
        quantity=st.one_of(st.integers(1, 50), st.just(10**6)),
        day=st.sampled_from(DAYS),
    )
    def transfer_a_quantity(self, pick: int, who: int, to: int, quantity: int, day: date) -> None:
        model = self.model(pick)
        self._transfer(model, *self.parties(model, who, to), day, quantity=quantity)

    @rule(
        pick=st.integers(0, 10**6),
        who=st.integers(0, 2),
        to=st.integers(0, 1),
        start=st.integers(0, 10**6),
        length=st.integers(1, 20),
        day=st.sampled_from(DAYS),
    )
    def transfer_serials(self, pick: int, who: int, to: int, start: int, length: int, day: date) -> None:
        model = self.model(pick)
        self._transfer(model, *self.parties(model, who, to), day, span=self._span(model, start, length))

    @rule(
        pick=st.integers(0, 10**6),
        who=st.integers(0, 2),
        quantity=st.one_of(st.none(), st.integers(1, 30)),
        start=st.integers(0, 10**6),
        length=st.integers(1, 20),
        day=st.sampled_from(DAYS),
    )
    def retire(self, pick: int, who: int, quantity: int | None, start: int, length: int, day: date) -> None:
        model = self.model(pick)
        account, _ = self.parties(model, who, 0)
        span = None if quantity is not None else self._span(model, start, length)
        predicted = model.dated(day, account, "retire", quantity, span)
        retirement_id = self.run(
            predicted if isinstance(predicted, Refusal) else f"{model.code}/R{model.retirements + 1}",
            self.ledger.retire,
            model.code,
            account,
            quantity=quantity,
            spans=None if span is None else [span],
            on=day,
            **RETIREMENT,
        )
        if retirement_id is not None:
            model.retirements += 1
            model.last_on = day
            assert retirement_id == f"{model.code}/R{model.retirements}"
            record = self.ledger.batch(model.code).retirements[retirement_id]
            assert (merged(record["ranges"]), record["account"]) == (runs(predicted), account)
            for i in predicted:
                model.units[i][1] = "retired"

    @rule(pick=st.integers(0, 10**6), whole=st.booleans(), start=st.integers(0, 10**6), length=st.integers(1, 20))
    def cancel(self, pick: int, whole: bool, start: int, length: int) -> None:
        model = self.model(pick)
        span = (0, model.quantity) if whole else self._span(model, start, length)
        hit = [i for i in range(*span) if model.units[i][1] in ("active", "frozen")]
        spans = None if whole else [span]
        sold = whole and any(model.units[i][2] > 0 for i in hit)  # the whole batch, with units a buyer holds
        predicted = refusal("SOLD_UNITS_NOT_NAMED") if sold else SUCCEEDS if hit else refusal("NOTHING_TO_CANCEL")
        cancelled = self.run(predicted, self.ledger.cancel, model.code, "issuer dispute", spans)
        if cancelled is not None:
            assert merged(cancelled) == runs(hit)
            for i in hit:
                model.units[i][1] = "cancelled"

    @rule(day=st.sampled_from(DAYS))
    def expire(self, day: date) -> None:
        due = {}
        for code, model in self.batches.items():
            held = [i for i in range(model.quantity) if model.units[i][1] in ("active", "frozen")]
            if model.expired_on(day) and held:
                due[code] = held
        expired = self.run(SUCCEEDS, self.ledger.expire_batches, list(self.batches), day, events=len(due))
        assert {code: merged(pieces) for code, pieces in expired.items()} == {c: runs(s) for c, s in due.items()}
        for code, serials in due.items():
            self.batches[code].last_on = self.batches[code].expired_as_of = day
            for i in serials:
                self.batches[code].units[i][1] = "expired"

    # ------------------------------------------------------------------ invariants

    @invariant()
    def every_batch_agrees_with_the_model_and_with_a_replay(self) -> None:
        for code, model in self.batches.items():
            batch = self.ledger.batch(code)
            ranges = batch.ranges
            assert ranges[0].start == 0 and ranges[-1].end == batch.quantity == model.quantity
            for before, after in zip(ranges, ranges[1:], strict=False):
                assert before.end == after.start, f"{code}: a gap or an overlap between {before} and {after}"
                kinds = [(r.holder, r.state, r.sales) for r in (before, after)]
                assert kinds[0] != kinds[1], f"{code}: {before} and {after} should be one range"
            assert all(r.start < r.end for r in ranges)
            supply = batch.supply()
            assert sum(supply.values()) == batch.quantity  # issued = held + retired + cancelled + expired + ...
            assert supply == model.supply()
            assert [list(r) for r in ranges] == model.ranges()
            again = self.replayer.batch(code)
            assert (again.ranges, again.retirements, again.version) == (ranges, batch.retirements, batch.version)

    # ------------------------------------------------------------------ the read model, if there is one

    def _readmodel(self):
        if importlib.util.find_spec("ledger.readmodel") is None:
            return None  # no read model yet: its checks are skipped
        return importlib.import_module("ledger.readmodel").ReadModel(self.ledger)

    def _read_model_view(self, readmodel) -> tuple:
        holdings = [readmodel.holdings(account) for account in ACCOUNTS]
        return holdings, [readmodel.supply(code) for code in self.batches]

    @invariant()
    def the_caught_up_read_model_agrees_with_the_model(self) -> None:
        if self.readmodel is None:
            return
        self.readmodel.catch_up()
        for account in ACCOUNTS:
            held = {(e["batch"], e["state"]): e["units"] for e in self.readmodel.holdings(account)}
            expected: dict[tuple[str, str], int] = {}
            for code, model in self.batches.items():
                for holder, state, _ in model.units:
                    if holder == account:
                        expected[code, state] = expected.get((code, state), 0) + 1
            assert held == expected, account
        for code, model in self.batches.items():
            supply = self.readmodel.supply(code)
            assert {state: supply[state] for state in model.supply()} == model.supply(), code

    def teardown(self) -> None:
        try:
            if self.readmodel is not None:
                # caught up step by step since the first event; now rebuilt from the whole log at once
                caught_up = self._read_model_view(self.readmodel)
                rebuilt = importlib.import_module("ledger.readmodel").ReadModel(self.ledger)
                try:
                    rebuilt.rebuild()
                    assert self._read_model_view(rebuilt) == caught_up
                finally:
                    rebuilt.close()
                    self.readmodel.close()
        finally:
            self.ledger.close()
            self.replayer.close()
            shutil.rmtree(self.directory, ignore_errors=True)


RegistryMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    # no explain phase: on Python 3.11 it traces every line, and a failure took longer to explain
    # than the test's time limit (the timeout then hid the failure itself)
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)
TestRegistryStateMachine = RegistryMachine.TestCase
