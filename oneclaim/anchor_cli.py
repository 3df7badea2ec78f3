"""`oneclaim chain ...` and `oneclaim anchor ...`: the managed local chain and the anchor service.

Configuration lives in the home's config.json under "anchoring":
- managed chain (the embedded default): {"managed": true, "port", "chain_id", "contract",
  "admin", "anchorer"}; `chain up` starts anvil in <home>/chain and, the first time, deploys
  the contract and registers the log.
- any other EVM network (Besu or GoQuorum with QBFT, see docs/anchoring.md): {"managed": false,
  "rpc_url", "chain_id", "contract", "anchorer_key_file"}; the key file holds the anchoring
  account's private key (hex), readable only by the operator.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger.errors import InvalidInput, LedgerError
from oneclaim.home import Home
from oneclaim.output import HomeOpt, JsonOpt, emit, err, failures, usage_error

if TYPE_CHECKING:  # web3 and the chain load only when a chain or anchor command runs
    from anchoring.chain import Chain
    from anchoring.service import AnchorService

chain_app = typer.Typer(help="The managed local chain (anvil on 127.0.0.1).", no_args_is_help=True)
anchor_app = typer.Typer(help="Anchor signed checkpoints on chain, and check the anchors.", no_args_is_help=True)


def anchoring_config(home: Home) -> dict:
    config = home.config.get("anchoring")
    if not config:
        raise LedgerError(
            "anchoring is not set up: run `oneclaim chain up` (managed local chain) or add an"
            ' "anchoring" section to config.json (see docs/anchoring.md)',
            code="ANCHORING_NOT_CONFIGURED",
        )
    return config


def managed_chain(home: Home, config: dict | None = None) -> Chain:
    from anchoring.chain import Chain, ChainConfig

    config = config if config is not None else home.config.get("anchoring") or {}
    return Chain(home.path, ChainConfig(port=config.get("port"), chain_id=config.get("chain_id", 31337)))


def service_for(home: Home, ledger=None) -> AnchorService:
    from eth_account import Account

    from anchoring.service import AnchorConfig, AnchorService

    config = anchoring_config(home)
    if config.get("managed"):
        status = managed_chain(home, config).status()
        rpc_url = status.rpc_url or f"http://127.0.0.1:{config['port']}"
        anchorer: Any = config["anchorer"]
    else:
        rpc_url = config["rpc_url"]
        key = Path(config["anchorer_key_file"]).read_text().strip()
        anchorer = Account.from_key(key)
    log = config.get("log_id")  # set by `oneclaim chain recover`
    settings = AnchorConfig(rpc_url, config["chain_id"], config["contract"], anchorer, home.origin, log)
    return AnchorService(ledger or home.ledger(), home.signer(), settings, lock_file=home.path / "anchor.lock")


def start_managed_chain(h: Home, redeploy: bool = False) -> tuple[Any, dict, bool]:
    """Start the home's anvil and, the first time, deploy the contract and register the log.
    A chain that lost the contract is CHAIN_RESET unless `redeploy` says to start afresh."""
    from anchoring.chain import connect
    from anchoring.registry import AnchorRegistry, key_hash, log_id
    from anchoring.service import AnchorError

    config = dict(h.config.get("anchoring") or {"managed": True})
    if not config.get("managed"):
        raise LedgerError(
            "this home anchors on an external chain; `chain up` manages only the local one",
            code="CHAIN_NOT_MANAGED",
        )
    status = managed_chain(h, config).up()
    w3 = connect(status.rpc_url)
    config |= {"port": int(status.rpc_url.rsplit(":", 1)[1]), "chain_id": status.chain_id}
    deployed = False
    if config.get("contract") and not w3.eth.get_code(config["contract"]):
        if not redeploy:
            h.update_config(anchoring=config)
            raise AnchorError(
                f"the chain has no contract at {config['contract']}: it lost its state (reset). Anchors in the"
                " log cannot be checked on it any more. Restore <home>/chain/state.json, or run"
                " `oneclaim chain up --redeploy` to start a new anchor history on a new contract",
                code="CHAIN_RESET",
            )
        config.pop("contract")
    if not config.get("contract"):
        admin, anchorer = w3.eth.accounts[0], w3.eth.accounts[1]
        registry, _ = AnchorRegistry.deploy(w3, sender=admin)
        registry.register_log(log_id(h.origin), anchorer, key_hash(h.verifier_key()), sender=admin)
        config |= {"contract": registry.address, "admin": admin, "anchorer": anchorer}
        deployed = True
    h.update_config(anchoring=config)
    return status, config, deployed


@chain_app.command("up")
def chain_up(
    redeploy: Annotated[
        bool, typer.Option("--redeploy", help="Deploy a new contract if the chain lost the old one (deliberate).")
    ] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start anvil on 127.0.0.1 with its state in <home>/chain; deploy the anchor contract the first time."""
    with failures(as_json):
        status, config, deployed = start_managed_chain(Home.at(home), redeploy)
    emit(
        as_json,
        {"rpc_url": status.rpc_url, "chain_id": status.chain_id, "contract": config["contract"], "deployed": deployed},
        f"Chain up at {status.rpc_url} (chain id {status.chain_id}, block {status.block_number});"
        f" contract {config['contract']}" + (" deployed and log registered" if deployed else ""),
    )


@chain_app.command("down")
def chain_down(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Stop the managed chain (its state is written to <home>/chain/state.json)."""
    with failures(as_json):
        stopped = managed_chain(Home.at(home)).down()
    emit(as_json, {"stopped": stopped}, "Chain stopped" if stopped else "Chain was not running")


@chain_app.command("status")
def chain_status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Whether the managed chain runs, where, and at which block."""
    with failures(as_json):
        h = Home.at(home)
        status = managed_chain(h).status()
        contract = (h.config.get("anchoring") or {}).get("contract")
    payload = {**status.__dict__, "contract": contract}
    text = (
        f"running at {status.rpc_url}, chain id {status.chain_id}, block {status.block_number}, contract {contract}"
        if status.running
        else "not running"
    )
    emit(as_json, payload, text)
    raise typer.Exit(0 if status.running else 3)


@chain_app.command("grant-witness")
def chain_grant_witness(
    address: Annotated[str, typer.Argument(help="The witness's EVM address (`oneclaim witness chain` prints it).")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Revoke instead: its earlier cosignatures stay.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Let a partner's witness cosign anchored roots on chain (grantWitness), as the managed chain's
    admin; on a permissioned network the consortium's admin does it."""
    with failures(as_json):
        h = Home.at(home)
        config = anchoring_config(h)
        if not config.get("managed"):
            raise LedgerError("on a permissioned network the consortium's admin grants witnesses", code="NOT_MANAGED")
        service = service_for(h)
        try:
            if revoke:
                receipt = service.registry.revoke_witness(address, sender=config["admin"])
            else:
                receipt = service.registry.grant_witness(address, sender=config["admin"])
        finally:
            service.ledger.close()
    verb = "Revoked" if revoke else "Granted"
    emit(as_json, {"witness": address, "granted": not revoke, "tx_hash": receipt.tx_hash},
         f"{verb} witness {address} (tx {receipt.tx_hash})")  # fmt: skip


@chain_app.command("recover")
def chain_recover(
    from_size: Annotated[int, typer.Option("--from-size", help="The last honest anchored tree size to continue from.")],
    reason: Annotated[str, typer.Option("--reason", help="Why: it is published in the LogFrozen event.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recover a log whose anchorer key was misused (admin, on the managed chain): freeze its log id
    (LogFrozen) and register a successor that continues from the anchor at --from-size
    (SuccessorRegistered), which must be this log's own signed root there. Anchoring then goes to
    the successor; everything anchored before stays on chain for auditors."""
    import hashlib

    from anchoring.service import signed_anchor
    from ledger.tlog.note import parse_verifier_key

    with failures(as_json):
        h = Home.at(home)
        config = anchoring_config(h)
        if not config.get("managed"):
            message = "recovery here acts as the managed chain's admin; on a permissioned network the"
            raise LedgerError(message + " consortium's admin does it (see docs/anchoring.md)", code="NOT_MANAGED")
        service = service_for(h)
        try:
            registry, current = service.registry, service.log_id
            honest = registry.root_at(current, from_size)
            events = registry.contract.events.Anchored.get_logs(from_block=0, argument_filters={"logId": current})
            signed = [
                e for e in events if e["args"]["treeSize"] == from_size
                and signed_anchor(parse_verifier_key(h.verifier_key()), h.origin, e["args"])
            ]  # fmt: skip
            size = service.ledger.log.size()
            if honest is None or not signed or from_size > size or honest != service.ledger.log.root(from_size):
                raise LedgerError(
                    f"the chain holds no anchor of this log at tree size {from_size} that this log signed and"
                    " whose root is this log's root there: choose the last honest anchor",
                    code="NOT_AN_HONEST_ANCHOR",
                )
            if not registry.is_frozen(current):
                registry.freeze_log(current, reason, sender=config["admin"])
            successor = hashlib.sha256(b"oneclaim successor\n" + current + from_size.to_bytes(8, "big")).digest()
            registry.register_successor(current, successor, from_size, config["anchorer"], sender=config["admin"])
            h.update_config(anchoring=config | {"log_id": successor.hex()})
        finally:
            service.ledger.close()
    emit(
        as_json,
        {"frozen": current.hex(), "successor": successor.hex(), "from_size": from_size},
        f"Froze log {current.hex()[:16]}… and continued it as {successor.hex()[:16]}… from tree size {from_size}",
    )


@anchor_app.command("once")
def anchor_once(
    min_events: Annotated[int, typer.Option("--min-events", help="Anchor only if this many events wait.")] = 1,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Anchor the current checkpoint now (recording any anchor a crash left unrecorded first)."""
    with failures(as_json):
        service = service_for(Home.at(home))
        try:
            anchored = service.once(min_events)
        finally:
            service.ledger.close()
    if anchored is None:
        emit(as_json, {"anchored": None}, "Nothing new to anchor")
    else:
        emit(
            as_json,
            {"anchored": anchored},
            f"Anchored tree size {anchored['tree_size']} root {anchored['root_hash'][:16]}… in block"
            f" {anchored['block_number']} (tx {anchored['tx_hash']}, {anchored['gas_used']:,} gas)",
        )


@anchor_app.command("run")
def anchor_run(
    interval: Annotated[float, typer.Option(help="Anchor whatever waits at least this often, in seconds.")] = 10.0,
    every_events: Annotated[
        int | None, typer.Option("--every-events", help="Also anchor as soon as this many events wait.")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Anchor on an interval, or after N new events. Survives chain outages; stops on a reset."""
    with failures():
        service = service_for(Home.at(home))
        try:
            service.run(interval=interval, every_events=every_events, report=lambda m: err.print(m, markup=False))
        except KeyboardInterrupt:
            pass
        finally:
            service.ledger.close()


@anchor_app.command("status")
def anchor_status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """RPC URL, chain id, contract, the last anchored tree size and root, and events not yet anchored."""
    with failures(as_json):
        service = service_for(Home.at(home))
        try:
            status = service.status()
        finally:
            service.ledger.close()
    chain = status["chain"]
    text = (
        f"RPC {status['rpc_url']} (chain id {status['chain_id']}), contract {status['contract']}\n"
        f"Last anchor: tree size {status['anchored_tree_size']}, root {status['anchored_root']}"
        f" ({status['anchors']} anchors)\n"
        f"Log: {status['tree_size']} events, {status['events_not_anchored']} not yet anchored\n"
        f"Chain: {'reachable' if chain['reachable'] else 'UNREACHABLE'}"
        + (f", PROBLEM {chain['problem']}: {chain.get('message', '')}" if chain.get("problem") else "")
    )
    emit(as_json, status, text)
    raise typer.Exit(1 if chain.get("problem") else 0)


@anchor_app.command("verify")
def anchor_verify(
    bundle: Annotated[Path | None, typer.Option(help="Take the Anchored events from an audit bundle.")] = None,
    rpc: Annotated[str | None, typer.Option("--rpc", help="RPC URL (default: the home's chain).")] = None,
    contract: Annotated[str | None, typer.Option(help="Contract address (default: the home's).")] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="With --bundle: the log's verifier key (default: the pinned one).")
    ] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy", help="A C2SP tlog-policy: require its witness quorum on chain (--witness-address)."),
    ] = None,
    witness_address: Annotated[
        list[str] | None,
        typer.Option("--witness-address", help="NAME=0xADDRESS: a policy witness's EVM address, from the witness."),
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every Anchored event against the chain: receipt, event, the log key's signature and
    contract storage; the contract's pinned key; and that the log is not behind the chain.

    With --bundle (and --rpc, --contract) it needs no OneClaim database: the anchors and the
    roots they must equal come from the bundle (run `oneclaim audit verify` on it first).

    With --policy and --witness-address, it also reports which of the policy's witnesses
    cosigned each anchor on chain, and fails (ANCHOR_QUORUM_NOT_MET) if no anchor meets the
    quorum. Only the addresses you give count, not the contract's grants."""
    import json as json_

    from anchoring.audit import ChainWitnesses, audit_anchors, bundle_anchors

    if (policy_file is None) != (not witness_address):
        raise usage_error("--policy and --witness-address go together")
    with failures(as_json):
        witnesses = None
        if policy_file is not None:
            from oneclaim.audit_cli import _load_policy

            witnesses = ChainWitnesses.parse(_load_policy(policy_file), witness_address or [])
        if bundle is not None:
            if rpc is None or contract is None:
                raise InvalidInput("give --rpc and --contract with --bundle", code="USAGE")
            origin, anchors, roots = bundle_anchors(bundle)
            size = json_.loads((bundle / "manifest.json").read_text())["tree_size"]
            # the key to check signatures with: yours, or else the bundle's, which must then be the
            # one the contract pinned for the log (KEY_NOT_PINNED otherwise)
            vkey = key or (bundle / "verifier.key").read_text().strip()
            result = audit_anchors(origin, roots, size, anchors, rpc, contract, vkey, witnesses)
        else:
            h = Home.at(home)
            service = service_for(h)
            rpc = rpc or service.config.rpc_url
            contract = contract or service.config.contract
            try:
                history = service.history()
                size, log = service.ledger.log.size(), service.ledger.log

                def root_of(s: int) -> str | None:  # the roots of the log at hand
                    return log.root(s).hex() if s <= size else None

                recorded = [a | {"contract": history.contract} for a in history.anchors] if history else []
                result = audit_anchors(h.origin, root_of, size, recorded, rpc, contract, h.verifier_key(), witnesses)
            finally:
                service.ledger.close()
        result["checked"] = result["anchors_recorded"]
    ok = not result["failures"]
    text = (
        f"OK {result['checked']} anchors checked against {contract}: receipts, events and storage agree"
        if ok
        else "\n".join(f"FAILED {f['code']}: {f['message']}" for f in result["failures"])
    )
    if ok and result["witnessing"] is not None:
        text += "\n" + witnessing_lines(result["witnessing"])
    emit(as_json, {"ok": ok, **result}, text)
    raise typer.Exit(0 if ok else 1)


def witnessing_lines(w: dict) -> str:
    """The on-chain cosignatures, in words (anchor verify, audit verify)."""
    latest = w["anchors"][-1] if w["anchors"] else None
    size = w["witnessed_tree_size"]
    lines = [f"OK witnessed on chain: the anchor of tree size {size} meets the quorum {w['quorum']}"]
    for row in w["anchors"]:
        if row["tree_size"] == w["witnessed_tree_size"] or row is latest:
            lines.append(f"  anchor {row['tree_size']}: cosigned on chain by {', '.join(row['cosigned_by']) or 'none'}")
    if w["anchors_after_witnessed"]:
        lines.append(f"  {w['anchors_after_witnessed']} later anchor(s) not yet cosigned by the quorum")
    return "\n".join(lines)
