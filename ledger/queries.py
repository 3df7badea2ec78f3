"""Reports over the ledger's aggregates and log, for registries and auditors: what a device's pool
holds per reading (claims check), and the trace of a double-counting case with every event's
canonical bytes and inclusion proof. Queries only: nothing here changes the ledger."""

from __future__ import annotations

from base64 import b64encode
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.device import Device
from ledger.domain.values import month_of, parse_month
from ledger.errors import LedgerError, NotFound
from ledger.tlog.canonical import canonical_event, originator_hex

if TYPE_CHECKING:
    from ledger.app import Ledger


def claims_check(device: Device, month: str | None = None) -> dict:
    """What is metered, claimed (by whom) and free, per reading of a device (one month, or all)."""
    months = [month] if month else sorted(device.months)
    by_version = device.pool.holders()
    intervals = []
    for m in months:
        parse_month(m)
        for version in sorted(device.months.get(m, ()), key=lambda v: device.readings[v].start):
            reading = device.readings[version]
            claims = by_version.get(version, [])
            intervals.append(
                {
                    "start": reading.start,
                    "end": reading.end,
                    "reading_version": version,
                    "metered_kwh": reading.on_grid_kwh,
                    "claimed_kwh": sum(c["kwh"] for c in claims),
                    "free_kwh": reading.on_grid_kwh - sum(c["kwh"] for c in claims),
                    "claims": claims,
                }
            )
    kinds = ("metered_kwh", "claimed_kwh", "free_kwh")
    summary = []
    for m in months:
        rows = [i for i in intervals if month_of(datetime.fromisoformat(i["start"])) == m]
        by: dict[str, int] = {}
        for i in rows:
            for c in i["claims"]:
                by[f"{c['instrument']} {c['batch']}"] = by.get(f"{c['instrument']} {c['batch']}", 0) + c["kwh"]
        summary.append(
            {"month": m, "readings": len(rows), **{k: sum(i[k] for i in rows) for k in kinds}, "claimed_by": by}
            | {"gec_batches": device.gec_months.get(m)}  # None: GECs not issued for the month yet
        )
    totals = {k: sum(i[k] for i in intervals) for k in kinds}
    return {
        "device": device.code,
        "technology": device.technology,
        "months": summary,
        "intervals": intervals,
        **totals,
    }


def proven(ledger: Ledger, aggregate_id: UUID, version: int, tree_size: int) -> dict:
    """One event as an auditor checks it: its canonical bytes (leaf = SHA-256(0x00 || bytes)),
    its sequence number and its inclusion proof in the tree of `tree_size`."""
    (stored,) = ledger.recorder.select_events(aggregate_id, gt=version - 1, lte=version)
    data = canonical_event(originator_hex(stored.originator_id), version, stored.topic, stored.state)
    seq = ledger.log.seq_of(aggregate_id, version)
    if seq is None:
        raise LedgerError(f"event {aggregate_id} v{version} is not in the log", code="LOG_LEAF_MISSING")
    return {
        "seq": seq,
        "topic": stored.topic.rpartition(":")[2],
        "event": data.decode(),
        "inclusion_proof": ledger.log.inclusion_proof(seq, tree_size).to_json() if seq < tree_size else None,
    }


def trace_case(ledger: Ledger, code: str) -> dict:
    """The trace report of a case: the device and its metered kWh, every claim on both sides
    with its lineage, and each event's canonical bytes and inclusion proof against the latest
    signed checkpoint (or the log head, if the case is newer than the last checkpoint)."""
    case = ledger.case(code)
    checkpoint = ledger.log.latest_checkpoint()
    head = ledger.log.size()
    case_seq = ledger.log.seq_of(case.id, 1)
    signed = checkpoint is not None and case_seq is not None and case_seq < checkpoint.tree_size
    tree_size = checkpoint.tree_size if signed else head
    report: dict[str, Any] = {
        "case": case.code,
        "kind": case.kind,
        "status": case.status,
        "subject": case.subject,
        "interval": case.interval,
        "overlap_kwh": case.overlap_kwh,
        "resolution": case.resolution,
        "tree_size": tree_size,
        "root_hash": b64encode(ledger.log.root(tree_size)).decode(),
        "checkpoint": checkpoint.note if signed else None,
        "case_events": [proven(ledger, case.id, v, tree_size) for v in range(1, case.version + 1)],
    }
    if case.kind == "OVERLAPPING_CLAIM":
        device = ledger.device(case.subject)
        begin, finish = (datetime.fromisoformat(t) for t in case.interval)
        report["device"] = {
            k: getattr(device, k) for k in ("code", "technology", "capacity_kw", "province", "city", "owner")
        }
        report["metered"] = [
            {
                "start": device.readings[v].start,
                "end": device.readings[v].end,
                "on_grid_kwh": device.readings[v].on_grid_kwh,
                "reading": proven(ledger, device.id, v, tree_size),
            }
            for v in device.readings_in(begin, finish)
        ]
        report["metered_kwh"] = sum(m["on_grid_kwh"] for m in report["metered"])
        report["ours"] = [
            claim
            | {
                "claimed_by": proven(ledger, device.id, claim["device_version"], tree_size),
                "lineage": lineage(ledger, claim["batch"], tree_size),
            }
            for claim in case.ours
        ]
        report["theirs"] = case.theirs | {
            "recorded_by": proven(ledger, device.id, case.theirs["device_version"], tree_size)
        }
    else:
        batch = ledger.batch(case.subject)
        # the sales already on record (another platform's report, or this registry's own
        # sale): not necessarily ours, so not called so
        report["earlier"] = [
            claim | {"reported_by": proven(ledger, batch.id, claim["batch_version"], tree_size)} for claim in case.ours
        ]
        report["theirs"] = case.theirs | {
            "reported_by": proven(ledger, batch.id, case.theirs["batch_version"], tree_size)
        }
        report["lineage"] = lineage(ledger, batch.code, tree_size)
    return report


def lineage(ledger: Ledger, batch_code: str, tree_size: int) -> list[dict]:
    """Every event of one of our batches, proven: issued, moved, retired, cancelled..."""
    try:
        batch = ledger.batch(batch_code)
    except NotFound:
        return []  # e.g. the claim of another registry, or GECs carried into a later month
    return [proven(ledger, batch.id, v, tree_size) for v in range(1, batch.version + 1)]
