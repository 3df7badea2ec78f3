"""The managed local chain: anvil started, stopped and restarted with its state in the data
directory, and Hardhat's node as a second EVM. Each test runs its own servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from anchoring.chain import Chain, ChainConfig, ChainError, HardhatNode
from anchoring.compile import CompiledContract
from anchoring.registry import AnchorRegistry, LatestAnchor
from tests.anchor_support import MemoryTree, Roles, new_log, refusal

pytest_plugins = ["tests.anchor_fixtures"]  # compiled


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    return MemoryTree(64)


@pytest.fixture
def managed(tmp_path: Path):
    chain = Chain(tmp_path / "data")
    yield chain
    chain.down()


def _listening_on_loopback_only(port: int) -> bool:
    """Whether every listening TCP socket on `port` is bound to 127.0.0.1 (from /proc/net/tcp*)."""
    bound = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                bound.append(address)
    return bool(bound) and all(a == "0100007F" for a in bound)


def _deploy_and_anchor(w3, compiled: CompiledContract, tree: MemoryTree) -> tuple[AnchorRegistry, bytes, Roles]:
    roles = Roles(*w3.eth.accounts[:5])
    registry, _ = AnchorRegistry.deploy(w3, sender=roles.admin, compiled=compiled)
    lid = new_log(registry, roles, "restart")
    registry.anchor(lid, 10, tree.root(10), [], sender=roles.anchorer)
    registry.anchor(lid, 37, tree.root(37), tree.proof(10, 37), sender=roles.anchorer)
    return registry, lid, roles


def test_up_status_down_are_idempotent(managed: Chain) -> None:
    assert managed.status().running is False
    assert managed.down() is False  # down when down is fine

    status = managed.up()
    assert status.running and status.chain_id == 31337 and status.block_number == 0
    assert status.rpc_url == f"http://127.0.0.1:{json.loads(managed.record_file.read_text())['port']}"
    assert _listening_on_loopback_only(int(status.rpc_url.rsplit(":", 1)[1]))
    assert managed.up().pid == status.pid  # up when up reports the running chain
    assert Chain(managed.dir.parent).status().pid == status.pid  # another process finds it by its record

    assert managed.down() is True
    assert managed.status().running is False
    assert not managed.record_file.exists()
    assert managed.state_file.exists()  # written on the way down
    assert managed.down() is False


def test_the_state_survives_a_restart(managed: Chain, compiled: CompiledContract, tree: MemoryTree) -> None:
    managed.up()
    registry, lid, roles = _deploy_and_anchor(managed.web3(), compiled, tree)
    before = registry.latest(lid)
    managed.down()
    status = managed.up()
    assert status.block_number >= before.block_number
    again = AnchorRegistry(managed.web3(), registry.address, compiled)
    assert again.latest(lid) == before == LatestAnchor(37, tree.root(37), before.block_number, 2)
    # And the chain goes on from there: the contract still checks against the restored root.
    assert refusal(lambda: again.anchor(lid, 40, tree.root(40), [], sender=roles.anchorer)).error == "ProofRequired"
    again.anchor(lid, 40, tree.root(40), tree.proof(37, 40), sender=roles.anchorer)


def test_the_state_survives_kill_9_after_the_state_interval(
    managed: Chain, compiled: CompiledContract, tree: MemoryTree
) -> None:
    status = managed.up()
    w3 = managed.web3()
    registry, lid, _ = _deploy_and_anchor(w3, compiled, tree)
    anchored_at = registry.latest(lid).block_number
    # Wait for the periodic dump (every state_interval = 1 s) to include the anchor's block.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if managed.state_file.exists():
            with_blocks = json.loads(managed.state_file.read_text() or "{}")
            if int(with_blocks.get("block", {}).get("number", "0x0"), 16) >= anchored_at:
                break
        time.sleep(0.2)
    else:
        pytest.fail("anvil did not dump its state within 10 s")
    os.kill(status.pid, signal.SIGKILL)
    assert managed.status().running is False

    assert managed.up().pid != status.pid
    again = AnchorRegistry(managed.web3(), registry.address, compiled)
    assert again.latest(lid) == LatestAnchor(37, tree.root(37), anchored_at, 2)


def test_a_configured_port_that_is_taken_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        chain = Chain(tmp_path, ChainConfig(port=taken.getsockname()[1]))
        with pytest.raises(ChainError) as info:
            chain.up(timeout=5)
    assert info.value.code == "CHAIN_START_FAILED"
    assert chain.status().running is False


def test_hardhat_node_runs_the_contract(compiled: CompiledContract, tree: MemoryTree) -> None:
    with HardhatNode() as node:
        assert _listening_on_loopback_only(node.port)
        w3 = node.web3()
        registry, lid, roles = _deploy_and_anchor(w3, compiled, tree)
        assert registry.latest(lid).tree_size == 37
        registry.grant_witness(roles.witness, sender=roles.admin)
        registry.cosign(lid, 37, tree.root(37), sender=roles.witness)
        assert registry.cosigned(lid, 37, roles.witness)
        # Hardhat reports reverts its own way; the custom error still decodes.
        forged = refusal(lambda: registry.anchor(lid, 50, tree.root(51), tree.proof(37, 50), sender=roles.anchorer))
        assert forged.error == "InconsistentProof"
        assert refusal(lambda: registry.anchor(lid, 60, tree.root(60), [], sender=roles.stranger)).error == (
            "NotAnchorer"
        )
