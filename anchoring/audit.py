"""Checks an auditor runs on anchors: that what the chain anchors for a log is what the audited
log signed. They read an audit bundle or a database through `ledger`'s public functions only."""

from __future__ import annotations

import json
from pathlib import Path

from anchoring.chain import connect
from anchoring.registry import AnchorRegistry, log_id
from ledger.audit import BUNDLE_FORMAT
from ledger.database import checkpoint_notes
from ledger.errors import InvalidInput
from ledger.note import parse_checkpoint

ANCHORED_TOPIC = "ledger.domain.anchor:AnchorHistory.Anchored"
"""The topic of the log's Anchored events (see `ledger.domain.anchor`)."""


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
            state = event["state"]
            anchors.append({k: state[k] for k in ("tree_size", "root_hash", "tx_hash", "block_number", "contract")})
    roots = {}
    for path in (directory / "checkpoints").glob("*.note"):
        checkpoint = parse_checkpoint(path.read_text().split("\n\n", 1)[0] + "\n")
        roots[checkpoint.size] = checkpoint.root.hex()
    return manifest["origin"], anchors, roots


def check_bundle_anchored(directory: Path, rpc: str, contract: str) -> dict:
    """For `audit verify DIR --rpc --contract`: every anchor of the bundle's log on chain, up to
    the bundle's tree size, must be one of the bundle's (verified) checkpoints."""
    origin, _, roots = bundle_anchors(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    return check_anchored(origin, roots, manifest["tree_size"], rpc, contract)


def check_database_anchored(db_url: str, rpc: str, contract: str) -> dict:
    """For `audit verify --db URL --rpc --contract`: the same, with the database's checkpoints."""
    rows = checkpoint_notes(db_url)
    if not rows:
        raise InvalidInput("the database has no signed checkpoint to compare anchors with", code="AUDIT_INPUT")
    checkpoints = [parse_checkpoint(note.split("\n\n", 1)[0] + "\n") for _, _, note in rows]
    roots = {c.size: c.root.hex() for c in checkpoints}
    return check_anchored(checkpoints[-1].origin, roots, max(roots), rpc, contract)


def check_anchored(origin: str, roots: dict[int, str], tree_size: int, rpc: str, contract: str) -> dict:
    """Every anchor of log `origin` on chain, up to `tree_size`, must be one of `roots` (the
    signed checkpoints an auditor has verified)."""
    registry = AnchorRegistry(connect(rpc), contract)
    logs = registry.contract.events.Anchored.get_logs(from_block=0, argument_filters={"logId": log_id(origin)})
    matched, failures_, later = 0, [], 0
    for log in logs:
        size, root = log["args"]["treeSize"], bytes(log["args"]["rootHash"]).hex()
        if size > tree_size:
            later += 1
        elif roots.get(size) == root:
            matched += 1
        else:
            failures_.append(
                {
                    "code": "ANCHOR_MISMATCH" if size in roots else "ANCHOR_NOT_IN_BUNDLE",
                    "message": f"the chain anchors root {root} at tree size {size}; the audited log has"
                    f" {roots.get(size, 'no checkpoint there')}",
                }
            )
    return {"anchors_matched": matched, "anchors_after_bundle": later, "failures": failures_}
