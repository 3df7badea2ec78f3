// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

/// @title BatchMint1155: the alternative design, for the anchoring benchmark only (bench/anchoring.py)
/// @notice One on-chain transaction per certificate-batch event, ERC-1155 style, as in Energy Web
/// Origin's Registry: an issuance mints a new token id to its holder and stores the batch's
/// metadata hash; a transfer moves a balance; a claim (retirement) burns it and records who
/// claimed. Every event is a transaction whose state lives in the contract.
/// @dev Deliberately minimal, so that it is a lower bound for that design: one minter role, no
/// approvals or batch variants, and only a 32-byte hash of the metadata (Origin stores the
/// certificate struct and validity data, and calls the issuer contract to validate each issuance).
/// The ERC-1155 acceptance check for contract recipients is kept, as the standard requires it.
contract BatchMint1155 {
    /// @notice The only account that may mint (the registry operator).
    address public immutable minter;

    mapping(uint256 id => mapping(address account => uint256)) public balanceOf;
    mapping(uint256 id => bytes32 metadataHash) public metadataOf;
    mapping(uint256 id => mapping(address account => uint256)) public claimedBalanceOf;

    /// @notice ERC-1155's transfer event (mints come from, and burns go to, the zero address).
    event TransferSingle(
        address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value
    );
    /// @notice A claim (retirement) of `value` units of `id` by `claimer`, with its claim data hash.
    event ClaimSingle(address indexed claimer, uint256 indexed id, uint256 value, bytes32 claimDataHash);

    error NotMinter(address caller);
    error NotOwner(address caller, address from);
    error ZeroAddress();
    error BatchExists(uint256 id);
    error InsufficientBalance(uint256 id, address account, uint256 balance, uint256 needed);
    error Rejected(address to);

    constructor(address minter_) {
        if (minter_ == address(0)) revert ZeroAddress();
        minter = minter_;
    }

    /// @notice Issue a new certificate batch `id` of `amount` units to `to`, with its metadata hash.
    function mint(address to, uint256 id, uint256 amount, bytes32 metadataHash) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        if (to == address(0)) revert ZeroAddress();
        if (metadataOf[id] != bytes32(0)) revert BatchExists(id);
        metadataOf[id] = metadataHash;
        balanceOf[id][to] += amount;
        emit TransferSingle(msg.sender, address(0), to, id, amount);
        _accepted(msg.sender, address(0), to, id, amount, "");
    }

    /// @notice Move `amount` units of `id` from the caller (`from`) to `to`.
    function safeTransferFrom(address from, address to, uint256 id, uint256 amount, bytes calldata data) external {
        if (msg.sender != from) revert NotOwner(msg.sender, from);
        if (to == address(0)) revert ZeroAddress();
        uint256 balance = balanceOf[id][from];
        if (balance < amount) revert InsufficientBalance(id, from, balance, amount);
        unchecked {
            balanceOf[id][from] = balance - amount;
        }
        balanceOf[id][to] += amount;
        emit TransferSingle(msg.sender, from, to, id, amount);
        _accepted(msg.sender, from, to, id, amount, data);
    }

    /// @notice Claim (retire) `amount` units of `id` held by the caller: burned and recorded.
    function claim(uint256 id, uint256 amount, bytes32 claimDataHash) external {
        uint256 balance = balanceOf[id][msg.sender];
        if (balance < amount) revert InsufficientBalance(id, msg.sender, balance, amount);
        unchecked {
            balanceOf[id][msg.sender] = balance - amount;
        }
        claimedBalanceOf[id][msg.sender] += amount;
        emit TransferSingle(msg.sender, msg.sender, address(0), id, amount);
        emit ClaimSingle(msg.sender, id, amount, claimDataHash);
    }

    /// @dev ERC-1155: a contract recipient must return onERC1155Received's selector.
    function _accepted(address operator, address from, address to, uint256 id, uint256 amount, bytes memory data)
        private
    {
        if (to.code.length == 0) return;
        (bool ok, bytes memory answer) = to.call(
            abi.encodeWithSelector(0xf23a6e61, operator, from, id, amount, data)
        );
        if (!ok || answer.length != 32 || bytes4(abi.decode(answer, (bytes32))) != bytes4(0xf23a6e61)) {
            revert Rejected(to);
        }
    }
}
