"""The auditor's commands, used as an auditor would: keys, checkpoints, proofs, bundles."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.tlog.merkle import verify_consistency, verify_inclusion
from ledger.tlog.note import open_note, parse_checkpoint, parse_verifier_key
from oneclaim.home import Home
from tests.support import fill, run

ORIGIN = "oneclaim.local/suzhou-sip"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Home:
    monkeypatch.setenv("ONECLAIM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ONECLAIM_DB_URL", raising=False)
    result = run("init", "--origin", ORIGIN, "--db", db_url)
    assert "Initialised ledger oneclaim.local/suzhou-sip" in result.stdout
    h = Home.at()
    ledger = h.ledger()
    try:
        fill(ledger, devices=4, months=6)  # 29 events (the owner, 4 devices, 24 readings)
        ledger.sign_checkpoint(h.signer(), ORIGIN)
        fill(ledger, devices=1, months=2, prefix="LATE")  # 32 events
        ledger.sign_checkpoint(h.signer(), ORIGIN)
    finally:
        ledger.close()
    return h


def b64(s: str) -> bytes:
    return base64.b64decode(s)


def test_init_creates_a_private_key_readable_only_by_its_owner(home: Home) -> None:
    mode = stat.S_IMODE((home.path / "log.key").stat().st_mode)
    assert mode == 0o600
    again = run("init", "--origin", ORIGIN, "--json")
    assert json.loads(again.stdout)["created"] is False
    other = run("init", "--origin", "oneclaim.local/other", code=2)
    assert "ALREADY_INITIALISED" in other.stderr


def test_the_checkpoint_verifies_with_the_printed_verifier_key(home: Home) -> None:
    vkey = run("log", "verifier-key").stdout.strip()
    name, key_hash, key = vkey.split("+", 2)
    assert name == ORIGIN and len(key_hash) == 8 and b64(key)[0] == 0x01
    note = run("log", "checkpoint").stdout
    text, names = open_note(note, [parse_verifier_key(vkey)])
    assert names == [ORIGIN]
    checkpoint = parse_checkpoint(text)
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 32)


def test_inclusion_proofs_verify_against_the_signed_root(home: Home) -> None:
    checkpoint = parse_checkpoint(run("log", "checkpoint").stdout.split("\n\n")[0] + "\n")
    for seq in (0, 13, 31):
        proof = json.loads(run("log", "prove-inclusion", str(seq)).stdout)
        assert set(proof) == {"leaf_index", "tree_size", "leaf_hash", "root_hash", "hashes"}
        assert b64(proof["root_hash"]) == checkpoint.root
        verify_inclusion(seq, 32, b64(proof["leaf_hash"]), [b64(h) for h in proof["hashes"]], checkpoint.root)
    old = json.loads(run("log", "prove-inclusion", "5", "--tree-size", "29").stdout)
    assert old["tree_size"] == 29
    verify_inclusion(5, 29, b64(old["leaf_hash"]), [b64(h) for h in old["hashes"]], b64(old["root_hash"]))


def test_consistency_proofs_link_the_two_checkpoints(home: Home) -> None:
    proof = json.loads(run("log", "prove-consistency", "29", "32").stdout)
    assert set(proof) == {"old_size", "new_size", "old_root", "new_root", "hashes"}
    ledger = home.ledger()
    try:
        roots = {cp.tree_size: cp.root for cp in ledger.log.checkpoints()}
    finally:
        ledger.close()
    assert b64(proof["old_root"]) == roots[29] and b64(proof["new_root"]) == roots[32]
    verify_consistency(29, 32, [b64(h) for h in proof["hashes"]], roots[29], roots[32])


def test_bad_proof_requests_get_a_stable_code(home: Home) -> None:
    result = run("log", "prove-inclusion", "32", code=2)
    assert json.loads(result.stdout)["error"]["code"] == "SEQ_OUT_OF_RANGE"
    result = run("log", "prove-consistency", "5", "99", code=2)
    assert json.loads(result.stdout)["error"]["code"] == "TREE_SIZE_OUT_OF_RANGE"


def add_a_participant() -> None:
    run(
        "participant",
        "add",
        "SIP-NEW",
        "--name",
        "新参与者",
        "--role",
        "consumer",
        "--province",
        "江苏",
        "--city",
        "苏州",
    )


def test_export_of_a_live_ledger_signs_its_head_so_every_event_is_covered(home: Home, tmp_path: Path) -> None:
    add_a_participant()  # one event after the home's last checkpoint
    manifest = json.loads(run("audit", "export", str(tmp_path / "bundle"), "--json").stdout)
    assert manifest["tree_size"] == 33 and manifest["checkpoints"][-1] == 33  # the new event, signed
    vkey = run("log", "verifier-key").stdout.strip()
    assert json.loads(run("audit", "verify", str(tmp_path / "bundle"), "--key", vkey, "--json").stdout)["ok"]


def test_an_exported_bundle_verifies_and_a_flipped_byte_is_named(home: Home, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    manifest = json.loads(run("audit", "export", str(bundle), "--json").stdout)
    assert manifest["tree_size"] == 32 and manifest["checkpoints"] == [0, 29, 32]
    assert {p.name for p in bundle.iterdir()} >= {
        "README.md",
        "manifest.json",
        "events.jsonl",
        "verifier.key",
    }
    vkey = run("log", "verifier-key").stdout.strip()
    ok = json.loads(run("audit", "verify", str(bundle), "--key", vkey, "--json").stdout)
    assert ok["ok"] and ok["events"] == 32 and ok["checkpoints"] == 3

    lines = (bundle / "events.jsonl").read_bytes().splitlines(keepends=True)
    assert json.loads(lines[17])["seq"] == 17
    lines[17] = lines[17].replace(b'"on_grid_kwh":', b'"on_grid_kwh":7', 1)
    (bundle / "events.jsonl").write_bytes(b"".join(lines))
    bad = json.loads(run("audit", "verify", str(bundle), "--key", vkey, "--json", code=1).stdout)
    assert bad["failure"]["code"] == "LEAF_MISMATCH" and bad["failure"]["seq"] == 17


def test_verify_refuses_checkpoints_under_a_key_the_auditor_did_not_give(home: Home, tmp_path: Path) -> None:
    from ledger.tlog.note import generate_signer

    other = generate_signer(ORIGIN).verifier_key()
    result = run("audit", "verify", "--db", home.db_url, "--key", other, "--json", code=1)
    assert json.loads(result.stdout)["failure"]["code"] == "CHECKPOINT_SIGNATURE"
    # no key given: a failure, never a fallback to a key found beside the data
    refused = json.loads(run("audit", "verify", "--db", home.db_url, "--json", code=2).stdout)
    assert refused["error"]["code"] == "KEY_REQUIRED"
    # with no argument at all: the home's own database against the home's own key; an event
    # appended since the last checkpoint is covered by none until the head is signed
    add_a_participant()  # one event after the home's last checkpoint
    tail = json.loads(run("audit", "verify", "--json", code=1).stdout)
    assert tail["failure"]["code"] == "EVENTS_NOT_COVERED" and "oneclaim log sign" in tail["failure"]["message"]
    run("log", "sign")
    own = json.loads(run("audit", "verify", "--json").stdout)
    assert own["ok"] and "home's log.vkey" in own["key_source"]
    assert json.loads(run("audit", "verify", "--db", home.db_url, "--key", home.verifier_key(), "--json").stdout)["ok"]


def test_commands_on_an_uninitialised_home_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONECLAIM_HOME", str(tmp_path / "nothing"))
    result = run("log", "checkpoint", code=2)
    assert "NOT_INITIALISED" in result.stderr


def test_the_demo_runs_end_to_end_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONECLAIM_HOME", str(tmp_path / "demo"))
    monkeypatch.delenv("ONECLAIM_DB_URL", raising=False)
    result = run("demo", "--devices", "12")
    out = " ".join(result.stdout.split())  # the console wraps long lines
    logged = re.search(r"Log: ([\d,]+) events", out).group(1).replace(",", "")
    assert f"✔ audit verify (database): {logged} events" in out
    assert f"✔ audit verify (exported bundle): {logged} events" in out
    assert "resales refused (a GEC is sold once)" in out and "UNITS_RETIRED" in out
    assert "a second run expired 0" in out  # expire is idempotent
    assert "Provenance of GEC-" in out and "Retired" in out
    # over HTTP: public reads, a holder's move, an auditor's move refused
    assert re.search(r"GET /v1/checkpoint \(public\): 200", out)
    assert "naming the beneficiary by a commitment only" in out
    assert re.search(r"holder token\): 201", out) and "auditor's token: 403 FORBIDDEN (application/problem+json)" in out
    # the operator's inventory, and conservation over every batch, as `batch list` totals it
    assert re.search(r"Inventory .*: 9 participants, \d+ accounts, \d+ devices, 1 contract", out)
    assert re.search(r"[1-9][\d,]* MWh of green power settled month by month", out)
    issued, states = re.search(r"batches, ([\d,]+) units issued = (.*?) exported", out).groups()
    per_state = [int(n.replace(",", "")) for n in re.findall(r"[\d,]+", states)]  # active ... exported
    assert len(per_state) == 6 and int(issued.replace(",", "")) == sum(per_state) > 0
    traced = r"traced to SIP-PHCER-EV_CHARGING-SIP-EV-HUB-01-2025:\d+ in Suzhou, Issued -> .*SentOut -> Exported"
    assert re.search(traced + r", each event proved", out)  # the cross-region trace, end to end
    # the enterprise's year: a carbon-neutral claim, its certificate checked offline, a reuse refused
    assert re.search(r"Carbon neutrality: SIP-DC-03 claims 2025 as NC-SIP-DC-03-2025-1 under ISO14068-1:2023", out)
    assert "is refused: RETIREMENT_ALREADY_USED, it backs NC-SIP-DC-03-2025-1" in out
    assert "`oneclaim claim verify` OK offline" in out and "cosigned by chuzhou, jiaxing" in out
    # the partners cosigned the last anchor on chain, and anchor verify --policy found the quorum there
    assert re.search(r"anchor (\d+): cosigned on chain by chuzhou, jiaxing", out), out[-2000:]
    assert "OK witnessed on chain: the anchor of tree size" in out
    certificate = tmp_path / "demo" / "certificates" / "NC-SIP-DC-03-2025-1.json"
    policy = tmp_path / "demo" / "policy-for-auditors.txt"
    assert json.loads(run("claim", "verify", str(certificate), "--policy", str(policy), "--json").stdout)["ok"]
    again = run("demo", "--devices", "12", code=2)
    assert "DEMO_HOME_NOT_EMPTY" in again.stderr
    run("demo", "--devices", "3", "--reset")


@pytest.mark.parametrize(
    ("args", "code", "option"),
    [
        (["transfer", "B", "--from", "a", "--to", "b", "--quantity", "1.5"], "OPTION_INVALID", "--quantity"),
        (["transfer", "B", "--from", "a", "--to", "b", "--quantity", "ten"], "OPTION_INVALID", "--quantity"),
        (["transfer", "B", "--from", "a", "--to", "b", "--bogus"], "OPTION_UNKNOWN", None),
        (["transfer", "B", "--to", "b"], "OPTION_MISSING", "--from"),
        (["no-such-command"], "USAGE", None),
    ],
)
def test_a_command_line_that_does_not_parse_gets_a_code_and_no_usage_box(args, code, option) -> None:
    text = run(*args, code=2)
    assert text.stderr.startswith(f"error {code}: ") and "╭" not in text.stderr and "--help" in text.stderr
    refusal = json.loads(run(*args, "--json", code=2).stdout)["error"]
    assert refusal["code"] == code and refusal["details"].get("option") == option


def test_the_installed_command_refuses_bad_options_the_same_way(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "oneclaim", "retire", "B", "--quantity", "-x", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "ONECLAIM_HOME": str(tmp_path)},
    )
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"]["code"] in ("OPTION_INVALID", "OPTION_MISSING")


def test_log_compare_proves_a_shown_checkpoint_consistent_or_prints_the_split_view(home: Home, tmp_path: Path) -> None:
    from ledger.tlog.note import Checkpoint, generate_signer, sign_note

    shown = tmp_path / "shown.note"
    shown.write_text(run("log", "checkpoint").stdout)  # what a partner was shown at size 32
    add_a_participant()  # one event after the home's last checkpoint
    ok = json.loads(run("log", "compare", str(shown), "--json").stdout)
    assert ok["consistent"] is True
    proof = ok["proof"]
    old, new = (parse_checkpoint(n.split("\n\n")[0] + "\n") for n in (ok["theirs"], ok["ours"]))
    assert (old.size, new.size) == (32, 33)
    verify_consistency(old.size, new.size, [base64.b64decode(x) for x in proof["hashes"]], old.root, new.root)
    # the operator's own key signed another root for size 20: two signed, inconsistent checkpoints
    forged = tmp_path / "forged.note"
    forged.write_text(sign_note(Checkpoint(ORIGIN, 20, bytes(32)).text(), home.signer()))
    split = run("log", "compare", str(forged), code=1).stdout
    assert split.startswith("SPLIT_VIEW") and "theirs:" in split and "ours:" in split
    ahead = tmp_path / "ahead.note"
    ahead.write_text(sign_note(Checkpoint(ORIGIN, 99, bytes(32)).text(), home.signer()))
    assert json.loads(run("log", "compare", str(ahead), "--json", code=1).stdout)["code"] == "CHECKPOINT_AHEAD"
    stranger = tmp_path / "stranger.note"
    stranger.write_text(sign_note(Checkpoint(ORIGIN, 20, bytes(32)).text(), generate_signer(ORIGIN)))
    assert "CHECKPOINT_SIGNATURE" in run("log", "compare", str(stranger), code=2).stderr
