"""A witness with a chain key cosigns anchored roots on chain, and only what it cosigned off chain;
a chain that anchors another root at a size it cosigned is recorded as CHAIN_SPLIT.

Real processes: the home's managed anvil, `oneclaim witness serve` on loopback, the CLI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
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


def _chain_key(w3, admin: str, home: Path, directory: Path, tmp_path: Path, contract: str) -> str:
    account = Account.create()
    w3.eth.send_transaction({"from": admin, "to": account.address, "value": 10**18})
    key_file = tmp_path / f"{directory.name}.evm"
    key_file.write_text(account.key.hex())
    oneclaim(home, "witness", "chain", "--rpc", w3.provider.endpoint_uri, "--contract", contract,
             "--key-file", str(key_file), "--dir", str(directory))  # fmt: skip
    return account.address


def _anchor_verify(home: Path, policy: Path, *pairs: str) -> tuple[int, dict]:
    args = [a for pair in pairs for a in ("--witness-address", pair)]
    done = oneclaim(home, "anchor", "verify", "--policy", str(policy), *args, "--json", check=False)
    return done.returncode, json.loads(done.stdout)


def test_anchor_verify_requires_the_policy_quorum_on_chain_from_the_addresses_the_auditor_names(
    home: Path, tmp_path: Path
) -> None:
    config = json.loads((home / "config.json").read_text())["anchoring"]
    w3 = connect(f"http://127.0.0.1:{config['port']}")
    _grow(home, 4, "W")
    chuzhou = _witness(tmp_path / "chuzhou", "witness.chuzhou.test/w", home)
    jiaxing = _witness(tmp_path / "jiaxing", "witness.jiaxing.test/w", home)
    vkeys = {n: oneclaim(home, "witness", "verifier-key", "--dir", str(d)).stdout.strip()
             for n, d in (("chuzhou", chuzhou), ("jiaxing", jiaxing))}  # fmt: skip
    both, one = tmp_path / "both.txt", tmp_path / "one.txt"
    with serving_witness(chuzhou) as c_url, serving_witness(jiaxing) as j_url:
        log_key = oneclaim(home, "log", "verifier-key").stdout.strip()
        both.write_text(f"log {log_key}\nwitness chuzhou {vkeys['chuzhou']} {c_url}\n"
                        f"witness jiaxing {vkeys['jiaxing']} {j_url}\n"
                        "group both all chuzhou jiaxing\nquorum both\n")  # fmt: skip
        one.write_text(f"witness chuzhou {vkeys['chuzhou']} {c_url}\nwitness jiaxing {vkeys['jiaxing']} {j_url}\n"
                       "group one any chuzhou jiaxing\nquorum one\n")  # fmt: skip
        oneclaim(home, "log", "set-policy", str(both))
        size = json.loads(oneclaim(home, "log", "publish", "--json").stdout)["tree_size"]
    oneclaim(home, "anchor", "once")
    address = {n: _chain_key(w3, config["admin"], home, d, tmp_path, config["contract"])
               for n, d in (("chuzhou", chuzhou), ("jiaxing", jiaxing))}  # fmt: skip
    with serving_witness(chuzhou) as c_url:  # the witness tells anyone the address it cosigns from
        assert httpx.get(f"{c_url}/logs").json()["chain_address"] == address["chuzhou"]
    for a in address.values():
        oneclaim(home, "chain", "grant-witness", a)
    pairs = [f"chuzhou={address['chuzhou']}", f"jiaxing={address['jiaxing']}"]

    # anchored, cosigned on chain by nobody yet: the anchor checks pass, the quorum does not
    rc, result = _anchor_verify(home, one, *pairs)
    assert rc == 1 and [f["code"] for f in result["failures"]] == ["ANCHOR_QUORUM_NOT_MET"], result
    assert result["witnessing"]["anchors"] == [
        {"tree_size": size, "root": result["witnessing"]["anchors"][0]["root"], "cosigned_by": [], "quorum_met": False}
    ]

    oneclaim(home, "witness", "cosign-anchors", "--dir", str(chuzhou))
    rc, result = _anchor_verify(home, one, *pairs)
    assert rc == 0 and result["witnessing"]["witnessed_tree_size"] == size, result
    assert result["witnessing"]["anchors"][0]["cosigned_by"] == ["chuzhou"]
    rc, result = _anchor_verify(home, both, *pairs)  # 2 of 2 needs jiaxing too
    assert rc == 1 and "cosigned by chuzhou" in result["failures"][0]["message"], result

    # only the addresses the auditor names count: chuzhou cosigned, from a granted address, but
    # an auditor who names only jiaxing's sees no cosignature
    rc, result = _anchor_verify(home, one, f"jiaxing={address['jiaxing']}")
    assert rc == 1 and result["witnessing"]["anchors"][0]["cosigned_by"] == []
    assert result["witnessing"]["witnesses_without_address"] == ["chuzhou"]
    assert "no address given for chuzhou" in result["failures"][0]["message"]

    oneclaim(home, "witness", "cosign-anchors", "--dir", str(jiaxing))
    rc, result = _anchor_verify(home, both, *pairs)
    assert rc == 0 and result["witnessing"]["anchors"][0]["cosigned_by"] == ["chuzhou", "jiaxing"], result
    text = oneclaim(home, "anchor", "verify", "--policy", str(both), "--witness-address", pairs[0],
                    "--witness-address", pairs[1]).stdout  # fmt: skip
    assert f"anchor {size}: cosigned on chain by chuzhou, jiaxing" in text

    # the audit verifier takes the same: its own policy check (the head, with the anchor's record,
    # witnessed off chain), then the chain's
    with serving_witness(chuzhou) as c_url, serving_witness(jiaxing) as j_url:
        lines = both.read_text().splitlines()
        urls = {"chuzhou": c_url, "jiaxing": j_url}
        both.write_text("\n".join(" ".join(line.split()[:3] + [urls[line.split()[1]]]) if line.startswith("witness")
                                  else line for line in lines) + "\n")  # fmt: skip
        oneclaim(home, "log", "set-policy", str(both))
        assert json.loads(oneclaim(home, "log", "publish", "--json").stdout)["published"]
    done = oneclaim(home, "audit", "verify", "--policy", str(both), "--rpc", w3.provider.endpoint_uri,
                    "--contract", config["contract"], *[a for p in pairs for a in ("--witness-address", p)],
                    "--json", check=False)  # fmt: skip
    report = json.loads(done.stdout)
    assert report["anchors"] is not None, done.stdout[-1500:] + done.stderr
    assert report["anchors"]["witnessing"]["witnessed_tree_size"] == size

    # a later anchor, not cosigned yet: what the chain binds under the quorum stays at `size`
    _grow(home, 2, "X")
    oneclaim(home, "anchor", "once")
    rc, result = _anchor_verify(home, both, *pairs)
    assert rc == 0 and result["witnessing"]["witnessed_tree_size"] == size
    assert result["witnessing"]["anchors_after_witnessed"] == 1

    # refused before anything is read: a name the policy lacks, or not an address
    bad = oneclaim(home, "anchor", "verify", "--policy", str(both), "--witness-address", "suzhou=0x" + "11" * 20,
                   check=False)  # fmt: skip
    assert bad.returncode != 0 and "WITNESS_ADDRESS_INVALID" in bad.stderr
    bad = oneclaim(home, "anchor", "verify", "--policy", str(both), "--witness-address", "chuzhou=0x1234",
                   check=False)  # fmt: skip
    assert bad.returncode != 0 and "WITNESS_ADDRESS_INVALID" in bad.stderr
