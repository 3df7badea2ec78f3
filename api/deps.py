"""The dependencies routes share: the ledger, the read models, and who is calling.

`allow(*roles)` is each route's rule, a FastAPI dependency: it reads the bearer token (if any),
refuses a missing, unknown, expired or revoked one (401) or a role the route does not allow
(403), and records the rule on the route (`x-roles` in the OpenAPI) so the route table can be
checked: tests/test_api_auth.py builds its matrix from it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import PUBLIC, Forbidden, Principal, Role, Unauthenticated
from ledger.app import Ledger
from ledger.readmodel import ReadModel

bearer = HTTPBearer(auto_error=False, description="A token from `oneclaim token issue`.")


def ledger(request: Request) -> Ledger:
    return request.app.state.ledger


def readmodel(request: Request) -> ReadModel:
    return request.app.state.readmodel


LedgerDep = Annotated[Ledger, Depends(ledger)]
ReadModelDep = Annotated[ReadModel, Depends(readmodel)]


def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Principal | None:
    """The principal of the request's bearer token, or None without one; never from the body."""
    if credentials is None:
        return None
    return request.app.state.tokens.authenticate(credentials.credentials, request.app.state.now())


def allow(*roles: str) -> dict[str, Any]:
    """Route keyword arguments for a rule: which roles (Role values, or PUBLIC) may call it."""

    def rule(principal: Annotated[Principal | None, Depends(caller)]) -> Principal | None:
        if principal is None:
            if PUBLIC in roles:
                return None
            raise Unauthenticated("this route needs a bearer token", allowed=list(roles))
        if PUBLIC not in roles and principal.role not in roles:
            raise Forbidden(f"a {principal.role} token may not call this route", allowed=list(roles))
        return principal

    return {"dependencies": [Depends(rule)], "openapi_extra": {"x-roles": list(roles)}}


CallerDep = Annotated[Principal | None, Depends(caller)]


def own_account(ledger: Ledger, who: Principal | None, account: str) -> None:
    """An account holder acts only on accounts its participant owns (the operator and auditors
    on any)."""
    if who is not None and who.role == Role.HOLDER and ledger.owner_of(account) != who.participant:
        raise Forbidden(f"account {account} is not {who.participant}'s", code="ACCOUNT_NOT_YOURS", account=account)
