"""Errors with stable codes.

Every refusal the ledger makes is a `LedgerError` whose `code` never changes between releases
(clients match on it) and whose message says what was wrong and what to do.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """A refusal with a stable machine-readable code."""

    code: str = "LEDGER_ERROR"
    http_status: int = 400

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NotFound(LedgerError):
    code = "NOT_FOUND"
    http_status = 404


class Conflict(LedgerError):
    code = "CONFLICT"
    http_status = 409


class InvalidInput(LedgerError):
    code = "INVALID_INPUT"
    http_status = 422


class NotInitialised(LedgerError):
    code = "NOT_INITIALISED"
    http_status = 503
