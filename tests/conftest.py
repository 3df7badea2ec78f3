"""Shared fixtures. Every log test runs twice: on a SQLite file and on a real PostgreSQL server.

tests/pg.py provides pg_server_url (session) and pg_url (a fresh database per test).

No test reads the wall clock for a business date. The ledgers made here are told that today is
TODAY, years after every business date the tests record, so a command that forgets its date
fails on every day alike (its 2025 GECs have long expired by then); the in-process CLI runs
under time-machine at the same day.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
import time_machine

from ledger.app import Ledger
from ledger.domain.values import CHINA
from ledger.tlog.note import Signer, generate_signer
from tests.registry_support import market
from tests.support import run

pytest_plugins = ["tests.pg"]

ORIGIN = "oneclaim.test/log"
TODAY = date(2030, 6, 30)
"""The tests' today (China time)."""

CALENDAR_FREE = frozenset(
    {
        "test_anchor_contract",
        "test_anchor_service",
        "test_api_properties",
        "test_canonical",
        "test_chain",
        "test_compile",
        "test_explorer_js",
        "test_freshness",
        "test_independent_verifier",
        "test_layers",
        "test_log",
        "test_merkle_properties",
        "test_merkle_vectors",
        "test_note",
        "test_tamper",
        "test_verifiers",
    }
)
"""Modules whose subject never reads the calendar: the log, proofs, notes, the chain and anchors.

The few places in the code that read the wall clock (tests/test_layers.py pins them) are not
under these modules' test: they record business dates only to have events to hash.
They carry the `calendar_free` mark, which the faketime passes of scripts/test.sh leave out.
(test_api_properties is here for its property, which no date changes: whatever the input, no
500 and problem+json; tests/test_api.py, with its business dates, runs in every pass.)
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rpartition(".")[2] in CALENDAR_FREE:
            item.add_marker(pytest.mark.calendar_free)


ROOT = Path(__file__).resolve().parents[1]
GOPATH = Path("/usr/share/gocode")
GO_MOD = GOPATH / "src/golang.org/x/mod/sumdb/tlog"


@pytest.fixture(scope="session")
def oneclaimcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not GO_MOD.is_dir():
        missing = "Go (golang-go) and golang.org/x/mod (golang-golang-x-mod-dev)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} must be installed on CI (scripts/test.sh installs them)")
        pytest.skip(f"no independent check of bundles and proofs: install {missing}")
    out = tmp_path_factory.mktemp("go") / "oneclaimcheck"
    env = os.environ | {
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(out.parent / "cache"),
        "GOFLAGS": "",
    }
    subprocess.run([go, "build", "-o", str(out), "./tests/go/oneclaimcheck"], cwd=ROOT, env=env, check=True)
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    app = Ledger(db_url, clock=lambda: TODAY)
    yield app
    app.close()


@pytest.fixture
def registry(ledger: Ledger) -> Ledger:
    """A ledger with a small market: a generator, a trader and a consumer in Suzhou."""
    market(ledger)
    return ledger


@pytest.fixture
def signer() -> Signer:
    return generate_signer(ORIGIN)


@pytest.fixture
def cli_today() -> Iterator[None]:
    """The in-process CLI's today is TODAY (noon, China time), the clock frozen there."""
    with time_machine.travel(datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=CHINA), tick=False):
        yield


GEN, BUYER = "acct:sip-pv-ops", "acct:sip-fab-01"
"""The CLI market's accounts: the PV operator's and a semiconductor fab's."""


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, cli_today: None) -> Path:
    """A home made with the CLI, as an operator would: two PV devices of SIP-PV-OPS, and a buyer."""
    monkeypatch.setenv("ONECLAIM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ONECLAIM_DB_URL", raising=False)
    run("init", "--origin", "oneclaim.local/suzhou-sip", "--db", db_url)
    parties = (("SIP-PV-OPS", "园区光伏运营商", "generator"), ("SIP-FAB-01", "园区半导体企业", "consumer"))
    for code, name, role in parties:
        run("participant", "add", code, "--name", name, "--role", role, "--province", "江苏", "--city", "苏州")
    run("account", "open", GEN, "--owner", "SIP-PV-OPS")
    run("account", "open", BUYER, "--owner", "SIP-FAB-01")
    for code in ("SIP-PV-0001", "SIP-PV-0002"):
        run("device", "register", code, "--technology", "distributed_pv", "--capacity-kw", "400", "--province", "江苏",
            "--city", "苏州", "--owner", "SIP-PV-OPS", "--commissioned-on", "2023-05-01")  # fmt: skip
    return tmp_path
