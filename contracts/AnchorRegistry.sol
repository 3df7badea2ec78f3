// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

/// @title AnchorRegistry: permissioned anchors of OneClaim's RFC 9162 transparency logs
/// @notice A consortium admin registers each registry's log and the one account allowed to anchor
/// it. Every anchor records a (tree size, root) of that log, and from the second anchor on it must
/// carry an RFC 9162 consistency proof from the last anchored root, which this contract verifies:
/// the chain itself refuses a rewritten history. Granted witnesses (partner registries) cosign
/// anchored roots. Only hashes, sizes and signatures are stored, never personal data.
/// @notice The admin pins each log's verifier key (its SHA-256) at registration, so an auditor
/// who trusts this contract learns which key signs the log; each anchor carries the checkpoint's
/// Ed25519 signature in its event, so an off-chain verifier rejects any anchor that key never
/// signed. The admin can rotate a log's anchorer, and recover a log whose anchorer key was
/// misused: freeze it, and register a successor that starts from one of its anchored roots. The
/// frozen log's anchors stay on chain, and both steps are public events.
/// @dev Roles are written out here (admin, per-log anchorer, witness) instead of importing
/// OpenZeppelin's AccessControl, to keep the contract dependency-free and small enough to review.
contract AnchorRegistry {
    /// @dev The latest anchor of a log and its anchoring account. treeSize, blockNumber and count
    /// share one storage slot, so an anchor rewrites one word besides storing its new root;
    /// `anchorer` sits alone in the next slot and is written only at registration.
    struct Log {
        uint64 treeSize;
        uint64 blockNumber;
        uint64 count;
        address anchorer;
        bool frozen;
        bytes32 keyHash;
    }

    /// @notice The consortium account that registers logs and grants witnesses.
    address public admin;
    /// @notice The account an admin transfer was started to, until it accepts (or zero).
    address public pendingAdmin;

    mapping(bytes32 logId => Log) private _logs;
    mapping(bytes32 logId => mapping(uint64 treeSize => bytes32 rootHash)) private _roots;
    mapping(address account => bool) private _witnesses;
    mapping(bytes32 logId => mapping(uint64 treeSize => mapping(address witness => bool))) private _cosigned;

    /// @notice An admin transfer to `newAdmin` was started; it takes effect when `newAdmin` accepts.
    event AdminTransferStarted(address indexed admin, address indexed newAdmin);
    /// @notice The admin role moved from `previousAdmin` to `newAdmin`.
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);
    /// @notice Log `logId` was registered; only `anchorer` may anchor it, and its checkpoints are
    /// signed by the verifier key whose SHA-256 is `keyHash`.
    event LogRegistered(bytes32 indexed logId, address indexed anchorer, bytes32 keyHash);
    /// @notice The account allowed to anchor log `logId` moved from `previous` to `anchorer`.
    event AnchorerRotated(bytes32 indexed logId, address indexed previous, address indexed anchorer);
    /// @notice Log `logId` was frozen at its latest anchor `treeSize`: it is anchored no more.
    event LogFrozen(bytes32 indexed logId, uint64 treeSize, string reason);
    /// @notice Log `successorId` continues frozen log `logId` from its anchor (`treeSize`, `rootHash`).
    event SuccessorRegistered(
        bytes32 indexed logId, bytes32 indexed successorId, uint64 treeSize, bytes32 rootHash, address anchorer
    );
    /// @notice `witness` may now cosign anchored roots.
    event WitnessGranted(address indexed witness);
    /// @notice `witness` may no longer cosign.
    event WitnessRevoked(address indexed witness);
    /// @notice Log `logId` was anchored at `treeSize` with `rootHash`, extending `previousSize`
    /// (0 for its first anchor).
    /// `signature` is the log key's Ed25519 signature of the checkpoint (origin, size, root), as in
    /// its signed note; the contract stores it only in the event, for off-chain verifiers.
    event Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 rootHash, uint64 previousSize, bytes signature);
    /// @notice `witness` cosigned the root `rootHash` anchored for log `logId` at `treeSize`.
    event Cosigned(bytes32 indexed logId, uint64 indexed treeSize, bytes32 rootHash, address indexed witness);

    /// @notice Only the admin may do this.
    error NotAdmin(address caller);
    /// @notice Only the account an admin transfer was started to may accept it.
    error NotPendingAdmin(address caller);
    /// @notice The zero address cannot hold a role.
    error ZeroAddress();
    /// @notice This log id is already registered.
    error LogAlreadyRegistered(bytes32 logId);
    /// @notice No log is registered under this id.
    error UnknownLog(bytes32 logId);
    /// @notice Only the log's anchoring account may anchor it.
    error NotAnchorer(bytes32 logId, address caller);
    /// @notice A tree size must be larger than the last anchored one.
    error TreeNotGrowing(bytes32 logId, uint64 latestSize, uint64 treeSize);
    /// @notice A zero root hash is never a tree head (it marks "not anchored" here).
    error ZeroRoot();
    /// @notice The first anchor of a log has no earlier root to prove consistency from.
    error UnexpectedProof(bytes32 logId);
    /// @notice Anchors after the first need a consistency proof from the last anchored root.
    error ProofRequired(bytes32 logId, uint64 previousSize);
    /// @notice The consistency proof does not show that the new tree extends the anchored one.
    error InconsistentProof(bytes32 logId, uint64 previousSize, uint64 treeSize);
    /// @notice Only granted witnesses may cosign.
    error NotWitness(address caller);
    /// @notice This root was not anchored for this log at this size.
    error RootNotAnchored(bytes32 logId, uint64 treeSize, bytes32 rootHash);
    /// @notice This witness already cosigned this root.
    error AlreadyCosigned(bytes32 logId, uint64 treeSize, address witness);
    /// @notice A log is registered with the hash of the verifier key that signs it.
    error ZeroKeyHash();
    /// @notice This log is frozen: it is anchored no more (see its successor).
    error LogIsFrozen(bytes32 logId);
    /// @notice Only a frozen log gets a successor.
    error LogNotFrozen(bytes32 logId);
    /// @notice A successor starts from an anchored root of the frozen log.
    error NotAnAnchor(bytes32 logId, uint64 treeSize);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    /// @param admin_ The consortium account, the first admin.
    constructor(address admin_) {
        if (admin_ == address(0)) revert ZeroAddress();
        admin = admin_;
        emit AdminTransferred(address(0), admin_);
    }

    // ------------------------------------------------------------------ admin

    /// @notice Start moving the admin role to `newAdmin`; it takes effect when `newAdmin` calls
    /// `acceptAdmin`, so a mistyped address cannot lock the consortium out.
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        pendingAdmin = newAdmin;
        emit AdminTransferStarted(msg.sender, newAdmin);
    }

    /// @notice Accept the admin role started to the caller by `transferAdmin`.
    function acceptAdmin() external {
        if (msg.sender != pendingAdmin) revert NotPendingAdmin(msg.sender);
        emit AdminTransferred(admin, msg.sender);
        admin = msg.sender;
        delete pendingAdmin;
    }

    /// @notice Register log `logId`, anchored only by `anchorer` (the registry's chain account).
    /// @param logId SHA-256 of the log's checkpoint origin line.
    /// @param keyHash SHA-256 of the log's verifier key (`name+hash+base64(0x01||pubkey)`).
    function registerLog(bytes32 logId, address anchorer, bytes32 keyHash) external onlyAdmin {
        if (anchorer == address(0)) revert ZeroAddress();
        if (keyHash == bytes32(0)) revert ZeroKeyHash();
        Log storage log = _logs[logId];
        if (log.anchorer != address(0)) revert LogAlreadyRegistered(logId);
        (log.anchorer, log.keyHash) = (anchorer, keyHash);
        emit LogRegistered(logId, anchorer, keyHash);
    }

    /// @notice Move the right to anchor log `logId` to `anchorer` (e.g. a new key after a leak).
    function rotateAnchorer(bytes32 logId, address anchorer) external onlyAdmin {
        if (anchorer == address(0)) revert ZeroAddress();
        Log storage log = _logs[logId];
        address previous = log.anchorer;
        if (previous == address(0)) revert UnknownLog(logId);
        log.anchorer = anchorer;
        emit AnchorerRotated(logId, previous, anchorer);
    }

    /// @notice Freeze log `logId` (its anchorer key was misused, say): it is anchored no more, and
    /// everything it anchored stays on chain for anyone to check.
    function freezeLog(bytes32 logId, string calldata reason) external onlyAdmin {
        Log storage log = _logs[logId];
        if (log.anchorer == address(0)) revert UnknownLog(logId);
        if (log.frozen) revert LogIsFrozen(logId);
        log.frozen = true;
        emit LogFrozen(logId, log.treeSize, reason);
    }

    /// @notice Register `successorId` to continue frozen log `logId` from its anchor at `treeSize`
    /// (the last honest one): the successor's first anchor must prove consistency from that root,
    /// so the recovery cannot rewrite what was anchored up to there, and it cannot be done unseen.
    function registerSuccessor(bytes32 logId, bytes32 successorId, uint64 treeSize, address anchorer)
        external
        onlyAdmin
    {
        Log storage log = _logs[logId];
        if (log.anchorer == address(0)) revert UnknownLog(logId);
        if (!log.frozen) revert LogNotFrozen(logId);
        bytes32 rootHash = _roots[logId][treeSize];
        if (rootHash == bytes32(0)) revert NotAnAnchor(logId, treeSize);
        if (anchorer == address(0)) revert ZeroAddress();
        Log storage next = _logs[successorId];
        if (next.anchorer != address(0)) revert LogAlreadyRegistered(successorId);
        (next.anchorer, next.keyHash, next.treeSize, next.blockNumber) =
            (anchorer, log.keyHash, treeSize, uint64(block.number));
        _roots[successorId][treeSize] = rootHash;
        emit LogRegistered(successorId, anchorer, log.keyHash);
        emit SuccessorRegistered(logId, successorId, treeSize, rootHash, anchorer);
    }

    /// @notice Let `witness` cosign anchored roots. Granting a witness twice changes nothing.
    function grantWitness(address witness) external onlyAdmin {
        if (witness == address(0)) revert ZeroAddress();
        if (_witnesses[witness]) return;
        _witnesses[witness] = true;
        emit WitnessGranted(witness);
    }

    /// @notice Stop `witness` from cosigning; its earlier cosignatures stay. Revoking a non-witness
    /// changes nothing.
    function revokeWitness(address witness) external onlyAdmin {
        if (!_witnesses[witness]) return;
        _witnesses[witness] = false;
        emit WitnessRevoked(witness);
    }

    // ------------------------------------------------------------------ anchoring

    /// @notice Anchor log `logId` at `treeSize` with root `rootHash` (RFC 9162 MTH).
    /// @param consistencyProof Empty for the log's first anchor; afterwards the RFC 9162 §2.1.4
    /// consistency proof from the last anchored (size, root) to (`treeSize`, `rootHash`).
    /// @param signature The Ed25519 signature of the checkpoint by the log's key (64 bytes), emitted.
    function anchor(
        bytes32 logId,
        uint64 treeSize,
        bytes32 rootHash,
        bytes32[] calldata consistencyProof,
        bytes calldata signature
    ) external {
        Log storage log = _logs[logId];
        address anchorer = log.anchorer;
        if (anchorer == address(0)) revert UnknownLog(logId);
        if (log.frozen) revert LogIsFrozen(logId);
        if (msg.sender != anchorer) revert NotAnchorer(logId, msg.sender);
        if (rootHash == bytes32(0)) revert ZeroRoot();
        uint64 previousSize = log.treeSize;
        if (treeSize <= previousSize) revert TreeNotGrowing(logId, previousSize, treeSize);
        if (previousSize == 0) {
            if (consistencyProof.length != 0) revert UnexpectedProof(logId);
        } else {
            if (consistencyProof.length == 0) revert ProofRequired(logId, previousSize);
            bytes32 previousRoot = _roots[logId][previousSize];
            if (!_consistent(previousSize, treeSize, previousRoot, rootHash, consistencyProof)) {
                revert InconsistentProof(logId, previousSize, treeSize);
            }
        }
        _roots[logId][treeSize] = rootHash;
        (log.treeSize, log.blockNumber, log.count) = (treeSize, uint64(block.number), log.count + 1);
        emit Anchored(logId, treeSize, rootHash, previousSize, signature);
    }

    /// @notice Cosign, as a witness, the root anchored for log `logId` at `treeSize`.
    function cosign(bytes32 logId, uint64 treeSize, bytes32 rootHash) external {
        if (!_witnesses[msg.sender]) revert NotWitness(msg.sender);
        if (rootHash == bytes32(0) || _roots[logId][treeSize] != rootHash) {
            revert RootNotAnchored(logId, treeSize, rootHash);
        }
        mapping(address => bool) storage by = _cosigned[logId][treeSize];
        if (by[msg.sender]) revert AlreadyCosigned(logId, treeSize, msg.sender);
        by[msg.sender] = true;
        emit Cosigned(logId, treeSize, rootHash, msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @notice The latest anchor of log `logId`: all zero before its first anchor; an unregistered
    /// log is refused with UnknownLog.
    /// @return treeSize The anchored tree size.
    /// @return rootHash The root anchored at that size.
    /// @return blockNumber The block it was anchored in.
    /// @return count How many anchors the log has.
    function latest(bytes32 logId)
        external
        view
        returns (uint64 treeSize, bytes32 rootHash, uint64 blockNumber, uint64 count)
    {
        Log storage log = _logs[logId];
        if (log.anchorer == address(0)) revert UnknownLog(logId);
        treeSize = log.treeSize;
        return (treeSize, _roots[logId][treeSize], log.blockNumber, log.count);
    }

    /// @notice The root anchored for log `logId` at `treeSize`, or zero if none was.
    function rootAt(bytes32 logId, uint64 treeSize) external view returns (bytes32) {
        return _roots[logId][treeSize];
    }

    /// @notice The account allowed to anchor log `logId`, or zero if it is not registered.
    function anchorerOf(bytes32 logId) external view returns (address) {
        return _logs[logId].anchorer;
    }

    /// @notice SHA-256 of the verifier key registered for log `logId` (zero if not registered).
    function keyHashOf(bytes32 logId) external view returns (bytes32) {
        return _logs[logId].keyHash;
    }

    /// @notice Whether log `logId` is frozen.
    function isFrozen(bytes32 logId) external view returns (bool) {
        return _logs[logId].frozen;
    }

    /// @notice Whether `account` may cosign.
    function isWitness(address account) external view returns (bool) {
        return _witnesses[account];
    }

    /// @notice Whether `witness` cosigned the root anchored for log `logId` at `treeSize`.
    function cosigned(bytes32 logId, uint64 treeSize, address witness) external view returns (bool) {
        return _cosigned[logId][treeSize][witness];
    }

    // ------------------------------------------------------------------ RFC 9162

    /// @dev RFC 9162 §2.1.4.2: whether `proof` shows that the tree (size2, root2) extends the tree
    /// (size1, root1). The caller guarantees 0 < size1 < size2 and a non-empty proof (step 1).
    /// A proof of the wrong length fails too: extra hashes hit sn == 0, missing ones leave sn > 0.
    function _consistent(uint64 size1, uint64 size2, bytes32 root1, bytes32 root2, bytes32[] calldata proof)
        private
        view
        returns (bool)
    {
        // Step 2: a power-of-two old tree is itself the first subtree, which the proof leaves out.
        uint256 next;
        bytes32 seed;
        if (size1 & (size1 - 1) == 0) {
            seed = root1;
        } else {
            seed = proof[0];
            next = 1;
        }
        // Steps 3-5: skip the levels inside that subtree, then start both roots from it.
        uint256 fn = size1 - 1;
        uint256 sn = size2 - 1;
        while (fn & 1 == 1) {
            fn >>= 1;
            sn >>= 1;
        }
        bytes32 fr = seed;
        bytes32 sr = seed;
        // Step 6: fr rebuilds the old root from the left-hand hashes only; sr the new root.
        for (; next < proof.length; ++next) {
            if (sn == 0) return false;
            bytes32 c = proof[next];
            if (fn & 1 == 1 || fn == sn) {
                fr = _node(c, fr);
                sr = _node(c, sr);
                while (fn != 0 && fn & 1 == 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = _node(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        // Step 7.
        return sn == 0 && fr == root1 && sr == root2;
    }

    /// @dev An RFC 9162 interior node: SHA-256(0x01 || left || right), by the SHA-256 precompile
    /// (address 0x02). The same 65 bytes as `sha256(abi.encodePacked(bytes1(0x01), left, right))`,
    /// written into free memory without allocating it: about 450 gas less per hash, which keeps an
    /// anchor of a 2**32-leaf log under 100,000 gas.
    function _node(bytes32 left, bytes32 right) private view returns (bytes32 hash) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 0x01)
            mstore(add(ptr, 1), left)
            mstore(add(ptr, 33), right)
            if iszero(staticcall(gas(), 0x02, ptr, 65, 0x00, 0x20)) { revert(0, 0) }
            hash := mload(0x00)
        }
    }
}
