"""The contracts compile offline, to the same bytes with py-solc-x and with Hardhat."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from web3 import Web3

from anchoring import compile as compile_module
from anchoring.compile import PROJECT_ROOT, CompiledContract, CompilerUnavailable, compile_contracts
from anchoring.registry import AnchorRegistry
from tests.anchor_support import Roles

pytest_plugins = ["tests.anchor_fixtures"]  # chain, w3, roles, compiled


def _hardhat_compile(artifacts: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ONECLAIM_HARDHAT_ARTIFACTS": str(artifacts),
        "ONECLAIM_HARDHAT_CACHE": str(cache),
        "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
    }
    hardhat = PROJECT_ROOT / "node_modules" / ".bin" / "hardhat"
    return subprocess.run(
        [str(hardhat), "compile", "--force"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_py_solc_x_and_hardhat_produce_the_same_bytecode(tmp_path: Path) -> None:
    ours = compile_contracts(use_cache=False)
    done = _hardhat_compile(tmp_path / "artifacts", tmp_path / "cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "evm target: cancun" in done.stdout
    for name, contract in ours.items():
        artifact = json.loads((tmp_path / "artifacts" / contract.source / f"{name}.json").read_text())
        assert artifact["bytecode"] == contract.bytecode
        assert artifact["deployedBytecode"] == contract.deployed_bytecode
        assert artifact["abi"] == contract.abi
    assert len(ours["AnchorRegistry"].deployed_bytecode) > 2_000


def test_the_deployed_code_is_the_compiled_runtime_code(w3: Web3, roles: Roles, compiled: CompiledContract) -> None:
    registry, receipt = AnchorRegistry.deploy(w3, sender=roles.admin, compiled=compiled)
    assert "0x" + bytes(w3.eth.get_code(registry.address)).hex() == compiled.deployed_bytecode
    assert registry.admin() == roles.admin
    assert receipt.gas_used < 1_500_000


def test_settings_are_pinned_and_shared_with_hardhat() -> None:
    config = json.loads((PROJECT_ROOT / "contracts" / "solc-settings.json").read_text())
    assert config == {
        "version": "0.8.28",
        "settings": {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "cancun"},
    }
    assert "contracts/solc-settings.json" in (PROJECT_ROOT / "hardhat.config.js").read_text()
    lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/solc"]["version"] == config["version"]


def test_solc_script_answers_like_solc() -> None:
    script = PROJECT_ROOT / "contracts" / "solc.cjs"
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True).stdout
    assert "Version: 0.8.28+commit." in version
    source = "pragma solidity 0.8.28; contract A { function f() external pure returns (uint) { return 7; } }"
    standard = {
        "language": "Solidity",
        "sources": {"a.sol": {"content": source}},
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    done = subprocess.run(
        [str(script), "--standard-json"], input=json.dumps(standard), capture_output=True, text=True, check=True
    )
    output = json.loads(done.stdout)  # only JSON on stdout: no banner
    assert output["contracts"]["a.sol"]["A"]["abi"][0]["name"] == "f"


def _project_copy(tmp_path: Path, with_node_modules: bool) -> Path:
    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "contracts", root / "contracts")
    if with_node_modules:
        (root / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    return root


def test_the_cache_is_keyed_by_the_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project_copy(tmp_path, with_node_modules=True)
    first = compile_contracts(root, use_cache=False)
    assert len(list((root / "build" / "contracts").glob("*.json"))) == 1
    assert compile_contracts(root) is first  # from memory
    monkeypatch.setattr(compile_module, "_memory", {})
    (root / "node_modules").unlink()  # no compiler now: the next result can only come from disk
    assert compile_contracts(root) == first
    (root / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    source = root / "contracts" / "AnchorRegistry.sol"
    source.write_text(source.read_text().replace("uint64 count;", "uint64 count; // edited"))
    second = compile_contracts(root)
    assert len(list((root / "build" / "contracts").glob("*.json"))) == 2
    assert second["AnchorRegistry"].bytecode != first["AnchorRegistry"].bytecode  # the metadata hash moved


def test_missing_npm_packages_are_a_clear_error(tmp_path: Path) -> None:
    root = _project_copy(tmp_path, with_node_modules=False)
    with pytest.raises(CompilerUnavailable) as info:
        compile_contracts(root, use_cache=False)
    assert info.value.code == "SOLC_UNAVAILABLE"
    assert "npm ci" in info.value.message
