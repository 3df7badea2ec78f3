"""Both verifiers against every attack on a bundle: the published vectors (tests/vectors/bundle,
one file per mutation with want_err and want_seq), the same mutations made afresh at random
places in a new bundle (a property: the reference and the fast verifier agree, code and seq),
and the project's own command, which must refuse each with the stable code."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.tlog import audit, reference, trust
from tests.bundle_mutations import MUTATIONS, ORIGIN, SIGNER, VECTORS, Bundle, honest_bundle, vector, write_files
from tests.support import run

VECTOR_FILES = sorted(VECTORS.glob("*.json"))
TRUST = trust.from_key(SIGNER.verifier_key(), ORIGIN, "the vectors' test key")


def outcome(report) -> tuple[str | None, int | None]:
    return (None, None) if report.ok else (report.failure.code, report.failure.seq)


def test_every_mutation_has_a_published_vector() -> None:
    assert {p.stem for p in VECTOR_FILES} == {m.name for m in MUTATIONS}


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_both_verifiers_answer_each_published_vector(path: Path, tmp_path: Path) -> None:
    data = json.loads(path.read_text())
    write_files(tmp_path, data["bundle"])
    trusted = trust.from_key(data["trusted_key"], data["origin"])
    want = (data["want_err"], data["want_seq"])
    assert outcome(reference.verify_bundle(tmp_path, trusted)) == want
    assert outcome(audit.verify_bundle(tmp_path, trusted)) == want


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_the_command_refuses_each_attack_with_its_code(path: Path, tmp_path: Path) -> None:
    data = json.loads(path.read_text())
    write_files(tmp_path, data["bundle"])
    for fast in ([], ["--fast"]):
        result = run("audit", "verify", str(tmp_path), "--key", data["trusted_key"], "--json", *fast,
                     code=0 if data["want_err"] is None else 1)  # fmt: skip
        report = json.loads(result.stdout)
        got = (None, None) if report["ok"] else (report["failure"]["code"], report["failure"]["seq"])
        assert got == (data["want_err"], data["want_seq"])


@pytest.fixture(scope="module")
def fresh() -> Bundle:
    with tempfile.TemporaryDirectory() as tmp:
        return Bundle.read(honest_bundle(Path(tmp) / "bundle"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=st.sampled_from(MUTATIONS), where=st.integers(0, 10**6))
def test_the_reference_and_the_fast_verifier_agree_on_every_tamper(fresh: Bundle, mutation, where: int) -> None:
    k = where % (len(fresh.lines) - 1)  # any line but the last (a swap needs a next one)
    data = vector(fresh, mutation, k)
    with tempfile.TemporaryDirectory() as tmp:
        write_files(Path(tmp), data["bundle"])
        slow, fast = reference.verify_bundle(Path(tmp), TRUST), audit.verify_bundle(Path(tmp), TRUST)
    assert outcome(slow) == outcome(fast) == (data["want_err"], data["want_seq"]), mutation.name


def test_a_bundle_without_a_trusted_key_is_refused_and_unauthenticated_mode_exits_non_zero(tmp_path: Path) -> None:
    write_files(tmp_path, json.loads((VECTORS / "resigned_with_another_key.json").read_text())["bundle"])
    refused = json.loads(run("audit", "verify", str(tmp_path), "--json", code=2).stdout)
    assert refused["error"]["code"] == "KEY_REQUIRED"
    # the forger's bundle is consistent with its own key: said so, and still exit 1
    loose = run("audit", "verify", str(tmp_path), "--unauthenticated", code=1)
    assert "UNAUTHENTICATED" in loose.stdout and "anyone can make a bundle" in loose.stderr


def test_a_trust_file_is_a_trust_root(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    write_files(bundle, json.loads((VECTORS / "honest.json").read_text())["bundle"])
    policy = tmp_path / "suzhou.trust"
    policy.write_text(f"# read out at the partners' meeting\nvkey {SIGNER.verifier_key()}\norigin none\n")
    assert json.loads(run("audit", "verify", str(bundle), "--trust", str(policy), "--json").stdout)["ok"]
    policy.write_text(f"vkey {SIGNER.verifier_key()}\norigin oneclaim.test/another-log\n")
    other = json.loads(run("audit", "verify", str(bundle), "--trust", str(policy), "--json", code=1).stdout)
    assert other["failure"]["code"] == "ORIGIN_MISMATCH"
    policy.write_text("vkey\n")
    assert "TRUST_FILE_INVALID" in run("audit", "verify", str(bundle), "--trust", str(policy), code=2).stderr


@pytest.fixture(scope="module")
def large() -> Bundle:
    """A bundle of a little over 3 blocks of lines, so the fast verifier splits it into ranges."""
    from ledger.app import Ledger
    from ledger.database import EVENTS_TABLE
    from ledger.tlog.audit import BLOCK, export_bundle
    from tests.support import fill

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(f"sqlite:///{tmp}/ledger.sqlite")
        try:
            fill(ledger, devices=290, months=10)  # 3,191 events
            ledger.sign_checkpoint(SIGNER, ORIGIN)
            assert ledger.log.size() > 3 * BLOCK
            export_bundle(ledger.db_url, Path(tmp) / "b", events_table=EVENTS_TABLE["sqlite"], origin=ORIGIN,
                          verifier_key=SIGNER.verifier_key(), readme="")  # fmt: skip
        finally:
            ledger.close()
        return Bundle.read(Path(tmp) / "b")


@pytest.mark.parametrize("k", [5, 1023, 1024, 1600, 2047, 2048, 3000])
@pytest.mark.parametrize(
    "name",
    ["event_altered", "event_altered_leaf_recomputed", "line_deleted", "lines_swapped", "event_not_canonical_resigned"],
)
def test_the_fast_verifier_in_parallel_ranges_agrees_with_the_reference(large: Bundle, name: str, k: int) -> None:
    (mutation,) = [m for m in MUTATIONS if m.name == name]
    data = vector(large, mutation, k)
    with tempfile.TemporaryDirectory() as tmp:
        write_files(Path(tmp), data["bundle"])
        slow = reference.verify_bundle(Path(tmp), TRUST)
        split = audit.verify_bundle(Path(tmp), TRUST, workers=3)
    assert outcome(slow) == outcome(split) == (data["want_err"], data["want_seq"])


def test_the_parallel_fast_verifier_accepts_the_honest_large_bundle(large: Bundle) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        large.write(Path(tmp))
        assert audit._split_lines(Path(tmp) / "events.jsonl", 3)[1:]  # it really splits
        report = audit.verify_bundle(Path(tmp), TRUST, workers=3)
        assert report.ok and report.events == len(large.lines) == reference.verify_bundle(Path(tmp), TRUST).events


def test_audit_compare_checks_a_shown_checkpoint_against_a_verified_bundle(tmp_path: Path) -> None:
    from ledger.tlog.note import Checkpoint, generate_signer, sign_note

    bundle = tmp_path / "bundle"
    data = json.loads((VECTORS / "honest.json").read_text())
    write_files(bundle, data["bundle"])
    key = ("--key", SIGNER.verifier_key())
    shown = tmp_path / "shown.note"
    first = sorted((bundle / "checkpoints").glob("*.note"))[1]  # a checkpoint of a prefix
    shown.write_text(first.read_text())
    ok = json.loads(run("audit", "compare", str(shown), str(bundle), *key, "--json").stdout)
    assert ok["consistent"] is True
    size = int(first.stem)
    shown.write_text(sign_note(Checkpoint(ORIGIN, size, bytes(32)).text(), SIGNER))  # the real key, another tree
    split = json.loads(run("audit", "compare", str(shown), str(bundle), *key, "--json", code=1).stdout)
    assert split["code"] == "SPLIT_VIEW" and split["ours"] == first.read_text()
    shown.write_text(sign_note(Checkpoint(ORIGIN, 10_000, bytes(32)).text(), SIGNER))
    assert json.loads(run("audit", "compare", str(shown), str(bundle), *key, "--json", code=1).stdout)["code"] == (
        "CHECKPOINT_AHEAD"
    )
    shown.write_text(sign_note(Checkpoint(ORIGIN, size, bytes(32)).text(), generate_signer(ORIGIN)))
    assert "CHECKPOINT_SIGNATURE" in run("audit", "compare", str(shown), str(bundle), *key, code=2).stderr
    assert "KEY_REQUIRED" in run("audit", "compare", str(shown), str(bundle), code=2).stderr
