"""The verifier's range checks and their joining give exactly the roots of one incremental pass,
however the log is cut into ranges, batches and checkpoints."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tlog import audit
from ledger.tlog.merkle import CompactRange
from ledger.tlog.note import Checkpoint, generate_signer, sign_note

SIGNER = generate_signer("oneclaim.test/audit")


def log_rows(n: int):
    datas = [f'{{"event":{i}}}'.encode() for i in range(n)]
    leaves = [hashlib.sha256(b"\x00" + d).digest() for d in datas]
    chains, c = [], bytes(32)
    for leaf in leaves:
        c = hashlib.sha256(c + leaf).digest()
        chains.append(c)
    return datas, leaves, chains


def batches(lo: int, hi: int, size: int, datas, leaves, chains):
    for start in range(lo, hi, size):
        end = min(hi, start + size)
        yield list(range(start, end)), datas[start:end], leaves[start:end], chains[start:end]


def checkpoints_for(sizes: list[int], leaves: list[bytes]) -> list[audit.CheckpointRow]:
    rows = []
    for size in sorted(set(sizes)):
        tree = CompactRange()
        for leaf in leaves[:size]:
            tree.append(leaf)
        note = sign_note(Checkpoint("oneclaim.test/audit", size, tree.root()).text(), SIGNER)
        rows.append(audit.CheckpointRow(size, tree.root(), note))
    return rows


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 3 * audit.BLOCK + 50),
    ranges=st.integers(1, 4),
    batch=st.integers(1, 700),
    data=st.data(),
)
def test_ranges_joined_give_the_one_pass_roots(n: int, ranges: int, batch: int, data) -> None:
    datas, leaves, chains = log_rows(n)
    sizes = data.draw(st.lists(st.integers(0, n), max_size=5), label="checkpoint sizes")
    checkpoints = checkpoints_for(sizes, leaves)
    per = max(audit.BLOCK, -(-n // ranges // audit.BLOCK) * audit.BLOCK)
    results = []
    for lo in range(0, max(n, 1), per):
        hi = min(lo + per, n)
        prev = chains[lo - 1] if lo else bytes(32)
        results.append(
            audit.check_range(
                batches(lo, hi, batch, datas, leaves, chains),
                lo,
                hi,
                prev,
                [c.tree_size for c in checkpoints],
            )
        )
    events, root = audit.combine(results, {c.tree_size: c.root for c in checkpoints})
    tree = CompactRange()
    for leaf in leaves:
        tree.append(leaf)
    assert (events, root) == (n, tree.root())


def test_a_bad_leaf_in_the_second_range_is_named_after_the_first_range_passes() -> None:
    n = 3 * audit.BLOCK
    datas, leaves, chains = log_rows(n)
    datas[2500] = b'{"event":"forged"}'
    checkpoints = checkpoints_for([500, n], leaves)
    first = audit.check_range(batches(0, 2048, 300, datas, leaves, chains), 0, 2048, bytes(32), [500, n])
    second = audit.check_range(batches(2048, n, 300, datas, leaves, chains), 2048, n, chains[2047], [500, n])
    assert first.failure is None
    with pytest.raises(audit.VerificationFailed) as e:
        audit.combine([first, second], {c.tree_size: c.root for c in checkpoints})
    assert e.value.failure.code == "LEAF_MISMATCH" and e.value.failure.seq == 2500
