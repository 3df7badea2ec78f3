"""The claims pool of one device (one MWh, one claim): which kWh of which reading each claim holds.

A reading's on-grid kWh is the cap of every claim on it. A claim (GECs of a month, CCER or
carbon-inclusion credits, a claim another registry reported) holds allocations: (reading version,
kWh) pairs. The pool is plain state inside the Device aggregate, one consistency boundary with the
readings it allocates from; it records nothing itself. The Device asks it what is free, how a claim
fits and what a release gives back, and applies the events that change it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from ledger.domain.values import immutable_copy
from ledger.errors import Conflict

Allocation = tuple[int, int]
"""(reading version, kWh)"""


class Claim(NamedTuple):
    """kWh of a device's readings held for one instrument's batch."""

    id: str  # GEC/<month>, CCER/<batch>, INCLUSION/<batch>, EXT/<source>/<reference>
    instrument: str
    batch: str
    start: str
    end: str
    allocations: tuple[Allocation, ...]
    version: int  # the device version of the event that made the claim
    source: str | None = None  # the registry that reported it, for EXT/ claims

    __copy__ = immutable_copy  # immutable: eventsourcing's aggregate cache deep-copies aggregates
    __deepcopy__ = immutable_copy

    @property
    def kwh(self) -> int:
        return sum(kwh for _, kwh in self.allocations)

    def kwh_on(self, versions: Iterable[int]) -> int:
        wanted = set(versions)
        return sum(kwh for version, kwh in self.allocations if version in wanted)

    def touches(self, versions: Iterable[int]) -> bool:
        wanted = set(versions)
        return any(version in wanted for version, _ in self.allocations)

    @classmethod
    def of(cls, claim: dict, version: int) -> Claim:
        """A claim as an event records it (plain JSON), made by the event at device `version`."""
        return cls(
            id=claim["id"],
            instrument=claim["instrument"],
            batch=claim["batch"],
            start=claim["start"],
            end=claim["end"],
            allocations=allocations_of(claim["allocations"]),
            version=version,
            source=claim.get("source"),
        )


def external_claim(source: str, reported: dict) -> dict:
    """The pool's claim (plain JSON, as a Claim is recorded) for a claim another registry
    reported and we accepted: `EXT/<source>/<reference>`."""
    return {
        "id": f"EXT/{reported['key']}",
        "instrument": f"EXTERNAL:{reported['instrument']}",
        "batch": reported["reference"],
        "source": source,
        "start": reported["start"],
        "end": reported["end"],
        "allocations": reported["allocations"],
    }


def allocations_of(pairs: Iterable[Iterable[int]]) -> tuple[Allocation, ...]:
    """Allocations from an event's plain JSON [[version, kWh], ...]."""
    return tuple((version, kwh) for version, kwh in pairs)


class Span(NamedTuple):
    """The readings an interval covers: their versions, earliest first, and metered on-grid kWh."""

    start: str
    end: str
    versions: list[int]
    metered: dict[int, int]


class ClaimsPool:
    def __init__(self) -> None:
        self.claims: dict[str, Claim] = {}
        self.claimed: dict[int, int] = {}  # reading version -> kWh claimed

    def __deepcopy__(self, memo: dict) -> ClaimsPool:
        """Claims are immutable, and kWh are ints: copying the two maps copies the pool."""
        copy = ClaimsPool()
        copy.claims, copy.claimed = dict(self.claims), dict(self.claimed)
        return copy

    # ------------------------------------------------------------------ questions

    def free(self, metered: Mapping[int, int], taken: Mapping[int, int] | None = None) -> dict[int, int]:
        """Free kWh per reading version, given each one's metered on-grid kWh (and kWh `taken`
        already by claims not yet recorded)."""
        taken = taken or {}
        return {v: kwh - self.claimed.get(v, 0) - taken.get(v, 0) for v, kwh in metered.items()}

    def earlier_claims(self, versions: Iterable[int]) -> list[dict]:
        """The claims holding kWh of any of `versions`, as a DOUBLE_CLAIM refusal names them."""
        versions = list(versions)
        return [
            {
                "claim": claim.id,
                "instrument": claim.instrument,
                "batch": claim.batch,
                "kwh": claim.kwh_on(versions),
                "device_version": claim.version,
            }
            for claim in self.claims.values()
            if claim.touches(versions)
        ]

    def holders(self) -> dict[int, list[dict]]:
        """Per reading version, each claim's share of it."""
        out: dict[int, list[dict]] = {}
        for claim in self.claims.values():
            for version, kwh in claim.allocations:
                out.setdefault(version, []).append(
                    {"claim": claim.id, "instrument": claim.instrument, "batch": claim.batch, "kwh": kwh}
                )
        return out

    @staticmethod
    def fit(earliest_first: list[int], free: Mapping[int, int], kwh: int) -> list[list[int]]:
        """Take `kwh` from the free kWh of the versions, in the order given: [[version, kWh], ...]."""
        allocations, need = [], kwh
        for version in earliest_first:
            take = min(free[version], need)
            if take:
                allocations.append([version, take])
                need -= take
        return allocations

    def release_plan(self, claim_id: str, kwh: int) -> list[list[int]]:
        """What giving back up to `kwh` of a claim takes from it: its latest kWh first."""
        allocations, need = [], min(kwh, self.claims[claim_id].kwh)
        for version, held in reversed(self.claims[claim_id].allocations):
            take = min(held, need)
            if take:
                allocations.append([version, take])
                need -= take
        return allocations

    def check_external(
        self, source: str, claims: list[dict], span: Callable[[str, str], Span], version: int
    ) -> tuple[list[dict], list[dict]]:
        """Claims another registry reports, against the pool: each that fits in what is free in its
        interval (after the ones before it) is accepted with its allocations, earliest readings
        first; each that does not is disputed, naming the free and overlapping kWh and every claim
        it overlaps (those accepted before it in this import too, as of device `version`). A
        reference given twice counts once."""
        accepted, disputed, taken, seen = [], [], {}, set()
        for claim in claims:
            key = f"{source}/{claim['reference']}"
            if key in seen:
                continue
            seen.add(key)
            where = span(claim["start"], claim["end"])
            free = self.free(where.metered, taken)
            entry = {**claim, "key": key, "start": where.start, "end": where.end}
            entry["metered_kwh"] = sum(where.metered.values())
            if claim["kwh"] <= sum(free.values()):
                allocations = self.fit(where.versions, free, claim["kwh"])
                for v, take in allocations:
                    taken[v] = taken.get(v, 0) + take
                accepted.append({**entry, "allocations": allocations})
                continue
            touching = set(where.versions)
            earlier = self.earlier_claims(where.versions) + [
                {
                    "claim": ours.id,
                    "instrument": ours.instrument,
                    "batch": ours.batch,
                    "device_version": version,
                    "kwh": ours.kwh_on(touching),
                }
                for ours in (Claim.of(external_claim(source, c), version) for c in accepted)
                if ours.touches(touching)
            ]
            disputed.append(
                entry
                | {
                    "free_kwh": sum(free.values()),
                    "overlap_kwh": claim["kwh"] - sum(free.values()),
                    "earlier_claims": earlier,
                }
            )
        return accepted, disputed

    def accept_disputed(self, key: str, claim: dict, where: Span) -> dict:
        """A disputed claim another registry reported, accepted after all (once our overlapping
        claim gave its kWh back): its allocations, or DOUBLE_CLAIM if they are still not free."""
        free = self.free(where.metered)
        if claim["kwh"] > sum(free.values()):
            raise Conflict(
                f"{key} needs {claim['kwh']} kWh but only {sum(free.values())} are free in its interval",
                code="DOUBLE_CLAIM",
                free_kwh=sum(free.values()),
                requested_kwh=claim["kwh"],
            )
        return {
            "reference": claim["reference"],
            "instrument": claim["instrument"],
            "key": key,
            "start": where.start,
            "end": where.end,
            "allocations": self.fit(where.versions, free, claim["kwh"]),
        }

    # ------------------------------------------------------------------ changes (from events)

    def add(self, claim: Claim) -> None:
        self.claims[claim.id] = claim
        for version, kwh in claim.allocations:
            self.claimed[version] = self.claimed.get(version, 0) + kwh

    def release(self, claim_id: str, allocations: Iterable[Iterable[int]]) -> None:
        claim = self.claims[claim_id]
        left = dict(claim.allocations)
        for version, kwh in allocations:
            left[version] -= kwh
            self.claimed[version] -= kwh
        self.claims[claim_id] = claim._replace(allocations=tuple((v, k) for v, k in left.items() if k))

    def supersede(self, old: int, new: int) -> None:
        """A correction replaced reading `old` by `new`: the claims on it follow."""
        if old not in self.claimed:
            return
        self.claimed[new] = self.claimed.pop(old)
        for claim_id, claim in self.claims.items():
            if any(v == old for v, _ in claim.allocations):
                moved = tuple((new if v == old else v, k) for v, k in claim.allocations)
                self.claims[claim_id] = claim._replace(allocations=moved)
