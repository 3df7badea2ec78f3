"""Checks an auditor runs on anchors: that what the chain anchors for a log is what the audited
log signed, that the log's own anchor records are all still on the chain, and that the log is
not behind the chain. They read an audit bundle or a database through `ledger`'s public
functions only, and trust nothing but the chain and the verified checkpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from anchoring.chain import connect
from anchoring.registry import AnchorRegistry, ContractRefused, key_hash, log_id
from ledger.database import checkpoint_notes, event_states
from ledger.errors import InvalidInput
from ledger.tlog.note import parse_checkpoint, parse_verifier_key
from ledger.tlog.policy import Policy
from ledger.tlog.reference import BUNDLE_FORMAT

ANCHORED_TOPIC = "ledger.domain.anchor:AnchorHistory.Anchored"
"""The topic of the log's Anchored events (see `ledger.domain.anchor`)."""
ANCHOR_FIELDS = ("tree_size", "root_hash", "tx_hash", "block_number", "contract")


@dataclass(frozen=True)
class ChainWitnesses:
    """What an auditor brings to check the witnesses' cosignatures on chain: the tlog-policy it
    trusts (the witnesses and the quorum) and each witness's EVM address, obtained from the
    witness itself as its verifier key is (`oneclaim witness chain` prints it; the witness's
    GET /logs serves it). The operator's word on who is a witness (the contract's grants) is
    not used: a cosignature counts only from an address the auditor names."""

    policy: Policy
    addresses: dict[str, str]  # policy witness name -> EVM address

    @classmethod
    def parse(cls, policy: Policy, pairs: list[str]) -> ChainWitnesses:
        """From NAME=ADDRESS pairs; every name must be a witness of the policy, every address an
        EVM address, and no address given for two witnesses."""
        from web3 import Web3

        addresses: dict[str, str] = {}
        for pair in pairs:
            name, sep, address = pair.partition("=")
            if not sep or name not in policy.witnesses:
                known = ", ".join(policy.witnesses) or "none"
                raise InvalidInput(f"--witness-address {pair!r}: give NAME=ADDRESS with NAME a witness of the policy"
                                   f" ({known})", code="WITNESS_ADDRESS_INVALID")  # fmt: skip
            if not Web3.is_address(address):
                raise InvalidInput(f"--witness-address {pair!r}: {address!r} is not an EVM address",
                                   code="WITNESS_ADDRESS_INVALID")  # fmt: skip
            checksum = Web3.to_checksum_address(address)
            if name in addresses or checksum in addresses.values():
                raise InvalidInput(f"--witness-address {pair!r}: each witness takes one address, each address one"
                                   " witness", code="WITNESS_ADDRESS_INVALID")  # fmt: skip
            addresses[name] = checksum
        return cls(policy, addresses)


def chain_witnessing(
    registry: AnchorRegistry, anchors: list[tuple[bytes, int, str]], witnesses: ChainWitnesses
) -> dict:
    """Which of the auditor's witnesses cosigned each verified anchor on chain (the contract's
    `cosigned` storage, by the addresses the auditor named), whether they meet the policy's
    quorum, and the largest anchored tree size that does. `anchors` are (log id, tree size,
    root hex) of anchors already checked to be checkpoints of the audited log.

    ANCHOR_QUORUM_NOT_MET when the log has anchors and none of them meets the quorum: the chain
    then binds no root that the auditor's witnesses vouched for. Anchors after the last witnessed
    one are reported (witnesses cosign an anchor after it is made, on their next pass)."""
    rows = []
    for lid, size, root in sorted(anchors, key=lambda a: a[1]):
        names = sorted(n for n, a in witnesses.addresses.items() if registry.cosigned(lid, size, a))
        rows.append({"tree_size": size, "root": root, "cosigned_by": names,
                     "quorum_met": witnesses.policy.satisfied(set(names))})  # fmt: skip
    met = [r["tree_size"] for r in rows if r["quorum_met"]]
    report = {
        "quorum": witnesses.policy.describe(),
        "addresses": witnesses.addresses,
        "witnesses_without_address": sorted(set(witnesses.policy.witnesses) - set(witnesses.addresses)),
        "anchors": rows,
        "witnessed_tree_size": max(met, default=0),
        "anchors_after_witnessed": sum(1 for r in rows if r["tree_size"] > max(met, default=0)),
        "failures": [],
    }
    if rows and not met:
        missing = "; no address given for " + ", ".join(report["witnesses_without_address"]) if (
            report["witnesses_without_address"]) else ""  # fmt: skip
        report["failures"].append({"code": "ANCHOR_QUORUM_NOT_MET", "message": f"none of the {len(rows)} anchor(s) of"
                                   f" this log on chain is cosigned on chain by the quorum {report['quorum']}"
                                   f" (latest, tree size {rows[-1]['tree_size']}: cosigned by"
                                   f" {', '.join(rows[-1]['cosigned_by']) or 'none'}){missing}"})  # fmt: skip
    return report


def bundle_anchors(directory: Path) -> tuple[str, list[dict], dict[int, str]]:
    """(origin, Anchored events, {checkpoint size: root hex}) from an audit bundle."""
    manifest = json.loads((directory / "manifest.json").read_text())
    if manifest.get("format") != BUNDLE_FORMAT:
        raise InvalidInput(f"{directory} is not a {BUNDLE_FORMAT} bundle", code="AUDIT_INPUT")
    anchors = []
    with open(directory / "events.jsonl", "rb") as f:
        for line in f:
            if ANCHORED_TOPIC.encode() not in line:  # a cheap filter; the parsed topic decides
                continue
            event = json.loads(line)["event"]
            if event["topic"] != ANCHORED_TOPIC:  # e.g. free text that merely contains the topic
                continue
            anchors.append({k: event["state"][k] for k in ANCHOR_FIELDS})
    roots = {}
    for path in (directory / "checkpoints").glob("*.note"):
        checkpoint = parse_checkpoint(path.read_text().split("\n\n", 1)[0] + "\n")
        roots[checkpoint.size] = checkpoint.root.hex()
    return manifest["origin"], anchors, roots


def check_bundle_anchored(
    directory: Path, rpc: str, contract: str, vkey: str, witnesses: ChainWitnesses | None = None
) -> dict:
    """For `audit verify DIR --rpc --contract` (after the bundle itself verified with `vkey`)."""
    origin, anchors, roots = bundle_anchors(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    return audit_anchors(origin, roots, manifest["tree_size"], anchors, rpc, contract, vkey, witnesses)


def check_database_anchored(
    db_url: str, rpc: str, contract: str, vkey: str, witnesses: ChainWitnesses | None = None
) -> dict:
    """For `audit verify --db URL --rpc --contract`: the same, with the database's checkpoints and
    its own Anchored records."""
    rows = checkpoint_notes(db_url)
    if not rows:
        raise InvalidInput("the database has no signed checkpoint to compare anchors with", code="AUDIT_INPUT")
    checkpoints = [parse_checkpoint(note.split("\n\n", 1)[0] + "\n") for _, _, note in rows]
    roots = {c.size: c.root.hex() for c in checkpoints}
    anchors = [{k: state[k] for k in ANCHOR_FIELDS} for state in event_states(db_url, ANCHORED_TOPIC)]
    return audit_anchors(checkpoints[-1].origin, roots, max(roots), anchors, rpc, contract, vkey, witnesses)


def audit_anchors(
    origin: str,
    roots: dict[int, str] | Callable[[int], str | None],
    tree_size: int,
    recorded: list[dict],
    rpc: str,
    contract: str,
    vkey: str,
    witnesses: ChainWitnesses | None = None,
) -> dict:
    """Everything an auditor checks on chain for a log of `tree_size` events whose verified
    checkpoints are `roots` (a dict by size, or a function of the size, for a log at hand) and
    whose own records name the anchors `recorded`:

    - CONTRACT_MISMATCH: the log's records name another contract than the one given;
    - the log's records, each against the chain (receipt, event, storage, root: verify_anchors),
      so a reset or redeployed contract cannot make recorded anchors disappear;
    - ANCHOR_MISMATCH / ANCHOR_NOT_IN_BUNDLE: every anchor of the log on chain is a verified
      checkpoint;
    - LOG_BEHIND_CHAIN: the chain anchors a larger tree than the log holds;
    - KEY_NOT_PINNED: the contract registered another verifier key for the log than `vkey` (the
      trusted one); ANCHOR_NOT_SIGNED: an anchor on chain whose checkpoint signature is not that
      key's (junk anchored with the anchorer's key alone), whatever its size;
    - with `witnesses`: which of them cosigned each matched anchor on chain, and the quorum
      (chain_witnessing: ANCHOR_QUORUM_NOT_MET).
    """
    from anchoring.service import signed_anchor, verify_anchors

    root_of = roots.get if isinstance(roots, dict) else roots
    w3 = connect(rpc)
    failures: list[dict] = []
    others = sorted({a["contract"] for a in recorded if a["contract"].lower() != contract.lower()})
    if others:
        failures.append(
            {
                "code": "CONTRACT_MISMATCH",
                "message": f"the log's anchor records name contract(s) {', '.join(others)}, not {contract}:"
                " check against the contract the log anchored to",
            }
        )
    mine = [a for a in recorded if a["contract"].lower() == contract.lower()]
    verifier = parse_verifier_key(vkey)
    registry = AnchorRegistry(w3, contract)
    try:
        lineage = log_lineage(registry, log_id(origin))
    except ContractRefused as e:  # e.g. an empty copy of the contract, where the log was never registered
        failures.append(
            {"code": "LOG_NOT_ON_CONTRACT", "message": f"{contract} does not know log {origin}: {e.message}"}
        )
        return {"anchors_matched": 0, "anchors_recorded": len(mine), "chain_tree_size": 0, "failures": failures}
    if any(step.get("forked") for step in lineage):
        failures.append({"code": "LOG_FORKED_ON_CHAIN", "message": "a frozen log has more than one successor"})
    expected = {a["tree_size"]: root_of(a["tree_size"]) for a in mine}
    ids = {step["id"] for step in lineage}
    failures += verify_anchors(w3, contract, origin, mine, expected, verifier, ids)["failures"]
    pinned = registry.key_hash_of(log_id(origin))
    if pinned != key_hash(vkey):
        failures.append({"code": "KEY_NOT_PINNED", "message": f"the contract registered key hash"
                         f" {pinned.hex() if pinned else 'none'} for {origin}, not the trusted key's"})  # fmt: skip
    matched = superseded = 0
    verified: list[tuple[bytes, int, str]] = []  # (log id, size, root) of the anchors that are checkpoints
    for step in lineage:
        logs = registry.contract.events.Anchored.get_logs(from_block=0, argument_filters={"logId": step["id"]})
        for log in logs:
            size, root = log["args"]["treeSize"], bytes(log["args"]["rootHash"]).hex()
            signed = signed_anchor(verifier, origin, log["args"])
            if not signed and step["until"] is not None and size > step["until"]:
                superseded += 1  # junk of a frozen log, after the root its successor continues from
                continue
            if not signed:
                message = f"the chain anchors tree size {size} with a checkpoint the log's key never signed"
                failures.append({"code": "ANCHOR_NOT_SIGNED", "message": message + " (the anchorer key alone made it)"})
                continue
            if size > tree_size:
                continue  # reported below, as the log being behind
            ours = root_of(size)
            if ours == root:
                matched += 1
                verified.append((step["id"], size, root))
            else:
                failures.append(
                    {
                        "code": "ANCHOR_MISMATCH" if ours is not None else "ANCHOR_NOT_IN_BUNDLE",
                        "message": f"the chain anchors root {root} at tree size {size}; the audited log has"
                        f" {ours or 'no checkpoint there'}",
                    }
                )
    on_chain = registry.latest(lineage[-1]["id"]).tree_size
    if on_chain > tree_size:
        failures.append({"code": "LOG_BEHIND_CHAIN", "log_size": tree_size, "chain_size": on_chain,
                         "message": f"the audited log holds {tree_size} events, but the chain anchors tree size"
                         f" {on_chain} for it: it is an older copy, or a fork"})  # fmt: skip
    # the head: what follows the latest anchor is covered by the log's own checkpoints (verified
    # before this), which extend the anchored root; say how much of the log the chain does not bind yet
    witnessing = None if witnesses is None else chain_witnessing(registry, verified, witnesses)
    if witnessing is not None:
        failures += witnessing.pop("failures")
    return {"anchors_matched": matched, "anchors_recorded": len(mine), "chain_tree_size": on_chain,
            "events_after_latest_anchor": max(0, tree_size - on_chain), "superseded_anchors": superseded,
            "log_ids": [step["id"].hex() for step in lineage], "witnessing": witnessing,
            "failures": failures}  # fmt: skip


def log_lineage(registry: AnchorRegistry, first: bytes) -> list[dict]:
    """A log's ids on chain, from its first: each frozen one names the size its successor carries
    on from (`until`); the last is the one anchored now (`until` None). A frozen log with two
    successors is marked `forked`."""
    registry.latest(first)  # UnknownLog if the contract does not know it
    lineage, current = [], first
    while True:
        found = registry.contract.events.SuccessorRegistered.get_logs(from_block=0, argument_filters={"logId": current})
        if not found:
            lineage.append({"id": current, "until": None})
            return lineage
        nxt = found[0]["args"]
        lineage.append({"id": current, "until": nxt["treeSize"], "forked": len(found) > 1})
        current = bytes(nxt["successorId"])
