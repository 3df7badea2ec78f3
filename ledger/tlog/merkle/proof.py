"""Inclusion and consistency proofs (RFC 9162 §2.1.3 and §2.1.4): building and verifying.

Building. Every element of a proof is the MTH of some range `[begin, end)` of leaves that is a
node of the RFC 9162 tree. Such a node is either a stored perfect subtree or a right-border node
made of a few of them, so each element is `fold` of the hashes of `decompose(begin, end)`.
A builder first works out every range, then asks `get_nodes` for all their subtree addresses in
ONE call (the caller makes one database query), then folds. A proof of a tree of n leaves has at
most ceil(log2 n) elements, and at most one of them (the sibling on the right border) is made of
more than one stored subtree, so a proof reads O(log n) nodes.

Verifying follows the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 step by step, after checking
sizes, hash lengths and the exact proof length up front so that the error says what was wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ledger.tlog.merkle.compact import Address, decompose, fold
from ledger.tlog.merkle.rfc6962 import EMPTY_ROOT, HASH_SIZE, node_hash

GetNodes = Callable[[list[Address]], Sequence[bytes]]
"""Given (level, index) addresses, return their stored hashes in the same order (one call)."""

Range = tuple[int, int]


class ProofError(ValueError):
    """A proof, or the sizes, index or hashes given with it, is wrong; the message says how."""


# ------------------------------------------------------------------------------ preconditions


def _check_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"{name} must be an int >= 0, got {value!r}")


def _check_index(index: int, size: int) -> None:
    _check_size("tree size", size)
    _check_size("leaf index", index)
    if index >= size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")


def _check_sizes(size1: int, size2: int) -> None:
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size1 > size2:
        raise ProofError(f"size1 {size1} is greater than size2 {size2}")


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else repr(value)
        raise ProofError(f"{name} must be {HASH_SIZE} bytes, got {got}")


def _check_proof(proof: Sequence[bytes], want: int, what: str) -> None:
    if len(proof) != want:
        raise ProofError(f"wrong proof length for {what}: got {len(proof)} hashes, want {want}")
    for i, h in enumerate(proof):
        _check_hash(f"proof[{i}]", h)


# ------------------------------------------------------------------------------ building


def _split(n: int) -> int:
    """k, the largest power of two smaller than n (n >= 2), where RFC 9162 §2.1.1 splits."""
    return 1 << ((n - 1).bit_length() - 1)


def _inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose MTHs form PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf end first.

    Walks the §2.1.1 recursion from the root down to the leaf; at each split the proof needs
    the MTH of the half that does not hold the leaf.
    """
    ranges: list[Range] = []
    begin, end = 0, size
    while end - begin > 1:
        mid = begin + _split(end - begin)
        if index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((begin, mid))
            begin = mid
    ranges.reverse()
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[Range]:
    """The ranges whose MTHs form PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1), for
    0 < size1 < size2, in the RFC's order (bottom first).

    Walks SUBPROOF(m, D, b) down the §2.1.1 recursion until a node ends exactly at size1. That
    node's own MTH is needed too, unless it is the whole old tree (b is still true), whose root
    the verifier already holds.
    """
    ranges: list[Range] = []
    begin, end, whole_old_tree = 0, size2, True
    while end != size1:
        mid = begin + _split(end - begin)
        if size1 <= mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((begin, mid))
            begin = mid
            whole_old_tree = False
    if not whole_old_tree:
        ranges.append((begin, end))
    ranges.reverse()
    return ranges


def _range_hashes(ranges: list[Range], get_nodes: GetNodes) -> list[bytes]:
    """MTH of each range, from one `get_nodes` call (none when there are no ranges)."""
    groups = [decompose(begin, end) for begin, end in ranges]
    addresses = [address for group in groups for address in group]
    if not addresses:
        return []
    hashes = list(get_nodes(addresses))
    if len(hashes) != len(addresses):
        raise ProofError(f"get_nodes returned {len(hashes)} hashes for {len(addresses)} addresses")
    result, start = [], 0
    for group in groups:
        result.append(fold(hashes[start : start + len(group)]))
        start += len(group)
    return result


def inclusion_proof(index: int, size: int, get_nodes: GetNodes) -> list[bytes]:
    """PATH(index, D[0:size]), RFC 9162 §2.1.3.1. Requires 0 <= index < size."""
    _check_index(index, size)
    return _range_hashes(_inclusion_ranges(index, size), get_nodes)


def consistency_proof(size1: int, size2: int, get_nodes: GetNodes) -> list[bytes]:
    """PROOF(size1, D[0:size2]), RFC 9162 §2.1.4.1. Requires 0 <= size1 <= size2.

    Empty when size1 == size2 (nothing to prove) or size1 == 0 (every tree extends the empty
    tree; RFC 9162 defines proofs only for 0 < size1, and `verify_consistency` rejects size1 0).
    """
    _check_sizes(size1, size2)
    if size1 == 0 or size1 == size2:
        return []
    return _range_hashes(_consistency_ranges(size1, size2), get_nodes)


def root(size: int, get_nodes: GetNodes) -> bytes:
    """MTH(D[0:size]) (RFC 9162 §2.1.1) from the stored subtrees of `frontier_nodes(size)`."""
    _check_size("tree size", size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], get_nodes)[0]


# ------------------------------------------------------------------------------ verifying


def _inclusion_length(index: int, size: int) -> int:
    """Length of PATH(index, D[0:size]) for 0 <= index < size.

    Leaf `index` and the last leaf `size - 1` first differ at bit `inner - 1`: below level
    `inner` the path climbs inside a perfect subtree and has a sibling at every level. From
    level `inner` up it runs along the right border, where a node has a sibling (a perfect
    subtree to its left) only at the levels where `index` has a 1 bit.
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_length(size1: int, size2: int) -> int:
    """Length of PROOF(size1, D[0:size2]) for 0 < size1 < size2.

    The last old leaf `size1 - 1` ends a perfect subtree of 2**shift leaves (shift = trailing
    zeros of size1) that is whole in both trees. The proof is that subtree's hash (the "seed")
    followed by the inclusion path of leaf `size1 - 1` in the new tree above level `shift`;
    the seed is left out when it is the whole old tree (size1 a power of two), as the verifier
    already holds it as root1.
    """
    shift = (size1 & -size1).bit_length() - 1
    seed = 0 if size1 == 1 << shift else 1
    return seed + _inclusion_length(size1 - 1, size2) - shift


def _mismatch(name: str, calculated: bytes, expected: bytes) -> ProofError:
    return ProofError(f"{name} mismatch: the proof gives {calculated.hex()}, expected {bytes(expected).hex()}")


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` gives for leaf `leaf_hash` at `index` in a tree of `size`.

    RFC 9162 §2.1.3.2, steps 1-4. Raises ProofError unless 0 <= index < size, the hashes are
    32 bytes and the proof has exactly the length that (index, size) requires.
    """
    _check_index(index, size)
    _check_hash("leaf hash", leaf_hash)
    _check_proof(proof, _inclusion_length(index, size), f"leaf {index} in tree size {size}")
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:  # unreachable after the length check; kept because the RFC requires it
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # On the right border: skip the levels where the node has no sibling.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # unreachable after the length check; RFC 9162 §2.1.3.2 step 5
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that `proof` shows leaf `leaf_hash` at `index` in the tree of `size` with `root`.

    RFC 9162 §2.1.3.2. Returns None on success, raises ProofError otherwise.
    """
    calculated = root_from_inclusion_proof(index, size, leaf_hash, proof)
    _check_hash("root", root)
    if calculated != root:
        raise _mismatch("root", calculated, root)


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of `size2` with `root2` extends the tree of `size1` with `root1`.

    RFC 9162 §2.1.4.2. Returns None on success, raises ProofError otherwise. Edge cases follow
    the transparency-dev/merkle conformance vectors: size1 == 0 is refused (there is nothing to
    prove, and RFC 9162 defines proofs only for 0 < size1); when size1 == size2 the proof must be
    empty and the roots byte-for-byte equal (the only claim left, so no other check is made).
    """
    _check_sizes(size1, size2)
    if size1 == 0:
        raise ProofError("size1 is 0: a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError(f"size1 == size2 == {size1}, so the proof must be empty")
        if root1 != root2:
            raise ProofError(f"size1 == size2 == {size1}, but root1 and root2 differ")
        return
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_proof(proof, _consistency_length(size1, size2), f"tree sizes {size1} -> {size2}")
    # Step 2: a power-of-two old tree is itself the seed subtree, which the proof leaves out.
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, bytes(root1))
    # Steps 3-5: skip the levels inside the seed subtree, then start from the seed.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    # Step 6: fr rebuilds the old root from the left-hand hashes only; sr the new root.
    for c in path[1:]:
        if sn == 0:  # unreachable after the length check; kept because the RFC requires it
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:  # unreachable after the length check
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise _mismatch("root1", fr, root1)
    if sr != root2:
        raise _mismatch("root2", sr, root2)
