"""OneClaim's bundles and proofs checked by an implementation that shares no code with it:
tests/go/oneclaimcheck, built on Go's golang.org/x/mod/sumdb/note and sumdb/tlog (Debian's
golang-golang-x-mod-dev, which scripts/test.sh installs when missing); the `oneclaimcheck`
fixture (tests/conftest.py) builds it.

The Go checker covers the cryptography (signatures by the given key, the origin, leaves, the hash
chain, roots, coverage). It must accept every honest bundle with the root we report, refuse every
published vector that attacks the cryptography, and never refuse what we accept. OneClaim's own
verifiers go further (canonical bytes, the manifest), which is why some vectors only they refuse.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from base64 import b64decode, b64encode
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.tlog import audit, trust
from tests.bundle_mutations import ORIGIN, SIGNER, VECTORS, honest_bundle, write_files
from tests.support import fill

CRYPTOGRAPHIC = {
    "CHECKPOINT_ORIGIN",
    "CHECKPOINT_SIGNATURE",
    "NO_SIGNED_CHECKPOINT",
    "LEAF_MISMATCH",
    "ROOT_MISMATCH",
    "CHAIN_MISMATCH",
    "EVENTS_NOT_COVERED",
    "LEAF_MISSING",
    "KEY_NOT_TRUSTED",
    "LOG_TRUNCATED",
}
"""The published vectors' codes that an attack on the cryptography alone produces."""


def go_verdict(checker: Path, directory: Path, key: str, origin: str) -> dict:
    done = subprocess.run(
        [str(checker), "bundle", "-key", key, "-origin", origin, str(directory)], capture_output=True, text=True
    )
    verdict = json.loads(done.stdout)
    assert (done.returncode == 0) == verdict["ok"], done
    return verdict


def test_go_accepts_an_honest_bundle_with_the_root_we_report(oneclaimcheck: Path, tmp_path: Path) -> None:
    bundle = honest_bundle(tmp_path / "bundle")
    ours = audit.verify_bundle(bundle, trust.from_key(SIGNER.verifier_key(), ORIGIN))
    theirs = go_verdict(oneclaimcheck, bundle, SIGNER.verifier_key(), ORIGIN)
    assert ours.ok and theirs["ok"]
    assert theirs["events"] == ours.events
    assert b64decode(theirs["root"]).hex() == ours.root


@pytest.mark.parametrize("path", sorted(VECTORS.glob("*.json")), ids=lambda p: p.stem)
def test_go_and_oneclaim_agree_on_each_published_vector(oneclaimcheck: Path, path: Path, tmp_path: Path) -> None:
    data = json.loads(path.read_text())
    write_files(tmp_path, data["bundle"])
    theirs = go_verdict(oneclaimcheck, tmp_path, data["trusted_key"], data["origin"])
    ours = audit.verify_bundle(tmp_path, trust.from_key(data["trusted_key"], data["origin"]))
    assert ours.ok == (data["want_err"] is None)
    if not theirs["ok"]:
        assert not ours.ok, f"Go refuses what OneClaim accepts: {theirs['error']}"
    if data["want_err"] is None:
        assert theirs["ok"] and b64decode(theirs["root"]).hex() == ours.root
    elif data["want_err"] in CRYPTOGRAPHIC:
        assert not theirs["ok"], f"Go accepts an attack on the cryptography ({data['want_err']})"


def test_go_checks_our_inclusion_and_consistency_proofs_and_refuses_altered_ones(oneclaimcheck: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(f"sqlite:///{tmp}/ledger.sqlite")
        try:
            fill(ledger, devices=6, months=3)
            log, size = ledger.log, ledger.log.size()
            proofs = [log.inclusion_proof(seq, tree).to_json() for tree in (1, 7, size) for seq in range(tree)]
            proofs += [log.consistency_proof(old, new).to_json() for new in (8, size) for old in range(1, new + 1)]
        finally:
            ledger.close()
    assert size > 16 and len(proofs) > 2 * size

    def altered(proof: dict) -> dict:
        if not proof["hashes"]:  # a proof with no hashes: alter the root it claims instead
            key = "root_hash" if "root_hash" in proof else "new_root"
            return proof | {key: b64encode(bytes(32)).decode()}
        first = bytearray(b64decode(proof["hashes"][0]))
        first[0] ^= 1
        return proof | {"hashes": [b64encode(bytes(first)).decode(), *proof["hashes"][1:]]}

    lines = [json.dumps(p) for p in proofs] + [json.dumps(altered(p)) for p in proofs]
    done = subprocess.run([str(oneclaimcheck), "proofs"], input="\n".join(lines), capture_output=True, text=True)
    answers = done.stdout.splitlines()
    assert len(answers) == 2 * len(proofs), done.stderr
    honest, tampered = answers[: len(proofs)], answers[len(proofs) :]
    assert honest == ["ok"] * len(proofs), [(p, a) for p, a in zip(proofs, honest, strict=True) if a != "ok"][:3]
    accepted = [p for p, a in zip(proofs, tampered, strict=True) if not a.startswith("fail")]
    assert not accepted, accepted[:3]
