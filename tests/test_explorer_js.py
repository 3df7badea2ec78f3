"""The explorer's JavaScript verifier (api/explorer/tlog.js, issue 18) under node: the RFC 6962
vectors the Python verifier passes, and a checkpoint, a witness's cosignature and a tlog-proof
that the Python code wrote, accepted, then refused when altered (tests/js/tlog.test.mjs)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.tlog.note import _split_note, cosign, generate_signer
from ledger.tlog.tlogproof import TlogProof
from tests.registry_support import market
from tests.support import SHARED_VECTORS, claims_by_month, missing_evidence

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "oneclaim.test/explorer"


def _fixture(tmp_path: Path) -> Path:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        market(ledger)
        log, witness, stranger = generate_signer(ORIGIN), generate_signer("witness.test/w1"), generate_signer(ORIGIN)
        note = ledger.sign_checkpoint(log, ORIGIN).note
        text, _ = _split_note(note)
        cosigned = note + cosign(text, witness, 1_796_400_000)
        index = 2
        event = ledger.log.entries(index, index + 1)[0]
        size = ledger.log.size()
        proof = TlogProof(index, ledger.log.inclusion_proof(index, size).hashes, cosigned, event).text()
        fixture = {
            "log_key": log.verifier_key(), "witness_key": witness.cosignature_verifier().verifier_key(),
            "stranger_key": stranger.verifier_key(),
            "other_witness_key": generate_signer("witness.test/w2").cosignature_verifier().verifier_key(),
            "checkpoint": cosigned, "size": size, "index": index,
            "tlog_proof": proof, "leaf_hex": ledger.log.leaf(index).leaf.hex(), "topic": json.loads(event)["topic"],
        }  # fmt: skip
    finally:
        ledger.close()
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(fixture))
    return path


def _records(tmp_path: Path) -> Path:
    """Every public record of the compat scenario (every aggregate, most commands), its events'
    bytes, and what the registry says of it: ids, batches' supply, devices' claims pools."""
    from collections import defaultdict

    from ledger.personal import public_event
    from tests.compat import TODAY, scenario

    ledger = Ledger(f"sqlite:///{tmp_path / 'records.sqlite'}", clock=lambda: TODAY)
    try:
        scenario(ledger)
        by_record: dict[str, list[str]] = defaultdict(list)
        for entry in ledger.log.entries(0, ledger.log.size()):
            if public_event(entry):
                by_record[json.loads(entry)["originator_id"]].append(base64.b64encode(entry).decode())
        batches = {b.code: {"id": b.id.hex, "supply": b.totals()} for b in ledger.registered("batch")}
        devices = {d.code: {"id": d.id.hex, "pool": claims_by_month(ledger.claims_check(d.code))}
                   for d in ledger.registered("device")}  # fmt: skip
        cases = {c.code: c.id.hex for c in ledger.registered("case")}
    finally:
        ledger.close()
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"events": by_record, "batches": batches, "devices": devices, "cases": cases}))
    return path


def test_the_browser_verifier_passes_the_vectors_and_checks_what_python_signed(tmp_path: Path) -> None:
    if not SHARED_VECTORS.is_dir():
        missing_evidence("the RFC 6962 vectors under node", SHARED_VECTORS)
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/_venv.sh installs the npm packages with it)")
    env = {"PATH": str(Path(node).parent), "ONECLAIM_VECTORS": str(SHARED_VECTORS),
           "ONECLAIM_JS_FIXTURE": str(_fixture(tmp_path)), "ONECLAIM_JS_RECORDS": str(_records(tmp_path))}  # fmt: skip
    done = subprocess.run([node, "--test", str(ROOT / "tests" / "js")], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped) (\d+)$", done.stdout, re.M))
    assert counts == {"pass": "8", "fail": "0", "skipped": "0"}, done.stdout[-2000:]
