"""The domain's values as named, immutable types, for aggregate state and the code that reads it.

Events stay plain JSON (their canonical bytes are hashed, see docs/architecture.md): these types
are built when an event is applied, never stored. Each is a NamedTuple, so a value is cheap,
immutable and compares equal to the plain tuple of its fields.
"""

from __future__ import annotations

from typing import NamedTuple


class SerialRange(NamedTuple):
    """Serials [start, end) of a batch (0-based, half-open), with one holder and one state, and how
    many times they were sold here."""

    start: int
    end: int
    holder: str
    state: str
    sales: int

    @property
    def units(self) -> int:
        return self.end - self.start

    def overlaps(self, start: int, end: int) -> bool:
        return self.start < end and start < self.end

    def same_kind(self, other: SerialRange) -> bool:
        """Same holder, state and sales: two adjacent such ranges are one."""
        return (self.holder, self.state, self.sales) == (other.holder, other.state, other.sales)


class Reading(NamedTuple):
    """A device's metered production over [start, end) (ISO 8601 instants with offsets), in kWh."""

    start: str
    end: str
    on_grid_kwh: int
    self_consumed_kwh: int

    def interval(self) -> tuple[str, str]:
        return self.start, self.end

    def describe(self) -> str:
        return f"[{self.start}, {self.end})"
