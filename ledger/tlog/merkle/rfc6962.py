"""The RFC 9162 (RFC 6962) tree hasher: SHA-256 with domain-separated leaves and nodes.

RFC 9162 §2.1.1 defines the Merkle Tree Hash (MTH) with these three rules:

    MTH({})        = SHA-256()
    leaf hash      = SHA-256(0x00 || d)
    interior node  = SHA-256(0x01 || left || right)

The 0x00 / 0x01 prefixes keep a leaf hash from ever being mistaken for an interior node hash
(RFC 9162 §2.1.1, second-preimage resistance). Nothing else lives in this module.
"""

from __future__ import annotations

from hashlib import sha256

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT: bytes = sha256(b"").digest()
"""MTH({}): the root of the tree with no leaves (RFC 9162 §2.1.1)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d), RFC 9162 §2.1.1."""
    return sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), RFC 9162 §2.1.1. Called on every append: kept minimal."""
    return sha256(_NODE_PREFIX + left + right).digest()
