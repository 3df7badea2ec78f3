"""Read models: the rm_ tables agree with the aggregates after every command, provenance lists
exactly the events that touched a serial with their log seqs, and catching up incrementally gives
the same tables as a rebuild from scratch."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from sqlalchemy import select

from ledger.app import Ledger
from ledger.domain.batch import STATES, Batch, batch_id
from ledger.domain.serials import format_range
from ledger.errors import InvalidInput, NotFound
from ledger.readmodel import ReadModel, metadata
from tests.support import OWNER, ensure_owner, month

GEN, BUYER_A, BUYER_B = "acct:sip-gen", "acct:buyer-a", "acct:buyer-b"
ACCOUNTS = (GEN, BUYER_A, BUYER_B)
DEVICE = "SIP-PV-0001"
T, N = f"GEC-202501-{DEVICE}-T", f"GEC-202501-{DEVICE}-N"  # 25 tradable and 2 non-tradable GECs
RETIREMENT = {"purpose": "green_consumption_claim", "reporting_period": "2025", "location": "苏州"}


@pytest.fixture
def open_models() -> Iterator[Callable[..., ReadModel]]:
    """ReadModel factory; every model made is closed after the test."""
    made: list[ReadModel] = []

    def make(ledger: Ledger, **kwargs) -> ReadModel:
        made.append(ReadModel(ledger, **kwargs))
        return made[-1]

    yield make
    for model in made:
        model.close()


def prepare(ledger: Ledger) -> None:
    ensure_owner(ledger)
    ledger.add_participant("SZ-BUYER", "苏州某制造企业", "consumer", "江苏", "苏州")
    ledger.open_account(GEN, OWNER)
    ledger.open_account(BUYER_A, "SZ-BUYER")
    ledger.open_account(BUYER_B, "SZ-BUYER")
    ledger.register_device(DEVICE, "distributed_pv", 500, "江苏", "苏州工业园区", OWNER, "2023-05-01")
    ledger.record_reading(DEVICE, *month(2025, 1), 25_300, 2_100)


def steps(ledger: Ledger) -> list[Callable[[], object]]:
    """The GEC scenario after prepare(), one command per step (serials are 1-based below)."""
    return [
        lambda: ledger.issue_gec(DEVICE, "2025-01", GEN),
        lambda: ledger.transfer(T, GEN, BUYER_A, quantity=10, on=date(2025, 3, 1)),  # 1-10
        lambda: ledger.retire(T, BUYER_A, beneficiary="苏州某制造企业", quantity=4, on=date(2025, 3, 2), **RETIREMENT),
        lambda: ledger.transfer(T, GEN, BUYER_B, quantity=5, on=date(2025, 4, 1)),  # 11-15
        lambda: ledger.retire(T, GEN, beneficiary="园区管委会", quantity=3, on=date(2025, 4, 2), **RETIREMENT),  # 16-18
        lambda: ledger.retire(N, GEN, beneficiary="园区管委会", quantity=1, on=date(2025, 4, 2), **RETIREMENT),
        lambda: ledger.cancel(T, "meter replaced; readings under review", spans=[(19, 21)]),  # 20-21
        lambda: ledger.expire_batches([T, N], date(2027, 1, 1)),
    ]


def dump(model: ReadModel) -> dict[str, list[tuple]]:
    with model.engine.connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t))) for t in metadata.sorted_tables}


def expected_holdings(ledger: Ledger, codes: list[str], account: str) -> list[dict]:
    out = []
    for code in sorted(codes):
        batch = ledger.batch(code)
        for state in STATES:
            mine = [r for r in batch.ranges if r[2] == account and r[3] == state]
            if mine:
                out.append(
                    {
                        "batch": code,
                        "instrument": batch.instrument,
                        "state": state,
                        "units": sum(e - s for s, e, *_ in mine),
                        "serials": [format_range(code, s, e) for s, e, *_ in mine],
                    }
                )
    return out


def assert_matches_aggregates(model: ReadModel, ledger: Ledger, codes: list[str], accounts=ACCOUNTS) -> None:
    for account in accounts:
        assert model.holdings(account) == expected_holdings(ledger, codes, account)
    for code in codes:
        batch = ledger.batch(code)
        assert model.supply(code) == {
            "batch": code,
            "instrument": batch.instrument,
            "issued": batch.quantity,
            **batch.supply(),
        }
        for i in range(batch.quantity):
            found = model.serial(f"{code}:{i + 1}")
            _, _, holder, state, sales = batch.locate(i)
            assert (found["batch"], found["holder"], found["state"], found["sales"]) == (code, holder, state, sales)
            assert found["origin"] == batch.origin


def touching(ledger: Ledger, code: str, index: int) -> list[tuple[int, str]]:
    """(seq, type) of every event of batch `code` whose ranges include serial `index`, straight
    from the notification log."""
    notifications = ledger.recorder.select_notifications(None, 100_000)
    hits = []
    for n in notifications:
        event = ledger.mapper.to_domain_event(n)
        if event.originator_id != batch_id(code):
            continue
        spans = [[0, event.quantity]] if isinstance(event, Batch.Issued) else event.ranges
        if any(s <= index < e for s, e in spans):
            hits.append((n.id, type(event).__name__))
    seqs = ledger.log.seqs_for_notifications([nid for nid, _ in hits])
    return [(seqs[nid], kind) for nid, kind in hits]


def events(model: ReadModel, serial: str) -> list[tuple[int, str]]:
    return [(e["seq"], e["type"]) for e in model.provenance(serial)["events"]]


def test_queries_follow_the_aggregates_after_every_command(ledger: Ledger, open_models) -> None:
    prepare(ledger)
    # Tiny chunks and a one-batch cache: chunk boundaries fall between a batch's events, and
    # batches are rebuilt from the repository at the version before the event.
    model = open_models(ledger, chunk_size=2, cache_size=1)
    assert model.holdings(GEN) == []
    for step in steps(ledger):
        step()
        assert_matches_aggregates(model, ledger, [T, N])
    assert model.batches() == []
    assert model.batches(with_units_in=("retired",)) == [N, T]
    assert model.batches(instrument="CCER", with_units_in=None) == []


def test_batches_finds_what_expire_would_act_on(ledger: Ledger, open_models) -> None:
    prepare(ledger)
    model = open_models(ledger)
    for step in steps(ledger)[:-1]:
        step()
    assert model.batches(instrument="GEC") == [N, T]
    assert model.batches(expiring_before=date(2026, 12, 31)) == []  # valid through 2026-12-31
    assert model.batches(expiring_before=date(2027, 1, 1)) == [N, T]
    assert model.batches(with_units_in=("frozen", "exported")) == []
    with pytest.raises(InvalidInput) as e:
        model.batches(with_units_in=("held",))
    assert e.value.code == "STATE_INVALID"


def test_provenance_lists_exactly_the_events_that_touched_a_serial(ledger: Ledger, open_models) -> None:
    prepare(ledger)
    model = open_models(ledger)
    for step in steps(ledger):
        step()
    expected_types = {
        1: ["Issued", "Transferred", "Retired"],
        4: ["Issued", "Transferred", "Retired"],
        5: ["Issued", "Transferred", "Expired"],
        11: ["Issued", "Transferred", "Expired"],
        16: ["Issued", "Retired"],
        19: ["Issued", "Expired"],
        20: ["Issued", "Cancelled"],
        21: ["Issued", "Cancelled"],
        22: ["Issued", "Expired"],
        25: ["Issued", "Expired"],
    }
    for n, types in expected_types.items():
        found = events(model, f"{T}:{n}")
        assert [kind for _, kind in found] == types, n
        assert found == touching(ledger, T, n - 1)
    for n in range(1, 26):
        assert events(model, f"{T}:{n}") == touching(ledger, T, n - 1)
    for n in (1, 2):
        assert events(model, f"{N}:{n}") == touching(ledger, N, n - 1)

    p = model.provenance(f"{T}:2")
    assert p["batch"] == T and p["instrument"] == "GEC"
    assert p["origin"] == {"device": DEVICE, "month": "2025-01", "kwh": 25_000, "technology": "distributed_pv"}
    assert p["current"] == {"holder": BUYER_A, "state": "retired"}
    issued, transferred, retired = p["events"]
    assert issued["range"] == f"{T}:1-25" and issued["detail"] == {"holder": GEN}
    assert transferred["range"] == f"{T}:1-10"
    assert transferred["detail"].items() >= {"from_account": GEN, "to_account": BUYER_A, "held_by": GEN}.items()
    assert retired["range"] == f"{T}:1-4"
    assert (
        retired["detail"].items()
        >= {
            "retirement_id": f"{T}/R1",
            "account": BUYER_A,
            "beneficiary": "苏州某制造企业",
            "held_by": BUYER_A,
            **RETIREMENT,
        }.items()
    )
    assert issued["timestamp"] < transferred["timestamp"] < retired["timestamp"]
    cancelled = model.provenance(f"{T}:20")["events"][-1]
    assert cancelled["range"] == f"{T}:20-21"
    assert cancelled["detail"].items() >= {"reason": "meter replaced; readings under review", "held_by": GEN}.items()
    expired = model.provenance(f"{T}:12")["events"][-1]
    assert expired["range"] == f"{T}:11-15"
    assert expired["detail"].items() >= {"as_of": "2027-01-01", "held_by": BUYER_B}.items()


def test_provenance_names_the_client_request(ledger: Ledger, open_models) -> None:
    prepare(ledger)
    steps(ledger)[0]()
    ledger.transfer(T, GEN, BUYER_A, quantity=2, on=date(2025, 3, 1), request_id="order-42")
    ledger.transfer(T, GEN, BUYER_A, quantity=2, on=date(2025, 3, 1), request_id="order-42")  # a retry: no event
    model = open_models(ledger)
    found = model.provenance(f"{T}:1")["events"]
    assert [e["type"] for e in found] == ["Issued", "Transferred"]
    assert found[1]["detail"]["request_id"] == "order-42" and "request" not in found[1]["detail"]
    assert [e["type"] for e in model.provenance(f"{T}:3")["events"]] == ["Issued"]


def test_incremental_catch_up_equals_rebuild(ledger: Ledger, open_models) -> None:
    prepare(ledger)
    model = open_models(ledger, chunk_size=3, cache_size=1)
    for step in steps(ledger):
        model.catch_up()
        step()
    assert model.catch_up() > 0
    incremental = dump(model)
    assert incremental["rm_provenance"] and incremental["rm_ranges"] and incremental["rm_devices"]

    fresh = open_models(ledger)
    assert fresh.rebuild() == ledger.recorder.max_notification_id()
    assert dump(fresh) == incremental
    assert dump(model) == incremental  # the same tables, seen from the first model


def test_catch_up_is_idempotent_and_shared_by_read_models(ledger: Ledger, open_models) -> None:
    prepare(ledger)
    first = open_models(ledger)
    for step in steps(ledger)[:4]:
        step()
    assert first.catch_up() == ledger.recorder.max_notification_id()
    before = dump(first)
    assert first.catch_up() == 0
    assert dump(first) == before

    second = open_models(ledger)
    assert second.catch_up() == 0  # the tracking position is in the database, not the process
    for account in ACCOUNTS:
        assert second.holdings(account) == first.holdings(account)
    assert second.provenance(f"{T}:3") == first.provenance(f"{T}:3")

    for step in steps(ledger)[4:]:
        step()
    assert second.catch_up() > 0
    assert first.catch_up() == 0
    assert_matches_aggregates(first, ledger, [T, N])


def test_a_failed_chunk_leaves_no_trace(ledger: Ledger, open_models, monkeypatch) -> None:
    prepare(ledger)
    model = open_models(ledger)
    all_steps = steps(ledger)
    for step in all_steps[:3]:
        step()
    model.catch_up()
    for step in all_steps[3:]:
        step()
    before, position = dump(model), model.position

    real, calls = ledger.mapper.to_domain_event, []

    def crash_on_third(notification):
        calls.append(notification.id)
        if len(calls) == 3:  # two batch events already applied to cached aggregates
            raise RuntimeError("process killed")
        return real(notification)

    monkeypatch.setattr(ledger.mapper, "to_domain_event", crash_on_third)
    with pytest.raises(RuntimeError):
        model.catch_up()
    assert model.position == position
    assert dump(model) == before
    monkeypatch.undo()

    assert model.catch_up() == ledger.recorder.max_notification_id() - position
    assert_matches_aggregates(model, ledger, [T, N])
    incremental = dump(model)
    assert open_models(ledger).rebuild() > 0
    assert dump(model) == incremental


def test_provenance_of_a_fragmented_batch_matches_the_log(ledger: Ledger, open_models) -> None:
    """Many transfers, retirements and cancellations of every size on one batch whose units may
    change hands any number of times, checked serial by serial against the notification log."""
    ensure_owner(ledger)
    holders = [f"acct:holder-{i}" for i in range(4)]
    for account in holders:
        ledger.open_account(account, OWNER)
    ledger.establish_programme("SIP-PUHUI", "苏州工业园区碳普惠", "江苏苏州", ["ev_charging"], "SIP-2020-PURCHASED")
    code = ledger.issue_inclusion(
        "SIP-PUHUI", "ev_charging", holders[0], subject="EV-STATION-7", period="2025-01", kg_co2e=300
    ).code
    model = open_models(ledger, chunk_size=7, cache_size=1)
    rng = random.Random(20250101)
    for i in range(60):
        batch = ledger.batch(code)
        active = [r for r in batch.ranges if r[3] == "active"]
        if not active:
            break
        start, end, holder, _, _ = rng.choice(active)
        first = rng.randrange(start, end)
        span = [(first, rng.randrange(first, end) + 1)]
        action = rng.choices(["transfer", "retire", "cancel"], weights=[6, 2, 1])[0]
        if action == "transfer":
            to = rng.choice([h for h in holders if h != holder])
            if rng.random() < 0.3:
                held = sum(e - s for s, e, h, st, _ in batch.ranges if h == holder and st == "active")
                ledger.transfer(code, holder, to, quantity=rng.randint(1, held))
            else:
                ledger.transfer(code, holder, to, spans=span)
        elif action == "retire":
            ledger.retire(code, holder, beneficiary="园区居民", spans=span, **RETIREMENT)
        else:
            ledger.cancel(code, "duplicate claim", spans=span)
        if i % 5 == 0:
            model.catch_up()
    assert_matches_aggregates(model, ledger, [code], accounts=holders)
    for n in range(1, 301):
        assert events(model, f"{code}:{n}") == touching(ledger, code, n - 1), n


def test_unknown_serials_batches_and_accounts_are_refused(ledger: Ledger, open_models) -> None:
    prepare(ledger)
    steps(ledger)[0]()
    model = open_models(ledger)
    for serial in (f"{T}:26", "GEC-209901-NOPE-T:1"):
        for query in (model.serial, model.provenance):
            with pytest.raises(NotFound) as e:
                query(serial)
            assert e.value.code == "SERIAL_UNKNOWN"
    with pytest.raises(InvalidInput) as e:
        model.serial(f"{T}:0")
    assert e.value.code == "SERIAL_MALFORMED"
    with pytest.raises(NotFound) as e:
        model.supply("GEC-209901-NOPE-T")
    assert e.value.code == "BATCH_NOT_FOUND"
    with pytest.raises(NotFound) as e:
        model.holdings("acct:nobody")
    assert e.value.code == "ACCOUNT_NOT_FOUND"
