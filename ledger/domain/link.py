"""The GEC–CCER link (NEA/MEE notice, rules.CCER_ADMISSION): electricity credited as CCER reductions
gives up its GECs. One rule, used wherever our GECs make way for another claim on the same kWh
(CCER issuance, and a double-counting case resolved by cancelling our side)."""

from __future__ import annotations

from collections.abc import Callable

from ledger.domain.batch import ACTIVE, FROZEN, Batch
from ledger.domain.device import Device
from ledger.domain.issuance import gec_claim_id
from ledger.domain.rules import KWH_PER_GEC
from ledger.domain.serials import format_range
from ledger.errors import Conflict


def cancel_gecs_for_kwh(
    device: Device, batch: Batch, claim_id: str, kwh: int, reason: str, state: str = ACTIVE
) -> tuple[list[list[int]], int]:
    """Cancel enough never-sold GECs of `batch` in `state` to cover `kwh` (whole GECs, rounded up;
    lowest serials first), and give their kWh back to the device's pool from the claim `claim_id`.
    Returns the serial spans cancelled and the kWh released (none if nothing could be cancelled)."""
    spans = batch.cancel_lowest(-(-kwh // KWH_PER_GEC), reason, state)
    if not spans:
        return [], 0
    units = sum(end - start for start, end in spans)
    return spans, device.release(claim_id, units * KWH_PER_GEC, reason)


def cancel_ours_for_case(
    device: Device, ours: list[dict], kwh: int, reason: str, batch_of: Callable[[str], Batch]
) -> list[Batch]:
    """A double-counting case resolved by cancelling our side: cancel enough of our never-sold
    GECs among the case's claims (`ours`) to give `kwh` back to the device's pool, or refuse
    (CASE_NOT_RESOLVABLE) if sold, retired or other claims carry the overlap. Returns the batches
    changed."""
    changed = []
    for claim in ours:
        if kwh <= 0 or claim["instrument"] != "GEC" or claim["claim"] not in device.claims:
            continue
        batch = batch_of(claim["batch"])
        spans, released = cancel_gecs_for_kwh(device, batch, claim["claim"], kwh, reason)
        if spans:
            kwh -= released
            changed.append(batch)
    if kwh > 0:
        raise Conflict(
            f"{kwh} kWh of the overlap are carried by our claims that cannot be cancelled here"
            " (GECs already sold, retired or cancelled, or other instruments); cancel those units with"
            " `oneclaim cancel` first, or resolve with another outcome",
            code="CASE_NOT_RESOLVABLE",
            remaining_kwh=kwh,
        )
    return changed


def make_way_for_ccer(device: Device, gecs: list[Batch], kwh: int, reason: str) -> tuple[list[dict], list[dict]]:
    """CCER reductions need `kwh` more of the device's on-grid electricity than is free: cancel
    the frozen, never-sold GECs that certify it (lowest serials first) and release their kWh.
    GECs for self-consumed electricity are not the on-grid kWh CCER credits, and sold GECs stay
    with their buyers. Returns what was cancelled and the sold GEC ranges left untouched."""
    cancelled, traded = [], []
    for batch in gecs:
        claim_id = gec_claim_id(batch.origin["month"])
        claim = device.claims.get(claim_id)
        if claim is None or claim.batch != batch.code:
            continue
        traded += [
            {
                "batch": batch.code,
                "serials": format_range(batch.code, r.start, r.end),
                "holder": r.holder,
                "state": r.state,
            }
            for r in batch.ranges
            if r.sales > 0
        ]
        if kwh <= 0:
            continue
        spans, released = cancel_gecs_for_kwh(device, batch, claim_id, kwh, reason, FROZEN)
        if spans:
            kwh -= released
            serials = [format_range(batch.code, s, e) for s, e in spans]
            units = sum(e - s for s, e in spans)
            cancelled.append({"batch": batch.code, "serials": serials, "ranges": spans, "units": units})
    return cancelled, traded


def ccer_refusal(
    e: Conflict, code: str, device: str, period: str, kwh: int, free: int, cancelled: list, traded: list
) -> None:
    """Say, in a DOUBLE_CLAIM refusal of CCER reductions, what the pool held before this refused
    issuance released anything (in memory): the free kWh, what cancelling unsold frozen GECs would
    add, and the sold GECs that stay untouched."""
    releasable = sum(c["units"] for c in cancelled) * KWH_PER_GEC
    e.details |= {"free_kwh": free, "frozen_kwh_cancellable": releasable, "traded_gecs": traded}
    e.message = (
        f"reductions {code} need {kwh} kWh of {device} in {period}; only {free}"
        f" kWh are free, and cancelling its unsold frozen GECs would release {releasable} kWh more"
        + (f"; {len(traded)} GEC range(s) for that electricity were already sold and stay untouched" if traded else "")
    )
