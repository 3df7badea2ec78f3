"""The registry's whole surface over HTTP, past authorisation: every write retried with its
Idempotency-Key answers its first result and writes nothing; issuance, contracts, programmes,
CSV uploads, inventory pages and the audit bundle do what the CLI's commands do.

Runs on the live server of tests/test_api.py (`served`)."""

from __future__ import annotations

import json
import tarfile
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

from ledger.app import Ledger
from tests import test_api
from tests.registry_support import CON, CONSUMER, GEN, GENERATOR
from tests.support import run
from tests.test_api import PROBLEM, Served

served = test_api.served  # the live server fixture, one per module

PV = {"technology": "distributed_pv", "capacity_kw": 500, "province": "江苏", "city": "苏州工业园区",
      "owner": GENERATOR, "commissioned_on": "2023-01-01"}  # fmt: skip
JAN = {"start": "2025-01-01T00:00:00+08:00", "end": "2025-02-01T00:00:00+08:00"}


def test_every_kind_of_write_retried_with_its_key_answers_the_first_result_and_writes_nothing(served: Served) -> None:
    writes = [
        ("/v1/participants", {"code": "IDEM-P", "name": "n", "role": "consumer", "province": "江苏", "city": "苏州"}),
        ("/v1/accounts", {"account": "acct:idem-p", "owner": "IDEM-P", "purpose": "holding"}),
        ("/v1/devices", PV | {"code": "IDEM-PV"}),
        ("/v1/programmes", {"code": "IDEM-PROG", "name": "n", "region": "苏州", "methodologies": ["ev_charging"],
                            "factor": "SIP-2020-PURCHASED"}),  # fmt: skip
        ("/v1/programmes/IDEM-PROG/issuances", {"methodology": "ev_charging", "account": "acct:idem-p",
                                                 "subject": "IDEM-HUB", "period": "2025", "kg_co2e": 5_000}),
    ]  # fmt: skip
    with served.client("operator") as c:
        for i, (path, body) in enumerate(writes):
            key = {"Idempotency-Key": f"idem-{i}"}
            first = c.post(path, json=body, headers=key)
            assert first.status_code == 201, (path, first.text)
            size = served.log_size()
            again = c.post(path, json=body, headers=key)
            assert (again.status_code, again.json()) == (201, first.json()), path
            assert served.log_size() == size, f"the retry of {path} wrote"
            changed = next(k for k in ("name", "purpose", "capacity_kw", "kg_co2e") if k in body)
            other = c.post(path, json=body | {changed: body.get(changed, 0) * 2}, headers=key)
            assert other.status_code == 409 and other.json()["code"] == "REQUEST_ID_REUSED", (path, other.text)
            assert served.log_size() == size, path
        # without a key a second call is a second command: refused as a duplicate, not replayed
        dup = c.post("/v1/participants", json=writes[0][1])
        assert dup.status_code == 409 and dup.json()["code"] == "PARTICIPANT_EXISTS"
    batch = first.json()["batch"]
    with served.client("auditor") as c:
        assert c.get(f"/v1/batches/{batch}").json()["quantity"] == 5_000


def test_racing_retries_of_one_keyed_write_create_it_once_and_all_get_its_answer(served: Served) -> None:
    body = {"code": "RACE-PROG", "name": "n", "region": "苏州", "methodologies": ["ev_charging"],
            "factor": "SIP-2020-PURCHASED"}  # fmt: skip
    size = served.log_size()

    def call(_: int):
        with served.client("operator") as c:
            return c.post("/v1/programmes", json=body, headers={"Idempotency-Key": "race-prog"})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(call, range(6)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    assert served.log_size() == size + 2  # the programme's event and the one Request, nothing more


def test_a_csv_upload_imports_as_the_cli_does_and_a_bad_row_is_named_and_writes_nothing(served: Served) -> None:
    header = "device,start,end,on_grid_kwh,self_consumed_kwh\n"
    good = f"CSV-PV,{JAN['start']},{JAN['end']},9500,0\n"
    with served.client("operator") as c:
        assert c.post("/v1/devices", json=PV | {"code": "CSV-PV"}).status_code == 201
        size = served.log_size()
        bad = c.post("/v1/meter/readings/csv", content=header + good + "CSV-PV,2025-02-01,nope,1,0\n",
                     headers={"Content-Type": "text/csv"})  # fmt: skip
        assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
        assert any(e["line"] == 3 for e in bad.json()["details"]["errors"]) and served.log_size() == size
        wrong_type = c.post("/v1/meter/readings/csv", content=header + good)
        assert wrong_type.status_code == 415 and wrong_type.json()["code"] == "MEDIA_TYPE_UNSUPPORTED"
        no_header = c.post("/v1/meter/readings/csv", content=good, headers={"Content-Type": "text/csv"})
        assert no_header.json()["code"] == "CSV_HEADER_INVALID" and served.log_size() == size
        done = c.post("/v1/meter/readings/csv", content=header + good, headers={"Content-Type": "text/csv"})
        assert done.status_code == 200 and done.json()["recorded"] == 1, done.text
        again = c.post("/v1/meter/readings/csv", content=header + good, headers={"Content-Type": "text/csv"})
        assert again.json()["skipped"] == 1 and again.json()["recorded"] == 0
        fixed = c.post("/v1/meter/corrections/csv", content=header.strip() + ",reason\n" + good.strip()
                       .replace("9500", "9400") + ",meter swap\n", headers={"Content-Type": "text/csv"})  # fmt: skip
        assert fixed.status_code == 200 and fixed.json()["recorded"] == 1, fixed.text
        claims = c.get("/v1/devices/CSV-PV/claims").json()
    assert "9400" in json.dumps(claims) and "9500" not in json.dumps(claims)


def test_a_green_power_contract_settles_once_over_http_and_moves_the_gecs(served: Served) -> None:
    with served.client("operator") as c:
        assert c.post("/v1/devices", json=PV | {"code": "GP-PV"}).status_code == 201
        rows = {"rows": [{"device": "GP-PV", **JAN, "on_grid_kwh": 30_000}]}
        assert c.post("/v1/meter/readings", json=rows).status_code == 200
        assert c.post("/v1/devices/GP-PV/gec-issuances", json={"month": "2025-01", "account": GEN}).status_code == 201
        contract = {"code": "GP-HTTP-1", "device": "GP-PV", "generator_account": GEN, "consumer_account": CON,
                    "monthly_mwh": {"2025-01": 20}}  # fmt: skip
        assert c.post("/v1/contracts", json=contract).status_code == 201
        body = {"month": "2025-01", "consumption_kwh": 25_000, "on": "2025-02-10"}
        first = c.post("/v1/contracts/GP-HTTP-1/settlements", json=body)
        assert first.status_code == 201 and first.json()["settled_mwh"] == 20, first.text
        size = served.log_size()
        again = c.post("/v1/contracts/GP-HTTP-1/settlements", json=body)
        assert again.json() == first.json() and served.log_size() == size
        shown = c.get("/v1/contracts/GP-HTTP-1").json()
        assert "2025-01" in shown["settlements"]
    with served.client("consumer") as c:
        held = c.get(f"/v1/accounts/{CON}/holdings").json()["holdings"]
    assert any(h["batch"] == first.json()["batch"] and h["units"] >= 20 for h in held), held


def test_inventory_pages_follow_the_log_and_hold_every_record_once(served: Served) -> None:
    ledger = Ledger(f"sqlite:///{served.home / 'ledger.sqlite'}")
    try:
        expected = [p.code for p in ledger.registered("participant")]
    finally:
        ledger.close()
    seen, after = [], -1
    with served.client("auditor") as c:
        while True:
            page = c.get("/v1/participants", params={"after_seq": after, "limit": 2}).json()
            seen += [p["code"] for p in page["participants"]]
            assert all(p["seq"] > after for p in page["participants"])
            if page["next_after_seq"] is None:
                break
            after = page["next_after_seq"]
        assert c.get(f"/v1/participants/{CONSUMER}").json()["code"] == CONSUMER
        missing = c.get("/v1/participants/NO-SUCH")
        assert missing.status_code == 404 and missing.json()["code"] == "PARTICIPANT_NOT_FOUND"
        assert c.get("/v1/disclosures/NO-SUCH").json()["code"] == "DISCLOSURE_NOT_FOUND"
        anchors = c.get("/v1/anchors").json()
    assert seen[: len(expected)] == expected and len(seen) == len(set(seen))
    assert anchors["anchorings"] == [] and anchors["tree_size"] == anchors["read_against"]["log_size"]


def test_the_audit_bundle_downloaded_verifies_against_the_key_the_auditor_holds(served: Served, tmp_path: Path) -> None:
    with served.client("auditor") as c:
        answer = c.get("/v1/audit/bundle")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=BytesIO(answer.content)) as tar:
        tar.extractall(tmp_path, filter="data")
    key = (served.home / "log.vkey").read_text().strip()
    run("audit", "verify", str(tmp_path / "bundle"), "--key", key)
    # the operator serving the bundle can not slip in an event: a tampered bundle is refused
    events = tmp_path / "bundle" / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    assert b'"SIP-GEN"' in lines[1]
    lines[1] = lines[1].replace(b'"SIP-GEN"', b'"SIP-GEM"')
    events.write_bytes(b"".join(lines))
    run("audit", "verify", str(tmp_path / "bundle"), "--key", key, code=1)


def test_many_clients_writing_at_once_on_one_sqlite_worker_all_succeed_while_reads_are_projected(
    served: Served,
) -> None:
    many_writers_story(served)


def many_writers_story(served: Served) -> None:
    """Writers racing on different batches while the projector catches up: none may stall on
    the database's write lock (they did: the projector held it while waiting for a ledger
    connection, and writers timed out with 500s)."""
    clients, moves = 6, 12
    with served.client("operator") as c:
        for i in range(clients):
            assert c.post("/v1/devices", json=PV | {"code": f"LOAD-PV-{i}"}).status_code == 201
        rows = [{"device": f"LOAD-PV-{i}", **JAN, "on_grid_kwh": 40_000} for i in range(clients)]
        assert c.post("/v1/meter/readings", json={"rows": rows}).status_code == 200

    def work(i: int) -> list[int]:
        statuses = []
        with served.client("operator") as op, served.client("holder") as holder:
            issued = op.post(f"/v1/devices/LOAD-PV-{i}/gec-issuances", json={"month": "2025-01", "account": GEN})
            statuses.append(issued.status_code)
            batch = issued.json()["batches"][0]["batch"]
            for n in range(moves):
                move = {"from_account": GEN, "to_account": CON, "quantity": 1, "on": "2025-02-20"}
                statuses.append(holder.post(f"/v1/batches/{batch}/transfers", json=move,
                                            headers={"Idempotency-Key": f"load-{i}-{n}"}).status_code)  # fmt: skip
                statuses.append(holder.get(f"/v1/accounts/{GEN}/holdings").status_code)
        return statuses

    with ThreadPoolExecutor(clients) as pool:
        statuses = [s for result in pool.map(work, range(clients)) for s in result]
    assert statuses.count(201) == clients * (moves + 1) and set(statuses) == {200, 201}, sorted(set(statuses))
    run("log", "sign", "--home", str(served.home))
    run("audit", "verify", "--home", str(served.home))
