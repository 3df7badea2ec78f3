"""What the benchmarks write: a minimal aggregate, real device events, and a fast bulk build.

The bulk build goes through the real write path: events come from the `Device` aggregate,
are mapped by the Ledger's own mapper (RFC 8785 transcoder), and are inserted with the Ledger
recorder's `insert_events`, which appends leaf, chain and Merkle nodes in the same transaction.
Only the work *before* the recorder (creating domain events, mapping them to stored events) is
spread over worker processes, so that a million events can be built in about a minute.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent

from ledger.app import Ledger
from ledger.domain.device import Device
from ledger.tlog.note import generate_signer

ORIGIN = "bench.oneclaim.local/log"
EVENTS_PER_DEVICE = 12  # registration + 11 monthly readings
BATCH_EVENTS = 100 * EVENTS_PER_DEVICE  # stored events per insert_events call (one transaction)
DISTRICTS = ["金鸡湖", "独墅湖", "阳澄湖", "斜塘", "娄葑", "唯亭", "胜浦"]


class Meter(Aggregate):
    """The smallest useful aggregate: one small event per command."""

    @event("Registered")
    def __init__(self, code: str) -> None:
        self.code = code
        self.total_kwh = 0

    @event("Ticked")
    def tick(self, kwh: int, period: str) -> None:
        self.total_kwh += kwh


def device_kwargs(i: int, prefix: str = "BENCH", owner: str | None = None) -> dict:
    """Registration details of device number i (deterministic, all distinct). The owner is a
    participant code; the Device aggregate itself does not look it up."""
    return {
        "code": f"{prefix}-PV-{i:08d}",
        "technology": "distributed_pv",
        "capacity_kw": (60, 120, 250, 400, 800, 1_200, 2_000)[i % 7],
        "province": "江苏",
        "city": f"苏州工业园区/{DISTRICTS[i % len(DISTRICTS)]}",
        "owner": owner or f"{prefix}-GEN-{(i * 2654435761) % 997:03d}",
        "commissioned_on": f"202{i % 5}-0{i % 9 + 1}-15",
    }


def device_events(i: int, count: int = EVENTS_PER_DEVICE) -> list:
    """The first `count` domain events of device i: its registration and monthly readings."""
    device = Device.register(**device_kwargs(i))
    capacity = device.capacity_kw
    for month in range(1, min(count, EVENTS_PER_DEVICE)):
        on_grid = capacity * (80 + (i * 7 + month * 13) % 40)
        device.record_reading(
            f"2025-{month:02d}-01T00:00:00+08:00",
            f"2025-{month + 1:02d}-01T00:00:00+08:00",
            on_grid - on_grid // 10,
            on_grid // 10,
        )
    return device.collect_events()[:count]


_mapper = None


def make_batch(first_event: int, count: int) -> list[StoredEvent]:
    """Stored events number [first_event, first_event + count) of the deterministic stream
    (device k owns events [12k, 12k + 12)), mapped with the Ledger's own mapper."""
    global _mapper
    if _mapper is None:
        _mapper = Ledger("sqlite:///:memory:").mapper
    out: list[StoredEvent] = []
    end = first_event + count
    device, skip = divmod(first_event, EVENTS_PER_DEVICE)
    while device * EVENTS_PER_DEVICE < end:
        take = min(EVENTS_PER_DEVICE, end - device * EVENTS_PER_DEVICE)
        out.extend(_mapper.to_stored_event(e) for e in device_events(device, take)[skip:])
        device, skip = device + 1, 0
    return out


@dataclass
class BuildResult:
    events: int
    checkpoints: int
    seconds: float
    insert_seconds: float  # time spent inside recorder.insert_events (the write path proper)
    verifier_key: str


def build_log(
    db_url: str,
    n: int,
    *,
    checkpoint_every: int,
    marks: Sequence[int] = (),
    on_mark: Callable[[int, float, float, str], None] | None = None,
    workers: int | None = None,
    on_ready: Callable[[], None] | None = None,
) -> BuildResult:
    """Append n device events to a fresh ledger in transactions of at most BATCH_EVENTS events,
    signing a checkpoint whenever another `checkpoint_every` events are in, at each of `marks`
    and at the end. At each mark (and at n), after its checkpoint, calls
    `on_mark(size, seconds, insert_seconds, verifier_key)`.

    Generation and mapping run in `workers` forked processes, a bounded window ahead of the
    writer, so the writer's memory stays that of the write path. The pool is forked before the
    database is opened, so no connection is shared with a child.
    """
    workers = workers or max(1, os.cpu_count() or 1)
    stops = sorted({m for m in marks if 0 < m < n} | {n})
    bounds = sorted(set(range(0, n, BATCH_EVENTS)) | set(stops))
    batches = list(zip(bounds, bounds[1:], strict=False))
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        if on_ready is not None:
            on_ready()
        signer = generate_signer(ORIGIN)
        ledger = Ledger(db_url)
        started = time.perf_counter()
        insert_seconds = 0.0
        checkpoints = 0
        done = 0
        window: deque = deque()
        pending = iter(batches)

        def submit() -> bool:
            nxt = next(pending, None)
            if nxt is not None:
                window.append(pool.apply_async(make_batch, (nxt[0], nxt[1] - nxt[0])))
            return nxt is not None

        try:
            while len(window) < 2 * workers and submit():
                pass
            while window:
                batch = window.popleft().get()
                submit()
                t = time.perf_counter()
                ledger.recorder.insert_events(batch)
                insert_seconds += time.perf_counter() - t
                before, done = done, done + len(batch)
                del batch
                if done // checkpoint_every > before // checkpoint_every or done in stops:
                    ledger.sign_checkpoint(signer, ORIGIN)
                    checkpoints += 1
                if done in stops and on_mark is not None:
                    on_mark(done, time.perf_counter() - started, insert_seconds, signer.verifier_key())
        finally:
            ledger.close()
        seconds = time.perf_counter() - started
    return BuildResult(done, checkpoints, seconds, insert_seconds, signer.verifier_key())
