"""Compile the Solidity contracts offline, with py-solc-x over the npm `solc` package.

No native solc can be downloaded here, so `contracts/solc.cjs` (a Node script over the wasm
compiler in `node_modules/solc`) stands in as py-solc-x's `solc_binary`. The compiler version and
settings live in `contracts/solc-settings.json`, which `hardhat.config.js` reads too, so both
compile to the same bytes. Sources are passed under their project-relative names
(`contracts/X.sol`), as Hardhat does, because those names are part of the metadata hash at the
end of the bytecode.

Compiling takes a few seconds (wasm), so the output is cached, in memory and under
`build/contracts/`, keyed by a hash of the compiler version, settings and sources.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError
from solcx.wrapper import get_solc_version

from ledger.errors import LedgerError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]


class CompilerUnavailable(LedgerError):
    """Node or the npm `solc` package is missing, so nothing can be compiled."""

    code = "SOLC_UNAVAILABLE"
    http_status = 503


class CompileFailed(LedgerError):
    """The compiler refused the sources; the message holds its diagnostics."""

    code = "COMPILE_FAILED"
    http_status = 500


@dataclass(frozen=True)
class CompiledContract:
    """What deploying and calling a contract needs. Bytecodes are hex strings with `0x`."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


_memory: dict[str, dict[str, CompiledContract]] = {}


def solc_config(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The compiler version and settings shared with hardhat.config.js."""
    return json.loads((root / "contracts" / "solc-settings.json").read_text())


def solc_binary(root: Path = PROJECT_ROOT) -> Path:
    """The Node script py-solc-x runs as solc; raises SOLC_UNAVAILABLE if it cannot run."""
    script = root / "contracts" / "solc.cjs"
    if shutil.which("node") is None:
        raise CompilerUnavailable("node is not on PATH: install Node.js 20+, then run `npm ci`")
    if not (root / "node_modules" / "solc" / "soljson.js").is_file():
        raise CompilerUnavailable(f"the npm package solc is missing: run `npm ci` in {root}", root=str(root))
    if not os.access(script, os.X_OK):
        raise CompilerUnavailable(f"{script} is missing or not executable", script=str(script))
    return script


def compile_contracts(root: Path = PROJECT_ROOT, *, use_cache: bool = True) -> dict[str, CompiledContract]:
    """Every contract in `root/contracts/*.sol`, by contract name."""
    config = solc_config(root)
    sources = {
        path.relative_to(root).as_posix(): {"content": path.read_text()}
        for path in sorted((root / "contracts").glob("*.sol"))
    }
    if not sources:
        raise CompileFailed(f"no Solidity sources in {root / 'contracts'}")
    key = _cache_key(config, sources)
    if use_cache and key in _memory:
        return _memory[key]
    cache_file = root / "build" / "contracts" / f"{key}.json"
    if use_cache and cache_file.is_file():
        output = json.loads(cache_file.read_text())
    else:
        output = _compile(root, config, sources)
        _write_atomically(cache_file, output)
    contracts = _contracts(output)
    _memory[key] = contracts
    return contracts


def anchor_registry(root: Path = PROJECT_ROOT) -> CompiledContract:
    """The compiled AnchorRegistry contract."""
    return compile_contracts(root)["AnchorRegistry"]


def _cache_key(config: dict[str, Any], sources: dict[str, Any]) -> str:
    # The compiler's own identity is its pinned version; OUTPUTS changes what the cache holds.
    blob = json.dumps({"config": config, "sources": sources, "outputs": OUTPUTS}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _compile(root: Path, config: dict[str, Any], sources: dict[str, Any]) -> dict[str, Any]:
    binary = solc_binary(root)
    found = get_solc_version(binary)
    if str(found) != config["version"]:
        raise CompilerUnavailable(
            f"node_modules has solc {found}, the contracts need {config['version']}: run `npm ci`",
            found=str(found),
            wanted=config["version"],
        )
    standard_input = {
        "language": "Solidity",
        "sources": sources,
        "settings": {**config["settings"], "outputSelection": {"*": {"*": OUTPUTS}}},
    }
    try:
        return solcx.compile_standard(standard_input, solc_binary=binary, base_path=root, allow_paths=[root])
    except SolcError as exc:
        raise CompileFailed(f"solc refused the contracts: {exc.message}") from exc


def _contracts(output: dict[str, Any]) -> dict[str, CompiledContract]:
    contracts: dict[str, CompiledContract] = {}
    for source, by_name in output["contracts"].items():
        for name, out in by_name.items():
            contracts[name] = CompiledContract(
                name=name,
                source=source,
                abi=out["abi"],
                bytecode="0x" + out["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + out["evm"]["deployedBytecode"]["object"],
            )
    return contracts


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write then rename, so a concurrent reader (another xdist worker) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    os.replace(tmp, path)
