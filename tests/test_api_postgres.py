"""The HTTP API with several workers over one PostgreSQL (`oneclaim serve --workers 2`): the
same races as on SQLite, decided by the database across processes, and many clients writing
at once; afterwards the log verifies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.app import Ledger
from tests import test_api, test_api_registry
from tests.pg import create_database, drop_database
from tests.registry_support import CONSUMER, GENERATOR, market, one_gec_batch
from tests.support import run
from tests.test_api import OPERATOR_PARTICIPANT, Served, _token, start_server, stop_server

WORKERS = 2


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, pg_server_url: str) -> Iterator[Served]:
    db_url = create_database(pg_server_url, "api_workers")
    home = tmp_path_factory.mktemp("api-pg") / "home"
    run("init", "--origin", "oneclaim.test/api-pg", "--db", db_url, "--home", str(home))
    ledger = Ledger(db_url)
    try:
        market(ledger)
        ledger.add_participant(OPERATOR_PARTICIPANT, "苏州工业园区绿证登记", "registry", "江苏", "苏州")
        batch = one_gec_batch(ledger, 40)
    finally:
        ledger.close()
    run("log", "sign", "--home", str(home))
    tokens = {
        "operator": _token(home, OPERATOR_PARTICIPANT, "operator"),
        "holder": _token(home, GENERATOR, "holder"),
        "consumer": _token(home, CONSUMER, "holder"),
    }
    proc, url = start_server(home, workers=WORKERS, db_url=db_url)
    try:
        yield Served(url, home, batch, tokens)
    finally:
        stop_server(proc)
        drop_database(pg_server_url, db_url)


def test_two_workers_answer_from_one_database(served: Served) -> None:
    """Requests land on both workers (each its own process, own caches): every answer agrees
    with what the last write left, whichever worker served it."""
    with served.client("operator") as c:
        for i in range(12):
            body = {"code": f"PG-P-{i}", "name": "n", "role": "consumer", "province": "江苏", "city": "苏州"}
            assert c.post("/v1/participants", json=body).status_code == 201
            assert c.get(f"/v1/participants/PG-P-{i}").status_code == 200  # read back, any worker


def test_racing_clients_across_workers_move_the_same_units_and_claim_the_same_kwh_once(served: Served) -> None:
    test_api.racing_story(served)


def test_many_clients_writing_at_once_across_workers_all_succeed(served: Served) -> None:
    test_api_registry.many_writers_story(served)
