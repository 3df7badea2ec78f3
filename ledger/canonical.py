"""Canonical bytes of an event (RFC 8785, JSON Canonicalization Scheme).

The log hashes the canonical form of each event, so anyone can recompute a leaf from an exported
event with any RFC 8785 implementation and SHA-256, and no OneClaim code.

An event's canonical form is the JSON object

    {"originator_id": "<32 hex>", "originator_version": <int>, "state": {...}, "topic": "<topic>"}

where `state` is the event's attributes as stored by eventsourcing. The transcoder below makes the
stored state itself canonical, so the envelope can be assembled from the stored columns by
concatenation: the keys above are already in RFC 8785 order, and canonical JSON embedded in
canonical JSON stays canonical. `tests/test_canonical.py` checks this against `rfc8785.dumps`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID

import rfc8785
from eventsourcing.persistence import JSONTranscoder

_JSON_SCALARS = (str, int, bool, type(None))


class CanonicalJSONTranscoder(JSONTranscoder):
    """eventsourcing's JSON transcoder, but every encoding is RFC 8785 canonical JSON.

    Floats are refused: quantities in OneClaim are integers in the smallest unit.
    """

    def encode(self, obj: Any) -> bytes:
        return rfc8785.dumps(self._plain(obj))

    def _plain(self, o: Any) -> Any:
        t = type(o)
        if t in _JSON_SCALARS:
            return o
        if t is dict:
            return {k: self._plain(v) for k, v in o.items()}
        if t is list or t is tuple:
            return [self._plain(v) for v in o]
        if t is float:
            raise TypeError(f"float {o!r} in an event: quantities must be integers")
        transcoding = self.types.get(t)
        if transcoding is None:
            raise TypeError(f"no transcoding registered for {t.__qualname__} in an event")
        return {"_type_": transcoding.name, "_data_": self._plain(transcoding.encode(o))}


@lru_cache(maxsize=4096)
def _json_string(s: str) -> bytes:
    return rfc8785.dumps(s)


def originator_hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else UUID(originator_id).hex


def canonical_event(originator_id_hex: str, originator_version: int, topic: str, state: bytes) -> bytes:
    """The RFC 8785 bytes of one stored event (see the module docstring)."""
    return b'{"originator_id":"%s","originator_version":%d,"state":%s,"topic":%s}' % (
        originator_id_hex.encode(),
        originator_version,
        state,
        _json_string(topic),
    )
