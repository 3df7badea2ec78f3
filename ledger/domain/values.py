"""The domain's values as named, immutable types, for aggregate state and the code that reads it.

Each value that arrives from outside (a date, an instant, an interval, a month, a quantity) is
parsed here, once, with one error code and a message naming the field.

Events stay plain JSON (their canonical bytes are hashed, see docs/architecture.md): these types
are built when an event is applied, never stored. Each is a NamedTuple, so a value is cheap,
immutable and compares equal to the plain tuple of its fields.

`immutable_copy` makes `copy.deepcopy` hand a value back as it is: eventsourcing's aggregate cache
deep-copies each aggregate it returns, and a NamedTuple otherwise takes the slow generic path.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple

from ledger.errors import Conflict, InvalidInput


def immutable_copy(value: Any, memo: dict | None = None) -> Any:
    """The copy of an immutable value is the value (its fields are immutable too)."""
    return value


class SerialRange(NamedTuple):
    """Serials [start, end) of a batch (0-based, half-open), with one holder and one state, and how
    many times they were sold here."""

    start: int
    end: int
    holder: str
    state: str
    sales: int

    __copy__ = immutable_copy
    __deepcopy__ = immutable_copy

    @property
    def units(self) -> int:
        return self.end - self.start

    def overlaps(self, start: int, end: int) -> bool:
        return self.start < end and start < self.end

    def same_kind(self, other: SerialRange) -> bool:
        """Same holder, state and sales: two adjacent such ranges are one."""
        return (self.holder, self.state, self.sales) == (other.holder, other.state, other.sales)


class VerifiedPeriod(NamedTuple):
    """A CCER project's monitoring period [start, end] (dates, end inclusive) and the batch its
    verified reductions were issued as."""

    start: str
    end: str
    batch: str

    __copy__ = immutable_copy
    __deepcopy__ = immutable_copy


class Reading(NamedTuple):
    """A device's metered production over [start, end) (ISO 8601 instants with offsets), in kWh."""

    start: str
    end: str
    on_grid_kwh: int
    self_consumed_kwh: int

    __copy__ = immutable_copy
    __deepcopy__ = immutable_copy

    def interval(self) -> tuple[str, str]:
        return self.start, self.end

    def describe(self) -> str:
        return f"[{self.start}, {self.end})"


# ------------------------------------------------------------------ parsing what people write

CHINA = timezone(timedelta(hours=8))

# An upper bound that no single reading can reach: 100 GW for a whole year, in kWh.
MAX_READING_KWH = 100_000_000 * 8_784


def one_of(name: str, value: object, allowed: Iterable[str], code: str) -> str:
    """A choice among named values (a role, a purpose, an outcome, ...)."""
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}, got {value!r}", code=code)
    return value


def some_of(name: str, values: Iterable[str], allowed: Iterable[str], code: str) -> list[str]:
    """One or more choices among named values (the schemes a device is registered for)."""
    values, allowed = list(values), list(allowed)
    if not values or not all(isinstance(v, str) and v in allowed for v in values):
        raise InvalidInput(f"{name} must be among {', '.join(allowed)}, got {sorted(map(str, values))}", code=code)
    return values


def check_device_code(code: object) -> str:
    if not isinstance(code, str) or not code or len(code) > 64 or any(c in code for c in ": /"):
        raise InvalidInput(
            f"device code {code!r} must be 1-64 characters without ':', '/' or spaces", code="DEVICE_CODE_INVALID"
        )
    return code


def check_capacity_kw(value: object) -> int:
    """A device's installed capacity: a positive whole number of kW, up to 10 GW."""
    if type(value) is not int or not 0 < value <= 10_000_000:
        raise InvalidInput(
            f"capacity_kw must be a positive whole number of kW, got {value!r}", code="QUANTITY_OUT_OF_RANGE"
        )
    return value


def check_reason(value: object, what: str) -> str:
    """The free-text reason a change must give (a correction, a cancellation, a resolution)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} needs a reason", code="REASON_REQUIRED")
    return value


def check_kwh(name: str, value: object) -> int:
    if type(value) is not int:
        raise InvalidInput(f"{name} must be a whole number of kWh, got {value!r}", code="QUANTITY_NOT_INTEGER")
    if value < 0 or value > MAX_READING_KWH:
        raise InvalidInput(
            f"{name} must be between 0 and {MAX_READING_KWH} kWh, got {value}",
            code="QUANTITY_OUT_OF_RANGE",
        )
    return value


def parse_instant(name: str, value: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} {value!r} is not an ISO 8601 date-time", code="INTERVAL_INVALID") from None
    if instant.tzinfo is None:
        raise InvalidInput(
            f"{name} {value!r} needs a UTC offset, e.g. 2025-01-01T00:00+08:00",
            code="INTERVAL_INVALID",
        )
    return instant


def month_of(instant: datetime) -> str:
    """The production month (China time) an instant falls in, as YYYY-MM."""
    return instant.astimezone(CHINA).strftime("%Y-%m")


def parse_month(month: str) -> date:
    try:
        day = datetime.strptime(month, "%Y-%m").date()
    except (TypeError, ValueError):
        raise InvalidInput(f"month {month!r} is not YYYY-MM", code="MONTH_INVALID") from None
    return day


def month_start(month: str) -> datetime:
    day = parse_month(month)
    return datetime(day.year, day.month, 1, tzinfo=CHINA)


def next_month(month: str) -> str:
    day = parse_month(month)
    return f"{day.year + day.month // 12}-{day.month % 12 + 1:02d}"


def first_day_after(finish: datetime) -> date:
    """The first business day (China) after production that ends at `finish` (exclusive): the
    earliest day its certificates or credits can be issued, moved or retired."""
    return (finish.astimezone(CHINA) - timedelta(microseconds=1)).date() + timedelta(days=1)


def check_ended(what: str, finish: datetime, today: date) -> None:
    """Refuse to issue for production that has not ended yet (PRODUCTION_NOT_ENDED)."""
    if today < first_day_after(finish):
        raise Conflict(
            f"{what} ends {finish.astimezone(CHINA).isoformat()}; nothing can be issued for it before"
            f" {first_day_after(finish).isoformat()} (today is {today.isoformat()})",
            code="PRODUCTION_NOT_ENDED",
        )


def parse_day(name: str, value: object) -> date:
    """A calendar date, YYYY-MM-DD (DATE_INVALID)."""
    try:
        return date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} {value!r} is not a date (YYYY-MM-DD)", code="DATE_INVALID") from None


def interval(start: object, end: object) -> tuple[datetime, datetime]:
    """A half-open interval [start, end) of instants with offsets, end after start (INTERVAL_INVALID)."""
    begin, finish = parse_instant("start", start), parse_instant("end", end)
    if finish <= begin:
        raise InvalidInput(f"interval end {end} is not after its start {start}", code="INTERVAL_INVALID")
    return begin, finish
