"""Tampering with a real database file and a real PostgreSQL table is caught by `audit verify`,
which names the right sequence number.

Each test really alters the stored rows, with the append-only triggers out of the way as an
attacker with database access would have them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from ledger.app import Ledger
from ledger.database import dialect
from ledger.tlog import audit, trust
from tests.conftest import ORIGIN
from tests.support import fill, raw

EVENTS = 31  # the owner, then 5 devices x (registration + 5 monthly readings)


@pytest.fixture
def sealed(ledger: Ledger, signer):
    """A ledger with 31 events, a checkpoint at 19 and one at 31, verifying cleanly."""
    fill(ledger, devices=3, months=5)
    ledger.sign_checkpoint(signer, ORIGIN)
    assert ledger.log.size() == 19
    fill(ledger, devices=2, months=5, prefix="SIP-PV-B")
    ledger.sign_checkpoint(signer, ORIGIN)
    assert ledger.log.size() == EVENTS
    report = verify(ledger, signer)
    assert report.ok, report.failure
    return ledger


def verify(ledger: Ledger, signer) -> audit.Report:
    return audit.verify_database(ledger.db_url, trust.of(signer.verifier(), ORIGIN), events_table=ledger.events_table)


def key_column(ledger: Ledger) -> str:
    return "rowid" if dialect(ledger.db_url) == "sqlite" else "notification_id"


def notification_of(ledger: Ledger, seq: int) -> int:
    return ledger.log.leaf(seq).notification_id


def p(ledger: Ledger) -> str:
    return "?" if dialect(ledger.db_url) == "sqlite" else "%s"


def test_changing_one_byte_of_a_payload_is_caught_at_its_seq(sealed: Ledger, signer) -> None:
    target = 14  # a monthly reading
    nid, key, mark = notification_of(sealed, target), key_column(sealed), p(sealed)
    with raw(sealed.db_url) as conn:
        (state,) = conn.execute(f"SELECT state FROM {sealed.events_table} WHERE {key} = {mark}", [nid]).fetchone()
        state = bytes(state)
        i = state.index(b"on_grid_kwh") + len(b'on_grid_kwh":')  # the first digit of the quantity
        forged = state[:i] + (b"9" if state[i : i + 1] != b"9" else b"8") + state[i + 1 :]
        conn.execute(f"UPDATE {sealed.events_table} SET state = {mark} WHERE {key} = {mark}", [forged, nid])
    report = verify(sealed, signer)
    assert not report.ok
    assert (report.failure.code, report.failure.seq) == ("LEAF_MISMATCH", target)


def test_deleting_an_event_row_is_caught_at_its_seq(sealed: Ledger, signer) -> None:
    target = 7
    nid, key, mark = notification_of(sealed, target), key_column(sealed), p(sealed)
    with raw(sealed.db_url) as conn:
        conn.execute(f"DELETE FROM {sealed.events_table} WHERE {key} = {mark}", [nid])
    report = verify(sealed, signer)
    assert (report.ok, report.failure.code, report.failure.seq) == (False, "EVENT_MISSING", target)


def test_deleting_an_event_with_its_log_entry_is_caught_at_its_seq(sealed: Ledger, signer) -> None:
    target = 22
    nid, key, mark = notification_of(sealed, target), key_column(sealed), p(sealed)
    with raw(sealed.db_url) as conn:
        conn.execute(f"DELETE FROM {sealed.events_table} WHERE {key} = {mark}", [nid])
        conn.execute(f"DELETE FROM log_leaves WHERE seq = {mark}", [target])
    report = verify(sealed, signer)
    assert (report.ok, report.failure.code, report.failure.seq) == (False, "LEAF_MISSING", target)


def test_swapping_two_rows_is_caught_at_the_first(sealed: Ledger, signer) -> None:
    first, second = 9, 16
    a, b = notification_of(sealed, first), notification_of(sealed, second)
    key, mark, table = key_column(sealed), p(sealed), sealed.events_table
    cols = "originator_id, originator_version, topic, state"
    with raw(sealed.db_url) as conn:
        row_a = conn.execute(f"SELECT {cols} FROM {table} WHERE {key} = {mark}", [a]).fetchone()
        row_b = conn.execute(f"SELECT {cols} FROM {table} WHERE {key} = {mark}", [b]).fetchone()
        conn.execute(f"DELETE FROM {table} WHERE {key} IN ({mark}, {mark})", [a, b])
        # Re-insert each row's content under the other's notification id.
        for nid, row in ((a, row_b), (b, row_a)):
            conn.execute(
                f"INSERT INTO {table} ({key}, {cols}) VALUES ({mark},{mark},{mark},{mark},{mark})",
                [nid, *row],
            )
    report = verify(sealed, signer)
    assert (report.ok, report.failure.code, report.failure.seq) == (False, "LEAF_MISMATCH", first)


def test_inserting_a_forged_row_is_caught_where_it_sits(sealed: Ledger, signer) -> None:
    key, mark, table = key_column(sealed), p(sealed), sealed.events_table
    forged_state = json.dumps({"on_grid_kwh": 999_999, "timestamp": "2025-01-01T00:00:00+00:00"}).encode()
    oid = uuid.uuid4()
    with raw(sealed.db_url) as conn:
        (last,) = conn.execute(f"SELECT MAX({key}) FROM {table}").fetchone()
        conn.execute(
            f"INSERT INTO {table} ({key}, originator_id, originator_version, topic, state)"
            f" VALUES ({mark},{mark},{mark},{mark},{mark})",
            [
                last + 1,
                oid.hex if dialect(sealed.db_url) == "sqlite" else oid,
                1,
                "ledger.domain.device:Device.Registered",
                forged_state,
            ],
        )
    report = verify(sealed, signer)
    assert (report.ok, report.failure.code, report.failure.seq) == (False, "EVENT_NOT_IN_LOG", EVENTS)


def test_a_forged_row_with_a_recomputed_leaf_and_chain_breaks_the_signed_root(sealed: Ledger, signer) -> None:
    """A careful forger rewrites one event and every leaf and chain hash after it: only the
    signed checkpoint can catch that, and it does."""
    import hashlib

    from ledger.tlog.canonical import canonical_event

    target = 26  # a monthly reading
    key, mark, table = key_column(sealed), p(sealed), sealed.events_table
    with raw(sealed.db_url) as conn:
        rows = conn.execute(
            f"SELECT l.seq, e.originator_id, e.originator_version, e.topic, e.state, l.chain"
            " FROM log_leaves l"
            f" JOIN {table} e ON e.{key} = l.notification_id ORDER BY l.seq"
        ).fetchall()
        chain = bytes(rows[target - 1][5])
        for seq, oid, version, topic, state, _ in rows[target:]:
            state = bytes(state)
            if seq == target:
                state = state.replace(b'"on_grid_kwh":', b'"on_grid_kwh":1')
                conn.execute(
                    f"UPDATE {table} SET state = {mark} WHERE {key} = {mark}",
                    [state, notification_of(sealed, seq)],
                )
            oid_hex = oid if isinstance(oid, str) else oid.hex
            leaf = hashlib.sha256(b"\x00" + canonical_event(oid_hex, version, topic, state)).digest()
            chain = hashlib.sha256(chain + leaf).digest()
            conn.execute(f"UPDATE log_leaves SET leaf = {mark}, chain = {mark} WHERE seq = {mark}", [leaf, chain, seq])
    report = verify(sealed, signer)
    assert (report.ok, report.failure.code) == (False, "ROOT_MISMATCH")
    # The checkpoint at 19 still verifies; the one at 31 does not: the forgery is in 19..30.
    assert report.failure.seq == 19 and "19..30" in report.failure.message


def test_truncating_the_tail_after_a_checkpoint_is_caught(sealed: Ledger, signer) -> None:
    keep = 24
    key, mark, table = key_column(sealed), p(sealed), sealed.events_table
    cut = notification_of(sealed, keep)
    with raw(sealed.db_url) as conn:
        conn.execute(f"DELETE FROM {table} WHERE {key} >= {mark}", [cut])
        conn.execute(f"DELETE FROM log_leaves WHERE seq >= {mark}", [keep])
    report = verify(sealed, signer)
    assert (report.ok, report.failure.code, report.failure.seq) == (False, "LOG_TRUNCATED", keep)


def test_a_checkpoint_signed_by_another_key_is_refused(sealed: Ledger, signer) -> None:
    from ledger.tlog.note import Checkpoint, generate_signer, sign_note

    impostor = generate_signer(ORIGIN)
    size, _, root = sealed.log.head()
    fill(sealed, devices=1, prefix="LATE")
    sealed.log.add_checkpoint(
        size + 1,
        sealed.log.root(size + 1),
        sign_note(Checkpoint(ORIGIN, size + 1, sealed.log.root(size + 1)).text(), impostor),
    )
    report = verify(sealed, signer)
    assert (report.ok, report.failure.code) == (False, "CHECKPOINT_SIGNATURE")


def test_the_cli_exits_nonzero_and_names_the_seq(sealed: Ledger, signer) -> None:
    target = 4
    nid, key, mark = notification_of(sealed, target), key_column(sealed), p(sealed)
    with raw(sealed.db_url) as conn:
        conn.execute(f"DELETE FROM {sealed.events_table} WHERE {key} = {mark}", [nid])
    cmd = [
        sys.executable,
        "-m",
        "oneclaim.cli",
        "audit",
        "verify",
        "--db",
        sealed.db_url,
        "--key",
        signer.verifier_key(),
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["failure"]["seq"] == target and result["failure"]["code"] == "EVENT_MISSING"


def test_non_canonical_event_bytes_re_signed_with_the_real_key_are_refused(sealed: Ledger, signer) -> None:
    """Finding 3, on a database: the operator rewrites an event in a non-canonical form (same
    meaning, other bytes), recomputes every leaf and chain hash after it and re-signs every
    checkpoint with the log's real key. Hashes and signatures all agree; the bytes do not."""
    from ledger.tlog.canonical import canonical_event
    from ledger.tlog.merkle import CompactRange, chain_hash, leaf_hash
    from ledger.tlog.note import Checkpoint, sign_note

    target = 26
    key, mark, table = key_column(sealed), p(sealed), sealed.events_table
    with raw(sealed.db_url) as conn:
        rows = conn.execute(
            f"SELECT l.seq, e.originator_id, e.originator_version, e.topic, e.state FROM log_leaves l"
            f" JOIN {table} e ON e.{key} = l.notification_id ORDER BY l.seq"
        ).fetchall()
        tree, chain, sizes = CompactRange(), bytes(32), {}
        for seq, oid, version, topic, state in rows:
            state = bytes(state)
            if seq == target:
                state = state.replace(b":", b": ", 1)  # still JSON, no longer RFC 8785
                conn.execute(
                    f"UPDATE {table} SET state = {mark} WHERE {key} = {mark}", [state, notification_of(sealed, seq)]
                )
            oid_hex = oid if isinstance(oid, str) else oid.hex
            leaf = leaf_hash(canonical_event(oid_hex, version, topic, state))
            chain = chain_hash(chain, leaf)
            conn.execute(f"UPDATE log_leaves SET leaf = {mark}, chain = {mark} WHERE seq = {mark}", [leaf, chain, seq])
            tree.append(leaf)
            sizes[tree.size] = tree.root()
        conn.execute("DELETE FROM log_checkpoints")
        for size in (19, EVENTS):
            note = sign_note(Checkpoint(ORIGIN, size, sizes[size]).text(), signer)
            columns = "tree_size, root, note, signed_at"
            conn.execute(
                f"INSERT INTO log_checkpoints ({columns}) VALUES ({mark}, {mark}, {mark}, {mark})",
                [size, sizes[size], note, "2026-12-03T00:00:00+00:00"],
            )
    report = verify(sealed, signer)
    assert (report.ok, report.failure.code, report.failure.seq) == (False, "NOT_CANONICAL", target)
