"""The relayer: carries packets and proofs between two registries' APIs, trusted for nothing.

Each pass, for each direction (A to B, then B to A), it
1. puts the agreement in force where it is not: a proof of the partner's `Recorded` event;
2. delivers the packets in transit in order: the tlog-proof of each `TransferOut` from the
   source, with the consistency proof from what the destination last relied on;
3. brings the destination's decisions (received or refused) back to the source as proofs.

Everything it posts is a proof the receiving registry checks; a relayer that alters, forges,
replays or withholds can delay a transfer but not change its outcome or lose units. Any number
of relayers may run at once: each packet is decided once, and a duplicate gets the first answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from ledger.failpoint import failpoint
from ledger.tlog.note import _split_note, parse_checkpoint
from ledger.tlog.tlogproof import parse_tlog_proof


@dataclass
class Registry:
    """One side: its API's base URL and a partner token there."""

    url: str
    token: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}  # none: the public's view
        self.client = httpx.Client(base_url=self.url.rstrip("/"), timeout=30, headers=headers)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def post(self, path: str, body: dict) -> httpx.Response:
        return self.client.post(path, json=body)

    def close(self) -> None:
        self.client.close()


class NotYet(Exception):
    """The event is not under a published checkpoint yet: the next pass carries it."""


def _size(proof: str) -> int:
    return parse_checkpoint(_split_note(parse_tlog_proof(proof).checkpoint)[0]).size


def _answer(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:300]}
    return {"status": response.status_code, **(body if isinstance(body, dict) else {"body": body})}


def consistency_hashes(side: Registry, seen: dict | None, proof: str) -> list[str]:
    """From `side`'s API: the consistency proof between the checkpoint of it relied on before
    (`seen`: size, root) and the one `proof` rests on, in whichever order they come."""
    if seen is None:
        return []
    lo, hi = sorted((seen["size"], _size(proof)))
    if lo == hi:
        return []
    response = side.get("/v1/proofs/consistency", old=lo, new=hi)
    response.raise_for_status()
    return response.json()["hashes"]


class Relayer:
    def __init__(self, a: Registry, b: Registry, channel: str) -> None:
        self.a, self.b, self.channel = a, b, channel

    def close(self) -> None:
        self.a.close()
        self.b.close()

    def view(self, side: Registry) -> dict:
        response = side.get(f"/v1/agreements/{self.channel}")
        response.raise_for_status()
        return response.json()

    def proof(self, side: Registry, seq: int) -> str:
        response = side.get(f"/v1/proofs/inclusion/{seq}", format="tlog-proof")
        if response.status_code == 422 and response.json().get("code") == "SEQ_NOT_COVERED":
            raise NotYet(seq)
        response.raise_for_status()
        return response.text

    def consistency(self, side: Registry, seen: dict | None, proof: str) -> list[str]:
        return consistency_hashes(side, seen, proof)

    def deliver(self, src: Registry, dst: Registry, seq: int, what: str) -> tuple[dict, str]:
        """Prove src's entry `seq` to dst's `what` route; dst's answer and the proof."""
        proof = self.proof(src, seq)
        return self.post_proof(src, dst, proof, what), proof

    def post_proof(self, src: Registry, dst: Registry, proof: str, what: str) -> dict:
        """Post a tlog-proof of src's log to dst's `what` route, with the consistency proof from
        the checkpoint of src that dst relied on last."""
        seen = self.view(dst)["partner_seen"]
        body = {"proof": proof, "consistency": self.consistency(src, seen, proof)}
        return _answer(dst.post(f"/v1/agreements/{self.channel}/{what}", body))

    def step(self, src: Registry, dst: Registry) -> list[dict]:
        """One direction of a pass; what it did."""
        done: list[dict] = []
        proved: dict[int, str] = {}  # sequence -> the decision's tlog-proof, when a receipt answered with it
        src_view, dst_view = self.view(src), self.view(dst)
        try:
            if dst_view["confirmed"] is None:
                answer, _ = self.deliver(src, dst, src_view["recorded_seq"], "confirmation")
                done.append({"confirm": dst.url, **answer})
            pending = src.get(f"/v1/agreements/{self.channel}/packets", state="in_transit").json()["packets"]
            next_receive = self.view(dst)["next_receive"]
            for packet in pending:
                if packet["sequence"] < next_receive:
                    continue
                proof = self.proof(src, packet["log_seq"])
                failpoint("relay.fetched")
                answer = self.post_proof(src, dst, proof, "receipts")
                failpoint("relay.delivered")
                if answer.get("tlog_proof"):
                    proved[packet["sequence"]] = answer.pop("tlog_proof")
                done.append({"deliver": packet["sequence"], **answer})
                if answer["status"] != 200:
                    break  # the channel is ordered: the next packets wait for this one
            in_transit = {p["sequence"] for p in pending}
            decided = dst.get(f"/v1/agreements/{self.channel}/decisions").json()["decisions"]
            for decision in decided:
                if decision["sequence"] not in in_transit:
                    continue
                proof = proved.get(decision["sequence"])
                if proof is None:
                    answer, _ = self.deliver(dst, src, decision["log_seq"], "acknowledgements")
                else:  # the receipt's answer carried the decision's proof: no wait for a checkpoint
                    answer = self.post_proof(dst, src, proof, "acknowledgements")
                done.append({"acknowledge": decision["sequence"], **answer})
        except NotYet as e:
            done.append({"waiting": f"entry {e.args[0]} is not under a published checkpoint yet"})
        return done

    def run_pass(self) -> list[dict]:
        """Both directions; a registry that cannot be reached is reported, and tried again on
        the next pass (whatever was posted before is decided there, or not at all)."""
        done = []
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            try:
                done += self.step(src, dst)
            except httpx.HTTPError as e:
                done.append({"unreachable": f"{src.url} -> {dst.url}", "error": f"{type(e).__name__}: {e}"})
        return done
