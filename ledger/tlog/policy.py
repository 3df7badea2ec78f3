"""Trust policies in the C2SP tlog-policy syntax: which logs, which witnesses, and the quorum of
witness cosignatures a checkpoint needs before it is relied on.

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <name>...
    quorum <name>|none

Lines are split on ASCII spaces and tabs only; blank lines and lines starting with "#" are
ignored; names are opaque bytes; a group or the quorum may only name what precedes it; each name
is a member of a group at most once; no two logs, and no two witnesses, wrap the same public key;
exactly one quorum line. A witness key is a cosignature/v1 vkey (type 0x04); a log key a note
vkey (type 0x01).

`Policy.witnessed(note)` checks a cosigned checkpoint: the log's signature (open_note), then every
cosignature line from a witness of the policy (unknown lines are ignored, as signed-note says),
and whether the cosigners satisfy the quorum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ledger.tlog.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    NoteError,
    Verifier,
    _split_note,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    verify_cosignature,
)

NONE = "none"
_WHITESPACE = re.compile(rb"[ \t]+")
_ALLOWED = re.compile(rb"[^\x00-\x08\x0b-\x1f\x7f]*")


class PolicyError(ValueError):
    """A policy file that is not valid tlog-policy (code POLICY_INVALID, with the line)."""

    code = "POLICY_INVALID"


@dataclass(frozen=True)
class Witness:
    name: str
    verifier: Verifier  # type 0x04 (cosignature/v1)
    url: str | None = None


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Cosigner:
    """One witness whose cosignature on a checkpoint verified."""

    witness: str  # the policy's name for it
    key_name: str  # the name on its signature line
    timestamp: int


@dataclass
class Witnessed:
    """What a policy says of one cosigned checkpoint."""

    text: str
    cosigners: list[Cosigner]
    quorum_met: bool


@dataclass
class Policy:
    logs: list[tuple[Verifier, str | None]] = field(default_factory=list)
    witnesses: dict[str, Witness] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    quorum: str = NONE

    # ------------------------------------------------------------------ evaluation

    def satisfied(self, cosigned: set[str], name: str | None = None) -> bool:
        """Whether witnesses (policy names) `cosigned` satisfy the group or witness `name`
        (default: the quorum)."""
        name = self.quorum if name is None else name
        if name == NONE:
            return True
        if name in self.witnesses:
            return name in cosigned
        group = self.groups[name]
        return sum(self.satisfied(cosigned, m) for m in group.members) >= group.threshold

    def log_verifiers(self, origin: str | None = None) -> list[Verifier]:
        return [v for v, _ in self.logs if origin is None or v.name == origin]

    def cosigners(self, note: str | bytes) -> list[Cosigner]:
        """The witnesses of this policy whose cosignature on the note verifies, once each, in
        note order. Lines from other keys are ignored; a line that matches a witness's name and
        key ID but does not verify is refused (NoteError), as signed-note requires of a known key."""
        text, sigs = _split_note(note)
        parse_checkpoint(text)
        by_key = {(w.verifier.name, w.verifier.key_hash): w for w in self.witnesses.values()}
        found: dict[str, Cosigner] = {}
        for sig in sigs:
            witness = by_key.get((sig.name, sig.key_id))
            if witness is not None:
                timestamp = verify_cosignature(text, sig.line, witness.verifier)
                found.setdefault(witness.name, Cosigner(witness.name, sig.name, timestamp))
        return list(found.values())

    def witnessed(self, note: str | bytes, log_verifiers: list[Verifier] | None = None) -> Witnessed:
        """Check the log's signature (by the policy's logs unless given), then the cosignatures."""
        text, _ = open_note(note, self.log_verifiers() if log_verifiers is None else log_verifiers)
        found = self.cosigners(note)
        return Witnessed(text, found, self.satisfied({c.witness for c in found}))

    def describe(self) -> str:
        """The quorum in words, e.g. "2 of (chuzhou, jiaxing)"."""

        def words(name: str) -> str:
            if name == NONE or name in self.witnesses:
                return name
            g = self.groups[name]
            return f"{g.threshold} of ({', '.join(words(m) for m in g.members)})"

        return words(self.quorum)


# ---------------------------------------------------------------------- parsing


def witnessing(policy: Policy, notes: dict[int, str], events: int) -> dict:
    """What a policy says of a verified log's checkpoints (their log signatures already checked):
    each one's cosigners, and whether the checkpoint covering the last event meets the quorum,
    the one an auditor relies on. `failure` is None when it does."""
    checkpoints = []
    for size in sorted(notes):
        try:
            cosigners = policy.cosigners(notes[size])
        except NoteError as e:
            failure = {"code": "COSIGNATURE_INVALID", "message": f"checkpoint {size}: {e}"}
            return {"quorum": policy.describe(), "checkpoints": checkpoints, "failure": failure}
        checkpoints.append({
            "tree_size": size,
            "quorum_met": policy.satisfied({c.witness for c in cosigners}),
            "cosigners": [{"witness": c.witness, "key_name": c.key_name, "timestamp": c.timestamp} for c in cosigners],
        })  # fmt: skip
    covering = next((c for c in checkpoints if c["tree_size"] == events), None)
    failure = None
    if covering is None or not covering["quorum_met"]:
        names = ", ".join(c["witness"] for c in covering["cosigners"]) if covering else ""
        failure = {
            "code": "QUORUM_NOT_MET",
            "message": f"the checkpoint covering all {events} events is cosigned by {names or 'no witness'} of the"
            f" policy; it wants {policy.describe()}",
        }
    return {"quorum": policy.describe(), "covering": events, "checkpoints": checkpoints, "failure": failure}


def _key(vkey: bytes, want: int, what: str, lineno: int) -> Verifier:
    try:
        verifier = parse_verifier_key(vkey.decode("utf-8"))
    except (NoteError, UnicodeDecodeError) as e:
        raise PolicyError(f"line {lineno}: the {what} key is not a vkey: {e}") from None
    if verifier.key_type != want:
        kind = "cosignature/v1 (type 0x04)" if want == ALG_COSIGNATURE_V1 else "Ed25519 note (type 0x01)"
        raise PolicyError(f"line {lineno}: a {what} key must be a {kind} vkey")
    return verifier


def parse_policy(raw: bytes | str) -> Policy:
    """Parse a policy file (bytes: names are opaque octets; text is encoded as UTF-8)."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    policy = Policy()
    names: set[str] = set()
    members_used: set[str] = set()
    public_keys: dict[str, set[bytes]] = {"log": set(), "witness": set()}
    quorum_seen = False
    lines = data.split(b"\n")
    for lineno, line in enumerate(lines, 1):
        if not _ALLOWED.fullmatch(line):
            raise PolicyError(f"line {lineno}: control characters other than tab are not allowed")
        items = [item for item in _WHITESPACE.split(line.strip(b" \t")) if item]
        if not items or items[0].startswith(b"#"):
            continue
        keyword, args = items[0], [a.decode("utf-8", "surrogateescape") for a in items[1:]]
        if keyword == b"log":
            if len(args) not in (1, 2):
                raise PolicyError(f"line {lineno}: log <vkey> [<url>]")
            verifier = _key(items[1], ALG_ED25519, "log", lineno)
            if verifier.public_key in public_keys["log"]:
                raise PolicyError(f"line {lineno}: a duplicate log key")
            public_keys["log"].add(verifier.public_key)
            policy.logs.append((verifier, args[1] if len(args) == 2 else None))
        elif keyword == b"witness":
            if len(args) not in (2, 3):
                raise PolicyError(f"line {lineno}: witness <name> <vkey> [<url>]")
            name = args[0]
            _new_name(name, names, lineno)
            verifier = _key(items[2], ALG_COSIGNATURE_V1, "witness", lineno)
            if verifier.public_key in public_keys["witness"]:
                raise PolicyError(f"line {lineno}: a duplicate witness key")
            public_keys["witness"].add(verifier.public_key)
            policy.witnesses[name] = Witness(name, verifier, args[2] if len(args) == 3 else None)
            names.add(name)
        elif keyword == b"group":
            if len(args) < 3:
                raise PolicyError(f"line {lineno}: group <name> all|any|<k> <name>...")
            name, k, members = args[0], args[1], args[2:]
            _new_name(name, names, lineno)
            for m in members:
                if m == NONE or m not in names:
                    raise PolicyError(f"line {lineno}: group member {m!r} is not a witness or group defined above")
                if m in members_used:
                    raise PolicyError(f"line {lineno}: {m!r} is already a member of a group")
                members_used.add(m)
            if k == "all":
                threshold = len(members)
            elif k == "any":
                threshold = 1
            elif re.fullmatch(r"[1-9][0-9]*", k) and int(k) <= len(members):
                threshold = int(k)
            else:
                raise PolicyError(f"line {lineno}: the threshold {k!r} must be all, any or 1..{len(members)}")
            policy.groups[name] = Group(name, threshold, tuple(members))
            names.add(name)
        elif keyword == b"quorum":
            if len(args) != 1:
                raise PolicyError(f"line {lineno}: quorum <name>")
            if quorum_seen:
                raise PolicyError(f"line {lineno}: a second quorum line")
            if args[0] != NONE and args[0] not in names:
                raise PolicyError(f"line {lineno}: the quorum {args[0]!r} is not a witness or group defined above")
            policy.quorum, quorum_seen = args[0], True
        else:
            raise PolicyError(f"line {lineno}: unknown keyword {keyword.decode('utf-8', 'replace')!r}")
    if not quorum_seen:
        raise PolicyError("the policy has no quorum line (use `quorum none` to require no witness)")
    return policy


def _new_name(name: str, names: set[str], lineno: int) -> None:
    if name == NONE:
        raise PolicyError(f"line {lineno}: {NONE!r} is a reserved name")
    if name in names:
        raise PolicyError(f"line {lineno}: the name {name!r} is defined twice")


def load_policy(path: str | Path) -> Policy:
    try:
        return parse_policy(Path(path).read_bytes())
    except OSError as e:
        raise PolicyError(f"cannot read the policy {path}: {e.strerror}") from None
