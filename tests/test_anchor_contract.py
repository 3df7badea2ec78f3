"""The AnchorRegistry contract on a real anvil: who may anchor, what it refuses, what it costs.

The consistency proofs come from the project's own RFC 9162 code (ledger.tlog.merkle) over trees kept
in memory, and from the transparency-dev conformance vectors in ../shared/vectors/rfc6962.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from anchoring.chain import ChainError, connect, free_port
from anchoring.compile import CompiledContract
from anchoring.registry import AnchorRegistry, LatestAnchor, log_id
from ledger.errors import InvalidInput, LedgerError
from ledger.tlog.merkle import consistency_proof, node_hash, root
from tests.anchor_support import KEY_HASH, MemoryTree, Roles, UniformTree, deploy, new_log, refusal
from tests.support import SHARED_VECTORS, missing_evidence

pytest_plugins = ["tests.anchor_fixtures"]  # chain, w3, roles, compiled

GAS_TARGET = 100_000
VECTORS = SHARED_VECTORS / "consistency"
ZERO_ADDRESS = "0x" + "00" * 20


@pytest.fixture
def registry(w3: Web3, roles: Roles, compiled: CompiledContract) -> AnchorRegistry:
    return deploy(w3, roles, compiled)


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    return MemoryTree(5_000)


def test_log_id_is_the_sha256_of_the_origin_line() -> None:
    assert log_id("oneclaim.local/suzhou-sip") == hashlib.sha256(b"oneclaim.local/suzhou-sip").digest()
    for bad in ("", "two\nlines"):
        with pytest.raises(LedgerError) as info:
            log_id(bad)
        assert info.value.code == "INVALID_ORIGIN"


# ------------------------------------------------------------------ every custom error


def _anchored(registry: AnchorRegistry, roles: Roles, tree: MemoryTree, *sizes: int) -> bytes:
    """A new log anchored at each of `sizes` in turn, with real proofs."""
    lid = new_log(registry, roles, f"log-{random.random()}")
    previous = 0
    for size in sizes:
        registry.anchor(lid, size, tree.root(size), tree.proof(previous, size), sender=roles.anchorer)
        previous = size
    return lid


def _case_not_admin(r: AnchorRegistry, roles: Roles, tree: MemoryTree):
    return lambda: r.register_log(b"\x01" * 32, roles.anchorer, KEY_HASH, sender=roles.stranger)


def _case_not_pending_admin(r, roles, tree):
    r.transfer_admin(roles.second_witness, sender=roles.admin)
    return lambda: r.accept_admin(sender=roles.stranger)


def _case_zero_address(r, roles, tree):
    return lambda: r.register_log(b"\x01" * 32, ZERO_ADDRESS, KEY_HASH, sender=roles.admin)


def _case_log_already_registered(r, roles, tree):
    lid = new_log(r, roles, "twice")
    return lambda: r.register_log(lid, roles.stranger, KEY_HASH, sender=roles.admin)


def _case_unknown_log(r, roles, tree):
    return lambda: r.anchor(b"\x02" * 32, 10, tree.root(10), [], sender=roles.anchorer)


def _case_not_anchorer(r, roles, tree):
    lid = new_log(r, roles, "log")
    return lambda: r.anchor(lid, 10, tree.root(10), [], sender=roles.stranger)


def _case_tree_not_growing(r, roles, tree):
    lid = _anchored(r, roles, tree, 10)
    return lambda: r.anchor(lid, 9, tree.root(9), [], sender=roles.anchorer)


def _case_zero_root(r, roles, tree):
    lid = new_log(r, roles, "log")
    return lambda: r.anchor(lid, 10, bytes(32), [], sender=roles.anchorer)


def _case_unexpected_proof(r, roles, tree):
    lid = new_log(r, roles, "log")
    return lambda: r.anchor(lid, 10, tree.root(10), tree.proof(5, 10), sender=roles.anchorer)


def _case_proof_required(r, roles, tree):
    lid = _anchored(r, roles, tree, 10)
    return lambda: r.anchor(lid, 20, tree.root(20), [], sender=roles.anchorer)


def _case_inconsistent_proof(r, roles, tree):
    lid = _anchored(r, roles, tree, 10)
    return lambda: r.anchor(lid, 20, tree.root(21), tree.proof(10, 20), sender=roles.anchorer)


def _case_not_witness(r, roles, tree):
    lid = _anchored(r, roles, tree, 10)
    return lambda: r.cosign(lid, 10, tree.root(10), sender=roles.stranger)


def _case_root_not_anchored(r, roles, tree):
    lid = _anchored(r, roles, tree, 10)
    return lambda: r.cosign(lid, 11, tree.root(11), sender=roles.witness)


def _case_zero_key_hash(r, roles, tree):
    return lambda: r.register_log(b"\x03" * 32, roles.anchorer, bytes(32), sender=roles.admin)


def _case_log_is_frozen(r, roles, tree):
    lid = _anchored(r, roles, tree, 10)
    r.freeze_log(lid, "anchorer key leaked", sender=roles.admin)
    return lambda: r.anchor(lid, 20, tree.root(20), tree.proof(10, 20), sender=roles.anchorer)


def _case_log_not_frozen(r, roles, tree):
    lid = _anchored(r, roles, tree, 10)
    return lambda: r.register_successor(lid, b"\x04" * 32, 10, roles.anchorer, sender=roles.admin)


def _case_not_an_anchor(r, roles, tree):
    lid = _anchored(r, roles, tree, 10, 20)
    r.freeze_log(lid, "junk anchored", sender=roles.admin)
    return lambda: r.register_successor(lid, b"\x05" * 32, 15, roles.anchorer, sender=roles.admin)


def _case_already_cosigned(r, roles, tree):
    lid = _anchored(r, roles, tree, 10)
    r.cosign(lid, 10, tree.root(10), sender=roles.witness)
    return lambda: r.cosign(lid, 10, tree.root(10), sender=roles.witness)


ERROR_CASES: dict[str, Callable] = {
    "NotAdmin": _case_not_admin,
    "NotPendingAdmin": _case_not_pending_admin,
    "ZeroAddress": _case_zero_address,
    "LogAlreadyRegistered": _case_log_already_registered,
    "UnknownLog": _case_unknown_log,
    "NotAnchorer": _case_not_anchorer,
    "TreeNotGrowing": _case_tree_not_growing,
    "ZeroRoot": _case_zero_root,
    "UnexpectedProof": _case_unexpected_proof,
    "ProofRequired": _case_proof_required,
    "InconsistentProof": _case_inconsistent_proof,
    "NotWitness": _case_not_witness,
    "RootNotAnchored": _case_root_not_anchored,
    "AlreadyCosigned": _case_already_cosigned,
    "ZeroKeyHash": _case_zero_key_hash,
    "LogIsFrozen": _case_log_is_frozen,
    "LogNotFrozen": _case_log_not_frozen,
    "NotAnAnchor": _case_not_an_anchor,
}


def test_every_custom_error_of_the_contract_has_a_case(compiled: CompiledContract) -> None:
    assert {item["name"] for item in compiled.abi if item["type"] == "error"} == set(ERROR_CASES)


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_custom_error_is_raised_and_decoded(name: str, registry: AnchorRegistry, roles: Roles, tree) -> None:
    call = ERROR_CASES[name](registry, roles, tree)
    refused = refusal(call)
    assert refused.error == name
    assert refused.code.isupper() and refused.code.replace("_", "") == name.upper()  # NotAdmin: NOT_ADMIN


def test_refusals_carry_their_arguments(registry: AnchorRegistry, roles: Roles, tree: MemoryTree) -> None:
    lid = _anchored(registry, roles, tree, 10)
    refused = refusal(lambda: registry.anchor(lid, 10, tree.root(10), [], sender=roles.stranger))
    assert refused.error == "NotAnchorer"
    assert refused.arguments == {"logId": "0x" + lid.hex(), "caller": roles.stranger}
    refused = refusal(lambda: registry.anchor(lid, 7, tree.root(7), [], sender=roles.anchorer))
    assert refused.arguments == {"logId": "0x" + lid.hex(), "latestSize": 10, "treeSize": 7}


# ------------------------------------------------------------------ who may do what


def test_only_the_logs_anchorer_can_anchor_it(registry: AnchorRegistry, roles: Roles, tree: MemoryTree) -> None:
    lid = new_log(registry, roles, "suzhou")
    other = new_log(registry, roles, "other")
    mine = log_id("the stranger's own log")
    registry.register_log(mine, roles.stranger, KEY_HASH, sender=roles.admin)
    for intruder in (roles.admin, roles.stranger, roles.witness):
        assert refusal(lambda a=intruder: registry.anchor(lid, 10, tree.root(10), [], sender=a)).error == "NotAnchorer"
    # Being the anchorer of one log gives no right over another.
    refused = refusal(lambda: registry.anchor(mine, 10, tree.root(10), [], sender=roles.anchorer))
    assert refused.error == "NotAnchorer"
    assert registry.latest(lid) == LatestAnchor(0, bytes(32), 0, 0)
    registry.anchor(lid, 10, tree.root(10), [], sender=roles.anchorer)
    registry.anchor(mine, 10, tree.root(10), [], sender=roles.stranger)
    assert registry.latest(lid).tree_size == 10
    assert registry.latest(other).count == 0
    assert registry.anchorer_of(lid) == roles.anchorer
    assert registry.anchorer_of(log_id("never registered")) is None


def test_a_local_account_signs_its_own_anchors(w3: Web3, registry: AnchorRegistry, roles: Roles, tree) -> None:
    """A permissioned network's node holds no keys: the registry's account signs in-process."""
    account = Account.create()
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": roles.admin, "to": account.address, "value": w3.to_wei(1, "ether")})
    )
    lid = log_id("oneclaim.test/locally-signed")
    registry.register_log(lid, account.address, KEY_HASH, sender=roles.admin)
    registry.anchor(lid, 10, tree.root(10), [], sender=account)
    registry.anchor(lid, 30, tree.root(30), tree.proof(10, 30), sender=account)
    assert registry.latest(lid).tree_size == 30
    refused = refusal(lambda: registry.anchor(lid, 40, tree.root(41), tree.proof(30, 40), sender=account))
    assert refused.error == "InconsistentProof"


def test_an_unreachable_chain_is_a_clear_error(registry: AnchorRegistry) -> None:
    offline = AnchorRegistry(connect(f"http://127.0.0.1:{free_port()}"), registry.address)
    with pytest.raises(ChainError) as info:
        offline.latest(log_id("oneclaim.test/log"))
    assert info.value.code == "CHAIN_UNAVAILABLE"


def test_admin_role_moves_in_two_steps(registry: AnchorRegistry, roles: Roles) -> None:
    registry.transfer_admin(roles.stranger, sender=roles.admin)
    assert registry.admin() == roles.admin  # not before the new admin accepts
    registry.accept_admin(sender=roles.stranger)
    assert registry.admin() == roles.stranger
    assert refusal(lambda: registry.grant_witness(roles.anchorer, sender=roles.admin)).error == "NotAdmin"
    registry.grant_witness(roles.anchorer, sender=roles.stranger)
    assert registry.is_witness(roles.anchorer)


# ------------------------------------------------------------------ what the chain refuses


def test_shrinking_and_equal_trees_are_refused(registry: AnchorRegistry, roles: Roles, tree: MemoryTree) -> None:
    lid = _anchored(registry, roles, tree, 100)
    for size in (99, 100, 1):
        refused = refusal(lambda s=size: registry.anchor(lid, s, tree.root(s), [], sender=roles.anchorer))
        assert refused.error == "TreeNotGrowing"
    # Even with a would-be proof, a size that does not grow is refused before any proof check.
    assert refusal(lambda: registry.anchor(lid, 100, tree.root(100), [bytes(32)], sender=roles.anchorer)).error == (
        "TreeNotGrowing"
    )
    assert registry.latest(lid).tree_size == 100


def test_forged_tampered_and_truncated_proofs_are_refused(
    registry: AnchorRegistry, roles: Roles, tree: MemoryTree
) -> None:
    lid = _anchored(registry, roles, tree, 1_000)
    size = 1_537
    proof, good_root = tree.proof(1_000, size), tree.root(size)
    assert len(proof) >= 4
    forged_root = tree.root(size + 1)  # a real root, of another tree
    other_history = MemoryTree(size, label=b"rewritten")  # the same sizes, another history
    bad = {
        "forged root": (forged_root, proof),
        "root and proof of a rewritten history": (other_history.root(size), other_history.proof(1_000, size)),
        "truncated (last hash dropped)": (good_root, proof[:-1]),
        "truncated (first hash dropped)": (good_root, proof[1:]),
        "extended (a hash appended)": (good_root, [*proof, proof[-1]]),
        "reordered": (good_root, [proof[1], proof[0], *proof[2:]]),
        "proof for another old size": (good_root, tree.proof(999, size)),
    }
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[i % 32] ^= 0x01
        bad[f"tampered hash {i}"] = (good_root, [*proof[:i], bytes(flipped), *proof[i + 1 :]])
    for what, (root_hash, candidate) in bad.items():
        refused = refusal(lambda r=root_hash, p=candidate: registry.anchor(lid, size, r, p, sender=roles.anchorer))
        assert refused.error == "InconsistentProof", what
        assert refused.arguments["previousSize"] == 1_000 and refused.arguments["treeSize"] == size
    assert registry.latest(lid).tree_size == 1_000
    assert registry.root_at(lid, size) is None
    # The honest anchor still goes through afterwards.
    registry.anchor(lid, size, good_root, proof, sender=roles.anchorer)
    assert registry.root_at(lid, size) == good_root


def test_a_chain_of_50_anchors_over_a_growing_log(
    w3: Web3, registry: AnchorRegistry, roles: Roles, tree: MemoryTree
) -> None:
    rng = random.Random(9162)
    sizes = sorted(rng.sample(range(1, tree.size + 1), 50))
    lid = new_log(registry, roles, "growing")
    previous = 0
    for count, size in enumerate(sizes, start=1):
        proof = tree.proof(previous, size)
        receipt = registry.anchor(lid, size, tree.root(size), proof, sender=roles.anchorer)
        event = registry.contract.events.Anchored().process_receipt(w3.eth.get_transaction_receipt(receipt.tx_hash))
        assert [dict(e["args"]) for e in event] == [
            {"logId": lid, "treeSize": size, "rootHash": tree.root(size), "previousSize": previous, "signature": b""}
        ]
        assert registry.latest(lid) == LatestAnchor(size, tree.root(size), receipt.block_number, count)
        previous = size
    assert all(registry.root_at(lid, s) == tree.root(s) for s in sizes)
    assert registry.root_at(lid, next(s for s in range(1, tree.size) if s not in sizes)) is None


# ------------------------------------------------------------------ witnesses


def test_witnesses_cosign_only_anchored_roots(registry: AnchorRegistry, roles: Roles, tree: MemoryTree) -> None:
    lid = _anchored(registry, roles, tree, 10, 20)
    assert registry.is_witness(roles.witness) and not registry.is_witness(roles.second_witness)
    # A size that was never anchored, and a wrong root at an anchored size, are refused.
    assert refusal(lambda: registry.cosign(lid, 15, tree.root(15), sender=roles.witness)).error == "RootNotAnchored"
    assert refusal(lambda: registry.cosign(lid, 20, tree.root(19), sender=roles.witness)).error == "RootNotAnchored"
    assert refusal(lambda: registry.cosign(lid, 20, bytes(32), sender=roles.witness)).error == "RootNotAnchored"
    # An older anchored root can still be cosigned.
    registry.cosign(lid, 10, tree.root(10), sender=roles.witness)
    assert registry.cosigned(lid, 10, roles.witness)
    assert not registry.cosigned(lid, 20, roles.witness)
    # Only granted witnesses; a revoked one stops, its earlier cosignature stays.
    assert refusal(lambda: registry.cosign(lid, 20, tree.root(20), sender=roles.second_witness)).error == "NotWitness"
    registry.grant_witness(roles.second_witness, sender=roles.admin)
    registry.cosign(lid, 20, tree.root(20), sender=roles.second_witness)
    registry.revoke_witness(roles.witness, sender=roles.admin)
    assert refusal(lambda: registry.cosign(lid, 20, tree.root(20), sender=roles.witness)).error == "NotWitness"
    assert registry.cosigned(lid, 10, roles.witness) and registry.cosigned(lid, 20, roles.second_witness)


def test_a_cosignature_emits_its_event(w3: Web3, registry: AnchorRegistry, roles: Roles, tree: MemoryTree) -> None:
    lid = _anchored(registry, roles, tree, 10)
    receipt = registry.cosign(lid, 10, tree.root(10), sender=roles.witness)
    events = registry.contract.events.Cosigned().process_receipt(w3.eth.get_transaction_receipt(receipt.tx_hash))
    assert [dict(e["args"]) for e in events] == [
        {"logId": lid, "treeSize": 10, "rootHash": tree.root(10), "witness": roles.witness}
    ]


# ------------------------------------------------------------------ gas


def _anchor_gas(registry: AnchorRegistry, roles: Roles, tree, size1: int, size2: int) -> tuple[int, int]:
    """Gas of anchoring size2 after size1 (the whole transaction), and the proof's length."""
    lid = new_log(registry, roles, f"gas {size1}->{size2} {random.random()}")
    registry.anchor(lid, size1, tree.root(size1), [], sender=roles.anchorer)
    proof = tree.proof(size1, size2)
    receipt = registry.anchor(lid, size2, tree.root(size2), proof, sender=roles.anchorer)
    assert registry.latest(lid).tree_size == size2
    return receipt.gas_used, len(proof)


def test_gas_per_anchor_at_a_million_leaves(registry: AnchorRegistry, roles: Roles, record_property) -> None:
    million = MemoryTree(1_000_000)
    small = MemoryTree(1_000)
    cases = [
        (small, 7, 10),  # 10 leaves
        (small, 999, 1_000),  # 1,000 leaves, the longest proof from one leaf back
        (small, 3, 1_000),
        (million, 999_000, 1_000_000),  # a typical batch of 1,000 events
        (million, 999_999, 1_000_000),
        (million, 3, 1_000_000),  # the longest proof into a 10^6-leaf tree (21 hashes)
        (million, 524_289, 1_000_000),
    ]
    measured = []
    for tree, size1, size2 in cases:
        gas, length = _anchor_gas(registry, roles, tree, size1, size2)
        measured.append((size1, size2, length, gas))
        record_property(f"anchor_gas_{size1}_to_{size2}", f"{gas} gas, proof of {length} hashes")
    print("\nanchor gas (size1 -> size2: proof hashes, gas):")
    for size1, size2, length, gas in measured:
        print(f"  {size1:>9,} -> {size2:>9,}: {length:>2} hashes, {gas:,} gas")
    assert max(length for *_, length, _ in measured) == 21
    assert all(gas <= GAS_TARGET for *_, gas in measured), measured


def test_gas_grows_with_the_proof_not_the_tree(registry: AnchorRegistry, roles: Roles, record_property) -> None:
    """Each proof hash adds about a thousand gas, whatever the tree size: a log of 2**32 entries
    (proofs of up to 33 hashes) stays under the target."""
    tree = UniformTree()
    gas_by_length = {}
    for size1, size2 in [(3, 2**20), (2**31 + 1, 2**32 - 1), (3, 2**32 - 1), (2**39 + 1, 2**40 - 1)]:
        gas, length = _anchor_gas(registry, roles, tree, size1, size2)
        gas_by_length[length] = gas
        record_property(f"anchor_gas_{size1}_to_{size2}", f"{gas} gas, proof of {length} hashes")
    lengths = sorted(gas_by_length)
    assert lengths[0] == 21 and lengths[-1] == 41 and 33 in lengths
    per_hash = (gas_by_length[41] - gas_by_length[21]) // 20
    assert 500 <= per_hash <= 1_200, gas_by_length  # calldata (16 gas a byte) and one or two SHA-256 each
    assert all(gas <= GAS_TARGET for length, gas in gas_by_length.items() if length <= 33), gas_by_length


# ------------------------------------------------------------------ RFC 6962 vectors on chain


def _vector_files() -> list:
    files = sorted(VECTORS.rglob("*.json")) if VECTORS.is_dir() else []
    if not files:
        return [pytest.param(None, id="consistency-vectors-absent")]
    return [pytest.param(f, id=f.relative_to(VECTORS).as_posix()) for f in files]


@pytest.fixture(scope="module")
def vector_registry(w3: Web3, roles: Roles, compiled: CompiledContract) -> AnchorRegistry:
    return deploy(w3, roles, compiled)


@pytest.mark.parametrize("path", _vector_files())
def test_consistency_vector_on_chain(path: Path | None, vector_registry: AnchorRegistry, roles: Roles) -> None:
    """A vector's (size1, root1) is anchored first, then (size2, root2) with its proof.

    The contract verifies only growing trees from an anchored one (0 < size1 < size2); there the
    chain must agree with the vector. A vector with size1 >= size2 is refused as TreeNotGrowing
    (the contract never re-anchors a size, even with an empty proof), and one with size1 == 0
    never gets its old tree anchored (no anchor of the empty tree).
    """
    if path is None:
        missing_evidence("the contract's consistency check against the RFC 6962 vectors", VECTORS)
    v = json.loads(path.read_text())
    size1, size2 = v["size1"], v["size2"]
    root1, root2 = base64.b64decode(v["root1"]), base64.b64decode(v["root2"])
    proof = [base64.b64decode(h) for h in v["proof"] or []]
    registry = vector_registry
    lid = new_log(registry, roles, path.as_posix())

    def second_anchor():
        return registry.anchor(lid, size2, root2, proof, sender=roles.anchorer)

    if any(len(h) != 32 for h in [root1, root2, *proof]):
        # Garbage no bytes32 can carry (or the 12-byte placeholder roots of the size edge cases):
        # the client refuses it before sending anything. It is never a proof the chain should take.
        assert v["wantErr"] or not 0 < size1 < size2
        with pytest.raises(InvalidInput) as info:
            if len(root1) != 32:
                registry.anchor(lid, size1, root1, [], sender=roles.anchorer)
            second_anchor()
        assert info.value.code == "INVALID_HASH"
        assert registry.latest(lid).count == 0
        return
    if size1 == 0:
        assert refusal(lambda: registry.anchor(lid, 0, root1, [], sender=roles.anchorer)).error == "TreeNotGrowing"
        return
    registry.anchor(lid, size1, root1, [], sender=roles.anchorer)
    if size2 <= size1:
        assert refusal(second_anchor).error == "TreeNotGrowing"
    elif v["wantErr"]:
        assert refusal(second_anchor).error in {"InconsistentProof", "ProofRequired"}
        assert registry.latest(lid).tree_size == size1
    else:
        second_anchor()
        assert registry.latest(lid).tree_size == size2 and registry.root_at(lid, size2) == root2


# ------------------------------------------------------------------ rotation, recovery, pinned keys


def test_the_admin_rotates_a_log_s_anchorer_with_an_event(registry: AnchorRegistry, roles: Roles, tree) -> None:
    lid = _anchored(registry, roles, tree, 10)
    receipt = registry.rotate_anchorer(lid, roles.stranger, sender=roles.admin)
    (rotated,) = registry.contract.events.AnchorerRotated().process_receipt(
        registry.w3.eth.get_transaction_receipt(receipt.tx_hash)
    )
    assert (rotated["args"]["previous"], rotated["args"]["anchorer"]) == (roles.anchorer, roles.stranger)
    assert (
        refusal(lambda: registry.anchor(lid, 20, tree.root(20), tree.proof(10, 20), sender=roles.anchorer)).error
        == "NotAnchorer"
    )
    registry.anchor(lid, 20, tree.root(20), tree.proof(10, 20), sender=roles.stranger)  # the new key anchors
    assert refusal(lambda: registry.rotate_anchorer(lid, roles.anchorer, sender=roles.stranger)).error == "NotAdmin"


def test_a_misused_log_is_frozen_and_continued_by_a_successor_from_its_last_honest_anchor(
    registry: AnchorRegistry, roles: Roles, tree
) -> None:
    """The anchorer key anchored junk far beyond the real log; the admin freezes the log and
    registers a successor from the last honest anchor. Both are public events, the frozen log's
    anchors stay, and the successor can only extend the honest root."""
    lid = _anchored(registry, roles, tree, 10, 20)
    junk = JunkTree(tree, 20)
    junk_root = root(2**40, junk.get_nodes)
    registry.anchor(lid, 2**40, junk_root, consistency_proof(20, 2**40, junk.get_nodes), sender=roles.anchorer)
    frozen = registry.freeze_log(lid, "anchorer key misused: junk at 2^40", sender=roles.admin)
    successor = hashlib.sha256(b"log, continued").digest()
    registered = registry.register_successor(lid, successor, 20, roles.stranger, sender=roles.admin)
    w3 = registry.w3
    (event,) = registry.contract.events.LogFrozen().process_receipt(w3.eth.get_transaction_receipt(frozen.tx_hash))
    assert event["args"]["treeSize"] == 2**40 and "misused" in event["args"]["reason"]
    (carried,) = registry.contract.events.SuccessorRegistered().process_receipt(
        w3.eth.get_transaction_receipt(registered.tx_hash),
        errors=DISCARD,  # (its LogRegistered is not this event)
    )
    assert (carried["args"]["successorId"], carried["args"]["treeSize"], carried["args"]["rootHash"]) == (
        successor,
        20,
        tree.root(20),
    )
    assert registry.is_frozen(lid) and registry.root_at(lid, 2**40) == junk_root  # nothing erased
    assert registry.key_hash_of(successor) == registry.key_hash_of(lid) == KEY_HASH
    assert refusal(
        lambda: registry.anchor(successor, 30, tree.root(31), tree.proof(20, 30), sender=roles.stranger)
    ).error == ("InconsistentProof")
    registry.anchor(successor, 30, tree.root(30), tree.proof(20, 30), sender=roles.stranger)
    assert registry.latest(successor).tree_size == 30


class JunkTree:
    """The honest tree's first `honest` leaves, then made-up ones up to any size: what a thief with
    the anchorer key can anchor with a valid consistency proof, since the contract sees no leaves
    (hence the signatures in the events, and recovery)."""

    def __init__(self, tree: MemoryTree, honest: int) -> None:
        self.tree, self.honest, self.junk = tree, honest, UniformTree()

    def node(self, level: int, index: int) -> bytes:
        if (index + 1) << level <= self.honest:
            return self.tree.get_nodes([(level, index)])[0]
        if index << level >= self.honest:
            return self.junk.get_nodes([(level, index)])[0]
        return node_hash(self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1))

    def get_nodes(self, addresses):
        return [self.node(level, index) for level, index in addresses]
