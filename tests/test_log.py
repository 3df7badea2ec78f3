"""The log: every committed event carries its seq, leaf hash and chain hash; roots and proofs
come from stored nodes and verify against an independent reference."""

from __future__ import annotations

import hashlib
import json

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.app import Ledger
from ledger.domain.device import Device
from ledger.errors import Conflict, InvalidInput
from ledger.tlog import audit, trust
from ledger.tlog.merkle import ProofError, verify_consistency, verify_inclusion
from ledger.tlog.note import open_note, parse_checkpoint
from tests.conftest import ORIGIN
from tests.support import OWNER, ensure_owner, fill, month, raw


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])).digest()


def stored_rows(ledger: Ledger) -> list[tuple]:
    """(seq, notification_id, originator_id, version, topic, state, leaf, chain), read raw."""
    key = "rowid" if ledger.db_url.startswith("sqlite") else "notification_id"
    with raw(ledger.db_url) as conn:
        rows = conn.execute(
            "SELECT l.seq, l.notification_id, e.originator_id, e.originator_version, e.topic,"
            f" e.state, l.leaf, l.chain FROM log_leaves l JOIN {ledger.events_table} e"
            f" ON e.{key} = l.notification_id ORDER BY l.seq"
        ).fetchall()
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]


def test_every_event_gets_seq_leaf_and_chain_recomputable_without_oneclaim(ledger: Ledger) -> None:
    fill(ledger, devices=3, months=4)
    rows = stored_rows(ledger)
    assert [r[0] for r in rows] == list(range(16))  # the owner, 3 devices, 12 readings
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    chain = bytes(32)
    for _seq, _nid, oid, version, topic, state, leaf, stored_chain in rows:
        # Rebuild the canonical event from the raw columns with only json + rfc8785.
        event = {
            "originator_id": oid.hex if hasattr(oid, "hex") and not isinstance(oid, str) else oid,
            "originator_version": version,
            "state": json.loads(state),
            "topic": topic,
        }
        assert hashlib.sha256(b"\x00" + rfc8785.dumps(event)).digest() == leaf
        chain = hashlib.sha256(chain + leaf).digest()
        assert chain == stored_chain


def test_roots_at_every_size_match_the_reference(ledger: Ledger) -> None:
    fill(ledger, devices=2, months=9)
    leaves = [r[6] for r in stored_rows(ledger)]
    for size in range(len(leaves) + 1):
        assert ledger.log.root(size) == reference_root(leaves[:size])
    assert ledger.log.head()[2] == reference_root(leaves)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_proof_the_log_produces_verifies_and_mutations_fail(ledger: Ledger, data) -> None:
    if ledger.log.size() == 0:
        fill(ledger, devices=5, months=8)  # 45 events, built once per test run
    n = ledger.log.size()
    size = data.draw(st.integers(1, n), label="tree size")
    seq = data.draw(st.integers(0, size - 1), label="seq")
    p = ledger.log.inclusion_proof(seq, size)
    assert p.root_hash == ledger.log.root(size)
    assert len(p.hashes) <= max(0, (size - 1).bit_length())
    verify_inclusion(seq, size, p.leaf_hash, p.hashes, p.root_hash)
    if p.hashes:
        i = data.draw(st.integers(0, len(p.hashes) - 1), label="flipped hash")
        bad = list(p.hashes)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(ProofError):
            verify_inclusion(seq, size, p.leaf_hash, bad, p.root_hash)

    old = data.draw(st.integers(1, size), label="old size")
    c = ledger.log.consistency_proof(old, size)
    assert (c.old_root, c.new_root) == (ledger.log.root(old), ledger.log.root(size))
    verify_consistency(old, size, c.hashes, c.old_root, c.new_root)
    if c.hashes:
        with pytest.raises(ProofError):
            verify_consistency(old, size, c.hashes[:-1], c.old_root, c.new_root)


def test_proof_requests_out_of_range_are_refused(ledger: Ledger) -> None:
    fill(ledger, devices=1, months=2)
    with pytest.raises(InvalidInput) as e:
        ledger.log.inclusion_proof(4)
    assert e.value.code == "SEQ_OUT_OF_RANGE"
    with pytest.raises(InvalidInput) as e:
        ledger.log.inclusion_proof(0, tree_size=99)
    assert e.value.code == "TREE_SIZE_OUT_OF_RANGE"
    with pytest.raises(InvalidInput) as e:
        ledger.log.consistency_proof(3, 2)
    assert e.value.code == "TREE_SIZE_OUT_OF_RANGE"
    with pytest.raises(InvalidInput):
        ledger.log.consistency_proof(0, 2)


def test_one_save_of_several_aggregates_gets_consecutive_seqs_in_one_transaction(ledger: Ledger) -> None:
    fill(ledger, devices=1)
    devices = [
        Device(
            code=f"WIND-{i}",
            technology="wind",
            capacity_kw=2000,
            province="江苏",
            city="盐城",
            owner="acct:w",
            commissioned_on="2024-01-01",
        )
        for i in range(5)
    ]
    recordings = ledger.save(*devices)
    nids = [r.notification.id for r in recordings]
    seqs = ledger.log.seqs_for_notifications(nids)
    assert sorted(seqs.values()) == [2, 3, 4, 5, 6]


def test_a_refused_save_leaves_no_trace_and_the_log_continues(ledger: Ledger, signer) -> None:
    fill(ledger, devices=2, months=1)
    size = ledger.log.size()
    with pytest.raises(Conflict) as e:
        ledger.register_device("SIP-PV-0000", "distributed_pv", 1, "江苏", "苏州", OWNER, "2024-01-01")
    assert e.value.code == "DEVICE_EXISTS"
    assert ledger.log.size() == size
    ledger.record_reading("SIP-PV-0000", *month(2025, 2), 5_000)
    assert ledger.log.size() == size + 1
    ledger.sign_checkpoint(signer, ORIGIN)
    report = audit.verify_database(ledger.db_url, trust.of(signer.verifier()), events_table=ledger.events_table)
    assert report.ok, report.failure


def test_two_writers_on_one_database_share_one_chain(db_url: str, signer) -> None:
    """Each process caches its frontier; the other writer's appends must invalidate it."""
    a, b = Ledger(db_url), Ledger(db_url)
    try:
        ensure_owner(a)
        for i in range(6):
            (a if i % 2 else b).register_device(f"D-{i}", "utility_pv", 5_000, "安徽", "滁州", OWNER, "2024-06-01")
            (b if i % 3 else a).record_reading(f"D-{i}", *month(2025, 1), 400_000)
        a.sign_checkpoint(signer, ORIGIN)
        report = audit.verify_database(db_url, trust.of(signer.verifier()), events_table=a.events_table)
        assert report.ok, report.failure
        assert report.events == 13
    finally:
        a.close()
        b.close()


def test_log_tables_and_events_are_append_only(ledger: Ledger, signer) -> None:
    fill(ledger, devices=1, months=1)
    ledger.sign_checkpoint(signer, ORIGIN)
    statements = [
        f"UPDATE {ledger.events_table} SET topic = 'x'",
        f"DELETE FROM {ledger.events_table}",
        "UPDATE log_leaves SET leaf = chain",
        "DELETE FROM log_leaves",
        "DELETE FROM log_nodes",
        "DELETE FROM log_checkpoints",
    ]
    for statement in statements:
        with pytest.raises(Exception, match="append-only"), ledger.log._write_cursor() as cur:
            cur.execute(statement)
    assert ledger.log.size() == 3


def test_a_correction_is_a_new_event_naming_the_reading_it_supersedes(ledger: Ledger) -> None:
    fill(ledger, devices=1)
    v = ledger.record_reading("SIP-PV-0000", *month(2025, 3), 12_000, 300)
    v2 = ledger.correct_reading("SIP-PV-0000", v, 11_500, 300, "meter re-read")
    assert v2 == v + 1
    device = ledger.device("SIP-PV-0000")
    assert list(device.readings.items()) == [(v2, (*month_iso(2025, 3), 11_500, 300))]
    events = list(ledger.repository.event_store.get(device.id))
    assert [type(e).__name__ for e in events] == ["Registered", "ReadingRecorded", "ReadingCorrected"]
    assert events[1].on_grid_kwh == 12_000  # the original is untouched
    assert events[2].corrects_version == v and events[2].reason == "meter re-read"
    with pytest.raises(Exception) as e:
        ledger.correct_reading("SIP-PV-0000", v, 1, 0, "again")
    assert e.value.code == "READING_NOT_FOUND"  # a superseded reading cannot be corrected twice


def month_iso(year: int, m: int) -> tuple[str, str]:
    from datetime import datetime

    return tuple(datetime.fromisoformat(x).isoformat() for x in month(year, m))


def test_signed_checkpoints_commit_to_the_root_and_are_idempotent(ledger: Ledger, signer) -> None:
    empty = ledger.sign_checkpoint(signer, ORIGIN)
    assert empty.tree_size == 0 and empty.root == hashlib.sha256(b"").digest()
    fill(ledger, devices=2, months=2)
    cp = ledger.sign_checkpoint(signer, ORIGIN)
    assert ledger.sign_checkpoint(signer, ORIGIN) == cp  # nothing new: same checkpoint
    text, names = open_note(cp.note, [signer.verifier()])
    assert names == [ORIGIN]
    parsed = parse_checkpoint(text)
    assert (parsed.origin, parsed.size, parsed.root) == (ORIGIN, 7, ledger.log.root(7))
    assert [c.tree_size for c in ledger.log.checkpoints()] == [0, 7]
