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

from ledger.tlog.canonical import (
    CanonicalJSONTranscoder,
    NotCanonical,
    canonical_event,
    canonical_json,
    first_not_canonical,
    parse_canonical,
)

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


# Any JSON value OneClaim events may hold: no floats, integers within I-JSON's range, any text
# (characters beyond U+FFFF and in U+E000..U+FFFF included, where UTF-16 and code-point orders differ).
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(VALUES)
def test_the_fast_canonical_encoder_is_rfc8785(value) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)
    assert parse_canonical(rfc8785.dumps(value)) == value


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"a":1,"a":2}', "RFC 8785"),  # a duplicate member name
        (b'{"b":1,"a":2}', "RFC 8785"),  # members out of order
        (b'{"a": 1}', "RFC 8785"),  # whitespace
        ('{"\ue000":1,"\U0001f600":2}'.encode(), "RFC 8785"),  # code-point order, not UTF-16
        (b'{"a":"\\u00e9"}', "RFC 8785"),  # an escape RFC 8785 does not use
        (b'{"a":1.5}', "not an integer"),
        (b'{"a":1e3}', "not an integer"),
        (b'{"a":1e+20}', "not an integer"),  # as orjson writes floats with no fraction
        (b'{"a":1e-7}', "not an integer"),
        (b'{"a":[1.5]}', "not an integer"),
        (b'{"a":-9007199254740992}', "2^53"),
        (b'{"a":9007199254740992}', "2^53"),
        (b'{"a":"\\ud800"}', "lone surrogate"),
        (b'{"a":NaN}', "not JSON"),
        (b"\xc3\x28", "not UTF-8"),
        (b'{"a":1', "not JSON"),
    ],
)
def test_bytes_that_are_not_canonical_i_json_are_named(raw: bytes, why: str) -> None:
    with pytest.raises(NotCanonical) as e:
        parse_canonical(raw)
    assert why in str(e.value)


# Bytes near canonical: JSON with floats, integers past 2^53, any text, written by encoders that
# sort or not, escape or not, and space or not, then sometimes spliced with a near-miss token.
# Names where UTF-16 and code-point orders disagree come up often, not by luck.
NAMES = st.sampled_from(["a", "\u00e9", "\ue000", "\uffff", "\U00010000", "\U0001f600"]) | TEXT
LOOSE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=4),
    max_leaves=12,
)
SPLICES = [b"", b" ", b"1.0", b"-0", b"1e2", b"9007199254740992", b'"\\u001F"', b'"\\u00e9"', b'"\\ud800"', b"\xff"]


def oracle(raw: bytes):
    """Canonical in OneClaim's profile, decided with the standard library and `rfc8785` alone."""

    def pairs(items):
        if len({k for k, _ in items}) != len(items):
            raise ValueError("duplicate name")
        return dict(items)

    def no_float(text):
        raise ValueError(text)

    def int_in_range(text):
        if abs(int(text)) > 2**53 - 1:
            raise ValueError(text)
        return int(text)

    try:
        value = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=pairs,
            parse_float=no_float,
            parse_int=int_in_range,
            parse_constant=no_float,
        )
        return rfc8785.dumps(value) == raw, value
    except (ValueError, rfc8785.CanonicalizationError, UnicodeError):
        return False, None


@given(
    value=st.dictionaries(NAMES, LOOSE, min_size=1, max_size=5),
    sort_keys=st.booleans(),
    ensure_ascii=st.booleans(),
    spaced=st.booleans(),
    splice=st.just(b"") | st.sampled_from(SPLICES),
    at=st.integers(0, 400),
)
def test_parse_canonical_accepts_exactly_what_rfc8785_accepts(value, sort_keys, ensure_ascii, spaced, splice, at):
    separators = (", ", ": ") if spaced else (",", ":")
    raw = json.dumps(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii, separators=separators).encode()
    if splice:
        at = raw.find(b":", min(at, len(raw))) + 1 or len(raw) // 2
        raw = raw[:at] + splice + raw[at:]
    canonical, expected = oracle(raw)
    try:
        got = parse_canonical(raw)
    except NotCanonical:
        assert not canonical, raw
    else:
        assert canonical, raw
        assert got == expected


def test_the_orjson_round_trip_decides_an_ordinary_event(monkeypatch) -> None:
    """The speed of the audit rests on this: a plain event never reaches the careful parse."""
    import ledger.tlog.canonical as canonical

    def careful(_text):
        raise AssertionError("the careful parse was used")

    event = canonical_event(
        uuid4().hex,
        3,
        "ledger.registry:Batch.Issued",
        transcoder().encode(
            {"serials": "GEC-2025-0001-000001..000120", "kwh": 120_000, "holder": "acct-1", "note": "绿证"}
        ),
    )
    monkeypatch.setattr(canonical, "_DECODER", type("D", (), {"decode": staticmethod(careful)}))
    assert parse_canonical(event)["originator_version"] == 3
    with pytest.raises(AssertionError, match="careful parse"):
        parse_canonical(event.replace(b'"kwh":120000', b'"kwh":120000.0'))


@given(
    batch=st.lists(
        st.builds(
            lambda v, sort_keys, ensure_ascii, spaced: json.dumps(
                v, sort_keys=sort_keys, ensure_ascii=ensure_ascii, separators=(", ", ": ") if spaced else (",", ":")
            ).encode(),
            st.dictionaries(NAMES, LOOSE, min_size=1, max_size=4),
            st.booleans(),
            st.booleans(),
            st.booleans(),
        ),
        max_size=6,
    )
)
def test_a_batch_is_judged_as_each_of_its_events_would_be(batch) -> None:
    """first_not_canonical decides the round trip's precondition once for the batch: it must still
    name the first event parse_canonical refuses, and no other."""
    refused = []
    for i, raw in enumerate(batch):
        try:
            parse_canonical(raw)
        except NotCanonical:
            refused.append(i)
    assert first_not_canonical(batch) == (refused[0] if refused else None)
