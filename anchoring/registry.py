"""The AnchorRegistry contract from Python (web3.py): deploy, register, anchor, cosign, read.

A log is identified on chain by `log_id(origin)`, the SHA-256 of its checkpoint origin line
(e.g. `oneclaim.local/suzhou-sip`): a public name every checkpoint already carries, so an auditor
holding a checkpoint can find its anchors. Only that id, tree sizes and root hashes go on chain,
never personal data.

Every refusal of the contract is a named custom error; `ContractRefused` carries its name, a
stable code derived from it (`NotAnchorer` -> `NOT_ANCHORER`) and its decoded arguments.

A sender is either an address the node holds unlocked (anvil's and Hardhat's development
accounts) or an `eth_account` `LocalAccount`, whose transactions are signed here (a
permissioned network's node holds no keys).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import Timeout as RequestsTimeout
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TimeExhausted

from anchoring.chain import ChainError
from anchoring.compile import CompiledContract, anchor_registry
from ledger.errors import InvalidInput, LedgerError

Sender = str | LocalAccount
"""An address unlocked on the node, or a local account that signs its own transactions."""

RECEIPT_TIMEOUT = 120
"""Seconds to wait for a transaction to be mined (a QBFT network mines every few seconds)."""


def key_hash(verifier_key: str) -> bytes:
    """What the contract pins for a log: SHA-256 of its verifier key string (name+hash+base64)."""
    return hashlib.sha256(verifier_key.strip().encode("utf-8")).digest()


def log_id(origin: str) -> bytes:
    """The on-chain id of the log whose checkpoints start with the origin line `origin`."""
    if not origin or "\n" in origin:
        raise InvalidInput(f"a log origin is one non-empty line, got {origin!r}", code="INVALID_ORIGIN")
    return hashlib.sha256(origin.encode("utf-8")).digest()


class ContractRefused(LedgerError):
    """The contract reverted with a named custom error (`error`), decoded with its arguments."""

    code = "CONTRACT_REFUSED"
    http_status = 409

    def __init__(self, error: str, arguments: dict[str, Any]) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in arguments.items())
        super().__init__(f"the anchor contract refused: {error}({shown})", code=_constant_case(error), **arguments)
        self.error = error
        self.arguments = arguments


@dataclass(frozen=True)
class Receipt:
    """A mined transaction: where it went and what it cost."""

    tx_hash: str
    block_number: int
    gas_used: int


@dataclass(frozen=True)
class LatestAnchor:
    """The latest anchor of a log (all zero before its first anchor)."""

    tree_size: int
    root_hash: bytes
    block_number: int
    count: int


class AnchorRegistry:
    """One deployed AnchorRegistry contract."""

    def __init__(self, w3: Web3, address: str, compiled: CompiledContract | None = None) -> None:
        compiled = compiled or anchor_registry()
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=compiled.abi)
        self._errors = _error_decoders(compiled.abi)

    @classmethod
    def deploy(
        cls, w3: Web3, *, sender: Sender, admin: str | None = None, compiled: CompiledContract | None = None
    ) -> tuple[AnchorRegistry, Receipt]:
        """Deploy a new registry whose admin is `admin` (default: the sender)."""
        compiled = compiled or anchor_registry()
        factory = w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
        admin = admin or _address(sender)
        receipt, raw = _send(w3, _error_decoders(compiled.abi), factory.constructor(admin), sender)
        return cls(w3, raw["contractAddress"], compiled), receipt

    # ------------------------------------------------------------------ transactions

    def register_log(self, log_id: bytes, anchorer: str, key_hash: bytes, *, sender: Sender) -> Receipt:
        """Register `log_id`, to be anchored only by `anchorer`, its checkpoints signed by the
        verifier key whose SHA-256 is `key_hash` (admin only)."""
        _check_hashes(log_id=log_id, key_hash=key_hash)
        return self._send(self.contract.functions.registerLog(log_id, anchorer, key_hash), sender)[0]

    def rotate_anchorer(self, log_id: bytes, anchorer: str, *, sender: Sender) -> Receipt:
        """Move the right to anchor `log_id` to `anchorer` (admin only; AnchorerRotated)."""
        return self._send(self.contract.functions.rotateAnchorer(log_id, anchorer), sender)[0]

    def freeze_log(self, log_id: bytes, reason: str, *, sender: Sender) -> Receipt:
        """Freeze `log_id`: anchored no more, its anchors kept (admin only; LogFrozen)."""
        return self._send(self.contract.functions.freezeLog(log_id, reason), sender)[0]

    def register_successor(
        self, log_id: bytes, successor_id: bytes, tree_size: int, anchorer: str, *, sender: Sender
    ) -> Receipt:
        """Continue frozen `log_id` as `successor_id` from its anchor at `tree_size` (admin only)."""
        fn = self.contract.functions.registerSuccessor(log_id, successor_id, tree_size, anchorer)
        return self._send(fn, sender)[0]

    def anchor(
        self,
        log_id: bytes,
        tree_size: int,
        root_hash: bytes,
        consistency_proof: Sequence[bytes],
        signature: bytes = b"",
        *,
        sender: Sender,
    ) -> Receipt:
        """Anchor (tree_size, root_hash); the proof is RFC 9162 PROOF(last anchored size, tree), and
        `signature` the log key's Ed25519 signature of the checkpoint, emitted for verifiers."""
        _check_hashes(log_id=log_id, root_hash=root_hash)
        _check_hashes(**{f"consistency_proof[{i}]": h for i, h in enumerate(consistency_proof)})
        fn = self.contract.functions.anchor(log_id, tree_size, root_hash, list(consistency_proof), signature)
        return self._send(fn, sender)[0]

    def cosign(self, log_id: bytes, tree_size: int, root_hash: bytes, *, sender: Sender) -> Receipt:
        """Cosign, as a granted witness, the root anchored at `tree_size`."""
        return self._send(self.contract.functions.cosign(log_id, tree_size, root_hash), sender)[0]

    def grant_witness(self, witness: str, *, sender: Sender) -> Receipt:
        return self._send(self.contract.functions.grantWitness(witness), sender)[0]

    def revoke_witness(self, witness: str, *, sender: Sender) -> Receipt:
        return self._send(self.contract.functions.revokeWitness(witness), sender)[0]

    def transfer_admin(self, new_admin: str, *, sender: Sender) -> Receipt:
        """Start moving the admin role; `new_admin` must then call `accept_admin`."""
        return self._send(self.contract.functions.transferAdmin(new_admin), sender)[0]

    def accept_admin(self, *, sender: Sender) -> Receipt:
        return self._send(self.contract.functions.acceptAdmin(), sender)[0]

    # ------------------------------------------------------------------ views

    def latest(self, log_id: bytes) -> LatestAnchor:
        tree_size, root_hash, block_number, count = self._call(self.contract.functions.latest(log_id))
        return LatestAnchor(tree_size, bytes(root_hash), block_number, count)

    def root_at(self, log_id: bytes, tree_size: int) -> bytes | None:
        """The root anchored at `tree_size`, or None if the log was never anchored at that size."""
        root_hash = bytes(self._call(self.contract.functions.rootAt(log_id, tree_size)))
        return None if root_hash == bytes(32) else root_hash

    def key_hash_of(self, log_id: bytes) -> bytes | None:
        """SHA-256 of the verifier key registered for `log_id`, or None if it is not registered."""
        found = bytes(self._call(self.contract.functions.keyHashOf(log_id)))
        return None if found == bytes(32) else found

    def is_frozen(self, log_id: bytes) -> bool:
        return self._call(self.contract.functions.isFrozen(log_id))

    def anchorer_of(self, log_id: bytes) -> str | None:
        """The log's anchoring account, or None if the log is not registered."""
        anchorer = self._call(self.contract.functions.anchorerOf(log_id))
        return None if int(anchorer, 16) == 0 else anchorer

    def is_witness(self, account: str) -> bool:
        return self._call(self.contract.functions.isWitness(account))

    def cosigned(self, log_id: bytes, tree_size: int, witness: str) -> bool:
        return self._call(self.contract.functions.cosigned(log_id, tree_size, witness))

    def admin(self) -> str:
        return self._call(self.contract.functions.admin())

    # ------------------------------------------------------------------ plumbing

    def _call(self, fn: Any) -> Any:
        with _translated(self.w3, self._errors):
            return fn.call()

    def _send(self, fn: Any, sender: Sender) -> tuple[Receipt, Any]:
        return _send(self.w3, self._errors, fn, sender)


ErrorDecoder = tuple[str, list[str], list[str]]


def _error_decoders(abi: list[dict[str, Any]]) -> dict[bytes, ErrorDecoder]:
    """4-byte selector -> (error name, argument names, argument types), from the ABI."""
    decoders = {}
    for item in abi:
        if item["type"] == "error":
            types = [i["type"] for i in item["inputs"]]
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            decoders[selector] = (item["name"], [i["name"] for i in item["inputs"]], types)
    return decoders


def _send(w3: Web3, errors: dict[bytes, ErrorDecoder], fn: Any, sender: Sender) -> tuple[Receipt, Any]:
    """Send `fn` from `sender` and wait until it is mined. Refusals surface from gas estimation,
    which runs the call on the node before anything is sent."""
    with _translated(w3, errors):
        if isinstance(sender, LocalAccount):
            nonce = w3.eth.get_transaction_count(sender.address, "pending")
            tx = fn.build_transaction({"from": sender.address, "nonce": nonce})
            tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        else:
            tx_hash = fn.transact({"from": Web3.to_checksum_address(sender)})
        raw = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT)
    receipt = Receipt("0x" + bytes(raw["transactionHash"]).hex(), raw["blockNumber"], raw["gasUsed"])
    if raw["status"] != 1:
        # Mined but reverted: only when the state changed between estimation and mining.
        raise ChainError(f"transaction {receipt.tx_hash} reverted on chain", code="TX_REVERTED")
    return receipt, raw


@contextlib.contextmanager
def _translated(w3: Web3, errors: dict[bytes, ErrorDecoder]) -> Iterator[None]:
    """web3 and transport failures as LedgerErrors with stable codes."""
    try:
        yield
    except ContractLogicError as exc:
        raise _refusal(w3, errors, exc) from exc
    except TimeExhausted as exc:
        raise ChainError(f"no receipt after {RECEIPT_TIMEOUT}s: {exc}", code="TX_TIMEOUT") from exc
    except (RequestsConnectionError, RequestsTimeout) as exc:
        raise ChainError(f"the chain's RPC does not answer: {exc}", code="CHAIN_UNAVAILABLE") from exc


def _refusal(w3: Web3, errors: dict[bytes, ErrorDecoder], exc: ContractLogicError) -> LedgerError:
    """The custom error in a revert's data (4-byte selector + ABI-encoded arguments), decoded."""
    data = exc.data.get("data") if isinstance(exc.data, dict) else exc.data
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        raw = bytes.fromhex(data[2:])
        decoder = errors.get(raw[:4])
        if decoder is not None:
            name, names, types = decoder
            values = w3.codec.decode(types, raw[4:])
            arguments = {n: _plain(t, v) for n, t, v in zip(names, types, values, strict=True)}
            return ContractRefused(name, arguments)
    return ChainError(f"the contract reverted without a known error: {exc.message or exc}", code="TX_REVERTED")


def _check_hashes(**hashes: bytes) -> None:
    """Every id, root and proof element is 32 bytes (bytes32 on chain); say which one is not."""
    for name, value in hashes.items():
        if not isinstance(value, bytes | bytearray) or len(value) != 32:
            got = f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else type(value).__name__
            raise InvalidInput(f"{name} must be 32 bytes, got {got}", code="INVALID_HASH", field=name)


def _plain(abi_type: str, value: Any) -> Any:
    """A decoded ABI value as a JSON-friendly one: bytes as 0x-hex, addresses checksummed."""
    if abi_type == "address":
        return Web3.to_checksum_address(value)
    return "0x" + value.hex() if isinstance(value, bytes) else value


def _constant_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _address(sender: Sender) -> str:
    return sender.address if isinstance(sender, LocalAccount) else Web3.to_checksum_address(sender)
