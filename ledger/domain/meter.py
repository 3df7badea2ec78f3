"""A device's current readings, indexed by production month (计量上网电量).

A plain class the `Device` holds, as it holds its `ClaimsPool`: the readings that stand (a
corrected one is replaced by its correction, under the correction's version) and the month
index that finds them without a scan of the device's history. It records nothing itself: the
device's events call it, so replaying them rebuilds it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ledger.domain.pool import Span
from ledger.domain.values import Reading, month_of, next_month, parse_instant
from ledger.errors import Conflict, InvalidInput


class Meter:
    """Reading version -> the reading, and production month -> the versions of its readings."""

    def __init__(self) -> None:
        self.readings: dict[int, Reading] = {}
        self.months: dict[str, list[int]] = {}

    def __deepcopy__(self, memo: dict) -> Meter:
        """Readings are immutable: copying the maps (and the month lists) copies the meter."""
        copy = Meter()
        copy.readings = dict(self.readings)
        copy.months = {month: list(versions) for month, versions in self.months.items()}
        return copy

    # ------------------------------------------------------------------ changes (from events)

    def record(self, version: int, reading: Reading) -> None:
        self.readings[version] = reading
        self.months.setdefault(month_of(datetime.fromisoformat(reading.start)), []).append(version)

    def correct(self, corrects: int, version: int, on_grid_kwh: int, self_consumed_kwh: int) -> None:
        """The reading at `corrects` is replaced by a corrected one at `version`, in place in its month."""
        old = self.readings.pop(corrects)
        self.readings[version] = old._replace(on_grid_kwh=on_grid_kwh, self_consumed_kwh=self_consumed_kwh)
        versions = self.months[month_of(datetime.fromisoformat(old.start))]
        versions[versions.index(corrects)] = version

    # ------------------------------------------------------------------ questions

    def readings_in(self, begin: datetime, finish: datetime) -> list[int]:
        """Versions of the current readings that intersect [begin, finish), found through the
        month index (never a scan of the device's whole history)."""
        found, month, last = [], month_of(begin), month_of(finish - timedelta(microseconds=1))
        while month <= last:
            for version in self.months.get(month, ()):
                reading = self.readings[version]
                if datetime.fromisoformat(reading.start) < finish and begin < datetime.fromisoformat(reading.end):
                    found.append(version)
            month = next_month(month)
        return found

    def month_totals(self, month: str) -> tuple[int, int]:
        """(on-grid kWh, self-consumed kWh) metered in a production month."""
        on_grid = self_used = 0
        for version in self.months.get(month, ()):
            on_grid += self.readings[version].on_grid_kwh
            self_used += self.readings[version].self_consumed_kwh
        return on_grid, self_used

    def metered(self, versions: list[int]) -> dict[int, int]:
        """On-grid kWh of each of these readings: the cap of the claims on it."""
        return {v: self.readings[v].on_grid_kwh for v in versions}

    def earliest_first(self, versions: list[int]) -> list[int]:
        return sorted(versions, key=lambda v: datetime.fromisoformat(self.readings[v].start))

    def span(self, start: str, end: str) -> Span:
        """The readings an interval of a claim covers, earliest first."""
        begin, finish = parse_instant("start", start), parse_instant("end", end)
        versions = self.earliest_first(self.readings_in(begin, finish))
        return Span(begin.isoformat(), finish.isoformat(), versions, self.metered(versions))

    def is_current(self, reading: Reading) -> bool:
        return reading in self.readings.values()

    def exactly(self, begin: datetime, finish: datetime) -> int | None:
        """The version of the current reading for exactly [begin, finish), if there is one."""
        for version in self.readings_in(begin, finish):
            if self.readings[version].interval() == (begin.isoformat(), finish.isoformat()):
                return version
        return None

    # ------------------------------------------------------------------ checks

    def check_whole(self, device: str, begin: datetime, finish: datetime, versions: list[int]) -> None:
        """A claim must cover whole readings: an hourly claim inside a month metered as one
        reading cannot know its share of that month."""
        for version in versions:
            reading = self.readings[version]
            if datetime.fromisoformat(reading.start) < begin or finish < datetime.fromisoformat(reading.end):
                raise InvalidInput(
                    f"[{begin.isoformat()}, {finish.isoformat()}) cuts through the reading {reading.describe()} of"
                    f" {device}; a claim must cover whole metered intervals",
                    code="CLAIM_INTERVAL_MISALIGNED",
                )

    def check_free_of(self, device: str, begin: datetime, finish: datetime) -> None:
        """No current reading may overlap a new one: a new figure goes in a correction."""
        for version in self.readings_in(begin, finish)[:1]:
            reading = self.readings[version]
            raise Conflict(
                f"device {device} already has a reading for {reading.describe()} (version {version})"
                f" overlapping [{begin.isoformat()}, {finish.isoformat()}), of {reading.on_grid_kwh} kWh on grid;"
                " a new figure for it goes in a corrections file (oneclaim meter correct)",
                code="READING_OVERLAP",
                device=device,
                existing_version=version,
            )
