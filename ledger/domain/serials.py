"""Serial numbers and serial ranges as people write them (documented in docs/registry.md):
`<batch code>:<n>`, n = 1..N, and `<batch code>:<first>-<last>`, both inclusive. Internally a
range is 0-based and half-open. Also whole numbers as written in files and options. No aggregate
here, so commands can parse cheaply."""

from __future__ import annotations

from ledger.errors import InvalidInput


def parse_serial(serial: str) -> tuple[str, int]:
    """`<batch code>:<n>` -> (batch code, 0-based index)."""
    code, sep, n = serial.rpartition(":")
    if not sep or not code or not (n.isascii() and n.isdigit()) or int(n) < 1:
        raise InvalidInput(
            f"{serial!r} is not a serial number; the form is <batch code>:<n>, e.g. GEC-202501-SIP-PV-0001-T:17",
            code="SERIAL_MALFORMED",
        )
    return code, int(n) - 1


def parse_range(text: str) -> tuple[str, int, int]:
    """`<batch code>:<first>-<last>` (or a single serial) -> (code, start, end), 0-based half-open."""
    code, sep, span = text.rpartition(":")
    first, dash, last = span.partition("-")
    digits = all(part.isascii() and part.isdigit() for part in ((first, last) if dash else (first,)))
    if not sep or not code or not digits:
        raise InvalidInput(
            f"{text!r} is not a serial range; the form is <batch code>:<first>-<last>",
            code="SERIAL_MALFORMED",
        )
    start, end = int(first) - 1, int(last if dash else first)
    if start < 0 or end <= start:
        raise InvalidInput(f"{text!r} is an empty or reversed serial range", code="SERIAL_MALFORMED")
    return code, start, end


def spans_for(batch_code: str, serials: list[str] | None) -> list[tuple[int, int]] | None:
    """A serial selection (`<batch>:<first>-<last>` ranges, all in one batch) as 0-based spans;
    None for no selection (a quantity is taken instead)."""
    if not serials:
        return None
    spans = []
    for text in serials:
        code, start, end = parse_range(text)
        if code != batch_code:
            raise InvalidInput(f"{text} is not in batch {batch_code}", code="SERIAL_MALFORMED")
        spans.append((start, end))
    return spans


def format_range(code: str, start: int, end: int) -> str:
    return f"{code}:{start + 1}" if end == start + 1 else f"{code}:{start + 1}-{end}"


def parse_whole(name: str, text: str) -> int:
    """A whole number as written (ASCII digits, an optional sign). Only the form is checked here:
    `-5` is a whole number, and the range check of whatever it counts says it is out of range."""
    raw = text.strip() if isinstance(text, str) else text
    body = raw[1:] if isinstance(raw, str) and raw[:1] in "+-" else raw
    if not (isinstance(body, str) and body.isascii() and body.isdigit()):
        raise InvalidInput(f"{name} must be a whole number, got {text!r}", code="QUANTITY_NOT_INTEGER")
    return int(raw)
