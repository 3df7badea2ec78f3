"""GEC issuance arithmetic (绿证核发): 1 GEC per 1,000 kWh, and what is short of a whole GEC carried
into the next month issued (不足1个绿证的电量结转至次月). On-grid electricity of a device whose
technology earns tradable GECs makes tradable GECs; self-consumed electricity makes non-tradable
ones (rules.py). Pure arithmetic and naming, no state."""

from __future__ import annotations

from ledger.domain.rules import KWH_PER_GEC
from ledger.domain.values import month_start, next_month

KINDS = ("tradable", "non_tradable")


def gec_quantities(
    on_grid_kwh: int, self_consumed_kwh: int, tradable: bool, carry: dict[str, int], late: bool
) -> tuple[dict[str, int], dict[str, int]]:
    """(GECs per kind, the carry after this month). A late month (meter data arriving after a
    later month was issued) is issued from its own kWh only: no later month's carry flows back
    into an earlier vintage, and its remainder joins the carry (which may then reach 1,000 kWh or
    more: a GEC of the next month issued)."""
    pools = {"tradable": 0, "non_tradable": self_consumed_kwh}
    pools["tradable" if tradable else "non_tradable"] += on_grid_kwh
    quantities, after = {}, {}
    for kind in KINDS:
        quantities[kind], remainder = divmod(pools[kind] + (0 if late else carry[kind]), KWH_PER_GEC)
        after[kind] = remainder + (carry[kind] if late else 0)
    return quantities, after


def gec_claim_id(month: str) -> str:
    """The pool's claim for the on-grid kWh a month's GECs certify."""
    return f"GEC/{month}"


def gec_batch_code(month: str, device: str, tradable: bool) -> str:
    """The code of a device's GEC batch for a production month (docs/registry.md): one per
    device, month and kind, e.g. GEC-202501-SIP-PV-0001-T (tradable) or -N (non-tradable)."""
    return f"GEC-{month.replace('-', '')}-{device}-{'T' if tradable else 'N'}"


def gec_batches(month: str, device: str, quantities: dict[str, int]) -> list[dict]:
    """The batches a month's GECs are issued in: one per kind with any GECs."""
    return [
        {
            "code": gec_batch_code(month, device, kind == "tradable"),
            "quantity": quantities[kind],
            "tradable": kind == "tradable",
            "kwh": quantities[kind] * KWH_PER_GEC,
        }
        for kind in KINDS
        if quantities[kind]
    ]


def gec_claim(month: str, device: str, tradable: bool, batches: list[dict], allocations: list, late: bool) -> dict:
    """The pool's claim (plain JSON) for the month's on-grid kWh: held by the month's batch of
    that kind, or, if they made no whole GEC, by the GECs of the month they carry into."""
    code = gec_batch_code(month, device, tradable)
    onward = "the next month issued" if late else next_month(month)
    return {
        "id": gec_claim_id(month),
        "instrument": "GEC",
        "batch": code if any(b["code"] == code for b in batches) else f"carried into the GECs of {onward}",
        "start": month_start(month).isoformat(),
        "end": month_start(next_month(month)).isoformat(),
        "allocations": allocations,
    }
