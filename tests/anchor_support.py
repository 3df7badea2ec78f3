"""Helpers shared by the anchoring tests: accounts in their roles, a fresh registry, and RFC 9162
trees kept in memory to anchor. The fixtures are in tests/anchor_fixtures.py."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3

from anchoring.compile import CompiledContract
from anchoring.registry import AnchorRegistry, ContractRefused
from anchoring.service import AnchorService
from ledger.app import Ledger
from ledger.tlog.merkle import consistency_proof, root
from ledger.tlog.merkle.compact import Address


@dataclass(frozen=True)
class Roles:
    """anvil's development accounts, each in one role."""

    admin: str
    anchorer: str
    witness: str
    stranger: str
    second_witness: str


def deploy(w3: Web3, roles: Roles, compiled: CompiledContract | None = None) -> AnchorRegistry:
    """A fresh registry administered by `roles.admin`, with `roles.witness` granted."""
    registry, _ = AnchorRegistry.deploy(w3, sender=roles.admin, compiled=compiled)
    registry.grant_witness(roles.witness, sender=roles.admin)
    return registry


def new_log(registry: AnchorRegistry, roles: Roles, name: str) -> bytes:
    """Register a log named `name`, anchored by `roles.anchorer`; return its id."""
    log_id = hashlib.sha256(name.encode()).digest()
    registry.register_log(log_id, roles.anchorer, KEY_HASH, sender=roles.admin)
    return log_id


KEY_HASH = hashlib.sha256(b"a test log's verifier key").digest()
"""The verifier-key hash the contract tests register their logs with."""


def refusal(call) -> ContractRefused:
    """Run `call`, which must be refused by the contract; return the decoded refusal."""
    with pytest.raises(ContractRefused) as info:
        call()
    return info.value


class MemoryTree:
    """An RFC 9162 tree of `size` distinct leaves kept level by level in memory.

    `levels[L][i]` is the perfect subtree `(L, i)` (see ledger.tlog.merkle.compact), exactly what
    ledger.tlog.merkle's proof builders ask `get_nodes` for, so roots and proofs of every size up to
    `size` come from the project's own RFC 9162 code. A million leaves take about a second.
    """

    def __init__(self, size: int, label: bytes = b"event") -> None:
        sha256 = hashlib.sha256
        level = [sha256(b"\x00%s %d" % (label, i)).digest() for i in range(size)]
        self.levels = [level]
        while len(level) > 1:
            level = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
            self.levels.append(level)
        self.size = size

    def get_nodes(self, addresses: list[Address]) -> list[bytes]:
        return [self.levels[level][index] for level, index in addresses]

    def root(self, size: int) -> bytes:
        assert size <= self.size
        return root(size, self.get_nodes)

    def proof(self, size1: int, size2: int) -> list[bytes]:
        assert size2 <= self.size
        return consistency_proof(size1, size2, self.get_nodes)


class UniformTree:
    """An RFC 9162 tree of any size whose leaves all hold the same entry.

    Every perfect subtree of a level then has the same hash, so roots and proofs of trees far
    too large to build (2**40 leaves) cost O(log n): used to show how gas grows with proof length.
    """

    def __init__(self) -> None:
        self.by_level = [hashlib.sha256(b"\x00same entry").digest()]
        for _ in range(63):
            below = self.by_level[-1]
            self.by_level.append(hashlib.sha256(b"\x01" + below + below).digest())

    def get_nodes(self, addresses: list[Address]) -> Sequence[bytes]:
        return [self.by_level[level] for level, _ in addresses]

    def root(self, size: int) -> bytes:
        return root(size, self.get_nodes)

    def proof(self, size1: int, size2: int) -> list[bytes]:
        return consistency_proof(size1, size2, self.get_nodes)


def grow(ledger: Ledger, n: int, prefix: str = "P") -> None:
    for _ in range(n):
        code = f"{prefix}-{ledger.log.size():06d}"
        ledger.add_participant(code, "参与方", "consumer", "江苏", "苏州")


def oneclaim(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "ONECLAIM_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "oneclaim", *args], env=env, capture_output=True, text=True)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def home_service(home: Path) -> AnchorService:
    from oneclaim.anchor_cli import service_for
    from oneclaim.home import Home

    return service_for(Home.at(str(home)))


ANCHOR_ORIGIN = "oneclaim.test/anchors"
"""The origin of the logs the anchoring tests anchor."""
