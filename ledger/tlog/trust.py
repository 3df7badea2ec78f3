"""Trust roots: the verifier key and origin an auditor trusts, obtained outside what is verified.

A trust file is a small text file the auditor keeps, in the style of the C2SP log lists:

    # Suzhou Industrial Park registry, key read out at the 2026-11 meeting
    vkey oneclaim.local/suzhou-sip+fcbc7bab+AfR43o1uN9zCzcLdUJzVSHgCg+ld1DjI/1yA7a9GFkMw
    origin none

`origin none` (or no origin line) means the origin is the key's name, as C2SP recommends. Blank
lines and `#` comments are ignored. Any other line is an error: a trust root is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger.errors import InvalidInput
from ledger.tlog.note import NoteError, Verifier, parse_verifier_key


@dataclass(frozen=True)
class Trust:
    verifier: Verifier
    vkey: str
    origin: str
    source: str  # where the auditor's trust came from, for the report


def from_key(vkey: str, origin: str | None = None, source: str = "--key") -> Trust:
    """Trust a verifier key given on the command line; the origin defaults to the key's name."""
    vkey = vkey.strip()
    try:
        verifier = parse_verifier_key(vkey)
    except NoteError as e:
        raise InvalidInput(f"bad verifier key: {e}", code="KEY_MALFORMED") from e
    return Trust(verifier, vkey, origin or verifier.name, source)


def from_file(path: Path) -> Trust:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidInput(f"cannot read trust file {path}: {e.strerror}", code="TRUST_FILE_UNREADABLE") from None
    fields: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, value = line.partition(" ")
        if word not in ("vkey", "origin") or not value.strip() or word in fields:
            raise InvalidInput(
                f"{path} line {n}: expected one `vkey KEY` and at most one `origin ORIGIN|none`, got {line!r}",
                code="TRUST_FILE_INVALID",
            )
        fields[word] = value.strip()
    if "vkey" not in fields:
        raise InvalidInput(f"{path} names no `vkey`", code="TRUST_FILE_INVALID")
    origin = fields.get("origin")
    return from_key(fields["vkey"], None if origin in (None, "none") else origin, source=f"trust file {path}")


def of(verifier: Verifier, origin: str | None = None, source: str = "a verifier object") -> Trust:
    """Trust a Verifier already in hand (tests, benchmarks, the demo's own check)."""
    return from_key(verifier.verifier_key(), origin, source)
