"""The anchor service: the log's signed checkpoints, anchored on chain, and checked there.

One pass (`AnchorService.once`):
1. wait until no transaction of the anchorer is pending (a crash may have left one in flight);
2. reconcile: compare the chain's latest anchor of this log with the log's own `Anchored`
   events. An anchor on chain that the log lacks (a crash after mining, before recording) is
   recorded now, from the contract's event. A chain behind the log, or without the contract,
   has lost its state (`CHAIN_RESET`); a different root at an anchored size is a fork
   (`ANCHOR_MISMATCH`). Both are raised, never repaired;
3. if the log has grown past the last anchor (by more than the `Anchored` record itself), sign
   a checkpoint of the current head and send it with the RFC 9162 consistency proof from the
   last anchored size. The contract checks the proof;
4. record the `Anchored` event (tx hash, block, chain id, contract, tree size, root).

Every step can be interrupted and repeated: the chain only accepts a growing tree that extends
the last anchor, and step 2 records whatever reached the chain. So there is never a double
anchor and never a gap. A lock file keeps two services from running on one home at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import Timeout as RequestsTimeout
from web3 import Web3

from anchoring.chain import ChainError, connect
from anchoring.registry import AnchorRegistry, ContractRefused, Sender, log_id
from ledger.app import Ledger
from ledger.domain.anchor import AnchorHistory, history_id
from ledger.errors import LedgerError
from ledger.tlog.note import Checkpoint, Signer, Verifier, signature_by

UNREACHABLE = (ChainError, RequestsConnectionError, RequestsTimeout, ConnectionError, TimeoutError)


class AnchorError(LedgerError):
    """Anchoring found something wrong that must not be papered over."""


@dataclass(frozen=True)
class AnchorConfig:
    """Where anchors go. For the managed chain, `rpc_url` is read from the running anvil."""

    rpc_url: str
    chain_id: int
    contract: str
    anchorer: Sender
    origin: str
    log_id: str | None = None  # hex; a successor's id after a recovery (default: SHA-256 of the origin)


class AnchorService:
    def __init__(self, ledger: Ledger, signer: Signer, config: AnchorConfig, *, lock_file: Path | None = None):
        self.ledger = ledger
        self.signer = signer
        self.config = config
        self.log_id = bytes.fromhex(config.log_id) if config.log_id else log_id(config.origin)
        self.lock_file = lock_file
        self._w3: Web3 | None = None
        self._registry: AnchorRegistry | None = None

    # ------------------------------------------------------------------ chain access

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            self._w3 = connect(self.config.rpc_url)
        return self._w3

    @property
    def registry(self) -> AnchorRegistry:
        if self._registry is None:
            self._registry = AnchorRegistry(self.w3, self.config.contract)
        return self._registry

    @property
    def anchorer_address(self) -> str:
        sender = self.config.anchorer
        return sender if isinstance(sender, str) else sender.address

    def check_chain(self) -> None:
        """The chain is the configured one and still holds the contract."""
        try:
            chain_id = self.w3.eth.chain_id
            code = self.w3.eth.get_code(Web3.to_checksum_address(self.config.contract))
        except UNREACHABLE as e:
            raise ChainError(f"the chain at {self.config.rpc_url} does not answer: {e}", code="CHAIN_DOWN") from None
        if chain_id != self.config.chain_id:
            raise AnchorError(
                f"the chain at {self.config.rpc_url} has chain id {chain_id},"
                f" not the configured {self.config.chain_id}",
                code="CHAIN_MISMATCH",
            )
        if not code:
            raise AnchorError(
                f"no contract at {self.config.contract} on chain {chain_id}: the chain has lost its state (reset)"
                " or the address is wrong. Anchors recorded in the log can no longer be checked there;"
                " deploy a new contract only deliberately (`oneclaim chain up --redeploy`)",
                code="CHAIN_RESET",
                contract=self.config.contract,
            )
        self.check_fresh()

    def check_fresh(self) -> None:
        """The log is not behind the chain: a log smaller than the tree size the chain anchors
        for it was rolled back (an older copy of its database restored, say), and everything
        below the anchored size could then be rewritten unseen."""
        on_chain = self.registry.latest(self.log_id).tree_size
        size = self.ledger.log.size()
        if on_chain > size:
            raise AnchorError(
                f"the log holds {size} events, but the chain anchors tree size {on_chain} for it: this log is"
                " behind the chain (an older copy restored, or a fork); nothing is anchored from it",
                code="LOG_BEHIND_CHAIN",
                log_size=size,
                chain_size=on_chain,
            )

    # ------------------------------------------------------------------ the log's side

    @property
    def history_id(self):
        return history_id(self.config.chain_id, self.config.contract, self.log_id.hex())

    def history(self) -> AnchorHistory | None:
        try:
            return self.ledger.repository.get(self.history_id)
        except AggregateNotFoundError:
            return None

    def _record(self, history: AnchorHistory | None, anchors: list[dict]) -> AnchorHistory:
        if history is None:
            history = AnchorHistory(
                chain_id=self.config.chain_id, contract=self.config.contract, log_id=self.log_id.hex()
            )
        for a in anchors:
            history.record(a["tree_size"], a["root_hash"], a["tx_hash"], a["block_number"])
        self.ledger.save(history)
        self.sign_head()
        return history

    def sign_head(self) -> None:
        """Sign the head, so that the log's own anchor records are covered by a checkpoint too (the
        newest checkpoint then extends the latest anchor by those records alone). A no-op when the
        head is already signed."""
        self.ledger.sign_checkpoint(self.signer, self.config.origin)

    # ------------------------------------------------------------------ one pass

    def wait_pending(self, timeout: float = 120.0) -> None:
        """Wait until the anchorer has no transaction in flight (e.g. one sent before a crash)."""
        deadline = time.monotonic() + timeout
        address = self.anchorer_address
        while self.w3.eth.get_transaction_count(address, "pending") > self.w3.eth.get_transaction_count(
            address, "latest"
        ):
            if time.monotonic() > deadline:
                raise ChainError(f"a transaction of {address} stayed pending for {timeout}s", code="TX_STUCK")
            time.sleep(0.2)

    def chain_anchors(self, after_size: int = 0, from_block: int = 0) -> list[dict]:
        """The contract's `Anchored` events for this log with tree size > after_size, in order."""
        event = self.registry.contract.events.Anchored
        logs = event.get_logs(from_block=from_block, argument_filters={"logId": self.log_id})
        found = [
            {
                "tree_size": log["args"]["treeSize"],
                "root_hash": bytes(log["args"]["rootHash"]).hex(),
                "tx_hash": "0x" + bytes(log["transactionHash"]).hex().removeprefix("0x"),
                "block_number": log["blockNumber"],
            }
            for log in logs
        ]
        return sorted((a for a in found if a["tree_size"] > after_size), key=lambda a: a["tree_size"])

    def reconcile(self) -> list[dict]:
        """Make the log's anchor history agree with the chain; returns anchors recovered."""
        self.check_chain()
        history = self.history()
        recorded = history.latest if history else None
        on_chain = self.registry.latest(self.log_id)
        if recorded is not None:
            if on_chain.tree_size < recorded["tree_size"]:
                raise AnchorError(
                    f"the chain's latest anchor of this log is at tree size {on_chain.tree_size}, but the log recorded"
                    f" an anchor at {recorded['tree_size']} (tx {recorded['tx_hash']}): the chain lost its state",
                    code="CHAIN_RESET",
                )
            root = self.registry.root_at(self.log_id, recorded["tree_size"])
            if root is None or root.hex() != recorded["root_hash"]:
                raise AnchorError(
                    f"the chain holds {root.hex() if root else 'nothing'} at tree size {recorded['tree_size']},"
                    f" not the recorded root {recorded['root_hash']}",
                    code="ANCHOR_MISMATCH",
                )
        done = recorded["tree_size"] if recorded else 0
        if on_chain.tree_size == done:
            return []
        missing = self.chain_anchors(done, recorded["block_number"] if recorded else 0)
        for a in missing:
            ours = self.ledger.log.root(a["tree_size"]).hex() if a["tree_size"] <= self.ledger.log.size() else None
            if ours != a["root_hash"]:
                raise AnchorError(
                    f"the chain has an anchor of this log at tree size {a['tree_size']} with root {a['root_hash']},"
                    f" which is not this log's root there ({ours}): another history was anchored under our id",
                    code="ANCHOR_MISMATCH",
                )
        if missing:
            self._record(history, missing)
        return missing

    def pending_events(self) -> int:
        """Events appended since the last anchor, not counting the anchor records themselves."""
        history = self.history()
        size = self.ledger.log.size()
        if history is None or not history.anchors:
            return size
        own = 2 if len(history.anchors) == 1 else 1  # Started (first time) + the latest Anchored record
        return max(0, size - history.anchors[-1]["tree_size"] - own)

    def once(self, min_events: int = 1, sending: Callable[[int], None] | None = None) -> dict | None:
        """Anchor the current head if at least `min_events` events await anchoring. `sending` is
        told the tree size just before its transaction is sent (the service reports it)."""
        with self._locked():
            self.wait_pending()
            self.reconcile()
            if self.pending_events() < max(1, min_events):
                self.sign_head()  # e.g. after a crash between recording an anchor and signing it
                return None
            checkpoint = self.ledger.sign_checkpoint(self.signer, self.config.origin)
            latest = self.registry.latest(self.log_id)
            proof = (
                self.ledger.log.consistency_proof(latest.tree_size, checkpoint.tree_size).hashes
                if latest.tree_size
                else []
            )
            if sending is not None:
                sending(checkpoint.tree_size)
            try:
                signature = signature_by(checkpoint.note, self.signer.verifier())
                receipt = self.registry.anchor(
                    self.log_id, checkpoint.tree_size, checkpoint.root, proof, signature, sender=self.config.anchorer
                )
            except ContractRefused as e:
                if e.code == "TREE_NOT_GROWING":  # someone anchored meanwhile: the next pass records it
                    return None
                raise
            anchor = {
                "tree_size": checkpoint.tree_size,
                "root_hash": checkpoint.root.hex(),
                "tx_hash": receipt.tx_hash,
                "block_number": receipt.block_number,
                "gas_used": receipt.gas_used,
            }
            self._record(self.history(), [anchor])
            return anchor

    def run(
        self,
        *,
        interval: float = 10.0,
        every_events: int | None = None,
        stop: Callable[[], bool] = lambda: False,
        report: Callable[[str], None] = print,
        polled: Callable[[int], None] | None = None,
    ) -> None:
        """Anchor whatever waits every `interval` seconds, and sooner as soon as `every_events`
        events wait (checked every `min(interval, 1)` s). While the chain is unreachable it
        reports once and retries; a reset or a mismatched anchor stops it (raised).

        It reports `ready` once started, `anchoring tree size N` just before each transaction
        and `anchored tree size N ...` once it is recorded, so a supervisor (or a test) can
        follow it; `polled` is told the events waiting at each check of `every_events`."""
        poll = min(interval, 1.0)
        down_since = None
        last = time.monotonic()
        try:  # a log behind the chain, or the wrong chain, stops the service before it starts
            self.check_chain()
        except UNREACHABLE:
            pass  # an outage at start is ridden out like any other
        except ChainError as e:
            if e.code != "CHAIN_DOWN":
                raise
        report("ready")
        while not stop():
            due = time.monotonic() - last >= interval
            try:
                waiting = self.pending_events() if every_events else 0
                if polled is not None:
                    polled(waiting)
                if due or (every_events and waiting >= every_events):
                    anchored = self.once(sending=lambda size: report(f"anchoring tree size {size}"))
                    last = time.monotonic()
                    if down_since is not None:
                        report(f"chain reachable again after {time.monotonic() - down_since:.0f}s; caught up")
                        down_since = None
                    if anchored:
                        report(f"anchored tree size {anchored['tree_size']} in block {anchored['block_number']}")
            except UNREACHABLE as e:
                self._w3 = self._registry = None
                last = time.monotonic()
                if down_since is None:
                    down_since = time.monotonic()
                    report(
                        f"chain unreachable ({getattr(e, 'code', type(e).__name__)}); the ledger keeps working,"
                        " anchoring resumes when the chain returns"
                    )
            time.sleep(poll)

    # ------------------------------------------------------------------ status and verification

    def status(self) -> dict[str, Any]:
        history = self.history()
        latest = history.latest if history else None
        out: dict[str, Any] = {
            "rpc_url": self.config.rpc_url,
            "chain_id": self.config.chain_id,
            "contract": self.config.contract,
            "log_id": self.log_id.hex(),
            "tree_size": self.ledger.log.size(),
            "anchored_tree_size": latest["tree_size"] if latest else 0,
            "anchored_root": latest["root_hash"] if latest else None,
            "anchored_tx": latest["tx_hash"] if latest else None,
            "anchors": len(history.anchors) if history else 0,
            "events_not_anchored": self.pending_events(),
        }
        try:
            self.check_chain()
            on_chain = self.registry.latest(self.log_id)
            out["chain"] = {"reachable": True, "tree_size": on_chain.tree_size, "anchors": on_chain.count}
            if latest and on_chain.tree_size < latest["tree_size"]:
                out["chain"]["problem"] = "CHAIN_RESET"
        except AnchorError as e:
            out["chain"] = {"reachable": True, "problem": e.code, "message": e.message}
        except UNREACHABLE:
            out["chain"] = {"reachable": False}
        return out

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.lock_file is None:
            yield
            return
        with open(self.lock_file, "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def verify_anchors(
    w3: Web3,
    contract: str,
    origin: str,
    anchors: list[dict],
    roots: dict[int, str],
    verifier: Verifier | None = None,
    log_ids: set[bytes] | None = None,
) -> dict:
    """Check anchors recorded in a log against the chain, trusting no OneClaim database: each
    transaction's receipt (mined, successful, sent to the contract, in the recorded block), the
    `Anchored` event it emitted, the contract's storage (`rootAt`) and, given the log's trusted
    `verifier`, the checkpoint signature the event carries. `roots` maps tree sizes to the roots
    the auditor computed from the events themselves (an audit bundle's checkpoints); each anchored
    root must be among them. `log_ids`: the log's ids on chain (its successors after a recovery;
    default: SHA-256 of the origin). Returns {"checked": n, "failures": [...]}."""
    registry = AnchorRegistry(w3, contract)
    ids = log_ids or {log_id(origin)}
    failures = []
    for a in anchors:
        where = f"anchor at tree size {a['tree_size']} (tx {a['tx_hash']})"
        try:
            receipt = w3.eth.get_transaction_receipt(a["tx_hash"])
        except Exception:
            failures.append({"code": "ANCHOR_TX_MISSING", "message": f"{where}: the chain has no such transaction"})
            continue
        if receipt["status"] != 1 or receipt["blockNumber"] != a["block_number"]:
            failures.append({"code": "ANCHOR_RECEIPT", "message": f"{where}: failed or in another block"})
            continue
        if (receipt["to"] or "").lower() != contract.lower():
            failures.append({"code": "ANCHOR_RECEIPT", "message": f"{where}: sent to {receipt['to']}, not {contract}"})
            continue
        events = [
            e
            for e in registry.contract.events.Anchored().process_receipt(receipt)
            if bytes(e["args"]["logId"]) in ids
            and e["args"]["treeSize"] == a["tree_size"]
            and bytes(e["args"]["rootHash"]).hex() == a["root_hash"]
        ]
        if not events:
            failures.append({"code": "ANCHOR_EVENT", "message": f"{where}: its Anchored event differs"})
            continue
        if verifier is not None and not signed_anchor(verifier, origin, events[0]["args"]):
            failures.append({"code": "ANCHOR_NOT_SIGNED", "message": f"{where}: its signature is not the log key's"})
            continue
        stored = registry.root_at(bytes(events[0]["args"]["logId"]), a["tree_size"])
        if stored is None or stored.hex() != a["root_hash"]:
            failures.append({"code": "ANCHOR_STORAGE", "message": f"{where}: the contract stores another root"})
            continue
        if roots and roots.get(a["tree_size"]) != a["root_hash"]:
            failures.append(
                {"code": "ANCHOR_ROOT", "message": f"{where}: not the root the log's own events give at that size"}
            )
    return {"checked": len(anchors), "failures": failures}


def signed_anchor(verifier: Verifier, origin: str, args: dict) -> bool:
    """Whether an Anchored event's signature is `verifier`'s over the checkpoint it anchors."""
    text = Checkpoint(origin, args["treeSize"], bytes(args["rootHash"])).text()
    return verifier.verify(text, bytes(args["signature"]))
