"""GEC issuance arithmetic (绿证核发): 1 GEC per 1,000 kWh, and what is short of a whole GEC carried
into the next month issued (不足1个绿证的电量结转至次月). On-grid electricity of a device whose
technology earns tradable GECs makes tradable GECs; self-consumed electricity makes non-tradable
ones (rules.py). Pure arithmetic, no state."""

from __future__ import annotations

from ledger.domain.rules import KWH_PER_GEC

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
