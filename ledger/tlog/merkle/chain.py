"""OneClaim's hash chain, kept beside the RFC 9162 tree: each entry commits to every leaf before
it, so a row deleted or reordered in the middle of the log is found by a sequential read.

    chain[-1] = 32 zero bytes
    chain[i]  = SHA-256(chain[i-1] || leaf[i])

The only place the formula is written.
"""

from __future__ import annotations

from hashlib import sha256

ZERO_CHAIN = bytes(32)
"""The chain value before the first leaf."""


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """chain[i] = SHA-256(chain[i-1] || leaf[i])."""
    return sha256(previous + leaf).digest()
