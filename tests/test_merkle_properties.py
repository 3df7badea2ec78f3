"""Property tests for ledger.tlog.merkle against a reference MTH written straight from RFC 9162.

The reference (`Reference.mth`) is the §2.1.1 recursive definition, memoised so every prefix of a
600-leaf tree stays cheap; it uses hashlib directly, not the package's hasher.
"""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.tlog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_proof,
    decompose,
    fold,
    frontier_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 600
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------ reference


class Reference:
    """MTH(D[begin:end]) exactly as RFC 9162 §2.1.1 defines it."""

    def __init__(self, data: list[bytes]) -> None:
        self.data = data
        self.memo: dict[tuple[int, int], bytes] = {}

    def mth(self, begin: int, end: int) -> bytes:
        key = (begin, end)
        if key not in self.memo:
            n = end - begin
            if n == 0:
                h = hashlib.sha256(b"").digest()
            elif n == 1:
                h = hashlib.sha256(b"\x00" + self.data[begin]).digest()
            else:
                k = 1
                while k * 2 < n:  # largest power of two smaller than n
                    k *= 2
                left, right = self.mth(begin, begin + k), self.mth(begin + k, end)
                h = hashlib.sha256(b"\x01" + left + right).digest()
            self.memo[key] = h
        return self.memo[key]

    def root(self, size: int) -> bytes:
        return self.mth(0, size)


def ceil_log2(n: int) -> int:
    return (n - 1).bit_length()


class Tree:
    """A tree grown with CompactRange, its nodes kept in a dict like the log's tables."""

    def __init__(self, data: list[bytes]) -> None:
        self.ref = Reference(data)
        self.size = len(data)
        self.store: dict[tuple[int, int], bytes] = {}
        self.roots: list[bytes] = [CompactRange().root()]
        self.node_events: list[tuple[int, int]] = []
        compact = CompactRange()
        for i, d in enumerate(data):
            h = leaf_hash(d)
            self.store[(0, i)] = h
            compact.append(h, self._on_node)
            self.roots.append(compact.root())
        self.calls: list[list[tuple[int, int]]] = []

    def _on_node(self, level: int, index: int, digest: bytes) -> None:
        assert (level, index) not in self.store, "a node was completed twice"
        self.node_events.append((level, index))
        self.store[(level, index)] = digest

    def get_nodes(self, addresses: list[tuple[int, int]]) -> list[bytes]:
        self.calls.append(list(addresses))
        return [self.store[a] for a in addresses]

    def take_calls(self) -> list[list[tuple[int, int]]]:
        calls, self.calls = self.calls, []
        return calls


@st.composite
def trees(draw: st.DrawFn, min_size: int = 1, max_size: int = MAX_SIZE) -> Tree:
    size = draw(st.integers(min_size, max_size))
    rnd = draw(st.randoms(use_true_random=False))
    # The index prefix keeps leaves distinct, so a proof for one leaf can never honestly fit
    # another; the random tail makes the contents arbitrary.
    data = [i.to_bytes(4, "big") + rnd.randbytes(rnd.randint(0, 40)) for i in range(size)]
    return Tree(data)


def flip_bit(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def variants(proof: list[bytes], rnd: random.Random) -> list[tuple[str, list[bytes]]]:
    """Every one-bit flip (random bit) of every element, every dropped element, added elements."""
    out = []
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip_bit(bad[i], rnd.randrange(256))
        out.append((f"flip {i}", bad))
        out.append((f"drop {i}", proof[:i] + proof[i + 1 :]))
    extra = hashlib.sha256(b"extra").digest()
    out.append(("append", [*proof, extra]))
    out.append(("prepend", [extra, *proof]))
    if proof:
        out.append(("duplicate last", [*proof, proof[-1]]))
    return out


# ------------------------------------------------------------------------------ hasher


def test_hasher_known_answers() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    # Leaf hash of the empty string, as in the RFC 6962 test vectors.
    assert leaf_hash(b"").hex() == ("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


# ------------------------------------------------------------------------------ compact ranges


@SETTINGS
@given(trees())
def test_compact_range_matches_reference(tree: Tree) -> None:
    for size in range(tree.size + 1):
        assert tree.roots[size] == tree.ref.root(size), size
    # on_node reported every completed perfect subtree of level >= 1, once, with its MTH.
    interior = [a for a in tree.store if a[0] > 0]
    assert len(tree.node_events) == len(interior) == tree.size - tree.size.bit_count()
    for level, index in tree.store:
        assert tree.store[(level, index)] == tree.ref.mth(index << level, (index + 1) << level)


@SETTINGS
@given(trees(), st.data())
def test_from_frontier_resumes(tree: Tree, data: st.DataObject) -> None:
    split = data.draw(st.integers(0, tree.size))
    hashes = [tree.store[a] for a in frontier_nodes(split)]
    compact = CompactRange.from_frontier(split, hashes)
    assert compact.size == split and compact.hashes == hashes
    assert compact.root() == tree.ref.root(split)
    seen = []
    for i in range(split, tree.size):
        compact.append(tree.store[(0, i)], lambda lv, ix, h: seen.append(((lv, ix), h)))
        assert compact.root() == tree.ref.root(i + 1)
    assert all(tree.store[a] == h for a, h in seen)
    assert [a for a, _ in seen] == [a for a in tree.node_events if a[1] + 1 << a[0] > split]


def test_from_frontier_validates() -> None:
    h = leaf_hash(b"x")
    with pytest.raises(ValueError, match="frontier hash"):
        CompactRange.from_frontier(3, [h])
    with pytest.raises(ValueError):
        CompactRange.from_frontier(1, [b"short"])
    with pytest.raises(ValueError):
        CompactRange.from_frontier(-1, [])
    with pytest.raises(ValueError):
        CompactRange().append(b"not 32 bytes")
    assert CompactRange.from_frontier(0, []).root() == EMPTY_ROOT


def test_failed_callback_leaves_range_unchanged() -> None:
    compact = CompactRange()
    for i in range(3):
        compact.append(leaf_hash(bytes([i])))
    before = (compact.size, list(compact.hashes))

    def boom(level: int, index: int, digest: bytes) -> None:
        raise RuntimeError("storage failed")

    with pytest.raises(RuntimeError):
        compact.append(leaf_hash(b"\x03"), boom)
    assert (compact.size, compact.hashes) == before


@given(st.integers(0, 2000), st.integers(0, 2000))
def test_decompose_covers_range_with_aligned_subtrees(a: int, b: int) -> None:
    begin, end = min(a, b), max(a, b)
    nodes = decompose(begin, end)
    at = begin
    for level, index in nodes:
        assert index << level == at  # contiguous, each aligned to its own size
        at += 1 << level
    assert at == end
    assert len(nodes) <= 2 * max(1, ceil_log2(end - begin + 1))
    assert frontier_nodes(end) == decompose(0, end)
    assert [lv for lv, _ in frontier_nodes(end)] == sorted(
        (lv for lv in range(end.bit_length()) if end >> lv & 1), reverse=True
    )


def test_fold_of_nothing_is_empty_root() -> None:
    assert fold([]) == EMPTY_ROOT


# ------------------------------------------------------------------------------ building


@SETTINGS
@given(trees(min_size=0))
def test_root_from_stored_nodes(tree: Tree) -> None:
    for size in range(tree.size + 1):
        assert root(size, tree.get_nodes) == tree.ref.root(size)
        calls = tree.take_calls()
        assert len(calls) == (1 if size else 0)
        if size:
            assert calls[0] == frontier_nodes(size)


@SETTINGS
@given(trees())
def test_inclusion_proofs_verify(tree: Tree) -> None:
    n = tree.size
    for index in range(n):
        proof = inclusion_proof(index, n, tree.get_nodes)
        calls = tree.take_calls()
        assert len(calls) == (1 if proof else 0)
        assert all(len(c) <= 2 * ceil_log2(n) + 2 for c in calls)
        assert len(proof) <= ceil_log2(n)
        verify_inclusion(index, n, leaf_hash(tree.ref.data[index]), proof, tree.ref.root(n))
        leaf = tree.store[(0, index)]
        assert root_from_inclusion_proof(index, n, leaf, proof) == tree.ref.root(n)


@SETTINGS
@given(trees(), st.data())
def test_inclusion_proofs_in_earlier_trees_verify(tree: Tree, data: st.DataObject) -> None:
    for _ in range(20):
        size = data.draw(st.integers(1, tree.size))
        index = data.draw(st.integers(0, size - 1))
        proof = inclusion_proof(index, size, tree.get_nodes)
        verify_inclusion(index, size, tree.store[(0, index)], proof, tree.ref.root(size))


@SETTINGS
@given(trees(), st.data())
def test_consistency_proofs_verify(tree: Tree, data: st.DataObject) -> None:
    n = tree.size
    pairs = [(size1, n) for size1 in range(n + 1)]
    pairs += [tuple(sorted(data.draw(st.tuples(*[st.integers(0, n)] * 2)))) for _ in range(20)]
    for size1, size2 in pairs:
        proof = consistency_proof(size1, size2, tree.get_nodes)
        calls = tree.take_calls()
        assert len(calls) == (1 if proof else 0)
        assert all(len(c) <= 2 * ceil_log2(size2) + 2 for c in calls)
        # One more than an inclusion proof: the seed subtree's hash (e.g. 3 -> 4 needs 3 hashes).
        assert len(proof) <= ceil_log2(size2) + 1
        root1, root2 = tree.ref.root(size1), tree.ref.root(size2)
        if size1 == 0:
            assert proof == []
            with pytest.raises(ProofError, match="empty tree"):
                verify_consistency(size1, size2, proof, root1, root2)
        else:
            verify_consistency(size1, size2, proof, root1, root2)


def test_builders_check_preconditions() -> None:
    tree = Tree([b"a", b"b", b"c"])
    for index, size in [(3, 3), (0, 0), (-1, 3), (5, 3)]:
        with pytest.raises(ProofError):
            inclusion_proof(index, size, tree.get_nodes)
    for size1, size2 in [(3, 2), (-1, 2), (1, -1)]:
        with pytest.raises(ProofError):
            consistency_proof(size1, size2, tree.get_nodes)
    with pytest.raises(ProofError):
        root(-1, tree.get_nodes)
    assert tree.take_calls() == []
    with pytest.raises(ProofError, match="get_nodes returned"):
        inclusion_proof(0, 3, lambda addresses: [])


# ------------------------------------------------------------------------------ mutations


@SETTINGS
@given(trees(min_size=2), st.data())
def test_inclusion_mutations_are_rejected(tree: Tree, data: st.DataObject) -> None:
    rnd = data.draw(st.randoms(use_true_random=False))
    n = tree.size
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    leaf, good_root = tree.store[(0, index)], tree.ref.root(size)
    proof = inclusion_proof(index, size, tree.get_nodes)
    verify_inclusion(index, size, leaf, proof, good_root)

    for what, bad in variants(proof, rnd):
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaf, bad, good_root)
            pytest.fail(f"accepted proof mutation: {what}")

    other_leaf = leaf_hash(b"not a leaf")
    with pytest.raises(ProofError):
        verify_inclusion(index, size, other_leaf, proof, good_root)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, flip_bit(leaf, rnd.randrange(256)), proof, good_root)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf, proof, flip_bit(good_root, rnd.randrange(256)))

    for wrong in {index - 1, index + 1, index ^ 1, index ^ 2, size, -1}:
        if wrong == index:
            continue
        with pytest.raises(ProofError):  # the same leaf claimed at another index
            verify_inclusion(wrong, size, leaf, proof, good_root)
        if 0 <= wrong < size:
            with pytest.raises(ProofError):  # that index's own leaf with this proof
                verify_inclusion(wrong, size, tree.store[(0, wrong)], proof, good_root)

    # A wrong size with that size's honest root (a root is only ever published with its size).
    for wrong in {size - 1, size + 1, size * 2, size // 2, rnd.randint(1, n)}:
        if wrong == size or not 1 <= wrong <= n:
            continue
        with pytest.raises(ProofError):
            verify_inclusion(index, wrong, leaf, proof, tree.ref.root(wrong))
    with pytest.raises(ProofError):
        verify_inclusion(index, 0, leaf, proof, EMPTY_ROOT)


@SETTINGS
@given(trees(min_size=2), st.data())
def test_consistency_mutations_are_rejected(tree: Tree, data: st.DataObject) -> None:
    rnd = data.draw(st.randoms(use_true_random=False))
    n = tree.size
    size2 = data.draw(st.integers(2, n))
    size1 = data.draw(st.integers(1, size2 - 1))
    root1, root2 = tree.ref.root(size1), tree.ref.root(size2)
    proof = consistency_proof(size1, size2, tree.get_nodes)
    verify_consistency(size1, size2, proof, root1, root2)

    for what, bad in variants(proof, rnd):
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, bad, root1, root2)
            pytest.fail(f"accepted proof mutation: {what}")

    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root2, root1)  # swapped roots
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, flip_bit(root1, rnd.randrange(256)), root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root1, flip_bit(root2, rnd.randrange(256)))
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, [], root1, root2)

    # Wrong sizes, each with that size's honest root.
    for wrong1 in {size1 - 1, size1 + 1, size1 * 2, size1 // 2, size1 ^ 1}:
        if wrong1 != size1 and 0 <= wrong1 <= n:
            with pytest.raises(ProofError):
                verify_consistency(wrong1, size2, proof, tree.ref.root(wrong1), root2)
    for wrong2 in {size2 - 1, size2 + 1, size2 * 2, size2 // 2, size2 ^ 1}:
        if wrong2 != size2 and 0 <= wrong2 <= n:
            with pytest.raises(ProofError):
                verify_consistency(size1, wrong2, proof, root1, tree.ref.root(wrong2))
    with pytest.raises(ProofError):
        verify_consistency(size2, size1, proof, root2, root1)  # sizes reversed


def test_every_proof_up_to_64_leaves() -> None:
    """Exhaustive over small trees, where off-by-one shapes would show first."""
    tree = Tree([i.to_bytes(2, "big") for i in range(64)])
    for size2 in range(1, 65):
        root2 = tree.ref.root(size2)
        for index in range(size2):
            proof = inclusion_proof(index, size2, tree.get_nodes)
            verify_inclusion(index, size2, tree.store[(0, index)], proof, root2)
        for size1 in range(1, size2 + 1):
            proof = consistency_proof(size1, size2, tree.get_nodes)
            verify_consistency(size1, size2, proof, tree.ref.root(size1), root2)
        assert all(len(c) <= 2 * ceil_log2(size2) + 2 for c in tree.take_calls())
