"""`oneclaim log ...`: the tamper-evident log's checkpoints, keys and proofs."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ledger.errors import LedgerError
from oneclaim.home import Home
from oneclaim.output import HomeOpt, JsonOpt, b64, emit, failures, opened, usage_error

log_app = typer.Typer(help="The tamper-evident log: checkpoints, keys and proofs.", no_args_is_help=True)


@log_app.command("checkpoint")
def log_checkpoint(home: HomeOpt = None) -> None:
    """Print the current checkpoint with its witnesses' cosignatures: the latest that met the
    witness quorum once one has (a newer one is current only when its quorum is met), else the
    latest signed."""
    from ledger.database import checkpoint_notes

    with failures():
        try:  # read straight from the log table: no need to load the application for this
            latest = checkpoint_notes(Home.at(home).db_url, which="current")
        except FileNotFoundError as e:
            raise LedgerError(str(e), code="NOT_INITIALISED") from None
        if not latest:
            raise LedgerError("no checkpoint has been signed yet: run `oneclaim log sign`", code="NO_CHECKPOINT")
    sys.stdout.write(latest[0][2])


@log_app.command("sign")
def log_sign(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Sign a checkpoint of the current tree head (no-op if the tree has not grown) and print it."""
    h = Home.at(home)
    with opened(home, as_json) as ledger:
        cp = ledger.sign_checkpoint(h.signer(), h.origin)
    if as_json:
        print(json.dumps({"tree_size": cp.tree_size, "root_hash": b64(cp.root), "note": cp.note}, indent=2))
    else:
        sys.stdout.write(cp.note)


@log_app.command("set-policy")
def log_set_policy(
    policy_file: Annotated[str, typer.Argument(help="A C2SP tlog-policy file naming the witnesses and the quorum.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the log's witness policy: the witnesses (with their URLs) asked to cosign each
    checkpoint, and the quorum a checkpoint needs to be published."""
    import os
    from pathlib import Path

    from ledger.tlog.policy import PolicyError, load_policy

    h = Home.at(home)
    with failures(as_json):
        h.config  # noqa: B018  (raises NotInitialised)
        try:
            policy = load_policy(policy_file)
        except PolicyError as e:
            raise LedgerError(str(e), code="POLICY_INVALID") from None
        tmp = h.policy_path.with_suffix(".tmp")
        tmp.write_bytes(Path(policy_file).read_bytes())
        os.replace(tmp, h.policy_path)
    payload = {"policy": str(h.policy_path), "witnesses": sorted(policy.witnesses), "quorum": policy.describe()}
    emit(as_json, payload, f"Witness policy set: {len(policy.witnesses)} witness(es), quorum {policy.describe()}")


@log_app.command("publish")
def log_publish(
    timeout: Annotated[float, typer.Option(help="Seconds each witness has to answer.")] = 5.0,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign the head and ask the policy's witnesses to cosign it (C2SP tlog-witness); publish it
    when the quorum is met, and print it with its cosignatures. Exit 1 if the quorum is not met
    (QUORUM_NOT_MET, or WITNESS_AHEAD when a witness has seen more of this log than it holds)."""
    h = Home.at(home)
    with failures(as_json):
        policy = h.policy()
        if policy is None:
            raise LedgerError("no witness policy: set one with `oneclaim log set-policy FILE`", code="NO_POLICY")
    with opened(home, as_json) as ledger:
        publication = ledger.publish_checkpoint(h.signer(), h.origin, policy, timeout=timeout)
    result = publication.to_json()
    if as_json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        for asked in publication.witnesses:
            status = "cosigned" if asked.cosigned else f"{asked.code}: {asked.message}"
            print(f"  {asked.witness}: {status}" + (f" (time {asked.timestamp})" if asked.timestamp else ""))
        if publication.published:
            sys.stdout.write(publication.note)
        else:
            print(f"{publication.code}: {publication.message}", file=sys.stderr)
    raise typer.Exit(0 if publication.published else 1)


@log_app.command("verifier-key")
def log_verifier_key(home: HomeOpt = None) -> None:
    """Print the log's verifier key (Go sumdb/note form: name+hash+base64(0x01||pubkey))."""
    with failures():
        print(Home.at(home).verifier_key())


@log_app.command("prove-inclusion")
def log_prove_inclusion(
    seq: Annotated[int, typer.Argument(help="The event's sequence number (its leaf index).")],
    tree_size: Annotated[
        int | None,
        typer.Option("--tree-size", help="Prove against this tree size (default: current)."),
    ] = None,
    proof_format: Annotated[
        str,
        typer.Option("--format", help="json (RFC 9162 proof) or tlog-proof (C2SP: event, proof, cosigned checkpoint)."),
    ] = "json",
    home: HomeOpt = None,
) -> None:
    """Print an RFC 9162 inclusion proof for one event as JSON, or (--format tlog-proof) a C2SP
    tlog-proof against the current checkpoint with its witnesses' cosignatures: one file that
    proves the event to anyone holding the log's policy (`oneclaim audit verify-proof`)."""
    if proof_format not in ("json", "tlog-proof"):
        raise usage_error("--format is json or tlog-proof")
    with opened(home, True) as ledger:
        if proof_format == "tlog-proof":
            sys.stdout.write(ledger.log.tlog_proof(seq, tree_size))
        else:
            print(json.dumps(ledger.log.inclusion_proof(seq, tree_size).to_json(), indent=2))


@log_app.command("prove-consistency")
def log_prove_consistency(
    old_size: Annotated[int, typer.Argument(help="The earlier tree size.")],
    new_size: Annotated[int, typer.Argument(help="The later tree size.")],
    home: HomeOpt = None,
) -> None:
    """Print an RFC 9162 consistency proof between two tree sizes as JSON."""
    with opened(home, True) as ledger:
        print(json.dumps(ledger.log.consistency_proof(old_size, new_size).to_json(), indent=2))


@log_app.command("compare")
def log_compare(
    checkpoint: Annotated[str, typer.Argument(help="A signed checkpoint note someone else was shown (a file).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Gossip: is a checkpoint someone else was shown consistent with this log? It must be signed
    by this log's key. If its root is this log's root at its size, prints the RFC 9162
    consistency proof from it to our head; if not, prints both signed checkpoints, a proof of a
    split view (SPLIT_VIEW, exit 1). A checkpoint beyond our head means our log is behind what
    was shown (CHECKPOINT_AHEAD, exit 1)."""
    from pathlib import Path

    from ledger.tlog.note import NoteError, open_note, parse_checkpoint, parse_verifier_key

    h = Home.at(home)
    with opened(home, as_json) as ledger:
        try:
            note = Path(checkpoint).read_text(encoding="utf-8")
        except OSError as e:
            raise LedgerError(f"cannot read {checkpoint}: {e.strerror}", code="FILE_UNREADABLE") from None
        try:
            theirs = parse_checkpoint(open_note(note, [parse_verifier_key(h.verifier_key())])[0])
        except NoteError as e:
            raise LedgerError(f"{checkpoint} is not a checkpoint signed by this log's key: {e}",
                              code="CHECKPOINT_SIGNATURE") from None  # fmt: skip
        if theirs.origin != h.origin:
            raise LedgerError(
                f"{checkpoint} is for origin {theirs.origin!r}, not {h.origin!r}", code="CHECKPOINT_ORIGIN"
            )
        ours = ledger.sign_checkpoint(h.signer(), h.origin)  # our head, signed, to set beside theirs
        if theirs.size > ours.tree_size:
            result = {"consistent": None, "code": "CHECKPOINT_AHEAD", "theirs": note, "ours": ours.note,
                      "message": f"the checkpoint shown is of size {theirs.size}, beyond our head {ours.tree_size}:"
                      " this log is behind what was shown (a rollback, or a fork)"}  # fmt: skip
        elif ledger.log.root(theirs.size) != theirs.root:
            signed = {cp.tree_size: cp.note for cp in ledger.log.checkpoints()}
            result = {"consistent": False, "code": "SPLIT_VIEW", "theirs": note,
                      "ours": signed.get(theirs.size, ours.note),
                      "message": f"two checkpoints signed by this log's key disagree at size {theirs.size}:"
                      " a proof that the log showed different histories"}  # fmt: skip
        else:
            proof = ledger.log.consistency_proof(theirs.size, ours.tree_size).to_json()
            message = f"the checkpoint of size {theirs.size} is a prefix of our head {ours.tree_size}"
            result = {"consistent": True, "code": None, "theirs": note, "ours": ours.note, "proof": proof,
                      "message": message}  # fmt: skip
    if as_json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(("OK " if result["consistent"] else f"{result['code']}: ") + result["message"])
        if not result["consistent"]:
            print(f"theirs:\n{result['theirs']}\nours:\n{result['ours']}", end="")
    raise typer.Exit(0 if result["consistent"] else 1)
