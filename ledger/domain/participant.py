"""Participants (organisations) and their accounts.

Accounts carry pseudonymous ids (`acct:…`); events hold no personal data beyond what a registry
needs: an organisation's registry code, role and region.
"""

from __future__ import annotations

import re
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.rules import PARTICIPANT_ROLES
from ledger.domain.values import one_of
from ledger.errors import InvalidInput

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
ACCOUNT = re.compile(r"^acct:[a-z0-9][a-z0-9._-]{2,63}$")


def participant_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:participant:{code}")


def account_id(account: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:account:{account}")


def check_code(kind: str, code: object, pattern: re.Pattern = CODE) -> str:
    if not isinstance(code, str) or not pattern.match(code):
        raise InvalidInput(f"{kind} {code!r} is not valid: use {pattern.pattern}", code=f"{kind.upper()}_CODE_INVALID")
    return code


class Participant(Aggregate):
    """An organisation with a role in the market and a region."""

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return participant_id(code)

    @event("Registered")
    def __init__(self, code: str, name: str, role: str, province: str, city: str) -> None:
        self.code = code
        self.name = name
        self.role = role
        self.province = province
        self.city = city
        self.accounts: list[str] = []

    @classmethod
    def register(cls, code: str, name: str, role: str, province: str, city: str) -> Participant:
        check_code("participant", code)
        one_of("role", role, PARTICIPANT_ROLES, "ROLE_INVALID")
        for label, value in (("name", name), ("province", province), ("city", city)):
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(f"a participant needs a {label}", code="PARTICIPANT_INCOMPLETE")
        return cls(code=code, name=name, role=role, province=province, city=city)

    @event("AccountOpened")
    def add_account(self, account: str) -> None:
        self.accounts.append(account)


class Account(Aggregate):
    """A holding account (绿证账户 / 碳账户) under a participant."""

    @staticmethod
    def create_id(account: str, **_: object) -> UUID:
        return account_id(account)

    @event("Opened")
    def __init__(self, account: str, owner: str, purpose: str) -> None:
        self.account = account
        self.owner = owner
        self.purpose = purpose

    @classmethod
    def open(cls, account: str, owner: str, purpose: str = "holding") -> Account:
        check_code("account", account, ACCOUNT)
        return cls(account=account, owner=owner, purpose=purpose)
