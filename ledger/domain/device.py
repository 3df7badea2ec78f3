"""Devices and their metered production (计量上网电量).

A reading is on-grid and self-consumed kWh for one device over a half-open interval
[start, end). A correction is a new event that names the reading it supersedes; nothing is
ever changed in place.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.errors import Conflict, InvalidInput, NotFound

# An upper bound that no single reading can reach: 100 GW for a whole year, in kWh.
MAX_READING_KWH = 100_000_000 * 8_784


def device_id(code: str) -> UUID:
    """Devices are keyed by their registry code, so registering one twice is refused."""
    return uuid5(NAMESPACE_URL, f"oneclaim:device:{code}")


def check_kwh(name: str, value: object) -> int:
    if type(value) is not int:
        raise InvalidInput(
            f"{name} must be a whole number of kWh, got {value!r}", code="QUANTITY_NOT_INTEGER"
        )
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
        raise InvalidInput(
            f"{name} {value!r} is not an ISO 8601 date-time", code="INTERVAL_INVALID"
        ) from None
    if instant.tzinfo is None:
        raise InvalidInput(
            f"{name} {value!r} needs a UTC offset, e.g. 2025-01-01T00:00+08:00",
            code="INTERVAL_INVALID",
        )
    return instant


class Device(Aggregate):
    """A registered (建档立卡) generating device and its readings."""

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return device_id(code)

    @event("Registered")
    def __init__(
        self,
        code: str,
        technology: str,
        capacity_kw: int,
        province: str,
        city: str,
        owner: str,
        commissioned_on: str,
    ) -> None:
        self.code = code
        self.technology = technology
        self.capacity_kw = capacity_kw
        self.province = province
        self.city = city
        self.owner = owner
        self.commissioned_on = commissioned_on
        # reading version -> (start, end, on_grid_kwh, self_consumed_kwh); superseded ones removed
        self.readings: dict[int, tuple[str, str, int, int]] = {}

    def record_reading(self, start: str, end: str, on_grid_kwh: int, self_consumed_kwh: int = 0) -> None:
        begin, finish = parse_instant("start", start), parse_instant("end", end)
        if finish <= begin:
            raise InvalidInput(f"interval end {end} is not after its start {start}", code="INTERVAL_INVALID")
        check_kwh("on_grid_kwh", on_grid_kwh)
        check_kwh("self_consumed_kwh", self_consumed_kwh)
        for version, (s, e, *_rest) in self.readings.items():
            if begin < parse_instant("end", e) and parse_instant("start", s) < finish:
                raise Conflict(
                    f"device {self.code} already has a reading for [{s}, {e}) (version {version})"
                    f" overlapping [{start}, {end}); correct that reading instead",
                    code="READING_OVERLAP",
                    device=self.code,
                    existing_version=version,
                )
        self._record_reading(begin.isoformat(), finish.isoformat(), on_grid_kwh, self_consumed_kwh)

    @event("ReadingRecorded")
    def _record_reading(self, start: str, end: str, on_grid_kwh: int, self_consumed_kwh: int) -> None:
        self.readings[self.version + 1] = (start, end, on_grid_kwh, self_consumed_kwh)

    def correct_reading(
        self, corrects_version: int, on_grid_kwh: int, self_consumed_kwh: int, reason: str
    ) -> None:
        if corrects_version not in self.readings:
            raise NotFound(
                f"device {self.code} has no current reading at version {corrects_version}",
                code="READING_NOT_FOUND",
            )
        check_kwh("on_grid_kwh", on_grid_kwh)
        check_kwh("self_consumed_kwh", self_consumed_kwh)
        if not reason.strip():
            raise InvalidInput("a correction needs a reason", code="REASON_REQUIRED")
        self._correct_reading(corrects_version, on_grid_kwh, self_consumed_kwh, reason)

    @event("ReadingCorrected")
    def _correct_reading(
        self, corrects_version: int, on_grid_kwh: int, self_consumed_kwh: int, reason: str
    ) -> None:
        start, end, _, _ = self.readings.pop(corrects_version)
        self.readings[self.version + 1] = (start, end, on_grid_kwh, self_consumed_kwh)
