"""Canonical bytes: what the log hashes is exactly RFC 8785 of the exported event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
import rfc8785
from eventsourcing.persistence import DatetimeAsISO, UUIDAsHex
from hypothesis import given
from hypothesis import strategies as st

from ledger.canonical import CanonicalJSONTranscoder, canonical_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def transcoder() -> CanonicalJSONTranscoder:
    t = CanonicalJSONTranscoder()
    t.register(UUIDAsHex())
    t.register(DatetimeAsISO())
    return t


@given(
    state=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    topic=st.text(min_size=1),
    version=st.integers(1, 2**40),
)
def test_the_assembled_envelope_is_rfc8785_of_the_event(state, topic, version) -> None:
    oid = uuid4()
    stored_state = transcoder().encode(state)
    assert stored_state == rfc8785.dumps(state)
    assembled = canonical_event(oid.hex, version, topic, stored_state)
    event = {"originator_id": oid.hex, "originator_version": version, "state": state, "topic": topic}
    assert assembled == rfc8785.dumps(event)
    assert json.loads(assembled) == event


def test_registered_types_round_trip_through_canonical_json() -> None:
    t = transcoder()
    value = {"z": UUID(int=7), "a": datetime(2025, 1, 1, tzinfo=UTC), "n": [1, (2, 3)]}
    encoded = t.encode(value)
    assert encoded == rfc8785.dumps(json.loads(encoded))
    assert encoded.startswith(b'{"a":{"_data_":"2025-01-01T00:00:00+00:00","_type_":"datetime_iso"}')
    assert t.decode(encoded) == {**value, "n": [1, [2, 3]]}


def test_floats_and_unregistered_types_are_refused() -> None:
    with pytest.raises(TypeError, match="quantities must be integers"):
        transcoder().encode({"kwh": 1.5})
    with pytest.raises(TypeError, match="no transcoding registered"):
        transcoder().encode({"x": object()})
