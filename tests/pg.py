"""PostgreSQL fixtures (pytest plugin, loaded from tests/conftest.py).

pg_server_url  session: URL of a server's `postgres` database.  Uses
               $ONECLAIM_TEST_PG_URL when set (scripts/test.sh starts one cluster for
               the whole run); otherwise starts a throw-away cluster with
               tools/pgcluster.py and stops it at session end (per xdist worker).
pg_url         function: a fresh, empty database of its own on that server; dropped
               (WITH (FORCE)) after the test.  Names are unique across xdist workers.

create_database()/drop_database() are exported for fixtures with other scopes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

ENV_URL = "ONECLAIM_TEST_PG_URL"
_TOOL = Path(__file__).resolve().parent.parent / "tools" / "pgcluster.py"


def _pgcluster():
    """Import tools/pgcluster.py (tools/ is not a package)."""
    name = "oneclaim_tools_pgcluster"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _TOOL)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def database_url(server_url: str, dbname: str) -> str:
    """server_url with its database replaced by dbname."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def unique_dbname(hint: str = "") -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    hint = re.sub(r"[^a-z0-9]+", "_", hint.lower()).strip("_")[:24]
    name = f"t_{worker}_{uuid.uuid4().hex[:12]}"
    return f"{name}_{hint}" if hint else name


def create_database(server_url: str, hint: str = "") -> str:
    """Create a fresh uniquely named database; returns its URL."""
    dbname = unique_dbname(hint)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return database_url(server_url, dbname)


def drop_database(server_url: str, db_url: str) -> None:
    dbname = urlsplit(db_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get(ENV_URL, "").strip()
    if url:
        yield url
        return
    cluster = _pgcluster().start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_server_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    url = create_database(pg_server_url, request.node.name)
    try:
        yield url
    finally:
        drop_database(pg_server_url, url)
