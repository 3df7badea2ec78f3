"""The dependencies routes share: the ledger, the read models, and who is calling.

`allow(*roles)` is each route's rule, a FastAPI dependency: it reads the bearer token (if any),
refuses a missing, unknown, expired or revoked one (401) or a role the route does not allow
(403), and records the rule on the route (`x-roles` in the OpenAPI) so the route table can be
checked: tests/test_api_auth.py builds its matrix from it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import PUBLIC, Forbidden, Principal, Role, Unauthenticated
from ledger.app import Ledger
from ledger.readmodel import ReadModel

bearer = HTTPBearer(auto_error=False, description="A token from `oneclaim token issue`.")


async def ledger(request: Request) -> Ledger:
    return request.app.state.ledger


async def readmodel(request: Request) -> ReadModel:
    return request.app.state.readmodel


async def origin(request: Request) -> str:
    """This registry's log origin (its checkpoints' first line)."""
    return request.app.state.origin


LedgerDep = Annotated[Ledger, Depends(ledger)]
OriginDep = Annotated[str, Depends(origin)]
ReadModelDep = Annotated[ReadModel, Depends(readmodel)]


async def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Principal | None:
    """The principal of the request's bearer token, or None without one; never from the body."""
    if credentials is None:
        return None
    return request.app.state.tokens.authenticate(credentials.credentials, request.app.state.now())


def allow(*roles: str, openapi: dict[str, Any] | None = None) -> dict[str, Any]:
    """Route keyword arguments for a rule: which roles (Role values, or PUBLIC) may call it;
    `openapi` adds to the route's OpenAPI operation."""

    async def rule(principal: Annotated[Principal | None, Depends(caller)]) -> Principal | None:
        if principal is None:
            if PUBLIC in roles:
                return None
            raise Unauthenticated("this route needs a bearer token", allowed=list(roles))
        if PUBLIC not in roles and principal.role not in roles:
            raise Forbidden(f"a {principal.role} token may not call this route", allowed=list(roles))
        return principal

    return {"dependencies": [Depends(rule)], "openapi_extra": {"x-roles": list(roles), **(openapi or {})}}


CallerDep = Annotated[Principal | None, Depends(caller)]


def own_account(ledger: Ledger, who: Principal | None, account: str) -> None:
    """An account holder acts only on accounts its participant owns (the operator and auditors
    on any)."""
    if who is not None and who.role == Role.HOLDER and ledger.owner_of(account) != who.participant:
        raise Forbidden(f"account {account} is not {who.participant}'s", code="ACCOUNT_NOT_YOURS", account=account)


IdempotencyKey = Annotated[
    str | None, Header(max_length=64, description="Makes a retried write answer its first result.")
]


class Write:
    """A write's idempotency: the caller's `Idempotency-Key`, scoped to its participant."""

    def __init__(self, ledger: Ledger, who: Principal | None, key: str | None) -> None:
        self.ledger, self.who = ledger, who
        self.request_id = None if key is None or who is None else f"{who.participant}/{key}"

    def once(self, command: str, body: Any, act: Any) -> Any:
        """Run `act` once per key (`Ledger.once`): None if it acted now, else the first request."""
        payload = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
        return self.ledger.once(self.request_id, command, payload, act)


async def write(ledger: LedgerDep, who: CallerDep, idempotency_key: IdempotencyKey = None) -> Write:
    return Write(ledger, who, idempotency_key)


WriteDep = Annotated[Write, Depends(write)]
