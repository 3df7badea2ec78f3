"""A write that cannot get the database's write lock in time is refused with a stable code, and
loses nothing: `oneclaim serve` with ONECLAIM_LOCK_TIMEOUT=1 on a SQLite ledger whose write lock
the test holds from another connection. The transfer is refused with 503 LEDGER_BUSY
(problem+json, Retry-After), the log does not change, and once the lock is let go the same
request with the same Idempotency-Key is accepted, once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx

from oneclaim.home import Home
from oneclaim.serve_cli import serving_process
from tests.registry_support import CON, GEN, GENERATOR, market, one_gec_batch
from tests.support import run


def test_a_write_refused_for_a_held_lock_is_a_clear_503_that_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run("init", "--origin", "oneclaim.test/busy", "--home", str(home))
    ledger = Home.at(home).ledger()
    try:
        market(ledger)
        batch = one_gec_batch(ledger, 10)
    finally:
        ledger.close()
    token = json.loads(run("token", "issue", "--participant", GENERATOR, "--role", "holder", "--home", str(home),
                           "--json").stdout)["token"]  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "busy-1"}
    body = {"from_account": GEN, "to_account": CON, "quantity": 2, "on": "2025-02-10"}
    with serving_process("serve", "--home", str(home), env={"ONECLAIM_LOCK_TIMEOUT": "1"}) as (url, _):
        size = httpx.get(f"{url}/healthz").json()["log_size"]
        holder = sqlite3.connect(home / "ledger.sqlite", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process's write transaction, held
        try:
            refused = httpx.post(f"{url}/v1/batches/{batch}/transfers", json=body, headers=headers, timeout=60)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "LEDGER_BUSY" and refused.headers["retry-after"] == "1"
        assert httpx.get(f"{url}/healthz").json()["log_size"] == size  # nothing written
        first = httpx.post(f"{url}/v1/batches/{batch}/transfers", json=body, headers=headers, timeout=60)
        again = httpx.post(f"{url}/v1/batches/{batch}/transfers", json=body, headers=headers, timeout=60)
        assert first.status_code == 201 and again.json() == first.json(), (first.text, again.text)
        assert httpx.get(f"{url}/healthz").json()["log_size"] == size + 1
