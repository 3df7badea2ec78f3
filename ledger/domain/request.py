"""A client's write request, recorded by its idempotency key.

A command sent with a key records a `Request` in the same transaction as the command's own
events (`Ledger.once`), so a retry finds it and answers without acting twice, and the same key
with another body is refused. The log holds only digests: the key's SHA-256 (it names the
participant that sent it) and the body's.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.errors import Conflict


def request_id(key_sha256: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:request:{key_sha256}")


class Request(Aggregate):
    """One write, by the digest of its idempotency key; what it asked for, by digest."""

    @staticmethod
    def create_id(key_sha256: str, **_: object) -> UUID:
        return request_id(key_sha256)

    @event("Recorded")
    def __init__(self, key_sha256: str, command: str, body_sha256: str, created: list[str]) -> None:
        self.key_sha256 = key_sha256
        self.command = command
        self.body_sha256 = body_sha256
        self.created = created  # ids (hex) of the records the request created, for its answer

    def check_same(self, command: str, body_sha256: str) -> None:
        """A retry must ask for what the first request asked for."""
        if (command, body_sha256) != (self.command, self.body_sha256):
            raise Conflict(
                "this idempotency key was used for another request; nothing was written",
                code="REQUEST_ID_REUSED",
                first_command=self.command,
            )
