"""`oneclaim audit ...`: export a self-contained audit bundle, and verify one (or a database)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from ledger.database import EVENTS_TABLE, dialect
from ledger.errors import LedgerError
from oneclaim.home import Home
from oneclaim.output import HomeOpt, JsonOpt, emit, err, failures, out, progress_bar, usage_error

audit_app = typer.Typer(help="Export and verify audit bundles.", no_args_is_help=True)


@audit_app.command("export")
def audit_export(
    directory: Annotated[Path, typer.Argument(help="Folder to write the bundle into (must be empty or new).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a self-contained audit bundle: events, checkpoints, verifier key, README."""
    from ledger.tlog import audit

    with failures(as_json):
        h = Home.at(home)
        if directory.exists() and any(directory.iterdir()):
            raise LedgerError(f"{directory} is not empty", code="EXPORT_DIR_NOT_EMPTY")
        factory = progress_bar("exporting")
        progress = None
        ledger = h.ledger()
        policy, up_to = h.policy(), None
        try:  # sign the head first, so that the bundle ends with a signed checkpoint
            latest = ledger.log.latest_checkpoint()
            if policy is not None:  # and have it witnessed: the bundle ends at the current checkpoint
                publication = ledger.publish_checkpoint(h.signer(), h.origin, policy)
                if not publication.published:
                    err.print(f"{publication.code}: {publication.message}; the bundle ends at the last published one")
                up_to = ledger.log.current_checkpoint().tree_size
            elif latest is None or latest.tree_size != ledger.log.size():
                ledger.sign_checkpoint(h.signer(), h.origin)
            if factory is not None:
                progress = factory(ledger.log.size() if up_to is None else up_to)
        finally:
            ledger.close()
        url = h.db_url
        manifest = audit.export_bundle(
            url,
            directory,
            events_table=EVENTS_TABLE[dialect(url)],
            origin=h.origin,
            verifier_key=h.verifier_key(),
            readme=audit.BUNDLE_README.read_text(),
            progress=progress,
            up_to=up_to,
        )
    n_cp = len(manifest["checkpoints"])
    emit(
        as_json,
        manifest,
        f"Exported {manifest['tree_size']} events and {n_cp} checkpoints to {directory}",
    )


@audit_app.command("verify")
def audit_verify(
    directory: Annotated[
        Path | None, typer.Argument(help="An audit bundle folder (default: the home's database).")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Verify a live database instead: sqlite:///PATH or postgresql://..."),
    ] = None,
    key: Annotated[str | None, typer.Option("--key", help="The verifier key you trust (name+hash+base64).")] = None,
    trust_file: Annotated[
        Path | None, typer.Option("--trust", help="A trust file you keep: `vkey KEY` and `origin ORIGIN|none`.")
    ] = None,
    origin: Annotated[
        str | None, typer.Option("--origin", help="The origin to require (default: the trusted key's name).")
    ] = None,
    unauthenticated: Annotated[
        bool,
        typer.Option("--unauthenticated", help="Use the bundle's own key: checks consistency only; exits 1."),
    ] = False,
    fast: Annotated[
        bool, typer.Option("--fast", help="Bundles: the batched verifier instead of the reference.")
    ] = False,
    rpc: Annotated[str | None, typer.Option("--rpc", help="Also check the anchors on this chain.")] = None,
    contract: Annotated[str | None, typer.Option("--contract", help="The anchor contract (with --rpc).")] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy", help="A C2SP tlog-policy: its log key is trusted, and its witness quorum required."),
    ] = None,
    witness_address: Annotated[
        list[str] | None,
        typer.Option("--witness-address", help="NAME=0xADDRESS (with --policy, --rpc): a witness's EVM address."),
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a bundle (the reference verifier, or --fast) or a database, trusting only the key you
    give (--key or --trust). Every event must be covered by a checkpoint that key signed, in
    canonical bytes, with leaves, chain and roots recomputed. With no bundle and no --db, the
    home's own database against the home's key.

    With --rpc and --contract, also check that every anchor of the log on chain, up to the
    audited size, is one of the audited log's signed checkpoints. Exits 0 only when everything
    holds; otherwise names the first bad sequence number or anchor.

    With --policy, the key is the policy's log key for the origin (unless --key or --trust is
    given), and the checkpoint covering the last event must carry cosignatures from the policy's
    witnesses that meet its quorum (QUORUM_NOT_MET otherwise); the witnesses who cosigned each
    checkpoint are reported, with their timestamps. Unknown signatures are ignored.

    With --policy, --rpc and --witness-address NAME=ADDRESS (each witness's EVM address, from the
    witness), the anchors must also be cosigned on chain by the quorum (ANCHOR_QUORUM_NOT_MET),
    as `oneclaim anchor verify --policy` checks.
    """
    from ledger.tlog import audit, reference
    from ledger.tlog import trust as trusting

    if (rpc is None) != (contract is None):
        raise usage_error("--rpc and --contract go together")
    if directory is not None and db is not None:
        raise usage_error("give a bundle DIR or --db URL, not both")
    if witness_address and (policy_file is None or rpc is None):
        raise usage_error("--witness-address goes with --policy and --rpc")
    if key is not None and trust_file is not None:
        raise usage_error("give --key or --trust, not both")
    with failures(as_json):
        authenticated = not unauthenticated
        own = directory is None and db is None  # the data directory's own database
        if own:
            db = Home.at(home).db_url
        policy = None if policy_file is None else _load_policy(policy_file)
        if policy is not None and key is None and trust_file is None:
            trust = trusting.from_key(_policy_log_key(policy, origin), origin, f"the policy's log key ({policy_file})")
        elif trust_file is not None:
            trust = trusting.from_file(trust_file)
            if origin is not None:
                trust = trusting.from_key(trust.vkey, origin, trust.source)
        elif key is not None:
            trust = trusting.from_key(key, origin)
        elif own:
            own_key = Home.at(home).verifier_key()
            trust = trusting.from_key(own_key, origin, "the home's log.vkey (your own registry's key)")
        elif unauthenticated and directory is not None:
            bundle_key = reference.read_text(directory / "verifier.key")
            trust = trusting.from_key(bundle_key, origin, "UNAUTHENTICATED: the bundle's own verifier.key")
        else:
            raise LedgerError(
                "no trusted key: give --key KEY or --trust FILE with the key you obtained from the registry"
                " yourself (the bundle's own copy proves nothing; --unauthenticated checks consistency only)",
                code="KEY_REQUIRED",
            )
        factory = progress_bar("verifying")
        if directory is not None and not fast:
            report = reference.verify_bundle(directory, trust)
        elif directory is not None:
            report = audit.verify_bundle(directory, trust, progress_factory=factory)
        else:
            report = audit.verify_database(db, trust, events_table=EVENTS_TABLE[dialect(db)], progress_factory=factory)
        report.authenticated = authenticated
    witnessed = None
    if policy is not None and report.ok:
        from ledger.database import checkpoint_notes
        from ledger.tlog.policy import witnessing

        with failures(as_json):
            if directory is not None:
                notes = {int(p.stem): reference.read_text(p) for p in (directory / "checkpoints").glob("*.note")}
            else:
                notes = {size: note for size, _, note in checkpoint_notes(db)}
            witnessed = witnessing(policy, notes, report.events)
        if witnessed["failure"]:
            report = replace(report, ok=False)
    anchors = None
    if rpc is not None and report.ok:
        with failures(as_json):
            from anchoring import audit as anchor_audit  # web3 loads only when anchors are checked

            on_chain = anchor_audit.ChainWitnesses.parse(policy, witness_address) if witness_address else None
            anchors = (
                anchor_audit.check_bundle_anchored(directory, rpc, contract, trust.vkey, on_chain)
                if directory is not None
                else anchor_audit.check_database_anchored(db, rpc, contract, trust.vkey, on_chain)
            )
        if anchors["failures"]:
            report = replace(report, ok=False)
    ok = report.ok and authenticated
    if as_json:
        print(json.dumps({**report.to_dict(), "anchors": anchors, "witnesses": witnessed}, indent=2))
    elif witnessed and witnessed["failure"]:
        err.print(f"[bold red]FAILED[/] {witnessed['failure']['code']}: {witnessed['failure']['message']}")
    elif anchors and anchors["failures"]:
        for f in anchors["failures"]:
            err.print(f"[bold red]FAILED[/] {f['code']}: {f['message']}")
    elif report.ok:
        label = "[green]OK[/]" if authenticated else "[yellow]UNAUTHENTICATED[/] consistent, but"
        out.print(
            f"{label} {report.events} events, all covered by {report.checkpoints} signed checkpoints, verified"
            f" by the {report.verifier} verifier in {report.seconds:.2f}s; signed root {report.root}\n"
            f"key from {report.key_source}"
        )
        if not authenticated:
            err.print("the key came from the bundle itself: anyone can make a bundle that passes this check")
        if witnessed is not None:
            (covering,) = [c for c in witnessed["checkpoints"] if c["tree_size"] == report.events]
            cosigners = ", ".join(
                f"{c['witness']} ({c['key_name']}, time {c['timestamp']})" for c in covering["cosigners"]
            )
            out.print(
                f"[green]OK[/] witnessed: the checkpoint of size {report.events} meets the quorum"
                f" {witnessed['quorum']}: cosigned by {cosigners or 'no witness (quorum none)'}",
                markup=True,
            )
        if anchors is not None:
            out.print(
                f"[green]OK[/] {anchors['anchors_matched']} on-chain anchors are checkpoints of this log;"
                f" its {anchors['anchors_recorded']} anchor record(s) are on chain; the chain anchors tree size"
                f" {anchors['chain_tree_size']}, not beyond the log; {anchors['events_after_latest_anchor']}"
                " later event(s) are bound by the signed head only, until the next anchor"
            )
            if anchors["witnessing"] is not None:
                from oneclaim.anchor_cli import witnessing_lines

                out.print(witnessing_lines(anchors["witnessing"]), markup=False)
    else:
        f = report.failure
        where = "" if f.seq is None else f" at seq {f.seq}"
        err.print(f"[bold red]FAILED[/] {f.code}{where}: {f.message}")
    raise typer.Exit(0 if ok else 1)


def _load_policy(path: Path):
    from ledger.tlog.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as e:
        raise LedgerError(str(e), code="POLICY_INVALID") from None


def _policy_log_key(policy, origin: str | None) -> str:
    keys = policy.log_verifiers(origin)
    if len(keys) != 1:
        which = f"for origin {origin!r}" if origin else "(give --origin to choose)"
        raise LedgerError(f"the policy has {len(keys)} log keys {which}; give --key", code="KEY_REQUIRED")
    return keys[0].verifier_key()


@audit_app.command("verify-proof")
def audit_verify_proof(
    proof_file: Annotated[Path, typer.Argument(help="A C2SP tlog-proof (log prove-inclusion --format tlog-proof).")],
    policy_file: Annotated[Path, typer.Option("--policy", help="The C2SP tlog-policy you trust: log, witnesses.")],
    event_file: Annotated[
        Path | None, typer.Option("--event", help="The event's canonical bytes (default: the proof's extra line).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a tlog-proof offline: the checkpoint signed by the policy's log, cosigned by a
    quorum of its witnesses, and the event included at its index. Prints the event."""
    from ledger.tlog.tlogproof import TlogProofError, verify_tlog_proof

    with failures(as_json):
        policy = _load_policy(policy_file)
        try:
            text = proof_file.read_text(encoding="utf-8")
            event = None if event_file is None else event_file.read_bytes()
        except (OSError, UnicodeDecodeError) as e:
            raise LedgerError(f"cannot read the proof or event: {e}", code="FILE_UNREADABLE") from None
        try:
            proved = verify_tlog_proof(text, policy, event)
        except TlogProofError as e:
            raise LedgerError(e.message, code=e.code) from None
    result = proved.to_json()
    cosigners = ", ".join(f"{c['witness']} (time {c['timestamp']})" for c in result["cosigners"]) or "none needed"
    emit(as_json, result, f"OK event {proved.index} of {proved.origin} is in its tree of size {proved.tree_size},"
         f" witnessed by {cosigners}\n{result['event']}")  # fmt: skip


@audit_app.command("verify-transfer")
def audit_verify_transfer(
    directory: Annotated[Path, typer.Argument(help="A transfer's receipt (oneclaim agreement receipt).")],
    source_policy: Annotated[Path, typer.Option(help="The tlog-policy you trust for the source registry.")],
    destination_policy: Annotated[Path, typer.Option(help="The tlog-policy you trust for the destination.")],
    as_json: JsonOpt = False,
) -> None:
    """Verify a cross-region transfer's receipt offline: the packet sent, the destination's
    decision on it, and the source's settlement, each proved under the policy you bring."""
    from ledger.receipt import verify_receipt

    with failures(as_json):
        summary = verify_receipt(directory, _load_policy(source_policy), _load_policy(destination_policy))
    emit(as_json, summary, f"OK {summary['channel']} #{summary['sequence']}: {summary['quantity']}"
         f" {summary['instrument']} from {summary['source']} ({summary['sender']}) to {summary['destination']}"
         f" ({summary['receiver']}): {summary['outcome']} there, {summary['settled_as']} here")  # fmt: skip


@audit_app.command("compare")
def audit_compare(
    checkpoint: Annotated[Path, typer.Argument(help="A signed checkpoint note someone else was shown.")],
    directory: Annotated[Path, typer.Argument(help="An audit bundle of the same log, which is verified first.")],
    key: Annotated[str | None, typer.Option("--key", help="The log's verifier key you trust.")] = None,
    trust_file: Annotated[Path | None, typer.Option("--trust", help="A trust file (vkey, origin).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Gossip for auditors, with no OneClaim database: is a checkpoint someone else was shown the
    same tree as the bundle's prefix of that size? Both must be signed by the trusted key. If the
    roots differ, prints the two signed checkpoints (SPLIT_VIEW, exit 1); a checkpoint beyond the
    bundle is CHECKPOINT_AHEAD (exit 1): the bundle is behind what was shown."""
    from ledger.tlog import reference
    from ledger.tlog import trust as trusting
    from ledger.tlog.note import NoteError, open_note, parse_checkpoint

    with failures(as_json):
        if (key is None) == (trust_file is None):
            raise LedgerError("give the key you trust: --key KEY or --trust FILE", code="KEY_REQUIRED")
        trust = trusting.from_file(trust_file) if trust_file is not None else trusting.from_key(key)
        note = reference.read_text(checkpoint) if checkpoint.is_file() else ""
        try:
            theirs = parse_checkpoint(open_note(note, [trust.verifier])[0])
        except NoteError as e:
            raise LedgerError(f"{checkpoint} is not a checkpoint signed by the trusted key: {e}",
                              code="CHECKPOINT_SIGNATURE") from None  # fmt: skip
        if theirs.origin != trust.origin:
            raise LedgerError(f"{checkpoint} is for origin {theirs.origin!r}", code="CHECKPOINT_ORIGIN")
        report = reference.verify_bundle(directory, trust)
    if not report.ok:
        f = report.failure
        emit(as_json, {"consistent": None, "code": f.code, "message": f.message}, f"FAILED {f.code}: {f.message}")
        raise typer.Exit(1)
    notes = {int(p.stem): p.read_text() for p in (directory / "checkpoints").glob("*.note")}
    ours = notes.get(theirs.size) or notes[max(notes)]
    if theirs.size > report.events:
        message = f"the checkpoint shown is of size {theirs.size}, beyond the bundle's {report.events}"
        result = {"consistent": None, "code": "CHECKPOINT_AHEAD", "theirs": note, "ours": ours, "message": message}
    elif reference.root_of_first(directory / "events.jsonl", theirs.size) != theirs.root:
        message = f"the trusted key signed two different trees of size {theirs.size}: a split view"
        result = {"consistent": False, "code": "SPLIT_VIEW", "theirs": note, "ours": ours, "message": message}
    else:
        result = {"consistent": True, "code": None, "theirs": note, "ours": notes[max(notes)],
                  "message": f"the checkpoint of size {theirs.size} is the bundle's prefix of that size"}  # fmt: skip
    text = ("OK " if result["consistent"] else f"{result['code']}: ") + result["message"]
    if not result["consistent"]:
        text += f"\ntheirs:\n{result['theirs']}\nours:\n{result['ours']}"
    emit(as_json, result, text)
    raise typer.Exit(0 if result["consistent"] else 1)


@audit_app.command("monitor")
def audit_monitor(
    policy_file: Annotated[Path, typer.Option("--policy", help="The C2SP tlog-policy you trust: log, witnesses.")],
    log_url: Annotated[str, typer.Option("--log", help="The log's API (GET /v1/checkpoint, /v1/proofs/consistency).")],
    origin: Annotated[
        str | None, typer.Option("--origin", help="The log's origin (default: the policy's one log).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds each source has to answer.")] = 5.0,
    as_json: JsonOpt = False,
) -> None:
    """Gossip between witnesses: read what each witness of the policy last cosigned for the log
    (its monitoring endpoint) and what the log serves, keep what the log key signed and the
    witness cosigned, and check it is one history: SPLIT_VIEW (two roots at one size, proved by
    the two notes) or CONSISTENCY_UNPROVEN (the log cannot prove a smaller view a prefix of the
    largest) exit 1. A witness that does not answer is reported, and proves nothing."""
    from ledger.tlog.monitor import monitor

    with failures(as_json):
        policy = _load_policy(policy_file)
        origin = origin or _policy_log_key(policy, None).split("+", 1)[0]
        result = monitor(policy, origin, log_url, timeout=timeout)
    lines = [f"{s['source']}: size {s['tree_size']}, root {s['root'][:16]}…" for s in result["seen"]]
    lines += [f"{p['code']} {p['source']}: {p['message']}" for p in result["problems"]]
    if result["consistent"] is None:
        lines.append(f"NOTHING_VERIFIED: no witness and not the log gave a checkpoint of {origin} that verifies")
    elif result["consistent"]:
        lines.append(f"OK {len(result['seen'])} views of {origin} are one history, up to size {result['largest']}")
    else:
        for f in result["findings"]:
            lines.append(f"{f['code']}: {f['message']}")
            lines += [f"--- {source}\n{note}" for source, note in zip(f["sources"], f["notes"], strict=True)]
    emit(as_json, result, "\n".join(lines))
    raise typer.Exit(0 if result["consistent"] else 1)  # None (nothing verified) is no pass
