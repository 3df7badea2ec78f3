"""Perfect subtrees, the ranges they decompose, and the compact range of a growing tree.

Addressing. A perfect subtree of 2**level leaves is named `(level, index)` and covers leaves
`[index << level, (index + 1) << level)`. Level 0 nodes are leaf hashes. Every interior node of
the RFC 9162 §2.1.1 tree over leaves `[0, size)` is either such a perfect subtree or lies on the
right border of the tree; border nodes are never stored, because they change as leaves are
appended, so they are always recomputed from the perfect subtrees under them.

Why this works: RFC 9162 §2.1.1 splits n leaves at k, the largest power of two below n, so the
left child is always perfect and the leaves `[0, size)` split into one perfect subtree per set bit
of `size`, largest first. The tree hash is those subtree hashes combined right to left (`fold`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ledger.tlog.merkle.rfc6962 import EMPTY_ROOT, HASH_SIZE, node_hash

Address = tuple[int, int]
"""(level, index) of a perfect subtree."""


def decompose(begin: int, end: int) -> list[Address]:
    """The perfect subtrees that exactly cover leaves `[begin, end)`, left to right.

    Greedy: from `begin`, take the largest subtree that starts there (its size must divide
    `begin`) and still ends at or before `end`. For the ranges that are nodes of an RFC 9162
    tree (the only ones the proofs use) `begin` is a multiple of a power of two at least as large
    as the range, so the subtrees come out largest first and `fold` of their hashes is the MTH
    of the range. Precondition: 0 <= begin <= end.
    """
    if not 0 <= begin <= end:
        raise ValueError(f"invalid leaf range [{begin}, {end}): need 0 <= begin <= end")
    nodes: list[Address] = []
    while begin < end:
        level = (end - begin).bit_length() - 1  # largest subtree that fits before `end`
        if begin:
            # ...and that is aligned: 2**level must divide `begin` (lowest set bit of begin).
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def frontier_nodes(size: int) -> list[Address]:
    """Addresses of the perfect subtrees making up `[0, size)`: one per set bit of `size`,
    most significant first. These are all a `CompactRange` needs to resume at `size`."""
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    return decompose(0, size)


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine subtree hashes, given left to right, from the right: h0 . (h1 . (h2 . h3)).

    For the decomposition of an RFC 9162 tree node this is exactly that node's MTH (§2.1.1:
    each split's left child is the next perfect subtree, its right child is the rest). The fold
    of nothing is MTH({}) = EMPTY_ROOT.
    """
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for i in range(len(hashes) - 2, -1, -1):
        result = node_hash(hashes[i], result)
    return result


class CompactRange:
    """The right border of a tree growing from leaf 0: the hashes of `frontier_nodes(size)`.

    Appending a leaf works like binary increment: each trailing 1 bit of the old size is a
    perfect subtree just left of the new leaf, and merging them carries the new leaf up a level.
    That merge completes exactly the perfect subtrees that end at the new leaf.

    `size` and `hashes` are plain attributes for speed (this runs once per event); treat them as
    read-only and change them only through `append`.
    """

    __slots__ = ("size", "hashes")

    def __init__(self) -> None:
        self.size: int = 0
        self.hashes: list[bytes] = []

    @classmethod
    def from_frontier(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Resume at `size` from the hashes of `frontier_nodes(size)`, left to right."""
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"tree size must be an int >= 0, got {size!r}")
        want = size.bit_count()
        if len(hashes) != want:
            raise ValueError(f"a tree of size {size} has {want} frontier hash(es), got {len(hashes)}")
        for i, h in enumerate(hashes):
            if len(h) != HASH_SIZE:
                raise ValueError(f"frontier hash {i} has {len(h)} bytes, want {HASH_SIZE}")
        compact = cls()
        compact.size = size
        compact.hashes = list(hashes)
        return compact

    def append(self, leaf: bytes, on_node: Callable[[int, int, bytes], None] | None = None) -> None:
        """Add the leaf hash `leaf` at index `size`.

        Calls `on_node(level, index, hash)` for each perfect subtree of level >= 1 this leaf
        completes, lowest first (one per trailing 1 bit of the old size: one per append on
        average). The range is only changed after every callback returned, so a callback that
        raises leaves it as it was.
        """
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash has {len(leaf)} bytes, want {HASH_SIZE}")
        size = self.size
        hashes = self.hashes
        level = 0
        while (size >> level) & 1:
            level += 1
            leaf = node_hash(hashes[-level], leaf)
            if on_node is not None:
                on_node(level, size >> level, leaf)
        if level:
            del hashes[-level:]
        hashes.append(leaf)
        self.size = size + 1

    def root(self) -> bytes:
        """MTH(D[0:size]) (RFC 9162 §2.1.1); EMPTY_ROOT when size is 0."""
        return fold(self.hashes)


def perfect_root(leaves: Sequence[bytes]) -> bytes:
    """MTH of a perfect subtree (len(leaves) a power of two), reduced level by level."""
    level = list(leaves)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
