"""`oneclaim agreement ...` and `oneclaim relay`: cross-region recognition and transfers
(docs/transfers.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ledger.domain.serials import spans_for
from ledger.errors import InvalidInput
from oneclaim.home import Home
from oneclaim.output import HomeOpt, JsonOpt, OnOpt, day, emit, failures, opened
from oneclaim.registry_cli import QuantityOpt, RequestOpt, SerialsOpt

agreement_app = typer.Typer(help="Recognition agreements with partner registries, and transfers.",
                            no_args_is_help=True)  # fmt: skip


def _json_file(path: str, what: str) -> dict:
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InvalidInput(f"{path}: not a JSON file of {what} ({e})", code="TERMS_INVALID") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{path}: {what} are a JSON object", code="TERMS_INVALID")
    return value


def _view(ledger, agreement) -> dict:
    return {
        "code": agreement.code, "us": agreement.us, "partner": agreement.partner,
        "terms_sha256": agreement.terms_sha256, "recorded_seq": ledger.log.seq_of(agreement.id, 1),
        "in_force": agreement.confirmed is not None, "confirmed": agreement.confirmed,
        "partner_seen": agreement.partner_seen, "next_send": agreement.next_send,
        "next_receive": agreement.next_receive,
        "sent": {str(n): s["state"] for n, s in sorted(agreement.sent.items())},
        "decided": {str(n): d["outcome"] for n, d in sorted(agreement.decided.items())},
    }  # fmt: skip


@agreement_app.command("terms")
def agreement_terms(
    code: Annotated[str, typer.Option(help="The agreement's code, e.g. SIP-CZ-2026.")],
    partner_origin: Annotated[str, typer.Option(help="The partner log's origin.")],
    partner_key: Annotated[str, typer.Option(help="The partner log's verifier key.")],
    partner_policy: Annotated[str, typer.Option(help="The tlog-policy file this registry applies to the partner.")],
    our_policy: Annotated[
        str | None, typer.Option(help="The tlog-policy the partner applies to us (default: our witness policy).")
    ] = None,
    instruments: Annotated[str, typer.Option(help="Instruments both recognise, comma-separated.")] = "INCLUSION",
    methodologies: Annotated[str | None, typer.Option(help="Methodologies recognised, comma-separated.")] = None,
    valid_from: Annotated[str, typer.Option()] = "2026-01-01",
    valid_until: Annotated[str, typer.Option()] = "2028-12-31",
    home: HomeOpt = None,
) -> None:
    """Print draft terms (JSON) naming this registry and a partner; both record the same file."""
    with failures():
        h = Home.at(home)
        ours = Path(our_policy).read_text() if our_policy else None
        if ours is None:
            ours = h.policy_path.read_text() if h.policy_path.exists() else f"log {h.verifier_key()}\nquorum none\n"
        if f"log {h.verifier_key()}" not in ours:
            ours = f"log {h.verifier_key()}\n{ours}"
        theirs = Path(partner_policy).read_text()
        recognised: dict = {"instruments": [i for i in instruments.split(",") if i]}
        if methodologies:
            recognised["methodologies"] = [m for m in methodologies.split(",") if m]
        parties = sorted([{"origin": h.origin, "verifier_key": h.verifier_key(), "policy": ours},
                          {"origin": partner_origin, "verifier_key": partner_key, "policy": theirs}],
                         key=lambda p: p["origin"])  # fmt: skip
        terms = {"code": code, "parties": parties, "recognises": {h.origin: recognised, partner_origin: recognised},
                 "valid_from": valid_from, "valid_until": valid_until}  # fmt: skip
    print(json.dumps(terms, indent=2, ensure_ascii=False))


@agreement_app.command("record")
def agreement_record(
    terms_file: Annotated[str, typer.Argument(help="The terms, JSON (`oneclaim agreement terms`).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record recognition terms this registry agrees to. In force once the partner's own record
    of the same terms is proved here (`oneclaim relay` carries it)."""
    h = Home.at(home)
    with opened(home, as_json) as ledger:
        terms = _json_file(terms_file, "agreement terms")
        agreement = ledger.record_agreement(terms, h.origin)
        view = _view(ledger, agreement)
    emit(as_json, view, f"Recorded agreement {view['code']} with {view['partner']} (terms sha256"
                        f" {view['terms_sha256']})")  # fmt: skip


@agreement_app.command("show")
def agreement_show(code: str, home: HomeOpt = None) -> None:
    """An agreement, whether it is in force, and its channel's state (JSON)."""
    with opened(home, True) as ledger:
        view = _view(ledger, ledger.agreement(code))
    print(json.dumps(view, indent=2))


@agreement_app.command("send")
def agreement_send(
    code: Annotated[str, typer.Argument(help="The agreement (channel).")],
    batch: Annotated[str, typer.Option("--batch")],
    from_account: Annotated[str, typer.Option("--from")],
    to_account: Annotated[str, typer.Option("--to", help="The receiving account at the partner.")],
    timeout_after: Annotated[str, typer.Option(help="The last day the partner may receive (YYYY-MM-DD).")],
    quantity: QuantityOpt = None,
    serials: SerialsOpt = None,
    on: OnOpt = None,
    request_id: RequestOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send units to the partner registry: in transit here until its decision is proved."""
    with opened(home, as_json) as ledger:
        sent = ledger.send_transfer(
            code, batch, from_account, to_account, timeout_after=day(timeout_after), quantity=quantity,
            spans=spans_for(batch, serials), on=day(on), request_id=request_id,
        )  # fmt: skip
    emit(as_json, sent, f"Sent packet #{sent['sequence']} of {code}: {sum(e - s for s, e in sent['ranges'])} unit(s)"
                        f" of {batch}, in transit (log entry {sent['log_seq']})")  # fmt: skip


@agreement_app.command("receipt")
def agreement_receipt(
    code: str,
    sequence: int,
    out_dir: Annotated[str, typer.Option("--out", help="Directory to write the receipt's files to.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a settled transfer's receipt: the three tlog-proofs and both policies, for
    `oneclaim audit verify-transfer` or any checker following docs/transfers.md."""
    with opened(home, as_json) as ledger:
        files = ledger.transfer_receipt(code, sequence)
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text)
    emit(as_json, {"dir": str(target), "files": sorted(files)}, f"Wrote the receipt of {code} #{sequence} to {target}")


def relay(
    a: Annotated[str, typer.Option("--a", help="One registry's API URL.")],
    a_token: Annotated[str, typer.Option("--a-token", help="A partner token at A.")],
    b: Annotated[str, typer.Option("--b", help="The other registry's API URL.")],
    b_token: Annotated[str, typer.Option("--b-token", help="A partner token at B.")],
    channel: Annotated[str, typer.Option("--channel", help="The agreement's code.")],
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 1.0,
    passes: Annotated[int, typer.Option(help="Stop after this many passes (0: run until stopped).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Carry packets and proofs between two registries (trusted for nothing): deliver packets
    in transit, bring decisions back, put the agreement in force on both sides."""
    import time

    from oneclaim.relay import Registry, Relayer

    relayer = Relayer(Registry(a, a_token), Registry(b, b_token), channel)
    done = 0
    try:
        while passes == 0 or done < passes:
            if done:
                time.sleep(interval)
            for action in relayer.run_pass():
                print(json.dumps(action) if as_json else " ".join(f"{k}={v}" for k, v in action.items()), flush=True)
            done += 1
            print(json.dumps({"pass": done}) if as_json else f"pass {done} done", flush=True)
    finally:
        relayer.close()
