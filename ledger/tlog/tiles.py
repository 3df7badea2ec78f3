"""The log as C2SP tlog-tiles: hash tiles and entry bundles, read from the log store.

A tile at level L, index N and width W holds the hashes of the tree's nodes at height 8·L with
indexes 256·N … 256·N + W − 1, 32 bytes each, in order; level 0 holds the leaves. An entry
bundle holds the entries 256·N … 256·N + W − 1, each a big-endian 16-bit length and the event's
canonical bytes, exactly those whose RFC 6962 leaf hash is the log's leaf, so a client recomputes
every leaf from what it fetched. W is 256 for a full tile (path without `.p/W`), which never
changes once it exists, and 1…255 for a partial one.
"""

from __future__ import annotations

import re

from ledger.errors import InvalidInput, LedgerError, NotFound
from ledger.tlog.log import LogStore

HEIGHT = 8
WIDTH = 1 << HEIGHT

_INDEX = re.compile(r"((?:x[0-9]{3}/)*)([0-9]{3})(?:\.p/([0-9]{1,3}))?")


def tile_path(level: int | str, index: int, width: int = WIDTH) -> str:
    """`tile/<L>/<N>[.p/<W>]` (level "entries" for entry bundles), N in groups of three digits,
    all but the last prefixed with x: 1234067 -> x001/x234/067."""
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    n = "/".join([f"x{g}" for g in reversed(groups[1:])] + [groups[0]])
    return f"tile/{level}/{n}" + ("" if width == WIDTH else f".p/{width}")


def parse_index(text: str) -> tuple[int, int]:
    """(index, width) from `<N>[.p/<W>]` as tile_path writes it; anything else is refused."""
    m = _INDEX.fullmatch(text)
    width = int(m[3]) if m and m[3] else WIDTH
    if m is None or not 1 <= width <= WIDTH or (m[3] is not None and (width == WIDTH or m[3] != str(width))):
        raise InvalidInput(f"{text!r} is not a tile index (e.g. x001/x234/067 or 067.p/12)", code="TILE_PATH_INVALID")
    digits = [g[1:] for g in m[1].split("/") if g] + [m[2]]
    if len(digits) > 1 and digits[0] == "000":
        raise InvalidInput(f"{text!r} has a leading zero group", code="TILE_PATH_INVALID")
    return int("".join(digits)), width


def hash_tile(log: LogStore, level: int, index: int, width: int) -> bytes:
    if not 0 <= level <= 63:
        raise InvalidInput(f"tile level {level} is not in 0..63", code="TILE_PATH_INVALID")
    start = index * WIDTH
    hashes = log.hashes(level * HEIGHT, start, start + width)
    if len(hashes) < width:
        raise NotFound(f"{tile_path(level, index, width)} is beyond the tree", code="TILE_NOT_FOUND")
    return b"".join(hashes)


def entry_bundle(log: LogStore, index: int, width: int) -> bytes:
    start = index * WIDTH
    entries = log.entries(start, start + width)
    if len(entries) < width:
        raise NotFound(f"{tile_path('entries', index, width)} is beyond the log", code="TILE_NOT_FOUND")
    too_long = next((start + i for i, e in enumerate(entries) if len(e) > 0xFFFF), None)
    if too_long is not None:
        raise LedgerError(f"entry {too_long} is longer than an entry bundle can hold", code="ENTRY_TOO_LONG")
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)
