"""PostgreSQL for the tests, from pytest-postgresql (loaded as a plugin from tests/conftest.py).

pg_server_url  session: the URL of a throw-away server's `postgres` database. pytest-postgresql's
               executor runs initdb and pg_ctl in a temporary folder on a free 127.0.0.1 port
               (per xdist worker) and removes it afterwards; tools/pg_ctl runs them as the
               `postgres` user when the tests run as root. $ONECLAIM_TEST_PG_URL names an
               existing server instead.
pg_url         function: a fresh, empty database of its own on that server (pytest-postgresql's
               DatabaseJanitor), dropped after the test.

create_database()/drop_database() are there for fixtures of other scopes.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from port_for import select_random
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor

ENV_URL = "ONECLAIM_TEST_PG_URL"
PG_CTL = Path(__file__).resolve().parent.parent / "tools" / "pg_ctl"
HOST = "127.0.0.1"
# Durable on purpose (pytest-postgresql turns fsync off; this turns it back on): the suite has crash tests.
SERVER_OPTIONS = "-c fsync=on -c max_connections=200 -c shared_buffers=128MB -c max_parallel_workers_per_gather=0"


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Start a PostgreSQL server in a temporary folder; yields its `postgres` database URL."""
    base = Path(tempfile.mkdtemp(prefix="oneclaim-pg-"))
    if os.getuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = select_random()
    executor = PostgreSQLExecutor(
        executable=str(PG_CTL),
        host=HOST,
        port=port,
        user="postgres",
        password="",
        dbname="postgres",
        options="",
        datadir=str(base / "data"),
        unixsocketdir=str(base),
        logfile=str(base / "postgresql.log"),
        startparams="-w",
        postgres_options=SERVER_OPTIONS,
    )
    executor.start()
    try:
        executor.wait_for_postgres()
        yield f"postgresql://postgres@{HOST}:{port}/postgres"
    finally:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)


def unique_dbname(hint: str = "") -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    hint = re.sub(r"[^a-z0-9]+", "_", hint.lower()).strip("_")[:24]
    name = f"t_{worker}_{uuid.uuid4().hex[:12]}"
    return f"{name}_{hint}" if hint else name


def _janitor(server_url: str, dbname: str) -> DatabaseJanitor:
    parts = urlsplit(server_url)
    return DatabaseJanitor(
        user=parts.username or "postgres",
        host=parts.hostname or HOST,
        port=parts.port or 5432,
        dbname=dbname,
        password=parts.password,
    )


def create_database(server_url: str, hint: str = "") -> str:
    """Create a fresh uniquely named database; returns its URL."""
    dbname = unique_dbname(hint)
    _janitor(server_url, dbname).init()
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{dbname}"))


def drop_database(server_url: str, db_url: str) -> None:
    _janitor(server_url, urlsplit(db_url).path.lstrip("/")).drop()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get(ENV_URL, "").strip()
    if url:
        yield url
        return
    with throwaway_server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    url = create_database(pg_server_url, request.node.name)
    try:
        yield url
    finally:
        drop_database(pg_server_url, url)
