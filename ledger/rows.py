"""Rows as they arrive from files and from the HTTP API: meter readings, meter corrections and
claims other registries report. Each is a pydantic model, so the CLI's file readers and the API
accept the same fields, and each row's problems come back with the same stable codes
(`ROW_INCOMPLETE` for a missing field, the value parsers' codes for a bad value).

A row's own values are checked by the aggregate it reaches (a reading by its Device), with the
parsers in ledger/domain/values.py; the model fixes which fields there are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ledger.domain.rules import EMISSION_FACTORS, kwh_for
from ledger.domain.serials import format_range, parse_range, parse_whole
from ledger.domain.values import check_kwh, interval, one_of, parse_day
from ledger.errors import InvalidInput, LedgerError


class Row(BaseModel):
    """One row; `line` is its line in the file (or its 1-based position in a JSON list)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    line: int | None = None

    @classmethod
    def parse(cls, row: Mapping[str, Any]) -> Self:
        """The row as this model, or InvalidInput naming what is missing or wrong."""
        try:
            return cls.model_validate(dict(row))
        except ValidationError as e:
            missing = [str(err["loc"][0]) for err in e.errors() if err["type"] == "missing"]
            if missing:
                raise InvalidInput(f"the row lacks {', '.join(missing)}", code="ROW_INCOMPLETE") from None
            err = e.errors()[0]
            raise InvalidInput(
                f"{err['loc'][0]} {err['msg'].lower()}, got {err.get('input')!r}", code="ROW_INVALID"
            ) from None

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return tuple(name for name in cls.model_fields if name != "line")


def _kwh_value(name: str, value: object) -> object:
    """kWh as written in a file ("12 500" is not a number; "-5" is, and is out of range)."""
    return parse_whole(name, value.strip() or "0") if isinstance(value, str) else value


class MeterReadingRow(Row):
    """A reading of a device over [start, end): on-grid and self-consumed kWh."""

    device: str
    start: str
    end: str
    on_grid_kwh: int
    self_consumed_kwh: int = 0

    @field_validator("device", mode="before")
    @classmethod
    def _device(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("on_grid_kwh", "self_consumed_kwh", mode="before")
    @classmethod
    def _kwh(cls, value: object, info) -> int:
        return check_kwh(info.field_name, _kwh_value(info.field_name, value))

    def figures(self) -> tuple[int, int]:
        return self.on_grid_kwh, self.self_consumed_kwh


class CorrectionRow(MeterReadingRow):
    """A new figure for exactly the interval of a current reading, with its reason."""

    reason: str

    @field_validator("reason", mode="before")
    @classmethod
    def _reason(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value


class ExternalClaimRow(Row):
    """A claim another registry or platform reports: on a device's generation over an interval
    (kWh, or kgCO2e with the factor that converts it), or a GEC sale by serials."""

    source: Any = None
    reference: Any = None
    instrument: Any = None
    device: Any = None
    start: Any = None
    end: Any = None
    kwh: Any = None
    kg_co2e: Any = None
    factor: Any = None
    g_per_mwh: Any = None
    serials: Any = None
    sold_on: Any = None

    def claim(self) -> dict:
        """The claim, checked and normalised (see external_claim)."""
        return external_claim(self.model_dump())


EXTERNAL_INSTRUMENTS = ("GEC", "GREEN_POWER", "CCER", "INCLUSION", "I-REC", "OTHER")


def _text(row: dict, name: str, limit: int = 128) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(f"{name} must be 1-{limit} characters, got {value!r}", code="ROW_INCOMPLETE")
    return value.strip()


def _whole(row: dict, name: str) -> int:
    value = row.get(name)
    if isinstance(value, str):
        value = parse_whole(name, value)
    if type(value) is not int:
        raise InvalidInput(f"{name} must be a whole number, got {value!r}", code="QUANTITY_NOT_INTEGER")
    if value <= 0:
        raise InvalidInput(f"{name} must be at least 1, got {value}", code="QUANTITY_OUT_OF_RANGE")
    return value


def external_claim(row: dict) -> dict:
    """One reported claim, checked and normalised. Generation claims name a device, an interval
    and kWh (or kgCO2e with the factor that converts it); GEC sale reports name serials."""
    claim = {"line": row.get("line"), "source": _text(row, "source"), "reference": _text(row, "reference")}
    instrument = _text(row, "instrument")
    claim["instrument"] = one_of("instrument", instrument, EXTERNAL_INSTRUMENTS, "INSTRUMENT_INVALID")
    if row.get("serials"):
        if instrument != "GEC":
            raise InvalidInput("only GEC sales are reported by serials", code="INSTRUMENT_INVALID")
        code, start, end = parse_range(_text(row, "serials", 256))
        sold_on = row.get("sold_on") or ""
        if sold_on:
            parse_day("sold_on", sold_on)
        return claim | {
            "serials": format_range(code, start, end),
            "batch": code,
            "spans": [[start, end]],
            "sold_on": sold_on,
        }
    claim["device"] = _text(row, "device", 64)
    begin, finish = interval(row.get("start"), row.get("end"))
    claim |= {"start": begin.isoformat(), "end": finish.isoformat()}
    if row.get("kwh") not in (None, ""):
        claim["kwh"] = check_kwh("kwh", _whole(row, "kwh"))
        return claim
    if row.get("kg_co2e") in (None, ""):
        raise InvalidInput("a claim needs kwh, or kg_co2e with its factor", code="ROW_INCOMPLETE")
    kg = _whole(row, "kg_co2e")
    factor = row.get("factor")
    if factor in EMISSION_FACTORS:
        g_per_mwh = EMISSION_FACTORS[factor].g_per_mwh
    elif row.get("g_per_mwh") not in (None, ""):
        g_per_mwh = _whole(row, "g_per_mwh")
    else:
        raise InvalidInput(
            f"kg_co2e needs a known factor ({', '.join(EMISSION_FACTORS)}) or g_per_mwh", code="FACTOR_UNKNOWN"
        )
    return claim | {"kg_co2e": kg, "factor": factor or None, "g_per_mwh": g_per_mwh, "kwh": kwh_for(kg, g_per_mwh)}


def read_csv(lines: Iterable[str], model: type[Row], where: str) -> tuple[list[dict], list[dict]]:
    """Parse a readings (or corrections) CSV, from a file (the CLI) or a request body (the API),
    into rows of `model`, and the rows that could not be read with their line numbers. Every
    column but self_consumed_kwh is required; `where` names the source in errors."""
    rows, errors = [], []
    columns = model.columns()
    reader = csv.DictReader(lines)
    missing = [c for c in columns if c != "self_consumed_kwh" and c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            f"{where} lacks column(s) {', '.join(missing)}; the header is {','.join(columns)}",
            code="CSV_HEADER_INVALID",
        )
    for row in reader:
        line = reader.line_num
        if None in row.values():
            errors.append({"line": line, "code": "CSV_ROW_INVALID", "message": "the row has too few fields"})
            continue
        try:
            rows.append(model.parse({k: v for k, v in row.items() if k in columns} | {"line": line}).model_dump())
        except LedgerError as e:
            errors.append({"line": line, "code": e.code, "message": e.message})
    return rows, errors
