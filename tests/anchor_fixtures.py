"""Fixtures for the anchoring tests: a real anvil per test session, on a free port of 127.0.0.1.

Test modules load them with `pytest_plugins = ["tests.anchor_fixtures"]`. Under pytest-xdist each
worker is its own session, so each worker starts (and stops) its own anvil.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from anchoring.chain import Chain
from anchoring.compile import CompiledContract, anchor_registry
from tests.anchor_support import ANCHOR_ORIGIN, Roles, oneclaim


@pytest.fixture(scope="session")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    managed = Chain(tmp_path_factory.mktemp("anvil"))
    managed.up()
    yield managed
    managed.down()


@pytest.fixture(scope="session")
def w3(chain: Chain) -> Web3:
    return chain.web3()


@pytest.fixture(scope="session")
def roles(w3: Web3) -> Roles:
    return Roles(*w3.eth.accounts[:5])


@pytest.fixture(scope="session")
def compiled() -> CompiledContract:
    return anchor_registry()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A home on the embedded default with its managed chain up; the chain is stopped afterwards."""
    h = tmp_path / "home"
    oneclaim(h, "init", "--origin", ANCHOR_ORIGIN)
    oneclaim(h, "chain", "up")
    yield h
    oneclaim(h, "chain", "down", check=False)
