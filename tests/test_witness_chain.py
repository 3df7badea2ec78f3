"""A witness with a chain key cosigns anchored roots on chain, and only what it cosigned off chain;
a chain that anchors another root at a size it cosigned is recorded as CHAIN_SPLIT.

Real processes: the home's managed anvil, `oneclaim witness serve` on loopback, the CLI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from eth_account import Account

from anchoring.chain import connect
from anchoring.registry import AnchorRegistry, log_id
from oneclaim.home import Home
from oneclaim.serve_cli import serving_witness
from tests.anchor_support import ANCHOR_ORIGIN, grow, oneclaim

pytest_plugins = ["tests.anchor_fixtures"]  # home: a home with its managed chain up


def _witness(path: Path, name: str, home: Path) -> Path:
    oneclaim(home, "witness", "init", "--name", name, "--dir", str(path))
    vkey = oneclaim(home, "log", "verifier-key").stdout.strip()
    oneclaim(home, "witness", "add-log", ANCHOR_ORIGIN, vkey, "--dir", str(path))
    return path


def _policy(home: Path, path: Path, url: str, file: Path) -> None:
    vkey = oneclaim(home, "witness", "verifier-key", "--dir", str(path)).stdout.strip()
    file.write_text(f"witness w {vkey} {url}\nquorum w\n")
    oneclaim(home, "log", "set-policy", str(file))


def _grow(home: Path, n: int, prefix: str) -> None:
    ledger = Home.at(home).ledger()
    try:
        grow(ledger, n, prefix)
    finally:
        ledger.close()


def test_a_witness_cosigns_on_chain_the_anchor_it_witnessed_and_flags_a_chain_split(home: Path, tmp_path: Path) -> None:
    config = json.loads((home / "config.json").read_text())["anchoring"]
    w3 = connect(f"http://127.0.0.1:{config['port']}")
    registry = AnchorRegistry(w3, config["contract"])
    _grow(home, 5, "A")
    fork = tmp_path / "fork"
    shutil.copytree(home, fork, ignore=shutil.ignore_patterns("chain"))  # the same key, same first 6 events
    settings = json.loads((fork / "config.json").read_text())
    (fork / "config.json").write_text(json.dumps(settings | {"db_url": f"sqlite:///{fork / 'ledger.sqlite'}"}))
    _grow(home, 3, "B")
    _grow(fork, 3, "C")  # the same size, another history

    honest = _witness(tmp_path / "honest", "witness.honest.test/w", home)
    fooled = _witness(tmp_path / "fooled", "witness.fooled.test/w", home)
    with serving_witness(honest) as honest_url, serving_witness(fooled) as fooled_url:
        _policy(home, honest, honest_url, tmp_path / "p1.txt")
        _policy(fork, fooled, fooled_url, tmp_path / "p2.txt")
        size = json.loads(oneclaim(home, "log", "publish", "--json").stdout)["tree_size"]
        assert json.loads(oneclaim(fork, "log", "publish", "--json").stdout)["tree_size"] == size
    oneclaim(home, "anchor", "once")
    assert registry.latest(log_id(ANCHOR_ORIGIN)).tree_size == size

    accounts = {}
    for name, path in (("honest", honest), ("fooled", fooled)):
        account = Account.create()
        w3.eth.send_transaction({"from": config["admin"], "to": account.address, "value": 10**18})
        key_file = tmp_path / f"{name}.evm"
        key_file.write_text(account.key.hex())
        address = json.loads(
            oneclaim(home, "witness", "chain", "--rpc", w3.provider.endpoint_uri, "--contract", config["contract"],
                     "--key-file", str(key_file), "--dir", str(path), "--json").stdout
        )["address"]  # fmt: skip
        assert address == account.address and (path / "chain.key").stat().st_mode & 0o777 == 0o600
        accounts[name] = address

    # not granted yet: the contract refuses, and nothing is recorded as cosigned
    refused = oneclaim(home, "witness", "cosign-anchors", "--dir", str(honest), check=False)
    assert refused.returncode == 2 and "NOT_WITNESS" in refused.stderr, refused.stderr
    oneclaim(home, "chain", "grant-witness", accounts["honest"])
    oneclaim(home, "chain", "grant-witness", accounts["fooled"])

    done = json.loads(oneclaim(home, "witness", "cosign-anchors", "--dir", str(honest), "--json").stdout)["anchors"]
    assert [(d["tree_size"], d["action"]) for d in done] == [(size, "cosigned on chain")]
    assert registry.cosigned(log_id(ANCHOR_ORIGIN), size, accounts["honest"])
    again = json.loads(oneclaim(home, "witness", "cosign-anchors", "--dir", str(honest), "--json").stdout)["anchors"]
    assert again[0]["action"] == "cosigned on chain before"

    # the fooled witness cosigned the fork's root at that size: the chain's root is another one
    split = oneclaim(home, "witness", "cosign-anchors", "--dir", str(fooled), "--json", check=False)
    assert split.returncode == 1
    assert json.loads(split.stdout)["anchors"][0]["action"].startswith("CHAIN_SPLIT")
    assert not registry.cosigned(log_id(ANCHOR_ORIGIN), size, accounts["fooled"])
    alerts = json.loads(oneclaim(home, "witness", "alerts", "--dir", str(fooled), "--json", check=False).stdout)
    (alert,) = alerts["alerts"]
    assert alert["kind"] == "CHAIN_SPLIT" and alert["origin"] == ANCHOR_ORIGIN
    assert (
        f"\n{size}\n" in alert["cosigned_note"]
        and registry.root_at(log_id(ANCHOR_ORIGIN), size).hex() in alert["shown_note"]
    )
