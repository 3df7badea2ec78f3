"""Witnesses (C2SP tlog-witness), witness policies (C2SP tlog-policy) and the log publishing its
checkpoints through them (ledger/tlog/witness.py, api/witness.py, ledger/tlog/policy.py,
ledger/tlog/publish.py, `oneclaim witness ...`, `oneclaim log set-policy/publish/checkpoint`).

Witnesses run for real: `python -m oneclaim witness serve --port 0` child processes on loopback,
each with its own data directory, found by the "Uvicorn running on" line they print (never a
sleep), and terminated by the fixtures that started them. Logs are homes made with `oneclaim
init`; the CLI runs in-process. A fork is two copies of one home's SQLite file taken while no
ledger is open; a rollback is a home restored from such a copy.

Cosignatures are also checked by a cosignature/v1 verifier written here from the C2SP text alone
(no ledger.tlog code), and bundles with cosigned checkpoints by Go's sumdb/note (tests/go).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.app import Ledger
from ledger.tlog.merkle import EMPTY_ROOT
from ledger.tlog.note import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    Signer,
    Verifier,
    cosign,
    generate_signer,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
)
from ledger.tlog.policy import Policy, PolicyError, parse_policy
from ledger.tlog.publish import request_body
from oneclaim.home import Home
from tests.conftest import TODAY
from tests.support import as_json, fill, run

ORIGIN = "oneclaim.test/witnessed"
EM = "\u2014"
SIZE_TYPE = "text/x.tlog.size"
_batches = itertools.count(1)


@pytest.fixture(autouse=True, scope="module")
def _no_ambient_home() -> Iterator[None]:
    """Every home and witness directory is named on the command line: none from the environment."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("ONECLAIM_DB_URL", "ONECLAIM_HOME", "ONECLAIM_WITNESS_HOME", "ONECLAIM_WITNESS_DIR"):
            mp.delenv(name, raising=False)
        yield


# ---------------------------------------------------------------------- witness processes


@dataclass
class WitnessServer:
    """One witness: its data directory and key, and the `oneclaim witness serve` process serving
    it (started and stopped by the test)."""

    name: str  # the policy's name for it
    directory: Path
    vkey: str
    proc: subprocess.Popen | None = None
    url: str = ""

    def add_log(self, origin: str, vkey: str) -> None:
        run("witness", "add-log", origin, vkey, "--dir", str(self.directory))

    def start(self) -> str:
        assert self.proc is None, f"{self.name} is already running"
        proc = subprocess.Popen(
            [sys.executable, "-m", "oneclaim", "witness", "serve", "--port", "0", "--no-access-log",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.proc = proc
        for line in proc.stderr:  # synchronise on what uvicorn says, never on a sleep
            if m := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line):
                threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its log
                self.url = m.group(1)
                return self.url
        self.stop()
        raise AssertionError(f"witness {self.name} stopped before it was listening")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)

    def post(self, body: bytes) -> httpx.Response:
        return httpx.post(f"{self.url}/add-checkpoint", content=body, timeout=30)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30)

    def logs(self) -> dict[str, dict]:
        return {g["origin"]: g for g in self.get("/logs").json()["logs"]}

    def alerts(self) -> list[dict]:
        return self.get("/alerts").json()["alerts"]


@dataclass
class WitnessPool:
    root: Path
    servers: list[WitnessServer] = field(default_factory=list)

    def new(self, name: str, *logs: LogHome, start: bool = True) -> WitnessServer:
        directory = self.root / name
        made = as_json("witness", "init", "--name", f"witness.test/{name}", "--dir", str(directory))
        server = WitnessServer(name, directory, made["verifier_key"])
        self.servers.append(server)
        for log in logs:
            server.add_log(log.origin, log.vkey)
        if start:
            server.start()
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@contextmanager
def witness_pool(root: Path) -> Iterator[WitnessPool]:
    pool = WitnessPool(root)
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def witnesses(tmp_path: Path) -> Iterator[WitnessPool]:
    with witness_pool(tmp_path / "witnesses") as pool:
        yield pool


# ---------------------------------------------------------------------- logs (homes)


@dataclass
class LogHome:
    path: Path

    @classmethod
    def create(cls, path: Path, origin: str = ORIGIN) -> LogHome:
        run("init", "--origin", origin, "--home", str(path))
        return cls(path)

    @property
    def home(self) -> Home:
        return Home.at(self.path)

    @property
    def origin(self) -> str:
        return self.home.origin

    @property
    def vkey(self) -> str:
        return self.home.verifier_key()

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        ledger = Ledger(self.home.db_url, clock=lambda: TODAY)
        try:
            yield ledger
        finally:
            ledger.close()

    def write(self, devices: int = 2, months: int = 1) -> int:
        """Append events (new devices, each with readings); returns the log's size after."""
        with self.ledger() as ledger:
            fill(ledger, devices, months, prefix=f"SIP-W{next(_batches)}")
            return ledger.log.size()

    def size(self) -> int:
        with self.ledger() as ledger:
            return ledger.log.size()

    def signed(self, size: int) -> str:
        """The log's own signed note of the checkpoint of `size` (no cosignatures)."""
        with self.ledger() as ledger:
            return next(cp.note for cp in ledger.log.checkpoints() if cp.tree_size == size)

    def set_policy(self, servers: list[WitnessServer], *rules: str) -> Policy:
        lines = ["# the log's witnesses (tests/test_witness.py)", f"log {self.vkey}"]
        lines += [f"witness {w.name} {w.vkey} {w.url}" for w in servers]
        text = "\n".join([*lines, *rules]) + "\n"
        path = self.path.parent / f"{self.path.name}-policy.txt"
        path.write_text(text)
        run("log", "set-policy", str(path), "--home", str(self.path))
        return parse_policy(text)

    def publish(self, code: int = 0) -> dict:
        result = as_json("log", "publish", "--timeout", "10", "--home", str(self.path), code=code)
        result["by"] = {a["witness"]: a for a in result["witnesses"]}
        return result

    def current(self) -> str:
        """`oneclaim log checkpoint`: the current checkpoint with its cosignatures."""
        return run("log", "checkpoint", "--home", str(self.path)).stdout

    def copy_to(self, path: Path) -> LogHome:
        """A copy of the whole home (its SQLite file too), taken while no ledger is open, that
        uses its own database."""
        shutil.copytree(self.path, path)
        Home.at(path).update_config(db_url=f"sqlite:///{path / 'ledger.sqlite'}")
        return LogHome(path)

    def restore_from(self, copy: Path) -> None:
        """Put back a copy of this home taken earlier (its settings still name this database)."""
        shutil.rmtree(self.path)
        shutil.copytree(copy, self.path)


def signature_lines(note: str) -> list[str]:
    return note.rpartition("\n\n")[2].splitlines()


def signer_names(note: str) -> list[str]:
    return [line.split(" ")[1] for line in signature_lines(note)]


def size_of(note: str) -> int:
    return parse_checkpoint(note.rpartition("\n\n")[0] + "\n").size


def assert_size_conflict(answer: httpx.Response, size: int) -> None:
    """A 409 naming the size the witness holds: "<size>\\n", media type text/x.tlog.size (the
    exact header is test_the_409_content_type_is_exactly_text_x_tlog_size's business)."""
    assert answer.status_code == 409, (answer.status_code, answer.text)
    assert answer.text == f"{size}\n"
    assert answer.headers["content-type"].split(";")[0].strip() == SIZE_TYPE


# ---------------------------------------------------------------------- 1. a 2-of-3 quorum


def test_two_of_three_witness_processes_publish_through_one_failure_and_not_two(
    tmp_path: Path, witnesses: WitnessPool
) -> None:
    log = LogHome.create(tmp_path / "home")
    w1, w2, w3 = (witnesses.new(name, log) for name in ("w1", "w2", "w3"))
    policy = log.set_policy([w1, w2, w3], "group g 2 w1 w2 w3", "quorum g")

    size1 = log.write(devices=3)
    first = log.publish()
    assert first["published"] and first["code"] is None and first["tree_size"] == size1
    assert {name: a["cosigned"] for name, a in first["by"].items()} == {"w1": True, "w2": True, "w3": True}
    assert {w.name: w.logs()[ORIGIN]["size"] for w in (w1, w2, w3)} == {"w1": size1, "w2": size1, "w3": size1}

    w3.stop()
    size2 = log.write()
    second = log.publish()
    assert second["published"] and second["code"] is None and second["tree_size"] == size2 > size1
    assert second["by"]["w1"]["cosigned"] and second["by"]["w2"]["cosigned"]
    assert not second["by"]["w3"]["cosigned"] and second["by"]["w3"]["code"] == "WITNESS_UNREACHABLE"
    shown = log.current()
    assert size_of(shown) == size2
    assert signer_names(shown) == [ORIGIN, "witness.test/w1", "witness.test/w2"]  # the log's, then 2 cosignatures
    witnessed = policy.witnessed(shown)
    assert witnessed.quorum_met and {c.witness for c in witnessed.cosigners} == {"w1", "w2"}

    w2.stop()
    size3 = log.write()
    third = log.publish(code=1)
    assert not third["published"] and third["code"] == "QUORUM_NOT_MET" and third["tree_size"] == size3 > size2
    assert third["by"]["w1"]["cosigned"]
    assert [third["by"][w]["code"] for w in ("w2", "w3")] == ["WITNESS_UNREACHABLE", "WITNESS_UNREACHABLE"]
    assert log.current() == shown  # still the one that met the quorum, not the newer signed one
    with log.ledger() as ledger:
        assert ledger.log.latest_checkpoint().tree_size == size3
        assert ledger.log.published_size() == size2
    refused = run("log", "publish", "--timeout", "10", "--home", str(log.path), code=1)
    assert "QUORUM_NOT_MET" in refused.stderr


# ---------------------------------------------------------------------- 2. a restarted witness


def test_a_restarted_witness_keeps_its_state_and_the_log_follows_its_409(
    tmp_path: Path, witnesses: WitnessPool
) -> None:
    log = LogHome.create(tmp_path / "home")
    w1 = witnesses.new("w1", log)
    log.set_policy([w1], "quorum w1")
    size1 = log.write()
    assert log.publish()["published"]

    w1.stop()
    w1.start()  # the same --dir, another port
    assert w1.logs()[ORIGIN]["size"] == size1
    assert as_json("witness", "list-logs", "--dir", str(w1.directory))["logs"][0]["size"] == size1
    kept = w1.get(f"/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint")
    assert kept.status_code == 200 and kept.text.startswith(log.signed(size1))
    assert signer_names(kept.text) == [ORIGIN, "witness.test/w1"]
    assert_size_conflict(w1.post(request_body(0, [], log.signed(size1))), size1)

    # The witness moves on without the log knowing (a checkpoint submitted by someone else).
    size2 = log.write()
    run("log", "sign", "--home", str(log.path))
    with log.ledger() as ledger:
        proof = ledger.log.consistency_proof(size1, size2).hashes
    moved = w1.post(request_body(size1, proof, log.signed(size2)))
    assert moved.status_code == 200, moved.text
    with log.ledger() as ledger:
        assert ledger.log.witness_sizes() == {("witness.test/w1", key_id_of(w1.vkey)): size1}

    size3 = log.write()
    log.set_policy([w1], "quorum w1")  # its new URL
    third = log.publish()  # asks from size1, is told size2, asks again from there
    assert third["published"] and third["by"]["w1"]["cosigned"] and third["tree_size"] == size3
    assert w1.logs()[ORIGIN]["size"] == size3
    assert w1.alerts() == []


def key_id_of(vkey: str) -> int:
    return int(vkey.split("+")[1], 16)


# ---------------------------------------------------------------------- 3. forks


def test_a_forked_log_is_refused_and_the_witnesses_keep_proof_of_the_split_view(
    tmp_path: Path, witnesses: WitnessPool
) -> None:
    a = LogHome.create(tmp_path / "a")
    w1, w2 = witnesses.new("w1", a), witnesses.new("w2", a)
    a.set_policy([w1, w2], "group both all w1 w2", "quorum both")
    base = a.write()
    assert a.publish()["published"]
    b = a.copy_to(tmp_path / "b")  # the same log up to `base`, then two histories

    size = a.write()
    assert b.write() == size
    with a.ledger() as la, b.ledger() as lb:
        assert la.log.root(base) == lb.log.root(base) and la.log.root(size) != lb.log.root(size)
    assert a.publish()["published"]

    # B at the same size: a split view. Refused by each witness, and kept as proof.
    same = b.publish(code=1)
    assert not same["published"] and same["code"] == "QUORUM_NOT_MET" and same["tree_size"] == size
    for w in ("w1", "w2"):
        assert same["by"][w]["code"] == "WITNESS_REFUSED_PROOF" and "422" in same["by"][w]["message"]
    assert w1.post(request_body(size, [], b.signed(size))).status_code == 422
    for w in (w1, w2):
        (alert,) = w.alerts()
        assert alert["kind"] == "SPLIT_VIEW" and alert["origin"] == ORIGIN
        assert alert["cosigned_note"].startswith(a.signed(size))
        assert f"{EM} witness.test/{w.name} " in alert["cosigned_note"]  # with its cosignature
        assert alert["shown_note"] == b.signed(size)
    shown = run("witness", "alerts", "--dir", str(w1.directory), code=1).stdout
    assert "SPLIT_VIEW" in shown and ORIGIN in shown

    # B beyond that size: no consistency proof from A's tree to B's.
    bigger = b.write()
    beyond = b.publish(code=1)
    assert beyond["code"] == "QUORUM_NOT_MET" and beyond["tree_size"] == bigger > size
    for w in ("w1", "w2"):
        assert beyond["by"][w]["code"] == "WITNESS_REFUSED_PROOF" and "422" in beyond["by"][w]["message"]
    for w in (w1, w2):
        assert [x["kind"] for x in w.alerts()] == ["SPLIT_VIEW", "INCONSISTENT"]
        inconsistent = w.alerts()[1]
        assert inconsistent["cosigned_note"].startswith(a.signed(size))
        assert inconsistent["shown_note"] == b.signed(bigger)
    listed = as_json("witness", "alerts", "--dir", str(w2.directory), code=1)["alerts"]
    assert [x["kind"] for x in listed] == ["SPLIT_VIEW", "INCONSISTENT"]

    # A smaller checkpoint than the one held: old = the held size is beyond it (400); another old
    # size is not the held one (409 with the held size).
    older = a.signed(base)
    assert w1.post(request_body(size, [], older)).status_code == 400
    assert_size_conflict(w1.post(request_body(1, [], older)), size)
    assert w1.logs()[ORIGIN]["size"] == size
    assert len(w1.alerts()) == 2  # a checkpoint it cosigned is no evidence of anything
    assert a.current().startswith(a.signed(size)) and b.current().startswith(b.signed(base))


# ---------------------------------------------------------------------- 4. rollback


@pytest.mark.parametrize("published_before_copy", [False, True], ids=["copy-unpublished", "copy-published"])
def test_a_log_restored_from_an_older_copy_cannot_publish_behind_its_witnesses(
    tmp_path: Path, witnesses: WitnessPool, published_before_copy: bool
) -> None:
    log = LogHome.create(tmp_path / "home")
    w1 = witnesses.new("w1", log)
    log.set_policy([w1], "quorum w1")
    log.write()
    assert log.publish()["published"]
    older = log.write()  # M
    if published_before_copy:
        assert log.publish()["published"]
    backup = tmp_path / "backup"
    shutil.copytree(log.path, backup)
    newer = log.write()  # N
    assert log.publish()["published"] and w1.logs()[ORIGIN]["size"] == newer

    log.restore_from(backup)
    assert log.size() == older
    result = log.publish(code=1)
    assert not result["published"] and result["code"] == "WITNESS_AHEAD" and result["tree_size"] == older
    asked = result["by"]["w1"]
    assert asked["code"] == "WITNESS_AHEAD" and asked["witness_size"] == newer
    assert f"the witness has cosigned size {newer} of this log, beyond its head {older}" in asked["message"]
    assert f"cosigned size {newer}" in result["message"] and f"beyond its head {older}" in result["message"]
    assert run("log", "publish", "--home", str(log.path), code=1).stderr.startswith("WITNESS_AHEAD")
    assert w1.logs()[ORIGIN]["size"] == newer


# ---------------------------------------------------------------------- 5. replay


def test_an_earlier_add_checkpoint_body_replayed_gets_409_with_the_size_held(
    tmp_path: Path, witnesses: WitnessPool
) -> None:
    log = LogHome.create(tmp_path / "home")
    w1 = witnesses.new("w1", log)
    log.set_policy([w1], "quorum w1")
    size1 = log.write()
    assert log.publish()["published"]
    size2 = log.write()
    assert log.publish()["published"]
    with log.ledger() as ledger:
        proof = ledger.log.consistency_proof(size1, size2).hashes
    first_body = request_body(0, [], log.signed(size1))  # what the log sent first, the witness then new
    second_body = request_body(size1, proof, log.signed(size2))
    size3 = log.write()
    assert log.publish()["published"]

    for body in (first_body, second_body):
        assert_size_conflict(w1.post(body), size3)
    assert w1.logs()[ORIGIN]["size"] == size3
    assert w1.alerts() == []  # checkpoints it cosigned itself


# ---------------------------------------------------------------------- 6. protocol statuses


@dataclass
class RawWitness:
    server: WitnessServer
    origins: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def new_log(self) -> Signer:
        """A log this witness knows, never submitted to it yet."""
        signer = generate_signer(f"oneclaim.test/raw{next(self.origins)}")
        self.server.add_log(signer.name, signer.verifier_key())
        return signer


@pytest.fixture(scope="module")
def raw_witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawWitness]:
    with witness_pool(tmp_path_factory.mktemp("raw-witness")) as pool:
        yield RawWitness(pool.new("raw"))


def checkpoint_note(signer: Signer, size: int, root: bytes | None = None) -> str:
    root = hashlib.sha256(f"root {size}".encode()).digest() if root is None else root
    return sign_note(Checkpoint(signer.name, size, root).text(), signer)


def corrupt_signature(line: str) -> str:
    """The signature line with one bit of its signature bytes (not its key ID) flipped."""
    prefix, b64 = line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[10] ^= 0x01
    return f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n"


def test_add_checkpoint_answers_each_status_of_the_protocol(raw_witness: RawWitness) -> None:
    w = raw_witness.server
    signer = raw_witness.new_log()

    stranger = generate_signer("oneclaim.test/nobody")
    assert w.post(request_body(0, [], checkpoint_note(stranger, 3))).status_code == 404

    impostor = generate_signer(signer.name)  # the log's name, another key
    assert w.post(request_body(0, [], checkpoint_note(impostor, 3))).status_code == 403
    good = checkpoint_note(signer, 3)
    text, _, line = good.partition("\n\n")
    assert w.post(request_body(0, [], f"{text}\n\n{corrupt_signature(line)}")).status_code == 403
    assert w.post(request_body(0, [], f"{text}\n\n{line}{corrupt_signature(line)}")).status_code == 403

    assert w.post(request_body(4, [], good)).status_code == 400  # old size beyond the checkpoint's
    assert w.post(request_body(0, [], checkpoint_note(signer, 0))).status_code == 422  # not the empty root
    assert w.post(request_body(0, [hashlib.sha256(b"x").digest()], good)).status_code == 422  # old 0, a proof
    assert w.logs()[signer.name]["size"] is None  # nothing above was cosigned

    answer = w.post(request_body(0, [], good))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert re.fullmatch(rf"{EM} witness\.test/raw [A-Za-z0-9+/]+=*\n", answer.text)
    assert w.logs()[signer.name]["size"] == 3
    assert_size_conflict(w.post(request_body(0, [], checkpoint_note(signer, 5))), 3)
    assert w.get(f"/{hashlib.sha256(signer.name.encode()).hexdigest()}/checkpoint").text == good + answer.text


def test_signatures_from_unknown_keys_are_ignored_and_kept_for_monitors(raw_witness: RawWitness) -> None:
    w = raw_witness.server
    signer = raw_witness.new_log()
    text = Checkpoint(signer.name, 6, hashlib.sha256(b"six").digest()).text()
    note = sign_note(text, generate_signer("other.example/key"), signer, generate_signer(signer.name))
    answer = w.post(request_body(0, [], note))
    assert answer.status_code == 200, answer.text
    assert w.get(f"/{hashlib.sha256(signer.name.encode()).hexdigest()}/checkpoint").text == note + answer.text


def test_a_body_over_64_kib_is_400(raw_witness: RawWitness) -> None:
    signer = raw_witness.new_log()
    note = checkpoint_note(signer, 2)
    answer = raw_witness.server.post(b"old 0\n\n" + note.encode() + b"#" * (64 * 1024))
    assert answer.status_code == 400
    assert raw_witness.server.logs()[signer.name]["size"] is None


def test_the_empty_tree_is_cosigned_from_old_size_0(raw_witness: RawWitness) -> None:
    w = raw_witness.server
    signer = raw_witness.new_log()
    digest = hashlib.sha256(signer.name.encode()).hexdigest()
    assert w.get(f"/{digest}/checkpoint").status_code == 404  # never cosigned
    assert w.post(request_body(0, [], checkpoint_note(signer, 0, EMPTY_ROOT))).status_code == 200
    assert w.logs()[signer.name]["size"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0",
        b"old 01\n\n",
        b"old -1\n\n",
        b"old  0\n\n",
        b"Old 0\n\n",
        b"old 0 \n\n",
        b"old 0x1\n\n",
        b"\xff\xfe\n\n",
        b"old 0\nnot base64!\n\n",
        b"old 0\n" + base64.b64encode(b"short") + b"\n\n",
    ],
    ids=repr,
)
def test_a_body_with_a_bad_old_size_or_proof_line_is_400(raw_witness: RawWitness, body: bytes) -> None:
    signer = raw_witness.new_log()
    note = checkpoint_note(signer, 2).encode()
    assert raw_witness.server.post(body + note).status_code == 400


def test_a_body_with_more_than_63_proof_lines_or_no_checkpoint_is_400(raw_witness: RawWitness) -> None:
    signer = raw_witness.new_log()
    note = checkpoint_note(signer, 2)
    hashes = [hashlib.sha256(bytes([i])).digest() for i in range(64)]
    assert raw_witness.server.post(request_body(1, hashes, note)).status_code == 400
    assert raw_witness.server.post(b"old 0\n\nnot a checkpoint\n").status_code == 400
    assert raw_witness.server.post(b"old 0\n\n" + note.rpartition("\n\n")[0].encode() + b"\n").status_code == 400


def test_the_409_content_type_is_exactly_text_x_tlog_size(raw_witness: RawWitness) -> None:
    """tlog-witness: "The response MUST have a Content-Type of text/x.tlog.size". Clients compare
    the header as a whole (sigsum-go refuses "text/x.tlog.size; charset=utf8" as a size answer)."""
    w = raw_witness.server
    signer = raw_witness.new_log()
    assert w.post(request_body(0, [], checkpoint_note(signer, 2))).status_code == 200
    answer = w.post(request_body(0, [], checkpoint_note(signer, 4)))
    assert answer.status_code == 409 and answer.text == "2\n"
    assert answer.headers["content-type"] == SIZE_TYPE


def test_the_witness_serves_its_health_and_its_logs(raw_witness: RawWitness) -> None:
    w = raw_witness.server
    assert w.get("/healthz").json() == {"status": "ok", "witness": "witness.test/raw"}
    listed = w.get("/logs").json()
    assert listed["verifier_key"] == w.vkey
    assert run("witness", "verifier-key", "--dir", str(w.directory)).stdout.strip() == w.vkey
    signer = raw_witness.new_log()
    entry = w.logs()[signer.name]
    assert entry["verifier_key"] == signer.verifier_key() and entry["size"] is None
    assert entry["origin_hash"] == hashlib.sha256(signer.name.encode()).hexdigest()


# ---------------------------------------------------------------------- 7, 8. a published checkpoint


@dataclass
class Published:
    log: LogHome
    servers: list[WitnessServer]
    note: str  # the current checkpoint, with its cosignatures


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    root = tmp_path_factory.mktemp("published")
    with witness_pool(root / "witnesses") as pool:
        log = LogHome.create(root / "home")
        servers = [pool.new(name, log) for name in ("w1", "w2")]
        log.set_policy(servers, "group g\t2\tw1 w2", "quorum g")
        log.write(devices=3, months=2)
        assert log.publish()["published"]
        yield Published(log, servers, log.current())


# Written from c2sp.org/signed-note and c2sp.org/tlog-cosignature alone: nothing from ledger.tlog.


def cosigner_key(vkey: str) -> tuple[str, bytes, bytes]:
    """A cosignature/v1 vkey, `<name>+<hex key ID>+base64(0x04 || 32-byte Ed25519 key)`:
    (name, key ID, public key), the key ID checked."""
    name, key_id_hex, key_b64 = vkey.split("+", 2)
    material = base64.b64decode(key_b64, validate=True)
    assert material[0] == 0x04 and len(material) == 33, "not an Ed25519 cosignature/v1 key"
    public_key = material[1:]
    key_id = hashlib.sha256(name.encode() + b"\n" + b"\x04" + public_key).digest()[:4]
    assert key_id.hex() == key_id_hex, "the key ID is not SHA-256(name || \\n || 0x04 || key)[:4]"
    return name, key_id, public_key


def cosignature_v1_valid(key: tuple[str, bytes, bytes], body: bytes, line: str) -> int | None:
    """The timestamp of a valid cosignature line by `key` on the checkpoint `body` (its lines,
    final newline included); None if the line is not one."""
    name, key_id, public_key = key
    if not line.startswith(f"{EM} "):
        return None
    line_name, _, signature_b64 = line[2:].rstrip("\n").partition(" ")
    raw = base64.b64decode(signature_b64, validate=True)
    if line_name != name or raw[:4] != key_id or len(raw) != 4 + 8 + 64:
        return None
    timestamp, signature = int.from_bytes(raw[4:12], "big"), raw[12:]
    if timestamp >= 2**63:
        return None
    message = b"cosignature/v1\n" + f"time {timestamp}\n".encode() + body
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return None
    return timestamp


def split_note(note: str) -> tuple[bytes, list[str]]:
    """The checkpoint body (up to and including the newline before the blank line) and the
    signature lines."""
    body, _, signatures = note.partition("\n\n")
    return (body + "\n").encode(), signatures.splitlines(keepends=True)


REAL_TEXT = "arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n"
REAL_WITNESS_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
REAL_WITNESS_LINE = (
    f"{EM} remora.n621.de "
    "2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n"
)
"""A production cosignature (tests/test_note.py records where from): the verifier's own check."""


def flip(data: str | bytes, index: int) -> bytes:
    raw = bytearray(data.encode() if isinstance(data, str) else data)
    raw[index] ^= 0x01
    return bytes(raw)


def test_an_independent_cosignature_v1_verifier_accepts_every_witness_line(published: Published) -> None:
    assert cosignature_v1_valid(cosigner_key(REAL_WITNESS_VKEY), REAL_TEXT.encode(), REAL_WITNESS_LINE) == 1779573024

    body, lines = split_note(published.note)
    assert body.decode().count("\n") == 3 and body.decode().startswith(f"{ORIGIN}\n")
    assert len(lines) == 3  # the log's signature and two cosignatures
    for server in published.servers:
        key = cosigner_key(server.vkey)
        valid = [(line, ts) for line in lines if (ts := cosignature_v1_valid(key, body, line)) is not None]
        assert len(valid) == 1, f"{server.name} has no valid cosignature line"
        line, timestamp = valid[0]
        assert 0 < timestamp < 2**63
        # One byte changed anywhere (body, timestamp, signature) and it no longer verifies.
        assert cosignature_v1_valid(key, flip(body, body.index(b"\n") + 1), line) is None
        prefix, b64 = line.rstrip("\n").rsplit(" ", 1)
        raw = base64.b64decode(b64)
        for index in (4, 11, 12, len(raw) - 1):  # first and last timestamp bytes, signature bytes
            forged = f"{prefix} {base64.b64encode(flip(raw, index)).decode()}\n"
            assert cosignature_v1_valid(key, body, forged) is None, index
    log_line = lines[0]
    assert not any(cosignature_v1_valid(cosigner_key(s.vkey), body, log_line) for s in published.servers)


def test_the_cosignature_covers_the_checkpoint_s_extension_lines(raw_witness: RawWitness) -> None:
    w = raw_witness.server
    signer = raw_witness.new_log()
    text = Checkpoint(signer.name, 9, hashlib.sha256(b"nine").digest(), ("ext line one", "ext line two")).text()
    answer = w.post(request_body(0, [], sign_note(text, signer)))
    assert answer.status_code == 200, answer.text
    key = cosigner_key(w.vkey)
    assert cosignature_v1_valid(key, text.encode(), answer.text) is not None
    three_lines = text.encode().split(b"ext line one")[0]
    assert cosignature_v1_valid(key, three_lines, answer.text) is None


def test_go_accepts_a_bundle_whose_checkpoints_carry_cosignatures(
    oneclaimcheck: Path, published: Published, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    run("audit", "export", str(bundle), "--home", str(published.log.path))
    notes = {int(p.stem): p.read_text() for p in (bundle / "checkpoints").glob("*.note")}
    size = size_of(published.note)
    assert max(notes) == size and notes[size] == published.note
    assert signer_names(notes[size]) == [ORIGIN, "witness.test/w1", "witness.test/w2"]
    done = subprocess.run(  # the whole bundle as exported, the size-0 checkpoint of `init` included
        [str(oneclaimcheck), "bundle", "-key", published.log.vkey, "-origin", ORIGIN, str(bundle)],
        capture_output=True,
        text=True,
    )
    verdict = json.loads(done.stdout)
    assert done.returncode == 0 and verdict["ok"], verdict
    assert verdict["events"] == size
    assert base64.b64decode(verdict["root"]) == parse_checkpoint(split_note(published.note)[0].decode()).root


# ---------------------------------------------------------------------- 9. the policy parser


def wkey(name: str = "w") -> str:
    return generate_signer(f"witness.test/{name}").cosignature_verifier().verifier_key()


LOG_KEY = generate_signer("oneclaim.test/log").verifier_key()
K = {name: wkey(name) for name in ("a", "b", "c", "x1", "x2", "x3", "y1", "y2", "y3")}
SAME_KEY_OTHER_NAME = Verifier("other", parse_verifier_key(K["a"]).public_key, ALG_COSIGNATURE_V1).verifier_key()
"""The key of witness a under another name (so another key ID): a duplicate all the same."""


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"witness a {K['a']}\nquorom a\n", id="unknown-keyword"),
        pytest.param(f"witness a {K['a']}\nwitnesses b {K['b']}\nquorum a\n", id="unknown-keyword-witnesses"),
        pytest.param(f"witness a {K['a']}\ngroup g any a b\nwitness b {K['b']}\nquorum g\n", id="member-defined-later"),
        pytest.param(f"witness a {K['a']}\nquorum g\ngroup g any a\n", id="quorum-defined-later"),
        pytest.param(f"witness a {K['a']}\ngroup g any a a\nquorum g\n", id="member-twice-in-a-group"),
        pytest.param(
            f"witness a {K['a']}\nwitness b {K['b']}\ngroup g any a\ngroup h any a b\nquorum h\n",
            id="member-of-two-groups",
        ),
        pytest.param(f"witness a {K['a']}\ngroup g any a none\nquorum g\n", id="none-as-member"),
        pytest.param(f"witness a {K['a']}\nwitness b {K['b']}\ngroup g 3 a b\nquorum g\n", id="k-above-n"),
        pytest.param(f"witness a {K['a']}\nwitness b {K['b']}\ngroup g 0 a b\nquorum g\n", id="k-zero"),
        pytest.param(f"witness a {K['a']}\ngroup g -1 a\nquorum g\n", id="k-negative"),
        pytest.param(f"witness a {K['a']}\ngroup g some a\nquorum g\n", id="k-word"),
        pytest.param(f"witness a {K['a']}\ngroup g any\nquorum g\n", id="group-without-members"),
        pytest.param(f"witness a {K['a']}\nwitness b {K['a']}\nquorum a\n", id="duplicate-witness-key"),
        pytest.param(f"witness a {K['a']}\nwitness b {SAME_KEY_OTHER_NAME}\nquorum a\n", id="duplicate-key-other-name"),
        pytest.param(f"witness a {K['a']}\nwitness a {K['b']}\nquorum a\n", id="duplicate-name"),
        pytest.param(f"witness none {K['a']}\nquorum none\n", id="none-as-name"),
        pytest.param(f"log {LOG_KEY}\nlog {LOG_KEY}\nquorum none\n", id="duplicate-log-key"),
        pytest.param(f"witness a {K['a']}\nquorum a\nquorum a\n", id="two-quorum-lines"),
        pytest.param(f"witness a {K['a']}\nquorum a none\n", id="quorum-two-names"),
        pytest.param(f"witness a {K['a']}\n", id="missing-quorum"),
        pytest.param("", id="empty-file"),
        pytest.param(f"witness a {LOG_KEY}\nquorum a\n", id="witness-key-of-type-0x01"),
        pytest.param(f"log {K['a']}\nquorum none\n", id="log-key-of-type-0x04"),
        pytest.param(f"witness a {K['a']}\r\nquorum a\r\n", id="carriage-return"),
        pytest.param(f"witness a {K['a']}\nquorum a\n# \x7f\n", id="del-in-a-comment"),
        pytest.param(f"witness a {K['a']} http://w.example extra\nquorum a\n", id="witness-too-many-items"),
        pytest.param("witness a not-a-vkey\nquorum a\n", id="bad-vkey"),
    ],
)
def test_the_policy_parser_refuses_what_tlog_policy_forbids(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_policy(text)


def test_quorum_none_needs_no_witness() -> None:
    policy = parse_policy(f"log {LOG_KEY}\nquorum none\n")
    assert policy.quorum == "none" and policy.witnesses == {} and policy.satisfied(set())
    assert parse_policy("quorum none").satisfied(set())


def test_comments_blank_lines_tabs_and_urls_are_read_as_the_spec_says() -> None:
    text = (
        "# a comment line\n"
        "   # an indented comment\n"
        "\n"
        " \t \n"
        f"\tlog\t{LOG_KEY}   https://log.example/\n"
        f"witness\ta\t{K['a']}\thttps://a.example/w \n"
        f"  witness b {K['b']}\n"
        "group  g\tall   a\t b\n"
        "quorum\tg\t\n"
    )
    policy = parse_policy(text)
    assert policy.witnesses["a"].url == "https://a.example/w" and policy.witnesses["b"].url is None
    assert policy.logs[0][1] == "https://log.example/"
    assert policy.groups["g"].threshold == 2 and policy.groups["g"].members == ("a", "b")
    assert policy.satisfied({"a", "b"}) and not policy.satisfied({"a"})
    assert parse_policy(f"witness a {K['a']}\nquorum a").satisfied({"a"})  # no final newline


def test_names_are_opaque_octets() -> None:
    kelvin = "\u212a"  # KELVIN SIGN, not the letter K
    policy = parse_policy(f"witness K {K['a']}\nwitness {kelvin} {K['b']}\ngroup g all K {kelvin}\nquorum g\n")
    assert set(policy.witnesses) == {"K", kelvin}
    assert not policy.satisfied({"K"}) and policy.satisfied({"K", kelvin})


def test_nested_groups_all_of_two_of_x_and_any_of_y() -> None:
    xs = "".join(f"witness X{i} {K[f'x{i}']}\n" for i in (1, 2, 3))
    ys = "".join(f"witness Y{i} {K[f'y{i}']}\n" for i in (1, 2, 3))
    policy = parse_policy(
        f"log {LOG_KEY}\n{xs}group X 2 X1 X2 X3\n{ys}group Y any Y1 Y2 Y3\ngroup XY all X Y\nquorum XY\n"
    )
    assert policy.describe() == "2 of (2 of (X1, X2, X3), 1 of (Y1, Y2, Y3))"
    cases = {
        frozenset({"X1", "X2", "Y1"}): True,
        frozenset({"X2", "X3", "Y3"}): True,
        frozenset({"X1", "X2", "X3", "Y1", "Y2", "Y3"}): True,
        frozenset({"X1", "Y1", "Y2", "Y3"}): False,
        frozenset({"X1", "X2", "X3"}): False,
        frozenset({"Y1"}): False,
        frozenset(): False,
        frozenset({"X1", "X2", "Y1", "someone"}): True,
    }
    for cosigned, expected in cases.items():
        assert policy.satisfied(set(cosigned)) is expected, sorted(cosigned)
    assert policy.satisfied({"X1", "X3"}, "X") and not policy.satisfied({"X1"}, "X")
    assert policy.satisfied({"Y2"}, "Y")


def test_a_policy_counts_only_cosignatures_that_verify_from_its_witnesses() -> None:
    log = generate_signer("oneclaim.test/log")
    witnesses = {name: generate_signer(f"witness.test/{name}") for name in ("a", "b", "c")}
    stranger = generate_signer("witness.test/stranger")
    policy = parse_policy(
        f"log {log.verifier_key()}\n"
        + "".join(f"witness {n} {s.cosignature_verifier().verifier_key()}\n" for n, s in witnesses.items())
        + "group g 2 a b c\nquorum g\n"
    )
    text = Checkpoint(log.name, 7, hashlib.sha256(b"7").digest()).text()
    note = sign_note(text, log)
    one = note + cosign(text, witnesses["a"], 1_700_000_000) + cosign(text, stranger, 1_700_000_000)
    assert not policy.witnessed(one).quorum_met and [c.witness for c in policy.witnessed(one).cosigners] == ["a"]
    two = one + cosign(text, witnesses["c"], 1_700_000_001)
    assert policy.witnessed(two).quorum_met
    assert {c.witness: c.timestamp for c in policy.cosigners(two)} == {"a": 1_700_000_000, "c": 1_700_000_001}
    with pytest.raises(ValueError):  # a known witness's line that does not verify refuses the note
        policy.cosigners(note + corrupt_signature(cosign(text, witnesses["b"], 1_700_000_002)))
    with pytest.raises(ValueError):  # the log's signature is checked first
        policy.witnessed(sign_note(text, generate_signer(log.name)) + cosign(text, witnesses["a"], 1))


def test_a_home_refuses_an_invalid_policy_file(tmp_path: Path) -> None:
    log = LogHome.create(tmp_path / "home")
    bad = tmp_path / "bad-policy.txt"
    bad.write_text(f"witness a {K['a']}\ngroup g 2 a\nquorum g\n")
    refused = run("log", "set-policy", str(bad), "--home", str(log.path), code=2)
    assert "POLICY_INVALID" in refused.stderr
    assert not log.home.policy_path.exists()
    assert "NO_POLICY" in run("log", "publish", "--home", str(log.path), code=2).stderr


# ---------------------------------------------------------------------- monitoring


def test_a_monitor_compares_what_the_witnesses_hold_and_catches_the_split_view_a_small_quorum_let_through(
    tmp_path: Path, witnesses: WitnessPool
) -> None:
    from oneclaim.serve_cli import serving_command

    a = LogHome.create(tmp_path / "a")
    w1, w2 = witnesses.new("w1", a), witnesses.new("w2", a)
    a.set_policy([w1, w2], "group both all w1 w2", "quorum both")
    base = a.write()
    assert a.publish()["published"]
    b = a.copy_to(tmp_path / "b")  # the same log up to `base`, then another history
    auditor = tmp_path / "auditor-policy.txt"  # both witnesses, one enough: a split can get through
    auditor.write_text(f"log {a.vkey}\nwitness w1 {w1.vkey} {w1.url}\nwitness w2 {w2.vkey} {w2.url}\n"
                       "group one any w1 w2\nquorum one\n")  # fmt: skip

    def monitor(url: str, code: int = 0) -> dict:
        return as_json("audit", "monitor", "--policy", str(auditor), "--log", url, code=code)

    # the server's own publisher stays idle: the test decides who is shown what
    with serving_command("serve", "--home", str(a.path), "--publish-every", "86400") as url:
        same = monitor(url)
        assert same["consistent"] and same["findings"] == [] and same["problems"] == []
        assert sorted((s["source"], s["tree_size"]) for s in same["seen"]) == [("log", base), ("w1", base),
                                                                                ("w2", base)]  # fmt: skip

        # A grows and is witnessed by w1 alone: w2's older view is proved a prefix, by the log's proof
        size = a.write()
        a.set_policy([w1], "quorum w1")
        assert a.publish()["published"]
        grown = monitor(url)
        assert grown["consistent"] and {s["source"]: s["tree_size"] for s in grown["seen"]} == {
            "log": size, "w1": size, "w2": base}  # fmt: skip

        # B, the same key and size, another root, shown to w2 only: each witness was consistent,
        # one of two met the quorum, and the monitor holds the two signed notes of the split
        assert b.write() == size
        b.set_policy([w2], "quorum w2")
        assert b.publish()["published"]
        split = monitor(url, code=1)
        assert not split["consistent"]
        (finding,) = [f for f in split["findings"] if f["code"] == "SPLIT_VIEW" and "w2" in f["sources"]]
        assert finding["size"] == size and set(finding["sources"]) <= {"w1", "w2", "log"}
        theirs, ours = sorted(finding["notes"], key=lambda n: "witness.test/w2" in n)
        assert theirs.startswith(a.signed(size)) and ours.startswith(b.signed(size))
        text = run("audit", "monitor", "--policy", str(auditor), "--log", url, code=1).stdout
        assert "SPLIT_VIEW" in text and b.signed(size) in text

        # B further, at w2: A cannot prove its own view a prefix of B's larger tree
        bigger = b.write()
        assert b.publish()["published"]
        beyond = monitor(url, code=1)
        unproven = [f for f in beyond["findings"] if f["code"] == "CONSISTENCY_UNPROVEN"]
        assert {f["sources"][0] for f in unproven} == {"w1", "log"}
        assert all(f["sources"][1] == "w2" and f["size"] == size for f in unproven) and beyond["largest"] == bigger

    # a witness that does not answer is reported, and proves nothing either way
    w2.stop()
    with serving_command("serve", "--home", str(a.path), "--publish-every", "86400") as url:
        down = monitor(url)
        assert down["consistent"] and [p["code"] for p in down["problems"]] == ["WITNESS_UNREACHABLE"]
        # a log the policy has no key for: refused, not "consistent" over nothing
        other = run("audit", "monitor", "--policy", str(auditor), "--log", url, "--origin", "other.test/log", code=2)
        assert "ORIGIN_NOT_IN_POLICY" in other.stderr + other.stdout
    # nothing answers: nothing verified is no pass
    w1.stop()
    nothing = monitor("http://127.0.0.1:9", code=1)
    assert nothing["consistent"] is None and {p["code"] for p in nothing["problems"]} == {
        "WITNESS_UNREACHABLE",
        "LOG_UNREACHABLE",
    }
