"""The log's own anchor history: one `Anchored` event per checkpoint anchored on chain.

The anchor service records each anchor here after its transaction is mined, so the log carries
its own history of anchors (and so do audit bundles). One aggregate per (chain id, contract, log
id): pointing the service at another contract starts another history instead of mixing two.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.errors import Conflict


def history_id(chain_id: int, contract: str, log_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:anchors:{chain_id}:{contract.lower()}:{log_id}")


class AnchorHistory(Aggregate):
    """Anchors of one log on one contract, in order; each must extend the one before."""

    @staticmethod
    def create_id(chain_id: int, contract: str, log_id: str, **_: object) -> UUID:
        return history_id(chain_id, contract, log_id)

    @event("Started")
    def __init__(self, chain_id: int, contract: str, log_id: str) -> None:
        self.chain_id = chain_id
        self.contract = contract
        self.log_id = log_id  # hex SHA-256 of the checkpoint origin line
        self.anchors: list[dict] = []

    @property
    def latest(self) -> dict | None:
        return self.anchors[-1] if self.anchors else None

    def record(self, tree_size: int, root_hash: str, tx_hash: str, block_number: int) -> None:
        latest = self.latest
        if latest is not None and tree_size <= latest["tree_size"]:
            raise Conflict(
                f"an anchor at tree size {tree_size} does not follow the last one ({latest['tree_size']})",
                code="ANCHOR_NOT_GROWING",
            )
        self._anchored(tree_size, root_hash, tx_hash, block_number, self.chain_id, self.contract)

    @event("Anchored")
    def _anchored(
        self, tree_size: int, root_hash: str, tx_hash: str, block_number: int, chain_id: int, contract: str
    ) -> None:
        self.anchors.append(
            {"tree_size": tree_size, "root_hash": root_hash, "tx_hash": tx_hash, "block_number": block_number}
        )
