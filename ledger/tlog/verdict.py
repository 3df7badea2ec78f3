"""What a verification found: a Report, and the first Failure with its stable code and the
sequence number where it happened. Shared by the reference verifier and the fast one."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Failure:
    code: str
    seq: int | None
    message: str


@dataclass
class Report:
    ok: bool
    events: int
    tree_size_checked: int
    checkpoints: int
    root: str
    seconds: float
    failure: Failure | None = None
    key_source: str = ""
    verifier: str = ""  # "reference" or "fast"
    authenticated: bool = True  # False: the key came from the thing verified (--unauthenticated)

    def to_dict(self) -> dict:
        return asdict(self)


class VerificationFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.code} at seq {failure.seq}: {failure.message}")
        self.failure = failure
