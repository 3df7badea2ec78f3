"""Signed notes, transparency-log checkpoints and cosignatures (C2SP).

This module implements three small public specifications, and nothing else:

* c2sp.org/signed-note -- a *note* is UTF-8 text signed by one or more keys::

      <text, ending in "\\n">
      <blank line>
      — <key name> <base64(key ID (4 bytes, big-endian) || signature)>
      ...                                  (one such line per signature)

  The signature line starts with U+2014 (em dash) and a space and ends in
  "\\n".  The signed message is the text *including* its final newline, but
  not the blank line.  The text is separated from the signatures by the
  *last* blank line of the note.  No ASCII control character other than
  "\\n" may appear anywhere.  Key names are non-empty and contain neither
  "+" nor Unicode spaces.

  key ID = first 4 bytes of SHA-256(name || "\\n" || type byte || public key),
  read as a big-endian uint32 and printed as 8 lower-case hex digits.

  A verifier key ("vkey") is ``<name>+<key ID hex>+<base64(type || public key)>``;
  the matching Go private key string (golang.org/x/mod/sumdb/note) is
  ``PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || 32-byte Ed25519 seed)>``.

  Type 0x01 is a plain Ed25519 signature over the text.

* c2sp.org/tlog-checkpoint -- a note whose text is ``origin\\nsize\\nbase64(root)\\n``
  optionally followed by non-empty extension lines (see ``Checkpoint``).

* c2sp.org/tlog-cosignature (Ed25519, type 0x04) -- a witness signature line
  whose 72 signature bytes are ``timestamp (u64, big-endian) || Ed25519 sig``
  over the message::

      cosignature/v1
      time <timestamp, decimal, no leading zeros>
      <the whole checkpoint text, including extension lines>

  The cosigner's key ID and verifier key use type byte 0x04, so the same
  Ed25519 key has a different key ID as a cosigner than as a note signer.

Verification semantics (``open_note``) follow Go's ``note.Open`` and the spec:
a signature whose (name, key ID) is not among the given verifiers is ignored;
a signature from a known key MUST verify, otherwise the whole note is rejected;
a note with no verified signature is rejected.  One deliberate difference from
Go: Go checks only the first signature of a repeated key, we check every one.

Choices made here, so an auditor does not have to guess:

* ``Signer.sign`` and ``cosign`` return one complete signature line, *with*
  its trailing "\\n" (the spec's definition of a signature line), so a note is
  always ``text + "\\n" + "".join(lines)``.
* Base64 must be canonical (standard alphabet, padded, re-encodes to the same
  string) and key IDs must be 8 lower-case hex digits, so every accepted note,
  key and checkpoint has exactly one spelling.
* A note may carry at most ``MAX_SIGNATURES`` (100, Go's limit) signatures.
* A plain (0x01) signer refuses texts that begin with "cosignature/v1\\n", so an
  Ed25519 key that is (against advice) used for both roles can never be led to
  produce something that also parses as a cosignature.  Use separate keys.
* Error messages never contain private key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteError",
    "Signer",
    "Verifier",
    "add_signature_lines",
    "add_signatures",
    "cosign",
    "cosignature_message",
    "generate_signer",
    "open_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "sign_note",
    "verify_cosignature",
]

ALG_ED25519 = 0x01  # c2sp.org/signed-note: Ed25519 over the note text
ALG_COSIGNATURE_V1 = 0x04  # c2sp.org/tlog-cosignature: timestamped Ed25519
MAX_SIGNATURES = 100  # Go's limit; the spec requires accepting at least 16

SIG_PREFIX = "\u2014 "  # em dash, space
COSIGNATURE_V1_HEADER = "cosignature/v1\n"
_MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature: MUST NOT exceed 2^63 - 1
_MAX_TREE_SIZE = 2**64 - 1
_ED25519_SIG_LEN = 64

# ASCII control characters other than "\n", and lone surrogates (a str holding
# one cannot be encoded as UTF-8, so it cannot be part of a valid note).
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x09\x0b-\x1f\ud800-\udfff]")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")

NOTE_MALFORMED = "NOTE_MALFORMED"
NOTE_UNKNOWN_KEY = "NOTE_UNKNOWN_KEY"
NOTE_BAD_SIGNATURE = "NOTE_BAD_SIGNATURE"
NOTE_NO_VERIFIED_SIGNATURE = "NOTE_NO_VERIFIED_SIGNATURE"
KEY_MALFORMED = "KEY_MALFORMED"
CHECKPOINT_MALFORMED = "CHECKPOINT_MALFORMED"


class NoteError(ValueError):
    """A note, key, checkpoint or cosignature was rejected.

    ``code`` is one of the stable strings NOTE_MALFORMED, NOTE_UNKNOWN_KEY,
    NOTE_BAD_SIGNATURE, NOTE_NO_VERIFIED_SIGNATURE, KEY_MALFORMED,
    CHECKPOINT_MALFORMED; ``message`` says what was wrong.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"NoteError({self.code!r}, {self.message!r})"


# --- small helpers -----------------------------------------------------------


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Decode canonical standard base64; None if ``text`` is anything else."""
    if not text or not text.isascii():
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if _b64encode(raw) == text else None


def _key_id(name: str, type_and_key: bytes) -> int:
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + type_and_key).digest()
    return int.from_bytes(digest[:4], "big")


def _name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid key name, or None if it is."""
    if not isinstance(name, str) or not name:
        return "key name must be a non-empty string"
    if "+" in name:
        return f"key name {name!r} contains '+'"
    if any(c.isspace() for c in name):
        return f"key name {name!r} contains a space"
    if _FORBIDDEN_CHARS.search(name):
        return f"key name {name!r} contains a control character or invalid UTF-8"
    return None


def _check_text(text: object) -> str:
    """Check that ``text`` can be the text of a note; return it."""
    if not isinstance(text, str):
        raise NoteError(NOTE_MALFORMED, "note text must be a str")
    if not text.endswith("\n"):
        raise NoteError(NOTE_MALFORMED, "note text must end with a newline")
    if _FORBIDDEN_CHARS.search(text):
        raise NoteError(NOTE_MALFORMED, "note text contains a control character or invalid UTF-8")
    return text


def _signature_line(name: str, key_id: int, signature: bytes) -> str:
    return f"{SIG_PREFIX}{name} {_b64encode(key_id.to_bytes(4, 'big') + signature)}\n"


@dataclass(frozen=True)
class _SigLine:
    """One parsed signature line: key name, key ID and the signature bytes."""

    name: str
    key_id: int
    signature: bytes  # the bytes after the 4-byte key ID
    line: str  # the line as written, with its trailing "\n"


def _parse_signature_line(line: str) -> _SigLine:
    """Parse one signature line given without its trailing newline."""
    if not line.startswith(SIG_PREFIX):
        raise NoteError(NOTE_MALFORMED, f"not a signature line: {line[:60]!r}")
    name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
    problem = _name_problem(name)
    if problem or not sep:
        raise NoteError(NOTE_MALFORMED, problem or f"signature line has no signature: {line!r}")
    raw = _b64decode(b64)
    if raw is None or len(raw) < 5:
        raise NoteError(NOTE_MALFORMED, f"signature of key {name!r} is not valid base64")
    return _SigLine(name, int.from_bytes(raw[:4], "big"), raw[4:], line + "\n")


def _split_note(note: str | bytes) -> tuple[str, list[_SigLine]]:
    """Split a signed note into its text and parsed signature lines (no crypto)."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError(NOTE_MALFORMED, "note is not valid UTF-8") from None
    if not isinstance(note, str):
        raise NoteError(NOTE_MALFORMED, "note must be str or bytes")
    if _FORBIDDEN_CHARS.search(note):
        raise NoteError(NOTE_MALFORMED, "note contains a control character or invalid UTF-8")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError(NOTE_MALFORMED, "no blank line separates the text from the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError(NOTE_MALFORMED, "signature block is empty or does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(NOTE_MALFORMED, f"more than {MAX_SIGNATURES} signatures")
    return text, [_parse_signature_line(line) for line in lines]


# --- keys --------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A public key that can check signatures: name, type byte, raw key.

    ``key_type`` is ALG_ED25519 (0x01, plain note signature) or
    ALG_COSIGNATURE_V1 (0x04, timestamped cosignature).
    """

    name: str
    public_key: bytes  # 32-byte raw Ed25519 public key
    key_type: int = ALG_ED25519

    def __post_init__(self) -> None:
        problem = _name_problem(self.name)
        if problem:
            raise NoteError(KEY_MALFORMED, problem)
        if self.key_type not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise NoteError(KEY_MALFORMED, f"unsupported key type 0x{self.key_type:02x}")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            raise NoteError(KEY_MALFORMED, "Ed25519 public key must be 32 bytes")

    @property
    def key_hash(self) -> int:
        """The 32-bit key ID that prefixes this key's signatures."""
        return _key_id(self.name, bytes([self.key_type]) + self.public_key)

    def verifier_key(self) -> str:
        """This key as a verifier key string ``name+hash+base64(type||key)``."""
        type_and_key = bytes([self.key_type]) + self.public_key
        return f"{self.name}+{self.key_hash:08x}+{_b64encode(type_and_key)}"

    def verify(self, text: str, sig: bytes) -> bool:
        """Whether ``sig`` (the bytes after the key ID) is this key's signature of ``text``."""
        if self.key_type == ALG_COSIGNATURE_V1:
            timestamp = int.from_bytes(sig[:8], "big")
            if len(sig) != 8 + _ED25519_SIG_LEN or timestamp > _MAX_TIMESTAMP:
                return False
            sig = sig[8:]
        elif len(sig) != _ED25519_SIG_LEN:
            return False
        try:
            if self.key_type == ALG_COSIGNATURE_V1:
                message = cosignature_message(text, timestamp)
            else:
                message = text.encode("utf-8")
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(sig, message)
        except (InvalidSignature, UnicodeEncodeError):
            return False
        return True


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse ``name+hash+base64(type||pubkey)``; type must be 0x01 or 0x04.

    The key ID in the string must equal the one computed from name and key.
    """
    if not isinstance(vkey, str):
        raise NoteError(KEY_MALFORMED, "verifier key must be a str")
    parts = vkey.split("+", 2)  # base64 may itself contain '+'
    if len(parts) != 3:
        raise NoteError(KEY_MALFORMED, "verifier key must be name+hash+key")
    name, hash_hex, key_b64 = parts
    problem = _name_problem(name)
    if problem:
        raise NoteError(KEY_MALFORMED, problem)
    if not _KEY_ID_HEX.fullmatch(hash_hex):
        raise NoteError(KEY_MALFORMED, f"key hash {hash_hex!r} is not 8 lower-case hex digits")
    type_and_key = _b64decode(key_b64)
    if not type_and_key:
        raise NoteError(KEY_MALFORMED, "key material is not valid base64")
    if int(hash_hex, 16) != _key_id(name, type_and_key):
        raise NoteError(KEY_MALFORMED, f"key hash {hash_hex} does not match the key")
    if type_and_key[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise NoteError(KEY_MALFORMED, f"unknown key type 0x{type_and_key[0]:02x}")
    return Verifier(name, type_and_key[1:], type_and_key[0])


class Signer:
    """An Ed25519 private key with a key name; signs notes (type 0x01).

    The same object can cosign checkpoints (``cosign``), as type 0x04; its
    cosigner public key is ``cosignature_verifier()``.  The spec recommends a
    separate key for each role.
    """

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        problem = _name_problem(name)
        if problem:
            raise NoteError(KEY_MALFORMED, problem)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise NoteError(KEY_MALFORMED, "private key must be an Ed25519PrivateKey")
        self.name = name
        self._private_key = private_key
        self._public_key = private_key.public_key().public_bytes_raw()

    def __repr__(self) -> str:
        return f"Signer({self.name!r}, key_hash=0x{self.key_hash:08x})"

    @property
    def key_hash(self) -> int:
        return self.verifier().key_hash

    def verifier(self) -> Verifier:
        """The matching type 0x01 verifier."""
        return Verifier(self.name, self._public_key, ALG_ED25519)

    def cosignature_verifier(self) -> Verifier:
        """The matching type 0x04 (cosignature/v1) verifier."""
        return Verifier(self.name, self._public_key, ALG_COSIGNATURE_V1)

    def verifier_key(self) -> str:
        """The type 0x01 verifier key string, to give to verifiers."""
        return self.verifier().verifier_key()

    def sign(self, text: str) -> str:
        """Sign ``text``; return the signature line, including its final "\\n"."""
        _check_text(text)
        if text.startswith(COSIGNATURE_V1_HEADER):
            raise NoteError(NOTE_MALFORMED, "refusing to sign text that looks like a cosignature message")
        signature = self._private_key.sign(text.encode("utf-8"))
        return _signature_line(self.name, self.key_hash, signature)

    def private_key_string(self) -> str:
        """Go's ``PRIVATE+KEY+name+hash+base64(0x01||seed)``.  Secret!"""
        seed = self._private_key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.key_hash:08x}+{_b64encode(bytes([1]) + seed)}"

    @classmethod
    def from_private_key_string(cls, skey: str) -> Signer:
        """Parse Go's ``PRIVATE+KEY+name+hash+base64(0x01||seed)``."""
        if not isinstance(skey, str):
            raise NoteError(KEY_MALFORMED, "private key string must be a str")
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise NoteError(KEY_MALFORMED, "private key must be PRIVATE+KEY+name+hash+key")
        _, _, name, hash_hex, key_b64 = parts
        problem = _name_problem(name)
        if problem:
            raise NoteError(KEY_MALFORMED, problem)
        if not _KEY_ID_HEX.fullmatch(hash_hex):
            raise NoteError(KEY_MALFORMED, "private key hash is not 8 lower-case hex digits")
        raw = _b64decode(key_b64)
        if raw is None or len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError(KEY_MALFORMED, "private key is not base64(0x01 || 32-byte seed)")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_hash != int(hash_hex, 16):
            raise NoteError(KEY_MALFORMED, "private key hash does not match the key")
        return signer


def generate_signer(name: str) -> Signer:
    """A new Signer with a fresh random Ed25519 key."""
    return Signer(name, Ed25519PrivateKey.generate())


# --- notes -------------------------------------------------------------------


def add_signature_lines(note: str, *lines: str) -> str:
    """Append ready-made signature lines (e.g. from ``cosign``) to a signed note.

    Each line is checked for syntax only.  An existing signature with the same
    key name and key ID as a new one is dropped (as Go's ``note.Sign`` does).
    Existing signatures are NOT verified: open the note first if that matters.
    """
    text, existing = _split_note(note)
    sigs = list(existing)
    for line in lines:
        if not isinstance(line, str) or not line.endswith("\n") or "\n" in line[:-1]:
            raise NoteError(NOTE_MALFORMED, "a signature line is one line ending in newline")
        new = _parse_signature_line(line[:-1])
        sigs = [s for s in sigs if (s.name, s.key_id) != (new.name, new.key_id)]
        sigs.append(new)
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError(NOTE_MALFORMED, f"more than {MAX_SIGNATURES} signatures")
    return text + "\n" + "".join(s.line for s in sigs)


def add_signatures(note: str, *signers: Signer) -> str:
    """Sign the text of an existing signed note again with more signers."""
    text, _ = _split_note(note)
    return add_signature_lines(note, *(s.sign(text) for s in signers))


def sign_note(text: str, *signers: Signer) -> str:
    """Return the signed note: text, blank line, one signature line per signer."""
    _check_text(text)
    if not signers:
        raise NoteError(NOTE_MALFORMED, "a signed note needs at least one signature")
    first, *rest = signers
    return add_signatures(text + "\n" + first.sign(text), *rest)


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> tuple[str, list[str]]:
    """Verify a signed note; return (text, names of keys whose signatures verified).

    Signatures from keys not in ``verifiers`` are ignored.  Every signature from
    a known key must verify (NOTE_BAD_SIGNATURE), and at least one must
    (NOTE_NO_VERIFIED_SIGNATURE).  Names are listed once, in note order.
    """
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        if not isinstance(v, Verifier):
            raise TypeError("verifiers must be Verifier objects")
        other = known.setdefault((v.name, v.key_hash), v)
        if other != v:
            raise NoteError(KEY_MALFORMED, f"two verifiers share key {v.name}+{v.key_hash:08x}")
    text, sigs = _split_note(note)
    names: list[str] = []
    for sig in sigs:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue  # unknown key: ignored, as the spec requires
        if not verifier.verify(text, sig.signature):
            raise NoteError(NOTE_BAD_SIGNATURE, f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        if sig.name not in names:
            names.append(sig.name)
    if not names:
        seen = ", ".join(f"{s.name}+{s.key_id:08x}" for s in sigs)
        raise NoteError(NOTE_NO_VERIFIED_SIGNATURE, f"no signature from a known key (saw {seen})")
    return text, names


def signature_by(note: str | bytes, verifier: Verifier) -> bytes:
    """The signature `verifier`'s key made on a signed note (checked), e.g. to carry a checkpoint's
    signature somewhere the note itself does not go (an anchor's event)."""
    text, sigs = _split_note(note)
    for sig in sigs:
        if (sig.name, sig.key_id) == (verifier.name, verifier.key_hash) and verifier.verify(text, sig.signature):
            return sig.signature
    raise NoteError(NOTE_NO_VERIFIED_SIGNATURE, f"no valid signature by {verifier.name}+{verifier.key_hash:08x}")


# --- checkpoints (c2sp.org/tlog-checkpoint) ------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint: origin, tree size, 32-byte root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.extensions, tuple):
            raise NoteError(CHECKPOINT_MALFORMED, "extensions must be a tuple")
        for label, line in [("origin", self.origin), *(("extension", e) for e in self.extensions)]:
            if not isinstance(line, str) or not line:
                raise NoteError(CHECKPOINT_MALFORMED, f"{label} line must be a non-empty str")
            if "\n" in line or _FORBIDDEN_CHARS.search(line):
                raise NoteError(CHECKPOINT_MALFORMED, f"{label} line contains a control character")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise NoteError(CHECKPOINT_MALFORMED, "tree size must be an int")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise NoteError(CHECKPOINT_MALFORMED, f"tree size {self.size} out of range")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise NoteError(CHECKPOINT_MALFORMED, "root hash must be 32 bytes")

    def text(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each + "\\n"."""
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Strictly parse a checkpoint note text (not a whole signed note)."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError(CHECKPOINT_MALFORMED, "checkpoint text must end with a newline")
    if _FORBIDDEN_CHARS.search(text):
        raise NoteError(CHECKPOINT_MALFORMED, "checkpoint contains a control character")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError(CHECKPOINT_MALFORMED, "checkpoint needs origin, size and root lines")
    origin, size, root_b64, *extensions = lines
    if not _TREE_SIZE.fullmatch(size):
        raise NoteError(CHECKPOINT_MALFORMED, f"tree size {size[:30]!r} is not a decimal without leading zeros")
    root = _b64decode(root_b64)
    if root is None or len(root) != 32:
        raise NoteError(CHECKPOINT_MALFORMED, "root hash is not base64 of 32 bytes")
    return Checkpoint(origin, int(size), root, tuple(extensions))


# --- cosignatures (c2sp.org/tlog-cosignature, cosignature/v1, Ed25519) -------------


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a cosigner signs: header line, time line, whole checkpoint text."""
    return f"{COSIGNATURE_V1_HEADER}time {timestamp}\n{checkpoint_text}".encode()


def _check_timestamp(timestamp: object) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise NoteError(NOTE_MALFORMED, "cosignature timestamp must be an int")
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError(NOTE_MALFORMED, f"cosignature timestamp {timestamp} out of range")
    return timestamp


def cosign(checkpoint_text: str, signer: Signer, timestamp: int) -> str:
    """Cosign a checkpoint at ``timestamp`` (POSIX seconds).

    Returns one signature line, with its final "\\n", whose key ID is the
    signer's type 0x04 key ID; append it with ``add_signature_lines``.
    """
    parse_checkpoint(checkpoint_text)
    _check_timestamp(timestamp)
    signature = signer._private_key.sign(cosignature_message(checkpoint_text, timestamp))
    key_id = signer.cosignature_verifier().key_hash
    return _signature_line(signer.name, key_id, timestamp.to_bytes(8, "big") + signature)


def verify_cosignature(checkpoint_text: str, line: str, verifier: Verifier) -> int:
    """Check one cosignature line (trailing "\\n" optional); return its timestamp.

    ``verifier`` must be a type 0x04 key.  The caller decides whether the
    timestamp is fresh enough (the spec lets verifiers reject future times).
    """
    parse_checkpoint(checkpoint_text)
    if verifier.key_type != ALG_COSIGNATURE_V1:
        raise NoteError(KEY_MALFORMED, "verifier is not a cosignature/v1 (type 0x04) key")
    if not isinstance(line, str):
        raise NoteError(NOTE_MALFORMED, "cosignature line must be a str")
    body = line.removesuffix("\n")
    if "\n" in body or _FORBIDDEN_CHARS.search(body):
        raise NoteError(NOTE_MALFORMED, "cosignature must be a single line")
    sig = _parse_signature_line(body)
    if (sig.name, sig.key_id) != (verifier.name, verifier.key_hash):
        raise NoteError(
            NOTE_UNKNOWN_KEY,
            f"cosignature is from {sig.name}+{sig.key_id:08x}, not {verifier.name}+{verifier.key_hash:08x}",
        )
    if len(sig.signature) != 8 + _ED25519_SIG_LEN:
        raise NoteError(NOTE_MALFORMED, "cosignature is not timestamp (8) + signature (64) bytes")
    timestamp = int.from_bytes(sig.signature[:8], "big")
    if timestamp > _MAX_TIMESTAMP:
        raise NoteError(NOTE_MALFORMED, f"cosignature timestamp {timestamp} exceeds 2^63-1")
    if not verifier.verify(checkpoint_text, sig.signature):
        raise NoteError(NOTE_BAD_SIGNATURE, f"invalid cosignature from {sig.name}")
    return timestamp
