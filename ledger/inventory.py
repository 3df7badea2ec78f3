"""What the registry holds, as rows a person or a script reads: one function per kind, serials in
the registry's notation (`<batch>:<first>-<last>`, inclusive), quantities as whole numbers.

`row(kind, aggregate)` is the summary `oneclaim KIND list` prints; `detail(kind, aggregate)`
adds what `oneclaim KIND show` prints. The CLI and the API (`GET /v1/KINDs`) both print these.
"""

from __future__ import annotations

from typing import Any

from ledger.domain.serials import format_range
from ledger.errors import InvalidInput

COLUMNS = {
    "participant": ("code", "name", "role", "province", "city", "accounts"),
    "account": ("account", "owner", "purpose"),
    "device": ("code", "technology", "capacity_kw", "city", "owner", "schemes", "months_issued"),
    "batch": (
        "code",
        "instrument",
        "quantity",
        "active",
        "frozen",
        "retired",
        "cancelled",
        "expired",
        "exported",
        "in_transit",
    ),
    "contract": ("code", "device", "generator_account", "consumer_account", "months", "settled"),
    "programme": ("code", "name", "region", "methodologies", "factor"),
    "project": ("code", "methodology", "owner", "devices", "crediting_start", "crediting_end", "periods"),
    "case": ("code", "kind", "subject", "overlap_kwh", "status"),
}
"""The columns of each listing's table (--json prints every field)."""


def batch_summary(batch: Any) -> dict[str, Any]:
    """A batch as an issuance answers it (`oneclaim issue … --json`, the API's issuances)."""
    return {
        "batch": batch.code,
        "instrument": batch.instrument,
        "quantity": batch.quantity,
        "tradable": batch.tradable,
        "valid_through": batch.valid_through,
        "serials": format_range(batch.code, 0, batch.quantity),
        "origin": batch.origin,
    }


def plural(kind: str) -> str:
    return "batches" if kind == "batch" else kind + "s"


def row(kind: str, a: Any) -> dict[str, Any]:
    if kind == "participant":
        return {k: getattr(a, k) for k in ("code", "name", "role", "province", "city")} | {"accounts": a.accounts}
    if kind == "account":
        return {"account": a.account, "owner": a.owner, "purpose": a.purpose}
    if kind == "device":
        fields = ("code", "technology", "capacity_kw", "province", "city", "owner", "commissioned_on", "schemes")
        return {k: getattr(a, k) for k in fields} | {"months_issued": sorted(a.gec_months)}
    if kind == "batch":
        holders = sorted({r.holder for r in a.ranges})
        return {
            "code": a.code,
            "instrument": a.instrument,
            "quantity": a.quantity,
            **a.totals(),  # every state: the table has a column for each
            "tradable": a.tradable,
            "valid_through": a.valid_through,
            "serials": format_range(a.code, 0, a.quantity),
            "holders": holders,
            "origin": a.origin,
        }
    if kind == "contract":
        return {
            "code": a.code,
            "device": a.device,
            "generator_account": a.generator_account,
            "consumer_account": a.consumer_account,
            "months": sorted(a.monthly_mwh),
            "settled": sorted(a.settlements),
        }
    if kind == "programme":
        return {k: getattr(a, k) for k in ("code", "name", "region", "methodologies", "factor")}
    if kind == "project":
        fields = ("code", "methodology", "owner", "devices", "crediting_start", "crediting_end", "factor")
        return {k: getattr(a, k) for k in fields} | {"periods": [list(p) for p in a.periods]}
    if kind == "case":
        return {k: getattr(a, k) for k in ("code", "kind", "subject", "overlap_kwh", "status")}
    raise InvalidInput(f"unknown kind {kind!r}", code="KIND_INVALID")


def detail(kind: str, a: Any) -> dict[str, Any]:
    """The row, and what a single record adds: a batch's ranges and retirements, a device's
    readings and carry-over, a contract's monthly MWh and settlements."""
    out = row(kind, a)
    if kind == "batch":
        out["ranges"] = [
            {"serials": format_range(a.code, r.start, r.end), "holder": r.holder, "state": r.state, "sales": r.sales}
            for r in a.ranges
        ]
        out["retirements"] = {
            rid: {k: v for k, v in r.items() if k != "ranges"}
            | {"serials": [format_range(a.code, s, e) for s, e in r["ranges"]]}
            for rid, r in a.retirements.items()
        }
        out["sale_reports"] = [
            {"source": r["source"], "reference": r["reference"], "sold_on": r["sold_on"],
             "serials": [format_range(a.code, s, e) for s, e in r["spans"]]}
            for r in a.sale_reports.values()
        ]  # fmt: skip
    elif kind == "device":
        out["readings"] = len(a.readings)
        out["metered_on_grid_kwh"] = sum(r.on_grid_kwh for r in a.readings.values())
        out["claimed_kwh"] = sum(a.claimed.values())
        out["carry_kwh"] = a.carry_kwh
        out["gec_batches"] = a.gec_months
    elif kind == "contract":
        out["monthly_mwh"] = a.monthly_mwh
        out["settlements"] = a.settlements
    return out


def matches(record: dict[str, Any], where: list[tuple[str, str]]) -> bool:
    """`--where KEY=VALUE` filters: equal as text, or a member of a list field."""
    for key, value in where:
        if key not in record:
            raise InvalidInput(
                f"no field {key!r} to filter on; the fields are {', '.join(record)}", code="FILTER_INVALID"
            )
        field = record[key]
        if isinstance(field, list) and value not in [str(v) for v in field]:
            return False
        if not isinstance(field, list) and str(field) != value:
            return False
    return True


def parse_where(items: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--where {item!r} is not KEY=VALUE", code="FILTER_INVALID")
        out.append((key, value))
    return out
