"""The GEC–CCER link (NEA/MEE notice, rules.CCER_ADMISSION): electricity credited as CCER reductions
gives up its GECs. One rule, used wherever our GECs make way for another claim on the same kWh
(CCER issuance, and a double-counting case resolved by cancelling our side)."""

from __future__ import annotations

from ledger.domain.batch import ACTIVE, Batch
from ledger.domain.device import Device
from ledger.domain.rules import KWH_PER_GEC


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
