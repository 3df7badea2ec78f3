"""A witness that also has a chain key cosigns anchored roots on chain (the contract's `cosign`).

It vouches on chain only for what it vouched for off chain. For each log it witnesses, it reads
the latest anchor of that log (`latest(logId)`). If it cosigned a checkpoint of that tree size
with the same root, and has not cosigned the anchor yet, it sends `cosign(logId, size, root)`
from its EVM account, which the contract's admin must have granted (`grantWitness`). If it
cosigned that size with another root, the chain holds a root the log showed nobody who witnessed
it. The witness records that as CHAIN_SPLIT, with the note it cosigned and the anchor, and does
not cosign. An anchor of a size it never cosigned is left alone: it cannot vouch for it.

The settings live in the witness's directory: `chain.json` (rpc_url, contract) and `chain.key`
(the EVM private key, 0600), set with `oneclaim witness chain`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from anchoring.chain import connect
from anchoring.registry import AnchorRegistry, log_id
from ledger.errors import LedgerError
from ledger.tlog.witness import Witness

CHAIN_CONFIG = "chain.json"
CHAIN_KEY = "chain.key"


@dataclass
class ChainSettings:
    rpc_url: str
    contract: str
    account: LocalAccount


def configure(directory: Path, rpc_url: str, contract: str, private_key: str) -> str:
    """Give a witness its chain: where, which contract, and its key (kept 0600). Returns the
    witness's EVM address, which the contract's admin grants with `grantWitness`."""
    try:
        account = Account.from_key(private_key.strip())
    except (ValueError, TypeError):
        raise LedgerError("not an EVM private key (64 hex digits)", code="CHAIN_KEY_INVALID") from None
    key = directory / CHAIN_KEY
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(private_key.strip() + "\n")
    os.chmod(key, 0o600)
    tmp = directory / (CHAIN_CONFIG + ".tmp")
    tmp.write_text(json.dumps({"rpc_url": rpc_url, "contract": contract, "address": account.address}) + "\n")
    os.replace(tmp, directory / CHAIN_CONFIG)
    return account.address


def settings(directory: Path) -> ChainSettings | None:
    if not (directory / CHAIN_CONFIG).exists():
        return None
    config = json.loads((directory / CHAIN_CONFIG).read_text())
    account = Account.from_key((directory / CHAIN_KEY).read_text().strip())
    return ChainSettings(config["rpc_url"], config["contract"], account)


def chain_address(directory: Path) -> str | None:
    """The EVM address a witness cosigns anchors from, or None without a chain key (read from
    chain.json: the private key is not opened)."""
    config = Path(directory) / CHAIN_CONFIG
    return json.loads(config.read_text()).get("address") if config.exists() else None


def cosign_anchors(witness: Witness, chain: ChainSettings) -> list[dict]:
    """One pass over the logs the witness knows: what it did for each latest anchor."""
    registry = AnchorRegistry(connect(chain.rpc_url), chain.contract)
    done = []
    for log in witness.logs():
        origin = log["origin"]
        anchored = registry.latest(log_id(origin))
        if anchored.tree_size == 0 and anchored.count == 0:
            continue
        mine = witness.cosigned_root(origin, anchored.tree_size)
        row = {"origin": origin, "tree_size": anchored.tree_size, "root": anchored.root_hash.hex()}
        if mine is None:
            done.append(row | {"action": "not cosigned off chain: left alone"})
        elif mine[0] != anchored.root_hash:
            witness.record_alert(
                origin, "CHAIN_SPLIT",
                f"the chain anchors root {anchored.root_hash.hex()} at size {anchored.tree_size}, where this witness"
                f" cosigned {mine[0].hex()}", mine[1],
                f"{chain.contract} latest({log_id(origin).hex()}) = size {anchored.tree_size},"
                f" root {anchored.root_hash.hex()}",
            )  # fmt: skip
            done.append(row | {"action": "CHAIN_SPLIT recorded; not cosigned"})
        elif registry.cosigned(log_id(origin), anchored.tree_size, chain.account.address):
            done.append(row | {"action": "cosigned on chain before"})
        else:
            receipt = registry.cosign(log_id(origin), anchored.tree_size, anchored.root_hash, sender=chain.account)
            done.append(row | {"action": "cosigned on chain", "tx_hash": receipt.tx_hash})
    return done
