"""Cosigned checkpoints where they go: C2SP tlog-proofs (CLI, API), `audit verify --policy` on a
bundle and a database, the API's current checkpoint and its background publishing, and a
witness mounted inside `oneclaim serve`.

Every witness is a real `oneclaim witness serve` process on loopback; so is the API server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from anchoring.chain import free_port
from ledger.tlog.note import generate_signer
from oneclaim.home import Home
from oneclaim.serve_cli import serving, serving_command, serving_witness
from tests.support import as_json, fill, run, wait_for

ORIGIN = "oneclaim.test/witnessed"
EM = "\u2014"


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home with events, witnessed by one witness process under `quorum w`, published once."""
    home, wdir = tmp_path / "home", tmp_path / "w"
    monkeypatch.setenv("ONECLAIM_HOME", str(home))
    run("init", "--origin", ORIGIN)
    _fill(home, 4)
    run("witness", "init", "--name", "witness.test/w", "--dir", str(wdir))
    run("witness", "add-log", ORIGIN, Home.at(home).verifier_key(), "--dir", str(wdir))
    with serving_witness(wdir) as url:
        _policy(home, wdir, url, tmp_path / "policy.txt")
        assert as_json("log", "publish", "--json")["published"]
        yield home


def _fill(home: Path, devices: int, prefix: str = "SIP-PV") -> None:
    ledger = Home.at(home).ledger()
    try:
        fill(ledger, devices, 1, prefix=prefix)
    finally:
        ledger.close()


def _wkey(wdir: Path) -> str:
    return run("witness", "verifier-key", "--dir", str(wdir)).stdout.strip()


def _policy(home: Path, wdir: Path, url: str, file: Path, quorum: str = "quorum w") -> Path:
    file.write_text(f"log {Home.at(home).verifier_key()}\nwitness w {_wkey(wdir)} {url}\n{quorum}\n")
    run("log", "set-policy", str(file))
    return file


def _auditor_policy(home: Path, tmp: Path, quorum: str = "quorum w") -> Path:
    """The policy without URLs, as an auditor keeps it."""
    lines = [" ".join(line.split()[:3]) if line.startswith("witness ") else line
             for line in (home / "witness-policy.txt").read_text().splitlines()]  # fmt: skip
    path = tmp / "auditor-policy.txt"
    path.write_text("\n".join([line for line in lines if not line.startswith("quorum")] + [quorum]) + "\n")
    return path


def _strip_cosignatures(note: str) -> str:
    return "".join(line for line in note.splitlines(keepends=True) if not line.startswith(f"{EM} witness.test/"))


# ---------------------------------------------------------------------------------- tlog-proof


def test_a_tlog_proof_proves_one_event_offline_and_go_agrees_on_its_inclusion(
    log: Path, tmp_path: Path, oneclaimcheck: Path
) -> None:
    policy = _auditor_policy(log, tmp_path)
    current = run("log", "checkpoint").stdout
    size = int(current.split("\n")[1])
    proof = run("log", "prove-inclusion", "3", "--format", "tlog-proof").stdout
    lines = proof.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1].startswith("extra ") and lines[2] == "index 3"
    assert proof.endswith(current) and f"{EM} witness.test/w " in proof  # the cosigned checkpoint, verbatim
    event = base64.b64decode(lines[1][len("extra ") :])
    ledger = Home.at(log).ledger()
    try:
        assert event == ledger.log.entries(3, 4)[0]
    finally:
        ledger.close()
    path = tmp_path / "e.tlog-proof"
    path.write_text(proof)
    checked = as_json("audit", "verify-proof", str(path), "--policy", str(policy), "--json")
    assert checked["index"] == 3 and checked["tree_size"] == size and checked["origin"] == ORIGIN
    assert [c["witness"] for c in checked["cosigners"]] == ["w"] and checked["cosigners"][0]["timestamp"] > 0

    # Go's sumdb/tlog checks the same inclusion, with the leaf recomputed from the event's bytes
    hashes = lines[3 : lines.index("")]
    root = current.split("\n")[2]
    go_proof = {"leaf_index": 3, "tree_size": size, "root_hash": root, "hashes": hashes,
                "leaf_hash": base64.b64encode(hashlib.sha256(b"\x00" + event).digest()).decode()}  # fmt: skip
    forged = go_proof | {"leaf_hash": base64.b64encode(hashlib.sha256(b"\x00" + event + b" ").digest()).decode()}
    done = subprocess.run([str(oneclaimcheck), "proofs"], input=f"{json.dumps(go_proof)}\n{json.dumps(forged)}\n",
                          capture_output=True, text=True)  # fmt: skip
    assert done.stdout.splitlines()[0] == "ok" and done.stdout.splitlines()[1].startswith("fail"), done.stdout


def test_a_tampered_tlog_proof_is_refused_naming_what_is_wrong(log: Path, tmp_path: Path) -> None:
    policy = _auditor_policy(log, tmp_path)
    proof = run("log", "prove-inclusion", "2", "--format", "tlog-proof").stdout
    lines = proof.split("\n")
    other_event = base64.b64encode(base64.b64decode(lines[1][6:]) + b" ").decode()
    cases = {
        "INCLUSION_PROOF_INVALID": proof.replace(lines[1], f"extra {other_event}", 1),  # another event
        "QUORUM_NOT_MET": _strip_cosignatures(proof),  # the witness's line removed
        "TLOG_PROOF_MALFORMED": proof.replace("index 2", "index 02", 1),
        "TLOG_PROOF_SIGNATURE": proof.replace(f"\n{ORIGIN}\n", "\noneclaim.test/other\n", 1),
    }
    swapped = proof.replace("index 2", "index 3", 1)  # the proof of entry 2 claimed for entry 3
    cases["INCLUSION_PROOF_INVALID "] = swapped
    for code, text in cases.items():
        path = tmp_path / "bad.tlog-proof"
        path.write_text(text)
        refused = run("audit", "verify-proof", str(path), "--policy", str(policy), "--json", code=2)
        assert json.loads(refused.stdout)["error"]["code"] == code.strip(), (code, refused.stdout)
    (tmp_path / "ok.tlog-proof").write_text(proof)
    stranger = tmp_path / "stranger.txt"  # a policy that trusts another key for the same origin
    stranger.write_text(policy.read_text().replace(Home.at(log).verifier_key(), generate_signer(ORIGIN).verifier_key()))
    refused = as_json("audit", "verify-proof", str(tmp_path / "ok.tlog-proof"), "--policy", str(stranger), "--json",
                      code=2)  # fmt: skip
    assert refused["error"]["code"] == "TLOG_PROOF_SIGNATURE"


def test_an_entry_beyond_the_current_checkpoint_has_no_tlog_proof_yet(log: Path) -> None:
    size = int(run("log", "checkpoint").stdout.split("\n")[1])
    _fill(log, 1, prefix="LATER")
    run("log", "sign")  # signed, but not witnessed: the current checkpoint stays the published one
    assert int(run("log", "checkpoint").stdout.split("\n")[1]) == size
    refused = run("log", "prove-inclusion", str(size), "--format", "tlog-proof", code=2)
    assert json.loads(refused.stdout)["error"]["code"] == "SEQ_NOT_COVERED"  # proof commands answer JSON


# ---------------------------------------------------------------------------------- audit verify --policy


def test_audit_verify_under_a_policy_requires_the_quorum_on_the_covering_checkpoint(log: Path, tmp_path: Path) -> None:
    policy = _auditor_policy(log, tmp_path)
    bundle = tmp_path / "bundle"
    run("audit", "export", str(bundle))  # the witness is down now: the bundle ends at the published one
    report = as_json("audit", "verify", str(bundle), "--policy", str(policy), "--json")
    assert report["ok"] and report["key_source"].startswith("the policy's log key")
    (covering,) = [c for c in report["witnesses"]["checkpoints"] if c["tree_size"] == report["events"]]
    assert covering["quorum_met"] and [c["witness"] for c in covering["cosigners"]] == ["w"]
    text = run("audit", "verify", str(bundle), "--policy", str(policy)).stdout
    assert "OK witnessed" in text and "w (witness.test/w, time " in text

    last = max((bundle / "checkpoints").glob("*.note"))
    note = last.read_text()
    stripped = tmp_path / "stripped"
    shutil.copytree(bundle, stripped)
    (stripped / "checkpoints" / last.name).write_text(_strip_cosignatures(note))
    refused = as_json("audit", "verify", str(stripped), "--policy", str(policy), "--json", code=1)
    assert refused["witnesses"]["failure"]["code"] == "QUORUM_NOT_MET"
    # a corrupted cosignature from the witness's own key is refused, not ignored
    line = next(x for x in note.splitlines() if x.startswith(f"{EM} witness.test/w "))
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[-1] ^= 1
    (stripped / "checkpoints" / last.name).write_text(
        note.replace(line, f"{EM} witness.test/w {base64.b64encode(bytes(raw)).decode()}")
    )
    refused = as_json("audit", "verify", str(stripped), "--policy", str(policy), "--json", code=1)
    assert refused["witnesses"]["failure"]["code"] == "COSIGNATURE_INVALID"
    # a policy wanting two witnesses, one of which never cosigned
    run("witness", "init", "--name", "witness.test/absent", "--dir", str(tmp_path / "absent"))
    two = tmp_path / "two.txt"
    two.write_text(
        policy.read_text().replace(
            "quorum w", f"witness absent {_wkey(tmp_path / 'absent')}\ngroup g all w absent\nquorum g"
        )
    )
    refused = as_json("audit", "verify", str(bundle), "--policy", str(two), "--json", code=1)
    assert refused["witnesses"]["failure"]["code"] == "QUORUM_NOT_MET"


def test_a_database_with_unwitnessed_events_fails_verification_under_the_policy(log: Path, tmp_path: Path) -> None:
    policy = _auditor_policy(log, tmp_path)
    assert as_json("audit", "verify", "--policy", str(policy), "--json")["ok"]
    _fill(log, 1, prefix="LATER")
    run("log", "sign")  # signed by the operator alone
    refused = as_json("audit", "verify", "--policy", str(policy), "--json", code=1)
    assert refused["witnesses"]["failure"]["code"] == "QUORUM_NOT_MET"
    assert as_json("audit", "verify", "--json")["ok"]  # without the policy the log itself is sound


# ---------------------------------------------------------------------------------- the API


def test_the_api_publishes_in_the_background_and_serves_the_current_cosigned_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, wdir = tmp_path / "home", tmp_path / "w"
    monkeypatch.setenv("ONECLAIM_HOME", str(home))
    run("init", "--origin", ORIGIN)
    _fill(home, 2)
    run("witness", "init", "--name", "witness.test/w", "--dir", str(wdir))
    run("witness", "add-log", ORIGIN, Home.at(home).verifier_key(), "--dir", str(wdir))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    _policy(home, wdir, url, tmp_path / "policy.txt")
    witness = ("witness", "serve", "--dir", str(wdir), "--host", "127.0.0.1")

    def served(api: httpx.Client) -> tuple[int, str]:
        note = api.get("/v1/checkpoint").text
        return int(note.split("\n")[1]), note

    with serving(home) as api_url, httpx.Client(base_url=api_url, timeout=30) as api:
        # no witness yet: the log has never published, so the latest signed checkpoint is current
        first, note = served(api)
        assert f"{EM} witness.test/w " not in note
        with _witness_on(port, *witness):
            size = _size(home)
            first, note = wait_for(lambda: (s := served(api))[0] == size and f"{EM} witness.test/w " in s[1] and s,
                                   "the background publication")  # fmt: skip
        # the witness is down: writes go on, the published checkpoint stays current
        _fill(home, 1, prefix="DOWN")
        grown = _size(home)
        assert grown > size and served(api)[0] == size
        assert api.get("/checkpoint").text == served(api)[1]  # the tiles' checkpoint too
        proof = api.get("/v1/proofs/inclusion/1", params={"format": "tlog-proof"})
        assert proof.status_code == 200 and proof.text.endswith(served(api)[1])
        assert (
            api.get(f"/v1/proofs/inclusion/{size}", params={"format": "tlog-proof"}).json()["code"] == "SEQ_NOT_COVERED"
        )
        with _witness_on(port, *witness):  # back: publishing catches up
            wait_for(lambda: served(api)[0] == grown, "publishing to catch up")
        # entry 0 registers a participant (an organisation's name): a public answer does not carry
        # its bytes, only the same proof without the extra line, which whoever holds them checks
        cli = run("log", "prove-inclusion", "0", "--format", "tlog-proof").stdout
        public = api.get("/v1/proofs/inclusion/0", params={"format": "tlog-proof"}).text
        extra = cli.split("\n")[1]
        assert extra.startswith("extra ") and "extra " not in public and public == cli.replace(extra + "\n", "", 1)
        # entry 1 registers a device, a public record: its proof carries the bytes for anyone
        device = run("log", "prove-inclusion", "1", "--format", "tlog-proof").stdout
        assert api.get("/v1/proofs/inclusion/1", params={"format": "tlog-proof"}).text == device
        (tmp_path / "public.tlog-proof").write_text(public)
        (tmp_path / "event.json").write_bytes(base64.b64decode(extra[len("extra ") :]))
        auditor = _auditor_policy(home, tmp_path)
        checked = as_json("audit", "verify-proof", str(tmp_path / "public.tlog-proof"), "--policy", str(auditor),
                          "--event", str(tmp_path / "event.json"), "--json")  # fmt: skip
        assert checked["index"] == 0
        refused = as_json("audit", "verify-proof", str(tmp_path / "public.tlog-proof"), "--policy", str(auditor),
                          "--json", code=2)  # fmt: skip
        assert refused["error"]["code"] == "TLOG_PROOF_NO_EVENT"


def _size(home: Path) -> int:
    ledger = Home.at(home).ledger()
    try:
        return ledger.log.size()
    finally:
        ledger.close()


class _witness_on:
    """A witness process on a fixed port, for as long as the block runs."""

    def __init__(self, port: int, *command: str) -> None:
        self.command = (*command, "--port", str(port))

    def __enter__(self) -> None:
        import subprocess as sp
        import sys

        self.proc = sp.Popen([sys.executable, "-m", "oneclaim", *self.command, "--no-access-log"],
                             stderr=sp.PIPE, text=True)  # fmt: skip
        for line in self.proc.stderr:
            if "Uvicorn running on" in line:
                import threading

                threading.Thread(target=self.proc.stderr.read, daemon=True).start()
                return
        raise AssertionError("the witness did not start")

    def __exit__(self, *_: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def test_a_witness_mounted_inside_the_api_answers_the_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, wdir = tmp_path / "home", tmp_path / "w"
    monkeypatch.setenv("ONECLAIM_HOME", str(home))
    run("init", "--origin", ORIGIN)
    run("witness", "init", "--name", "witness.test/mounted", "--dir", str(wdir))
    with (
        serving_command("serve", "--home", str(home), "--witness", str(wdir)) as url,
        httpx.Client(base_url=url) as http,
    ):
        logs = http.get("/witness/logs").json()
        assert logs["witness"] == "witness.test/mounted" and logs["logs"] == []
        unknown = http.post("/witness/add-checkpoint", content=f"old 0\n\n{run('log', 'checkpoint').stdout}".encode())
        assert unknown.status_code == 404 and "unknown log origin" in unknown.text
        assert http.get("/v1/checkpoint").status_code == 200  # the API itself is unchanged beside it
