"""Freshness against the chain, attacked for real on anvil: an older copy of the database file
restored after later anchors, an old bundle, a contract redeployed at the same address, and an
attacker's copy of the contract passed as --contract. Each is refused with its own code; the
honest log still verifies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from anchoring.chain import connect
from anchoring.registry import AnchorRegistry
from tests.anchor_support import grow, home_service, oneclaim
from tests.support import ensure_owner

pytest_plugins = ["tests.anchor_fixtures"]  # home (a home with its managed chain up)


def grown_and_anchored(home: Path, events: int = 3) -> dict:
    """Add `events` events to the home's log (the owner first, the first time), anchor the head
    with the real command, and return `anchor status`."""
    service = home_service(home)
    try:
        ensure_owner(service.ledger)
        grow(service.ledger, events)
    finally:
        service.ledger.close()
    oneclaim(home, "anchor", "once")
    return json.loads(oneclaim(home, "anchor", "status", "--json").stdout)


def anchored_twice(home: Path) -> tuple[Path, dict]:
    """Anchor at a first size, keep a copy of the database file then, and anchor again later.
    Returns the copy and the status after the second anchor."""
    grown_and_anchored(home)
    old = home.parent / "old.sqlite"
    shutil.copyfile(home / "ledger.sqlite", old)  # what a restore would bring back
    return old, grown_and_anchored(home, 4)


def test_an_older_copy_of_the_database_is_behind_the_chain_everywhere_the_chain_is_consulted(home: Path) -> None:
    old, status = anchored_twice(home)
    vkey = (home / "log.vkey").read_text().strip()
    rpc, contract = status["rpc_url"], status["contract"]
    assert oneclaim(home, "audit", "verify", "--key", vkey).returncode == 0  # honest: fine
    honest = json.loads(oneclaim(home, "audit", "verify", "--key", vkey, "--rpc", rpc, "--contract", contract,
                                 "--json").stdout)["anchors"]  # fmt: skip
    # the head is bound: only the latest anchor's own record follows the anchored size
    assert honest["failures"] == [] and honest["events_after_latest_anchor"] == 1
    # the old file alone verifies (it is a real, signed prefix) ...
    assert oneclaim(home, "audit", "verify", "--db", f"sqlite:///{old}", "--key", vkey).returncode == 0
    # ... but against the chain it is behind, with both sizes
    behind = oneclaim(home, "audit", "verify", "--db", f"sqlite:///{old}", "--key", vkey, "--rpc", rpc,
                      "--contract", contract, "--json", check=False)  # fmt: skip
    assert behind.returncode == 1
    (failure,) = [f for f in json.loads(behind.stdout)["anchors"]["failures"] if f["code"] == "LOG_BEHIND_CHAIN"]
    assert failure["chain_size"] == status["anchored_tree_size"] > failure["log_size"]
    # restore it as the home's database: status, verify and run all refuse
    shutil.copyfile(old, home / "ledger.sqlite")
    stat = oneclaim(home, "anchor", "status", "--json", check=False)
    assert stat.returncode == 1 and json.loads(stat.stdout)["chain"]["problem"] == "LOG_BEHIND_CHAIN"
    verify = oneclaim(home, "anchor", "verify", check=False)
    assert verify.returncode == 1 and "LOG_BEHIND_CHAIN" in verify.stdout
    run = oneclaim(home, "anchor", "run", "--interval", "1", check=False)
    assert run.returncode == 2 and "LOG_BEHIND_CHAIN" in run.stderr
    once = oneclaim(home, "anchor", "once", check=False)
    assert once.returncode == 2 and "LOG_BEHIND_CHAIN" in once.stderr


def test_a_bundle_exported_before_later_anchors_is_behind_the_chain(home: Path) -> None:
    grown_and_anchored(home)
    bundle = home.parent / "bundle"
    oneclaim(home, "audit", "export", str(bundle))
    status = grown_and_anchored(home, 4)
    vkey = (home / "log.vkey").read_text().strip()
    args = ("--rpc", status["rpc_url"], "--contract", status["contract"])
    old = oneclaim(home, "audit", "verify", str(bundle), "--key", vkey, *args, check=False)
    assert old.returncode == 1 and "LOG_BEHIND_CHAIN" in old.stderr
    fresh = home.parent / "fresh"
    oneclaim(home, "audit", "export", str(fresh))
    assert oneclaim(home, "audit", "verify", str(fresh), "--key", vkey, *args).returncode == 0
    # anchor verify --bundle says the same of the old bundle
    assert "LOG_BEHIND_CHAIN" in oneclaim(home, "anchor", "verify", "--bundle", str(bundle), *args, check=False).stdout


def test_a_redeployed_contract_cannot_make_the_log_s_anchors_disappear(home: Path) -> None:
    grown_and_anchored(home)
    before = json.loads(oneclaim(home, "anchor", "status", "--json").stdout)
    oneclaim(home, "chain", "down")
    (home / "chain" / "state.json").unlink(missing_ok=True)  # the chain loses its state
    oneclaim(home, "chain", "up", "--redeploy")
    after = json.loads(oneclaim(home, "anchor", "status", "--json", check=False).stdout)
    vkey = (home / "log.vkey").read_text().strip()
    checked = oneclaim(home, "audit", "verify", "--key", vkey, "--rpc", after["rpc_url"], "--contract",
                       after["contract"], "--json", check=False)  # fmt: skip
    assert checked.returncode == 1
    codes = {f["code"] for f in json.loads(checked.stdout)["anchors"]["failures"]}
    if after["contract"].lower() == before["contract"].lower():  # anvil redeploys at the same address
        assert codes & {"ANCHOR_TX_MISSING", "ANCHOR_RECEIPT", "ANCHOR_EVENT", "ANCHOR_STORAGE"}, codes
    else:
        assert "CONTRACT_MISMATCH" in codes


def test_pointing_contract_at_an_attacker_s_copy_is_refused(home: Path) -> None:
    rpc = grown_and_anchored(home)["rpc_url"]
    w3 = connect(rpc)
    copy, _ = AnchorRegistry.deploy(w3, sender=w3.eth.accounts[5])  # the attacker's own, empty
    bundle = home.parent / "bundle"
    oneclaim(home, "audit", "export", str(bundle))
    vkey = (home / "log.vkey").read_text().strip()
    args = ("--rpc", rpc, "--contract", copy.address)
    fooled = oneclaim(home, "anchor", "verify", "--bundle", str(bundle), *args, check=False)
    assert fooled.returncode == 1 and "CONTRACT_MISMATCH" in fooled.stdout
    audited = oneclaim(home, "audit", "verify", str(bundle), "--key", vkey, *args, check=False)
    assert audited.returncode == 1 and "CONTRACT_MISMATCH" in audited.stderr


def test_junk_anchored_with_the_anchorer_key_alone_is_reported_and_the_key_is_pinned(home: Path) -> None:
    """Finding 6: the hot EVM key anchors a made-up tree of 2^40 leaves with a valid consistency
    proof. The contract cannot tell, but the anchor carries no signature of the log's key: every
    check that consults the chain names it, and the log is then behind the chain."""
    from ledger.tlog.merkle import consistency_proof, root
    from tests.test_anchor_contract import JunkTree

    grown_and_anchored(home)
    service = home_service(home)
    try:
        honest = service.registry.latest(service.log_id).tree_size
        with service.ledger.log.reading() as cur:
            junk = JunkTree(None, honest)
            junk.tree = type("Stored", (), {"get_nodes": lambda _, a: service.ledger.log._get_nodes(cur, a)})()
            size = 2**40
            made_up = root(size, junk.get_nodes)
            proof = consistency_proof(honest, size, junk.get_nodes)
        service.registry.anchor(service.log_id, size, made_up, proof, sender=service.config.anchorer)  # no signature
        rpc, contract = service.config.rpc_url, service.config.contract
    finally:
        service.ledger.close()
    verify = json.loads(oneclaim(home, "anchor", "verify", "--json", check=False).stdout)
    codes = {f["code"] for f in verify["failures"]}
    assert {"ANCHOR_NOT_SIGNED", "LOG_BEHIND_CHAIN"} <= codes, codes
    vkey = (home / "log.vkey").read_text().strip()
    audited = oneclaim(home, "audit", "verify", "--key", vkey, "--rpc", rpc, "--contract", contract, "--json",
                       check=False)  # fmt: skip
    assert "ANCHOR_NOT_SIGNED" in {f["code"] for f in json.loads(audited.stdout)["anchors"]["failures"]}
    # recovery: only from an honest anchor, then anchoring goes on in the successor
    wrong = oneclaim(home, "chain", "recover", "--from-size", str(size), "--reason", "junk", check=False)
    assert wrong.returncode == 2 and "NOT_AN_HONEST_ANCHOR" in wrong.stderr
    oneclaim(home, "chain", "recover", "--from-size", str(honest), "--reason", "anchorer key misused: junk at 2^40")
    service = home_service(home)
    grow(service.ledger, 2)
    service.ledger.close()
    oneclaim(home, "anchor", "once")
    status = json.loads(oneclaim(home, "anchor", "status", "--json").stdout)
    assert "problem" not in status["chain"] and status["chain"]["tree_size"] > honest
    after = json.loads(oneclaim(home, "anchor", "verify", "--json").stdout)
    assert after["failures"] == [] and after["superseded_anchors"] == 1 and len(after["log_ids"]) == 2
    audited = json.loads(oneclaim(home, "audit", "verify", "--key", vkey, "--rpc", rpc, "--contract", contract,
                                  "--json").stdout)  # fmt: skip
    assert audited["ok"] and audited["anchors"]["superseded_anchors"] == 1


def test_the_contract_pins_the_log_key_so_a_bundle_needs_no_key_of_its_own_to_be_checked(home: Path) -> None:
    from tests.bundle_mutations import OTHER, Bundle

    status = grown_and_anchored(home)
    rpc, contract = status["rpc_url"], status["contract"]
    bundle = home.parent / "bundle"
    oneclaim(home, "audit", "export", str(bundle))
    args = ("--bundle", str(bundle), "--rpc", rpc, "--contract", contract)
    assert oneclaim(home, "anchor", "verify", *args).returncode == 0  # its key is the pinned one
    forged = Bundle.read(bundle)
    forged.vkey = forged.manifest["verifier_key"] = OTHER.verifier_key()
    forged.resign(OTHER, origin=forged.manifest["origin"])
    forged.write(bundle)
    refused = oneclaim(home, "anchor", "verify", *args, check=False)
    assert refused.returncode == 1 and "KEY_NOT_PINNED" in refused.stdout
