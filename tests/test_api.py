"""The HTTP API, served for real: `oneclaim serve --port 0` on 127.0.0.1 (uvicorn), over a real
ledger, called with httpx and tokens from `oneclaim token issue`.

The authorisation matrix is built from the app's route table: every route must state its rule
(`x-roles`) and have a sample call here, so a new route without either fails the matrix.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from base64 import b64decode
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.auth import PUBLIC, Role, TokenStore
from ledger.app import Ledger
from ledger.tlog.note import parse_checkpoint
from tests.registry_support import CON, CONSUMER, GEN, GENERATOR, RETIREMENT, TRD, market, one_gec_batch
from tests.support import fill, run

PROBLEM = "application/problem+json"
OPERATOR_PARTICIPANT = "SIP-REGISTRY"


@dataclass
class Served:
    url: str
    home: Path
    batch: str
    tokens: dict[str, str]  # name -> bearer token

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {self.tokens[token]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def log_size(self) -> int:
        return httpx.get(f"{self.url}/healthz", timeout=30).json()["log_size"]


def _token(home: Path, participant: str, role: str) -> str:
    issued = run("token", "issue", "--participant", participant, "--role", role, "--home", str(home), "--json")
    return json.loads(issued.stdout)["token"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("api") / "home"
    run("init", "--origin", "oneclaim.test/api", "--home", str(home))
    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}")
    try:
        market(ledger)
        ledger.add_participant(OPERATOR_PARTICIPANT, "苏州工业园区绿证登记", "registry", "江苏", "苏州")
        batch = one_gec_batch(ledger, 40)
        fill(ledger, devices=75, months=3)  # over 256 entries: a full tile, and tiles above it
    finally:
        ledger.close()
    run("log", "sign", "--home", str(home))
    tokens = {
        "operator": _token(home, OPERATOR_PARTICIPANT, "operator"),
        "auditor": _token(home, OPERATOR_PARTICIPANT, "auditor"),
        "partner": _token(home, OPERATOR_PARTICIPANT, "partner"),
        "holder": _token(home, GENERATOR, "holder"),
        "consumer": _token(home, CONSUMER, "holder"),
    }
    proc, url = start_server(home)
    try:
        yield Served(url, home, batch, tokens)
    finally:
        stop_server(proc)


def start_server(home: Path, workers: int = 1, db_url: str | None = None) -> tuple[subprocess.Popen, str]:
    """`oneclaim serve --port 0` on a home; returns once uvicorn says where it listens and every
    worker has started."""
    env = os.environ | {"ONECLAIM_HOME": str(home)}
    env.pop("ONECLAIM_DB_URL", None)
    if db_url:
        env["ONECLAIM_DB_URL"] = db_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "oneclaim", "serve", "--port", "0", "--workers", str(workers)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    url, started = None, 0
    for line in proc.stderr:  # synchronise on what uvicorn reports, never on a sleep
        if m := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line):
            url = m.group(1)
        started += "Application startup complete" in line
        if url and started >= workers:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its log
            return proc, url
    proc.wait(timeout=30)
    raise AssertionError(f"the server stopped (exit {proc.returncode}) before it was listening")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def test_the_server_binds_loopback_and_answers_public_routes_without_a_token(served: Served) -> None:
    assert served.url.startswith("http://127.0.0.1:")
    with served.client() as c:
        health = c.get("/healthz")
        note = c.get("/v1/checkpoint")
        assert health.status_code == 200 and note.status_code == 200
        assert note.headers["content-type"].startswith("text/plain")
        checkpoint = parse_checkpoint(note.text.split("\n\n")[0] + "\n")
        assert checkpoint.origin == "oneclaim.test/api" and checkpoint.size >= 1
        proof = c.get("/v1/proofs/inclusion/0", params={"tree_size": checkpoint.size}).json()
    ledger = Ledger(f"sqlite:///{served.home / 'ledger.sqlite'}")
    try:
        assert proof == ledger.log.inclusion_proof(0, checkpoint.size).to_json()
        assert note.text == ledger.log.latest_checkpoint().note
    finally:
        ledger.close()


def test_a_holder_moves_only_its_own_units_and_a_refusal_writes_nothing(served: Served) -> None:
    body = {"from_account": GEN, "to_account": CON, "quantity": 2, "on": "2025-02-10"}
    with served.client("consumer") as c:
        before = served.log_size()
        refused = c.post(f"/v1/batches/{served.batch}/transfers", json=body)
        assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
        assert refused.json()["code"] == "ACCOUNT_NOT_YOURS"
        assert served.log_size() == before
    with served.client("holder") as c:
        moved = c.post(f"/v1/batches/{served.batch}/transfers", json=body)
        assert moved.status_code == 201, moved.text
        assert moved.json()["units"] == 2 and served.log_size() == before + 1


def test_a_retried_write_answers_its_first_result_and_a_reused_key_is_refused(served: Served) -> None:
    body = {"from_account": GEN, "to_account": TRD, "quantity": 3, "on": "2025-02-11"}
    key = {"Idempotency-Key": "move-3-to-trader"}
    with served.client("holder") as c:
        first = c.post(f"/v1/batches/{served.batch}/transfers", json=body, headers=key)
        size = served.log_size()
        again = c.post(f"/v1/batches/{served.batch}/transfers", json=body, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and served.log_size() == size
        other = c.post(f"/v1/batches/{served.batch}/transfers", json=body | {"quantity": 4}, headers=key)
        assert other.status_code == 409 and other.json()["code"] == "REQUEST_ID_REUSED"
        assert served.log_size() == size


def test_public_provenance_gives_personal_fields_as_commitments_only(served: Served) -> None:
    body = {"account": GEN, "quantity": 1, "on": "2025-02-12", **RETIREMENT}
    with served.client("holder") as c:
        retired = c.post(f"/v1/batches/{served.batch}/retirements", json=body)
        assert retired.status_code == 201, retired.text
        (serial,) = retired.json()["serials"]  # one unit: <batch>:<n>
    with served.client() as public, served.client("auditor") as auditor:
        seen = public.get(f"/v1/serials/{serial}/provenance").json()
        full = auditor.get(f"/v1/serials/{serial}/provenance").json()
    text = json.dumps(seen, ensure_ascii=False)
    assert RETIREMENT["beneficiary"] not in text and RETIREMENT["location"] not in text
    # a salted commitment (ledger/personal.py), not a plain hash anyone could test a guess against
    (shown,) = [e["detail"] for e in seen["events"] if e["type"] == "Retired"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", shown["beneficiary"]), shown
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", shown["location"]), shown
    for value in (RETIREMENT["beneficiary"], RETIREMENT["location"]):
        assert hashlib.sha256(value.encode()).hexdigest() not in text
    assert RETIREMENT["beneficiary"] in json.dumps(full, ensure_ascii=False)
    assert seen["read_against"]["log_size"] >= seen["events"][-1]["seq"] + 1


def _policy(served: Served):
    from ledger.tlog.policy import parse_policy

    vkey = run("log", "verifier-key", "--home", str(served.home)).stdout.strip()
    return parse_policy(f"log {vkey}\nquorum none\n")


def test_anyone_reads_a_public_event_s_bytes_and_proof_and_no_one_else_s(served: Served) -> None:
    """A batch's events (retirements included: they record commitments) come to anyone with their
    bytes in a tlog-proof that verifies; a participant's registration (an organisation's name)
    comes without them unless the caller may read every event."""
    from ledger.tlog.tlogproof import verify_tlog_proof

    with served.client("holder") as c:
        body = {"account": GEN, "quantity": 1, "on": "2025-02-12", **RETIREMENT}
        assert c.post(f"/v1/batches/{served.batch}/retirements", json=body).status_code == 201
    run("log", "sign", "--home", str(served.home))
    policy = _policy(served)
    with served.client() as public, served.client("auditor") as auditor:
        listed = public.get(f"/v1/batches/{served.batch}/events", params={"proof": "true"}).json()
        first = public.get("/v1/proofs/inclusion/0", params={"format": "tlog-proof"}).text
        privileged = auditor.get("/v1/proofs/inclusion/0", params={"format": "tlog-proof"}).text
    versions = [e["version"] for e in listed["events"]]
    assert versions == list(range(1, len(versions) + 1)) and "Retired" in {e["type"] for e in listed["events"]}
    for e in listed["events"]:
        proved = verify_tlog_proof(e["tlog_proof"], policy)  # the bytes are in the proof: no --event needed
        event = json.loads(proved.event)
        assert (proved.index, event["originator_id"], event["originator_version"]) == (
            e["seq"],
            listed["originator_id"],
            e["version"],
        )
        assert event["topic"].endswith("Batch." + e["type"])
        text = proved.event.decode()
        assert RETIREMENT["beneficiary"] not in text and RETIREMENT["location"] not in text
    assert "\nextra " not in first and "\nextra " in privileged
    assert json.loads(verify_tlog_proof(privileged, policy).event)["topic"].endswith("Participant.Registered")


def test_a_record_s_events_are_paged_by_version_and_an_unknown_one_is_named(served: Served) -> None:
    with served.client() as c:
        whole = c.get(f"/v1/batches/{served.batch}/events").json()["events"]
        page = c.get(f"/v1/batches/{served.batch}/events", params={"limit": 1}).json()
        rest = c.get(f"/v1/batches/{served.batch}/events", params={"after_version": 1}).json()
        missing = c.get("/v1/devices/NO-SUCH/events")
        wrong = c.get(f"/v1/participants/{GENERATOR}/events")
    assert page["events"] == whole[:1] and page["next_after_version"] == 1
    assert rest["events"] == whole[1:] and rest["next_after_version"] is None
    assert missing.status_code == 404 and missing.json()["code"] == "DEVICE_NOT_FOUND"
    assert wrong.status_code == 422 and wrong.json()["code"] == "REQUEST_INVALID"  # participants are not public


def test_the_public_index_lists_records_by_creation_and_pages_on_its_seq(served: Served) -> None:
    with served.client() as c:
        batches = c.get("/v1/index/batches", params={"limit": 1000}).json()
        first = c.get("/v1/index/devices", params={"limit": 2}).json()
        second = c.get("/v1/index/devices", params={"limit": 2, "after_seq": first["next_after_seq"]}).json()
        refused = c.get("/v1/index/participants")
    assert served.batch in {r["code"] for r in batches["records"]} and batches["next_after_seq"] is None
    seqs = [r["seq"] for r in first["records"] + second["records"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert refused.status_code == 422  # participants are not public


def test_errors_are_problem_json_with_the_ledger_s_code(served: Served) -> None:
    with served.client("holder") as c:
        cases = [
            (c.post(f"/v1/batches/{served.batch}/transfers", json={"from_account": GEN}), 422, {"REQUEST_INVALID"}),
            (c.post("/v1/batches/NO-SUCH/transfers", json={"from_account": GEN, "to_account": CON, "quantity": 1}),
             404, {"BATCH_NOT_FOUND"}),
            (c.get("/v1/nowhere"), 404, {"ROUTE_NOT_FOUND"}),
            (c.get("/v1/proofs/inclusion/999999"), 422, None),
        ]  # fmt: skip
    with served.client("consumer") as c:
        cases.append(
            (c.post(f"/v1/batches/{served.batch}/transfers", json={"from_account": CON, "to_account": GEN,
                                                                    "quantity": 39, "on": "2025-02-13"}),
             409, {"INSUFFICIENT_UNITS", "ALREADY_SOLD"})  # it never holds 39; what it holds was sold to it
        )  # fmt: skip
    for answer, status, code in cases:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == PROBLEM
        problem = answer.json()
        assert problem["status"] == status and problem["type"] == f"urn:oneclaim:problem:{problem['code']}"
        assert code is None or problem["code"] in code, problem


def test_missing_expired_revoked_and_unknown_tokens_are_refused_and_write_nothing(served: Served) -> None:
    store = TokenStore(f"sqlite:///{served.home / 'ledger.sqlite'}")
    try:
        # issued on a fixed day long past, valid for one day: expired whatever today is
        expired = store.issue(GENERATOR, "holder", datetime(2020, 1, 1, tzinfo=UTC), timedelta(days=1))["token"]
    finally:
        store.close()
    revoked = _token(served.home, GENERATOR, "holder")
    run("token", "revoke", revoked.split("_")[1], "--home", str(served.home))
    body = {"from_account": GEN, "to_account": CON, "quantity": 1, "on": "2025-02-14"}
    before = served.log_size()
    for token, code in ((None, "UNAUTHENTICATED"), (expired, "TOKEN_EXPIRED"), (revoked, "TOKEN_REVOKED"),
                        ("oc_00000000_forged", "UNAUTHENTICATED")):  # fmt: skip
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        answer = httpx.post(f"{served.url}/v1/batches/{served.batch}/transfers", json=body, headers=headers)
        assert answer.status_code == 401 and answer.json()["code"] == code, answer.text
    assert served.log_size() == before


def test_the_operator_registers_meters_and_issues_over_http_and_a_bad_row_writes_nothing(served: Served) -> None:
    device = {"code": "HTTP-PV-1", "technology": "distributed_pv", "capacity_kw": 500, "province": "江苏",
              "city": "苏州工业园区", "owner": GENERATOR, "commissioned_on": "2023-01-01"}  # fmt: skip
    jan = {"device": "HTTP-PV-1", "start": "2025-01-01T00:00:00+08:00", "end": "2025-02-01T00:00:00+08:00"}
    with served.client("operator") as c:
        assert c.post("/v1/devices", json=device).status_code == 201
        assert c.post("/v1/devices", json=device).json()["code"] == "DEVICE_EXISTS"
        before = served.log_size()
        bad = c.post("/v1/meter/readings", json={"rows": [jan | {"on_grid_kwh": 12_000}, jan | {"on_grid_kwh": "x"}]})
        assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
        assert "2" in json.dumps(bad.json()["details"]) and served.log_size() == before  # row 2 named, none written
        good = c.post("/v1/meter/readings", json={"rows": [jan | {"on_grid_kwh": 12_000}]})
        assert good.status_code == 200, good.text
        issued = c.post("/v1/devices/HTTP-PV-1/gec-issuances", json={"month": "2025-01", "account": GEN})
        assert issued.status_code == 201 and issued.json()["batches"][0]["quantity"] == 12
        claims = c.get("/v1/devices/HTTP-PV-1/claims").json()
        assert claims["read_against"]["log_size"] == served.log_size()
    with served.client("auditor") as c:
        refused = c.post("/v1/devices/HTTP-PV-1/gec-issuances", json={"month": "2025-02", "account": GEN})
        assert refused.status_code == 403


def test_an_overlapping_external_claim_opens_a_case_the_operator_resolves_as_itself(served: Served) -> None:
    jan = {"start": "2025-01-01T00:00:00+08:00", "end": "2025-02-01T00:00:00+08:00"}
    claim = {"source": "chuzhou", "reference": "CZ-1", "instrument": "INCLUSION", "device": "CASE-PV",
             "kwh": 5_000, **jan}  # fmt: skip
    device = {"code": "CASE-PV", "technology": "distributed_pv", "capacity_kw": 500, "province": "江苏",
              "city": "苏州工业园区", "owner": GENERATOR, "commissioned_on": "2023-01-01"}  # fmt: skip
    with served.client("operator") as c:
        assert c.post("/v1/devices", json=device).status_code == 201
        reading = {"device": "CASE-PV", "on_grid_kwh": 12_000, **jan}
        assert c.post("/v1/meter/readings", json={"rows": [reading]}).status_code == 200
        assert c.post("/v1/devices/CASE-PV/gec-issuances", json={"month": "2025-01", "account": GEN}).status_code == 201
        opened = c.post("/v1/external-claims", json={"rows": [claim]})
        assert opened.status_code == 200, opened.text
        (code,) = opened.json()["cases_opened"]
        listed = c.get("/v1/cases", params={"status": "open"}).json()["cases"]
        assert code in [case["code"] for case in listed]
        trace = c.get(f"/v1/cases/{code}").json()
        assert trace["kind"] == "OVERLAPPING_CLAIM" and trace["overlap_kwh"] == 5_000
        resolved = c.post(f"/v1/cases/{code}/resolution", json={"outcome": "no_double_count", "reason": "checked"})
        assert resolved.status_code == 201, resolved.text
        assert resolved.json()["resolution"]["by"] == OPERATOR_PARTICIPANT  # from the token, not the body


def _race(served: Served, token: str, calls: list[tuple[str, dict]]) -> list[httpx.Response]:
    """Send the calls at once, one thread each, released together by a barrier."""
    start = threading.Barrier(len(calls))

    def call(path: str, body: dict) -> httpx.Response:
        with served.client(token) as c:
            start.wait(timeout=60)
            return c.post(path, json=body)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda pb: call(*pb), calls))


def test_racing_clients_move_the_same_units_and_claim_the_same_kwh_once(served: Served) -> None:
    racing_story(served)


def racing_story(served: Served) -> None:
    """Six operators issue the same month, eight holders move the same serials: one wins each."""
    device = {"code": "RACE-PV", "technology": "distributed_pv", "capacity_kw": 500, "province": "江苏",
              "city": "苏州工业园区", "owner": GENERATOR, "commissioned_on": "2023-01-01"}  # fmt: skip
    feb = {"device": "RACE-PV", "start": "2025-02-01T00:00:00+08:00", "end": "2025-03-01T00:00:00+08:00"}
    with served.client("operator") as c:
        assert c.post("/v1/devices", json=device).status_code == 201
        assert c.post("/v1/meter/readings", json={"rows": [feb | {"on_grid_kwh": 20_000}]}).status_code == 200
    issue = ("/v1/devices/RACE-PV/gec-issuances", {"month": "2025-02", "account": GEN})
    issued = _race(served, "operator", [issue] * 6)
    assert sorted(r.status_code for r in issued) == [201] + [409] * 5, [r.text for r in issued]
    batch = next(r for r in issued if r.status_code == 201).json()["batches"][0]["batch"]
    moves = [
        (f"/v1/batches/{batch}/transfers",
         {"from_account": GEN, "to_account": (TRD, CON)[i % 2], "serials": [f"{batch}:1-10"], "on": "2025-03-10"})
        for i in range(8)
    ]  # fmt: skip
    moved = _race(served, "holder", moves)
    assert sorted(r.status_code for r in moved) == [201] + [409] * 7, [r.text for r in moved]
    assert all(r.headers["content-type"] == PROBLEM for r in moved if r.status_code == 409)
    run("log", "sign", "--home", str(served.home))  # the operator signs the head; then an audit
    report = json.loads(run("audit", "verify", "--home", str(served.home), "--json").stdout)
    assert report["ok"], report


def test_a_server_killed_mid_load_lost_no_acknowledged_write_and_the_log_verifies(tmp_path: Path) -> None:
    """SIGKILL while clients write: every transfer that got a 201 is in the log after a restart
    (its retry, with the same Idempotency-Key, answers the same serials and writes nothing)."""
    home = tmp_path / "home"
    run("init", "--origin", "oneclaim.test/api-faults", "--home", str(home))
    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}")
    try:
        market(ledger)
        batch = one_gec_batch(ledger, 400)
    finally:
        ledger.close()
    token = _token(home, GENERATOR, "holder")
    proc, url = start_server(home)
    acknowledged: dict[str, dict] = {}
    enough, lock, cut = threading.Event(), threading.Lock(), []

    def writer(w: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            for i in range(100):
                key = f"w{w}-{i}"
                body = {"from_account": GEN, "to_account": (TRD, CON)[i % 2], "quantity": 1, "on": "2025-02-10"}
                try:
                    answer = c.post(f"/v1/batches/{batch}/transfers", json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    cut.append(key)  # the server is gone: this request may or may not have landed
                    return
                if answer.status_code == 201:
                    with lock:
                        acknowledged[key] = answer.json()
                        if len(acknowledged) >= 40:
                            enough.set()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    assert enough.wait(timeout=120), "the writers got no 40 answers"
    proc.kill()  # SIGKILL, mid-load: requests are in flight
    proc.wait(timeout=30)
    for t in threads:
        t.join(timeout=120)
    assert cut, "the kill landed after the load: no request was cut off"
    proc, url = start_server(home)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            size = c.get("/healthz").json()["log_size"]
            for key, first in acknowledged.items():
                w, i = key[1:].split("-")
                body = {"from_account": GEN, "to_account": (TRD, CON)[int(i) % 2], "quantity": 1, "on": "2025-02-10"}
                again = c.post(f"/v1/batches/{batch}/transfers", json=body, headers={"Idempotency-Key": key})
                assert again.status_code == 201 and again.json() == first, (key, again.text)
            assert c.get("/healthz").json()["log_size"] == size  # the retries wrote nothing: all were in
    finally:
        stop_server(proc)
    run("log", "sign", "--home", str(home))
    report = json.loads(run("audit", "verify", "--home", str(home), "--json").stdout)
    assert report["ok"], report


def test_log_entries_come_a_page_at_a_time_each_with_its_proof_in_the_signed_tree(served: Served) -> None:
    with served.client("auditor") as c:
        pages, after = [], -1
        while after is not None and len(pages) < 3:
            page = c.get("/v1/log/entries", params={"after_seq": after, "limit": 7, "proof": "true"}).json()
            pages.append(page)
            after = page["next_after_seq"]
        assert c.get("/v1/log/entries", params={"limit": 1001}).json()["code"] == "REQUEST_INVALID"
    seqs = [e["seq"] for p in pages for e in p["entries"]]
    assert seqs == list(range(len(seqs))) and len(seqs) == 21  # no gap, no repeat across pages
    signed = pages[0]["read_against"]["checkpoint"]
    for entry in (e for p in pages for e in p["entries"]):
        raw = json.dumps(entry["event"], ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        assert hashlib.sha256(b"\x00" + raw).hexdigest() == entry["leaf"]  # the event's canonical bytes
        proof = entry["inclusion_proof"]
        assert proof["tree_size"] == signed["tree_size"] and b64decode(proof["root_hash"]).hex() == signed["root"]


# ------------------------------------------------------------------ tiles


def test_go_s_tile_reader_verifies_the_whole_tree_and_entries_from_the_tiles(served: Served, oneclaimcheck) -> None:
    """x/mod's tlog.TileHashReader fetches the tiles it needs, checks each against the signed
    tree, and proves entries whose bytes it read from the entry bundles."""
    vkey = run("log", "verifier-key", "--home", str(served.home)).stdout.strip()
    size = parse_checkpoint(httpx.get(f"{served.url}/checkpoint").text.split("\n\n")[0] + "\n").size
    assert size > 256
    picks = [0, 1, 255, 256, size - 1]
    done = subprocess.run(
        [
            str(oneclaimcheck),
            "tiles",
            "-key",
            vkey,
            "-origin",
            "oneclaim.test/api",
            "-token",
            served.tokens["auditor"],
            served.url,
            *map(str, picks),
        ],
        capture_output=True,
        text=True,
    )
    verdict = json.loads(done.stdout)
    assert done.returncode == 0 and verdict["ok"], verdict
    assert verdict["size"] == size and verdict["entries_checked"] == len(picks)
    assert verdict["root"] == httpx.get(f"{served.url}/v1/checkpoint").text.split("\n")[2]


def test_full_tiles_are_immutable_entries_hash_to_the_leaves_and_bad_paths_are_refused(served: Served) -> None:
    with served.client() as c, served.client("auditor") as auditor:
        leaves, entries = c.get("/tile/0/000"), auditor.get("/tile/entries/000")
        assert leaves.status_code == entries.status_code == 200
        assert leaves.headers["cache-control"] == "public, max-age=31536000, immutable"
        # the events' bytes name beneficiaries: only the caller's own cache may keep them
        assert entries.headers["cache-control"] == "private, max-age=31536000, immutable"
        assert c.get("/tile/entries/000").status_code == 401
        assert len(leaves.content) == 256 * 32
        data, at = entries.content, 0
        for i in range(256):
            length = int.from_bytes(data[at : at + 2], "big")
            entry, at = data[at + 2 : at + 2 + length], at + 2 + length
            assert hashlib.sha256(b"\x00" + entry).digest() == leaves.content[32 * i : 32 * i + 32]
        assert at == len(data)
        partial = c.get("/tile/1/000.p/1")
        assert partial.status_code == 200 and partial.headers["cache-control"] == "no-cache"
        assert c.get("/tile/0/x001/000").json()["code"] == "TILE_NOT_FOUND"
        for bad in ("/tile/0/1", "/tile/0/000.p/256", "/tile/0/x000/001", "/tile/entries/000.p/0"):
            answer = auditor.get(bad)
            assert answer.status_code == 422 and answer.json()["code"] == "TILE_PATH_INVALID", bad


# ------------------------------------------------------------------ the authorisation matrix

PUB, OPS, AUD, HOL = PUBLIC, "operator", "auditor", "holder"
INVENTORY = ("participants", "accounts", "devices", "batches", "contracts", "programmes", "projects")
POLICY = {
    ("GET", "/healthz"): {PUB},
    ("GET", "/v1/checkpoint"): {PUB},
    ("GET", "/v1/log/policy"): {PUB},
    ("GET", "/v1/proofs/inclusion/{seq}"): {PUB},
    ("GET", "/v1/proofs/consistency"): {PUB},
    ("GET", "/v1/serials/{serial}/provenance"): {PUB},
    ("GET", "/v1/accounts/{account}/holdings"): {OPS, AUD, HOL},
    ("GET", "/v1/devices/{code}/claims"): {OPS, AUD},
    ("POST", "/v1/devices/{code}/gec-issuances"): {OPS},
    ("POST", "/v1/batches/{code}/transfers"): {HOL},
    ("POST", "/v1/batches/{code}/retirements"): {HOL},
    ("POST", "/v1/batches/{code}/cancellations"): {OPS},
    ("GET", "/v1/log/entries"): {OPS, AUD},
    ("POST", "/v1/participants"): {OPS},
    ("POST", "/v1/accounts"): {OPS},
    ("POST", "/v1/devices"): {OPS},
    ("POST", "/v1/meter/readings"): {OPS},
    ("POST", "/v1/external-claims"): {OPS},
    ("POST", "/v1/expirations"): {OPS},
    ("GET", "/v1/cases"): {OPS, AUD},
    ("GET", "/v1/cases/{code}"): {OPS, AUD},
    ("POST", "/v1/cases/{code}/resolution"): {OPS},
    ("POST", "/v1/devices/{code}/elections"): {OPS},
    ("POST", "/v1/programmes/{code}/issuances"): {OPS},
    ("POST", "/v1/projects/{code}/issuances"): {OPS},
    ("POST", "/v1/contracts/{code}/settlements"): {OPS},
    ("POST", "/v1/contracts"): {OPS},
    ("POST", "/v1/programmes"): {OPS},
    ("POST", "/v1/projects"): {OPS},
    ("POST", "/v1/meter/corrections"): {OPS},
    ("POST", "/v1/meter/readings/csv"): {OPS},
    ("POST", "/v1/meter/corrections/csv"): {OPS},
    ("GET", "/v1/disclosures/{code}"): {PUB},
    ("GET", "/v1/anchors"): {PUB},
    ("GET", "/v1/{kind}/{code}/events"): {PUB},
    ("GET", "/v1/index/{kind}"): {PUB},
    ("GET", "/v1/audit/bundle"): {OPS, AUD},
    **{("GET", f"/v1/{kinds}"): {OPS, AUD} for kinds in INVENTORY},
    **{("GET", f"/v1/{kinds}/{{code}}"): {OPS, AUD} for kinds in INVENTORY},
    ("GET", "/checkpoint"): {PUB},
    ("GET", "/tile/entries/{index}"): {OPS, AUD, "partner"},
    ("GET", "/tile/{level}/{index}"): {PUB},
    ("POST", "/v1/agreements"): {OPS},
    ("GET", "/v1/agreements/{code}"): {OPS, AUD, "partner"},
    ("POST", "/v1/agreements/{code}/confirmation"): {OPS, "partner"},
    ("POST", "/v1/agreements/{code}/transfers"): {HOL},
    ("GET", "/v1/agreements/{code}/packets"): {OPS, AUD, "partner"},
    ("GET", "/v1/agreements/{code}/decisions"): {OPS, AUD, "partner"},
    ("POST", "/v1/agreements/{code}/receipts"): {OPS, "partner"},
    ("POST", "/v1/agreements/{code}/acknowledgements"): {OPS, "partner"},
    ("POST", "/v1/carbon-accounts"): {OPS},
    ("POST", "/v1/carbon-accounts/{participant}/reports"): {OPS},
    ("GET", "/v1/carbon-accounts/{participant}"): {OPS, AUD, HOL},
    ("GET", "/v1/carbon-accounts/{participant}/avoided"): {OPS, AUD, HOL},
    ("GET", "/v1/carbon-accounts/{participant}/rating"): {OPS, AUD, HOL},
    ("POST", "/v1/carbon-accounts/{participant}/obligations"): {OPS},
    ("POST", "/v1/carbon-accounts/{participant}/surrenders"): {OPS, HOL},
    ("POST", "/v1/claims"): {OPS, HOL},
    ("GET", "/v1/claims/{code}/certificate"): {OPS, AUD, HOL},
    ("GET", "/v1/alerts"): {OPS, AUD},
    ("GET", "/v1/alerts/{alert_id}"): {OPS, AUD},
    ("POST", "/v1/alerts/{alert_id}/acknowledgement"): {OPS},
}
"""Who may call what (issue 14): the public reads provenance, checkpoints and proofs; auditors
read everything and write nothing; holders move and retire; the operator issues and cancels."""

PROOF_SAMPLE = {"proof": "c2sp.org/tlog-proof@v1\nindex 0\n\nno.such/log\n1\nAAAA\n"}
SAMPLES = {
    ("GET", "/v1/log/policy"): ("/v1/log/policy", None),
    ("POST", "/v1/carbon-accounts"): ("/v1/carbon-accounts", {"participant": "NO-SUCH", "uscc": "x", "sector": "s"}),
    ("POST", "/v1/carbon-accounts/{participant}/reports"): (
        f"/v1/carbon-accounts/{GENERATOR}/reports",
        {
            "year": "2025",
            "inventory_sha256": "0" * 64,
            "verifier": GENERATOR,
            "statement_sha256": "0" * 64,
            "scopes_kg": {"scope1": 1, "scope2": 1},
            "electricity_mwh": 1,
        },
    ),  # fmt: skip
    ("GET", "/v1/carbon-accounts/{participant}"): (f"/v1/carbon-accounts/{GENERATOR}", None),
    ("GET", "/v1/carbon-accounts/{participant}/avoided"): (f"/v1/carbon-accounts/{GENERATOR}/avoided?year=2025", None),
    ("GET", "/v1/carbon-accounts/{participant}/rating"): (f"/v1/carbon-accounts/{GENERATOR}/rating?year=2025", None),
    ("POST", "/v1/carbon-accounts/{participant}/obligations"): (
        f"/v1/carbon-accounts/{GENERATOR}/obligations",
        {"year": "2025", "allowances_kg": 1, "source": "s"},
    ),
    ("POST", "/v1/carbon-accounts/{participant}/surrenders"): (
        f"/v1/carbon-accounts/{GENERATOR}/surrenders",
        {"year": "2025", "retirements": ["{batch}/R99"]},
    ),
    ("POST", "/v1/claims"): (
        "/v1/claims",
        {"claimant": GENERATOR, "subject": "s", "period": "2025", "retirements": ["{batch}/R99"]},
    ),  # fmt: skip
    ("GET", "/v1/claims/{code}/certificate"): ("/v1/claims/NC-NONE/certificate", None),
    ("GET", "/v1/alerts"): ("/v1/alerts", None),
    ("GET", "/v1/alerts/{alert_id}"): ("/v1/alerts/0000000000000000", None),
    ("POST", "/v1/alerts/{alert_id}/acknowledgement"): ("/v1/alerts/0000000000000000/acknowledgement", {"note": "n"}),
    ("POST", "/v1/agreements"): ("/v1/agreements", {"terms": {"code": "NO-SUCH"}}),
    ("GET", "/v1/agreements/{code}"): ("/v1/agreements/NO-SUCH", None),
    ("POST", "/v1/agreements/{code}/confirmation"): ("/v1/agreements/NO-SUCH/confirmation", PROOF_SAMPLE),
    ("POST", "/v1/agreements/{code}/transfers"): (
        "/v1/agreements/NO-SUCH/transfers",
        {"batch": "{batch}", "from_account": GEN, "to_account": "acct:x", "quantity": 1, "timeout_after": "2099-01-01"},
    ),
    ("GET", "/v1/agreements/{code}/packets"): ("/v1/agreements/NO-SUCH/packets", None),
    ("GET", "/v1/agreements/{code}/decisions"): ("/v1/agreements/NO-SUCH/decisions", None),
    ("POST", "/v1/agreements/{code}/receipts"): ("/v1/agreements/NO-SUCH/receipts", PROOF_SAMPLE),
    ("POST", "/v1/agreements/{code}/acknowledgements"): ("/v1/agreements/NO-SUCH/acknowledgements", PROOF_SAMPLE),
    ("GET", "/healthz"): ("/healthz", None),
    ("GET", "/v1/checkpoint"): ("/v1/checkpoint", None),
    ("GET", "/v1/proofs/inclusion/{seq}"): ("/v1/proofs/inclusion/0", None),
    ("GET", "/v1/proofs/consistency"): ("/v1/proofs/consistency?old=1&new=2", None),
    ("GET", "/v1/serials/{serial}/provenance"): ("/v1/serials/{batch}:40/provenance", None),
    ("GET", "/v1/accounts/{account}/holdings"): (f"/v1/accounts/{GEN}/holdings", None),
    ("GET", "/v1/devices/{code}/claims"): ("/v1/devices/SIP-PV-202501-40/claims", None),
    ("POST", "/v1/devices/{code}/gec-issuances"): (
        "/v1/devices/SIP-PV-202501-40/gec-issuances",
        {"month": "2025-01", "account": GEN},
    ),
    ("POST", "/v1/batches/{code}/transfers"): (
        "/v1/batches/{batch}/transfers",
        {"from_account": GEN, "to_account": CON, "quantity": 1, "on": "2025-02-15"},
    ),
    ("POST", "/v1/batches/{code}/retirements"): (
        "/v1/batches/{batch}/retirements",
        {"account": GEN, "quantity": 1, "on": "2025-02-15", **RETIREMENT},
    ),
    ("POST", "/v1/batches/{code}/cancellations"): (
        "/v1/batches/{batch}/cancellations",
        {"reason": "matrix test", "serials": ["{batch}:39"]},
    ),
    ("GET", "/v1/log/entries"): ("/v1/log/entries?limit=2", None),
    ("POST", "/v1/participants"): (
        "/v1/participants",
        {"code": "MATRIX-P", "name": "n", "role": "consumer", "province": "江苏", "city": "苏州"},
    ),
    ("POST", "/v1/accounts"): ("/v1/accounts", {"account": "acct:matrix", "owner": CONSUMER}),
    ("POST", "/v1/devices"): (
        "/v1/devices",
        {
            "code": "MATRIX-PV",
            "technology": "distributed_pv",
            "capacity_kw": 100,
            "province": "江苏",
            "city": "苏州",
            "owner": GENERATOR,
            "commissioned_on": "2023-01-01",
        },
    ),  # fmt: skip
    ("POST", "/v1/meter/readings"): ("/v1/meter/readings", {"rows": [{"device": "NO-SUCH"}]}),
    ("POST", "/v1/external-claims"): ("/v1/external-claims", {"rows": [{"source": "x"}]}),
    ("POST", "/v1/expirations"): ("/v1/expirations", {"as_of": "2025-01-01"}),
    ("GET", "/v1/cases"): ("/v1/cases", None),
    ("GET", "/v1/cases/{code}"): ("/v1/cases/DC-NONE", None),
    ("POST", "/v1/cases/{code}/resolution"): ("/v1/cases/DC-NONE/resolution", {"outcome": "x", "reason": "y"}),
    ("POST", "/v1/devices/{code}/elections"): (
        "/v1/devices/NO-SUCH/elections",
        {"scheme": "CCER", "effective_from": "2025-01-01"},
    ),
    ("POST", "/v1/programmes/{code}/issuances"): (
        "/v1/programmes/NO-SUCH/issuances",
        {"methodology": "ev_charging", "account": GEN},
    ),
    ("POST", "/v1/projects/{code}/issuances"): (
        "/v1/projects/NO-SUCH/issuances",
        {"period_start": "2025-01-01", "period_end": "2025-01-31", "kg_co2e": 1, "account": GEN},
    ),
    ("POST", "/v1/contracts/{code}/settlements"): (
        "/v1/contracts/NO-SUCH/settlements",
        {"month": "2025-01", "consumption_kwh": 1},
    ),
    ("POST", "/v1/contracts"): (
        "/v1/contracts",
        {
            "code": "GP-NONE",
            "device": "NO-SUCH",
            "generator_account": GEN,
            "consumer_account": CON,
            "monthly_mwh": {"2025-01": 1},
        },
    ),  # fmt: skip
    ("POST", "/v1/programmes"): (
        "/v1/programmes",
        {
            "code": "MATRIX-PROG",
            "name": "n",
            "region": "苏州",
            "methodologies": ["ev_charging"],
            "factor": "SIP-2020-PURCHASED",
        },
    ),  # fmt: skip
    ("POST", "/v1/projects"): (
        "/v1/projects",
        {
            "code": "MATRIX-PRJ",
            "methodology": "m",
            "owner": "NO-SUCH",
            "crediting_start": "2025-01-01",
            "crediting_end": "2025-12-31",
        },
    ),  # fmt: skip
    ("POST", "/v1/meter/corrections"): ("/v1/meter/corrections", {"rows": [{"device": "NO-SUCH"}]}),
    ("POST", "/v1/meter/readings/csv"): ("/v1/meter/readings/csv", None),
    ("POST", "/v1/meter/corrections/csv"): ("/v1/meter/corrections/csv", None),
    ("GET", "/v1/disclosures/{code}"): ("/v1/disclosures/NO-SUCH", None),
    ("GET", "/v1/anchors"): ("/v1/anchors", None),
    ("GET", "/v1/{kind}/{code}/events"): ("/v1/batches/{batch}/events?proof=true", None),
    ("GET", "/v1/index/{kind}"): ("/v1/index/devices?limit=5", None),
    ("GET", "/v1/audit/bundle"): ("/v1/audit/bundle", None),
    **{("GET", f"/v1/{kinds}"): (f"/v1/{kinds}?limit=2", None) for kinds in INVENTORY},
    **{("GET", f"/v1/{kinds}/{{code}}"): (f"/v1/{kinds}/NO-SUCH", None) for kinds in INVENTORY},
    ("GET", "/checkpoint"): ("/checkpoint", None),
    ("GET", "/tile/entries/{index}"): ("/tile/entries/000", None),
    ("GET", "/tile/{level}/{index}"): ("/tile/0/000", None),
}
"""A call of each route. A route missing here fails the matrix: give it a sample and a rule."""


def route_table() -> list[tuple[str, str, list[str]]]:
    """Every operation the app publishes in its OpenAPI document, with its rule."""
    table = []
    for path, operations in create_app("sqlite:///unused.sqlite").openapi()["paths"].items():
        for method, operation in operations.items():
            roles = operation.get("x-roles")
            assert roles, f"{method.upper()} {path} states no rule: give it allow(...)"
            table.append((method.upper(), path, roles))
    assert table, "the app publishes no routes"
    return table


def test_every_route_has_a_rule_a_sample_and_the_policy_s_roles() -> None:
    table = route_table()
    assert {(m, p) for m, p, _ in table} == set(SAMPLES) == set(POLICY)
    for method, path, roles in table:
        assert set(roles) == POLICY[(method, path)], (method, path, roles)


CALLERS = ("none", "operator", "auditor", "partner", "holder")


@pytest.mark.parametrize(("method", "path", "roles"), route_table(), ids=lambda v: str(v))
def test_each_route_answers_each_role_as_its_rule_says(served: Served, method: str, path: str, roles) -> None:
    url, body = SAMPLES[(method, path)]
    fill = lambda text: text.replace("{batch}", served.batch)  # noqa: E731
    body = json.loads(fill(json.dumps(body))) if body is not None else None
    for caller in CALLERS:
        with served.client(None if caller == "none" else caller) as c:
            answer = c.request(method, fill(url), json=body)
        allowed = PUBLIC in roles or (caller != "none" and Role(caller) in roles)
        if allowed:
            assert answer.status_code not in (401, 403), (caller, answer.text)
        else:
            assert answer.status_code == (401 if caller == "none" else 403), (caller, answer.text)
            assert answer.headers["content-type"] == PROBLEM
