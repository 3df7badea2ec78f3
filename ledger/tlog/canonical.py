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

import json
import re
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
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


# ------------------------------------------------------------------ checking bytes someone else wrote

MAX_SAFE_INTEGER = 2**53 - 1
"""I-JSON (RFC 7493 §2.2): integers beyond ±(2^53 − 1) are not interoperable."""


class NotCanonical(ValueError):
    """Bytes that are not I-JSON, or not in their RFC 8785 form."""


def _no_float(text: str) -> float:
    raise NotCanonical(f"the number {text} is not an integer (OneClaim events hold no floats)")


def _safe_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise NotCanonical(f"the integer {text} is beyond ±(2^53 − 1), not I-JSON")
    return value


def _no_constant(text: str) -> None:
    raise NotCanonical(f"{text} is not JSON")


def parse_canonical(raw: bytes) -> Any:
    """Parse bytes that must be canonical: UTF-8 I-JSON (RFC 7493) in the OneClaim profile (no
    floats, integers within ±(2^53 − 1)), byte-equal to its RFC 8785 serialisation. Returns the
    value; raises NotCanonical saying what is wrong.

    Duplicate member names need no hook: a parse keeps one of them, so the re-serialisation is
    shorter than `raw`. Lone surrogates fail when the serialisation is encoded as UTF-8.

    Most events are decided by an orjson round trip, about a tenth of the cost; it only ever
    accepts bytes the careful parse accepts too (`_for_orjson` says what it leaves to that
    parse, and tests/test_canonical.py checks the two agree), and anything it does not accept is
    parsed carefully, so every failure is named the same way.
    """
    if _for_orjson(raw):
        try:
            value = orjson.loads(raw)
            if orjson.dumps(value, option=_ORJSON_CANONICAL) == raw:
                return value
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass  # the careful parse below names what is wrong
    try:
        text = raw.decode("utf-8")
        # integers are checked against I-JSON's range only where a long enough digit run exists:
        # a hook on every integer would cost more than the rest of the check
        value = _DECODER.decode(text)
    except UnicodeDecodeError as e:
        raise NotCanonical(f"not UTF-8: {e.reason} at byte {e.start}") from None
    except json.JSONDecodeError as e:
        raise NotCanonical(f"not JSON: {e.msg} at character {e.pos}") from None
    try:
        again = canonical_json(value)
    except UnicodeEncodeError:
        raise NotCanonical("a string holds a lone surrogate, not I-JSON") from None
    if again != raw:
        raise NotCanonical(f"not in RFC 8785 form (canonical: {again[:80]!r}…)")
    return value


def first_not_canonical(raws: list[bytes], joined: bytes | None = None) -> int | None:
    """The index of the first of `raws` (JSON objects, as events are) that parse_canonical
    refuses, or None: the answer of calling it on each, with the round trip's precondition
    checked once for the whole batch. `joined` is any bytes holding each of them whole, apart
    from bytes none of `_for_orjson`'s patterns can straddle (newlines; bundle lines around their
    events); by default the batch joined with newlines. It passes only if every one of them does."""
    if all(raw[:1] == b"{" for raw in raws) and _for_orjson(b"\n".join(raws) if joined is None else joined):
        loads, dumps = orjson.loads, orjson.dumps
        for i, raw in enumerate(raws):
            try:
                if dumps(loads(raw), option=_ORJSON_CANONICAL) == raw:
                    continue
            except (orjson.JSONDecodeError, orjson.JSONEncodeError):
                pass
            try:
                parse_canonical(raw)  # the round trip did not decide it: the careful parse does
            except NotCanonical:
                return i
        return None
    for i, raw in enumerate(raws):
        try:
            parse_canonical(raw)
        except NotCanonical:
            return i
    return None


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON value with no floats and integers within ±(2^53 − 1). orjson's
    sorted compact output is RFC 8785 for such values, except that RFC 8785 orders member names
    by UTF-16 code units: the two orders differ only for names with characters beyond U+FFFF, so
    values whose bytes hold any are given to the `rfc8785` library (tests/test_canonical.py
    compares both). A string with a lone surrogate raises UnicodeEncodeError."""
    try:
        out = orjson.dumps(value, option=_ORJSON_CANONICAL)
    except orjson.JSONEncodeError:
        out = _ENCODER.encode(value).encode("utf-8")  # names a lone surrogate; else as orjson
    return rfc8785.dumps(value) if not _for_orjson_order(out) else out


_ORJSON_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
"""orjson's compact output with sorted names, refusing integers beyond ±(2^53 − 1)."""

_FRACTION = re.compile(rb"\.[0-9]+[,}\]eE]")
_BELOW_4_BYTE_UTF8 = bytes(range(0xF0))


def _for_orjson_order(raw: bytes) -> bool:
    """No 4-byte UTF-8 sequence: orjson orders names by code point, RFC 8785 by UTF-16 code
    units, and the two differ only for characters beyond U+FFFF."""
    return raw.isascii() or not raw.translate(None, _BELOW_4_BYTE_UTF8)


def _for_orjson(raw: bytes) -> bool:
    """Whether an orjson round trip can decide these bytes: an object with no 4-byte UTF-8
    sequence (see above) and nothing
    that may be a float the round trip would keep (OneClaim's profile has none). orjson writes
    every float with a fraction or an exponent sign, so a float that survives the round trip holds
    `.digits` followed by `,`, `}`, `]` or an exponent, or `e+` or `e-`. A match inside a string
    only costs the careful parse."""
    return (
        raw[:1] == b"{"
        and _for_orjson_order(raw)
        and b"e+" not in raw
        and b"e-" not in raw
        and not _FRACTION.search(raw)
    )


_DECODER = json.JSONDecoder(parse_float=_no_float, parse_int=_safe_int, parse_constant=_no_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)
