"""RFC 9162 (RFC 6962) Merkle tree integrity: hasher, compact ranges, proofs.

- `rfc6962`: the tree hasher (§2.1.1).
- `chain`: OneClaim's hash chain over the leaves.
- `compact`: perfect-subtree addressing, range decomposition, and the compact range
  (right border) of a tree growing from leaf 0.
- `proof`: building inclusion/consistency proofs from stored perfect subtrees with one batch read,
  and verifying them (§2.1.3, §2.1.4).
"""

from ledger.tlog.merkle.chain import ZERO_CHAIN, chain_hash
from ledger.tlog.merkle.compact import CompactRange, decompose, fold, frontier_nodes, perfect_root
from ledger.tlog.merkle.proof import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from ledger.tlog.merkle.rfc6962 import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash

__all__ = [
    "EMPTY_ROOT",
    "ZERO_CHAIN",
    "chain_hash",
    "HASH_SIZE",
    "CompactRange",
    "ProofError",
    "consistency_proof",
    "decompose",
    "fold",
    "frontier_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "perfect_root",
    "root",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]
