"""Shared fixtures. Every log test runs twice: on a SQLite file and on a real PostgreSQL server.

tests/pg.py provides pg_server_url (session) and pg_url (a fresh database per test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.app import Ledger
from ledger.note import Signer, generate_signer

pytest_plugins = ["tests.pg"]

ORIGIN = "oneclaim.test/log"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    app = Ledger(db_url)
    yield app
    app.close()


@pytest.fixture
def signer() -> Signer:
    return generate_signer(ORIGIN)
