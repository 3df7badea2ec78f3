"""Anchoring benchmarks (issue 5), side by side in one run on one local chain.

    python -m bench.anchoring [--quick]

Starts its own anvil (`anchoring.chain.Chain` in a temporary directory, a free port on 127.0.0.1,
hardfork pinned by `ChainConfig`), always stopped at the end, and measures:

1. Gas per anchor against log size (10, 10^3, 10^6 events) and proof length: for each size N,
   a fresh log of the AnchorRegistry is anchored at an earlier size M (N-1, N/2+1, 3, ...), then
   at N with the real RFC 9162 consistency proof, which the contract verifies. Trees are
   `tests.anchor_support.MemoryTree` (real distinct leaves, proofs from `ledger.tlog.merkle`).
   Target: <= 100,000 gas per anchor at 10^6 events. Baselines in the same run: a plain ETH
   transfer (21,000 gas) and a log's first anchor (no proof).
2. Gas per event at batch sizes B = 1, 100, 10,000 and 1,000,000: the anchor of a tree growing
   from k*B to (k+1)*B events (several k around 10^6 events), divided by B.
3. The alternative design, one transaction per certificate-batch event, ERC-1155 style as in
   Energy Web Origin: `bench/contracts/BatchMint1155.sol`, compiled with the project's solc
   (0.8.28 through the npm wrapper, same settings), deployed on the same anvil. Gas of an
   issuance (mint of a new batch id), a transfer and a claim, each its own transaction, against
   OneClaim's gas per event at 10,000 events per anchor.
4. Time from an event's commit to its anchor being confirmed: a SQLite Ledger, the
   AnchorService running on a 1 s interval in a thread, a writer appending events at a steady
   rate. An event is covered by the first anchor whose tree size exceeds its seq; its anchor is
   confirmed when the service holds the mined receipt (the moment it calls `_record`).
   Baseline: the interval itself.

Results: bench/results/anchoring.json (full run only); a JSON summary on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from web3 import Web3

from anchoring.chain import Chain, ChainConfig
from anchoring.compile import PROJECT_ROOT, CompiledContract, _cache_key, _compile, _contracts, solc_config
from anchoring.registry import AnchorRegistry, log_id
from anchoring.service import AnchorConfig, AnchorService
from bench.report import machine, percentile, write_json
from ledger.app import Ledger
from ledger.tlog.merkle import verify_consistency
from ledger.tlog.note import generate_signer
from tests.anchor_support import MemoryTree

OUT = Path(__file__).resolve().parent / "results" / "anchoring.json"
CONTRACTS = Path(__file__).resolve().parent / "contracts"
GAS_TARGET = 100_000
ORIGIN = "oneclaim.bench/anchoring"
MILLION = 1_000_000


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ compiling the bench's contract


def compile_bench_contracts() -> dict[str, CompiledContract]:
    """Every contract in bench/contracts/*.sol, compiled exactly as anchoring.compile compiles
    contracts/ (same solc wrapper, version check and settings; sources under project-relative
    names), cached under build/contracts/ with the same key scheme."""
    root = PROJECT_ROOT
    config = solc_config(root)
    sources = {p.relative_to(root).as_posix(): {"content": p.read_text()} for p in sorted(CONTRACTS.glob("*.sol"))}
    cache_file = root / "build" / "contracts" / f"bench-{_cache_key(config, sources)}.json"
    if cache_file.is_file():
        output = json.loads(cache_file.read_text())
    else:
        output = _compile(root, config, sources)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(output))
    return _contracts(output)


# ------------------------------------------------------------------ chain helpers


def _transact(w3: Web3, fn: Any, sender: str) -> dict:
    raw = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}), poll_latency=0.01)
    assert raw["status"] == 1, raw
    return raw


def eth_transfer_gas(w3: Web3) -> int:
    a, b = w3.eth.accounts[0], w3.eth.accounts[9]
    tx = w3.eth.send_transaction({"from": a, "to": b, "value": 1})
    return w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.01)["gasUsed"]


class Anchors:
    """A deployed AnchorRegistry; each measurement anchors a fresh log of its own."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.admin, self.anchorer = w3.eth.accounts[0], w3.eth.accounts[1]
        self.registry, receipt = AnchorRegistry.deploy(w3, sender=self.admin)
        self.deploy_gas = receipt.gas_used
        self.logs = 0

    def new_log(self) -> bytes:
        self.logs += 1
        lid = log_id(f"{ORIGIN}/{self.logs}")
        self.registry.register_log(lid, self.anchorer, sender=self.admin)
        return lid

    def pair(self, tree: MemoryTree, size1: int, size2: int) -> dict:
        """Anchor size1 (first anchor, no proof), then size2 with the consistency proof."""
        lid = self.new_log()
        root1, root2 = tree.root(size1), tree.root(size2)
        first = self.registry.anchor(lid, size1, root1, [], sender=self.anchorer)
        proof = tree.proof(size1, size2)
        verify_consistency(size1, size2, proof, root1, root2)  # the contract checks it too
        second = self.registry.anchor(lid, size2, root2, proof, sender=self.anchorer)
        assert self.registry.latest(lid).tree_size == size2
        return {
            "from_size": size1,
            "to_size": size2,
            "proof_hashes": len(proof),
            "gas": second.gas_used,
            "first_anchor_gas": first.gas_used,
        }


# ------------------------------------------------------------------ 1. gas against log size


def gas_by_size(anchors: Anchors, tree: MemoryTree, transfer_gas: int) -> dict:
    rows = []
    for n in (10, 1_000, MILLION):
        previous = [n - 1, n // 2 + 1, 3]
        if n == MILLION:
            previous += [n - 1_000, 524_289]  # a batch of 1,000 events; a long proof past 2^19
        for m in sorted(set(previous), reverse=True):
            r = anchors.pair(tree, m, n)
            r["ratio_to_eth_transfer"] = r["gas"] / transfer_gas
            r["ratio_to_first_anchor"] = r["gas"] / r["first_anchor_gas"]
            rows.append(r)
            _log(f"  {m:>9,} -> {n:>9,}: proof {r['proof_hashes']:>2} hashes, {r['gas']:,} gas")
    at_million = [r for r in rows if r["to_size"] == MILLION]
    worst = max(r["gas"] for r in at_million)
    first = [r["first_anchor_gas"] for r in rows]
    return {
        "anchors": rows,
        "first_anchor_gas_median": statistics.median(first),
        "max_gas_at_million": worst,
        "max_proof_hashes_at_million": max(r["proof_hashes"] for r in at_million),
        "target_gas": GAS_TARGET,
        "target_met": worst <= GAS_TARGET,
        "ratio_max_at_million_to_eth_transfer": worst / transfer_gas,
    }


# ------------------------------------------------------------------ 2. gas per event by batch size


def gas_by_batch(anchors: Anchors, tree: MemoryTree, steps: int) -> dict:
    out = {}
    for batch in (1, 100, 10_000, MILLION):
        around = max(1, MILLION // batch - 1)  # the step that ends at 10^6 events
        ks = [k for k in range(around - steps // 2, around - steps // 2 + steps) if k >= 1]
        ks = [k for k in ks if (k + 1) * batch <= tree.size] or [1]
        rows = [anchors.pair(tree, k * batch, (k + 1) * batch) for k in ks]
        gas = [r["gas"] for r in rows]
        med = statistics.median(gas)
        out[str(batch)] = {
            "batch": batch,
            "steps": [{k: r[k] for k in ("from_size", "to_size", "proof_hashes", "gas")} for r in rows],
            "gas_per_anchor_median": med,
            "gas_per_anchor_min": min(gas),
            "gas_per_anchor_max": max(gas),
            "gas_per_event": med / batch,
        }
        _log(f"  B = {batch:>9,}: {len(rows)} steps, {med:,.0f} gas per anchor, {med / batch:,.2f} gas per event")
    return out


# ------------------------------------------------------------------ 3. the alternative: one tx per batch event


def erc1155(w3: Web3, compiled: CompiledContract, batches: int, transfer_gas: int) -> dict:
    minter = w3.eth.accounts[0]
    holders = w3.eth.accounts[2:9]
    factory = w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
    deployed = _transact(w3, factory.constructor(minter), minter)
    token = w3.eth.contract(address=deployed["contractAddress"], abi=compiled.abi)
    gas: dict[str, list[int]] = {"issue": [], "transfer": [], "claim": []}
    for i in range(batches):
        batch_id = int.from_bytes(hashlib.sha256(b"GEC-202501-BENCH-%07d" % i).digest()[:16], "big")
        metadata = hashlib.sha256(b"batch metadata %d" % i).digest()
        holder, buyer = holders[i % len(holders)], holders[(i + 1) % len(holders)]
        amount = 1_000 + i
        gas["issue"].append(_transact(w3, token.functions.mint(holder, batch_id, amount, metadata), minter)["gasUsed"])
        move = token.functions.safeTransferFrom(holder, buyer, batch_id, amount // 2, b"")
        gas["transfer"].append(_transact(w3, move, holder)["gasUsed"])
        retire = token.functions.claim(batch_id, amount // 4, hashlib.sha256(b"claim %d" % i).digest())
        gas["claim"].append(_transact(w3, retire, buyer)["gasUsed"])
        assert token.functions.balanceOf(batch_id, buyer).call() == amount // 2 - amount // 4
    med = {k: statistics.median(v) for k, v in gas.items()}
    return {
        "contract": compiled.source,
        "deploy_gas": deployed["gasUsed"],
        "batches": batches,
        "gas_median": med,
        "gas_min": {k: min(v) for k, v in gas.items()},
        "gas_max": {k: max(v) for k, v in gas.items()},
        "mix_gas_per_event": statistics.mean(med.values()),
        "issue_ratio_to_eth_transfer": med["issue"] / transfer_gas,
    }


# ------------------------------------------------------------------ 4. commit -> anchor latency


def latency(chain: Chain, tmp: Path, seconds: float, rate: float, interval: float) -> dict:
    w3 = chain.web3()
    admin, anchorer = w3.eth.accounts[0], w3.eth.accounts[1]
    registry, _ = AnchorRegistry.deploy(w3, sender=admin)
    registry.register_log(log_id(ORIGIN), anchorer, sender=admin)
    ledger = Ledger(f"sqlite:///{tmp / 'latency.sqlite'}")
    service = AnchorService(
        ledger,
        generate_signer(ORIGIN),
        AnchorConfig(chain.status().rpc_url, w3.eth.chain_id, registry.address, anchorer, ORIGIN),
    )
    confirmed: list[tuple[int, float, float]] = []  # (tree size, receipt in hand, Anchored saved)
    passes: list[float] = []
    gas: list[int] = []
    record, once = service._record, service.once

    def timed_record(history, anchors):
        t = time.time()
        out = record(history, anchors)
        done = time.time()
        confirmed.extend((a["tree_size"], t, done) for a in anchors)
        return out

    def timed_once(min_events: int = 1):
        t = time.perf_counter()
        anchored = once(min_events)
        if anchored:
            passes.append(time.perf_counter() - t)
            gas.append(anchored["gas_used"])
        return anchored

    service._record, service.once = timed_record, timed_once
    stop = threading.Event()
    messages: list[str] = []
    runner = threading.Thread(
        target=service.run, kwargs={"interval": interval, "stop": stop.is_set, "report": messages.append}
    )
    written: list[tuple[Any, float]] = []
    runner.start()
    try:
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < seconds:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            participant = ledger.add_participant(f"W-{i:06d}", "用电企业", "consumer", "江苏", "苏州")
            written.append((participant.id, time.time()))
            i += 1
        seqs = [ledger.log.seq_of(pid, 1) for pid, _ in written]
        needed = max(seqs) + 1
        deadline = time.monotonic() + 30
        while not (confirmed and max(c[0] for c in confirmed) >= needed) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        runner.join()
        ledger.close()
    confirmed.sort()
    lat, lat_saved, uncovered = [], [], 0
    for seq, (_, committed) in zip(seqs, written, strict=True):
        anchor = next((c for c in confirmed if c[0] > seq), None)
        if anchor is None:
            uncovered += 1
            continue
        lat.append(anchor[1] - committed)
        lat_saved.append(anchor[2] - committed)
    lat.sort()
    lat_saved.sort()
    sizes = [c[0] for c in confirmed]
    per_anchor = [b - a for a, b in zip([0, *sizes], sizes, strict=False)]
    p50 = percentile(lat, 50)
    return {
        "interval_s": interval,
        "writer_events_per_s": rate,
        "seconds": seconds,
        "events": len(written),
        "events_not_anchored": uncovered,
        "anchors": len(confirmed),
        "log_entries_per_anchor_median": statistics.median(per_anchor) if per_anchor else None,
        "anchor_gas_median": statistics.median(gas) if gas else None,
        "pass_seconds_median": statistics.median(passes) if passes else None,
        "pass_seconds_p95": percentile(sorted(passes), 95),
        "latency_p50_s": p50,
        "latency_p95_s": percentile(lat, 95),
        "latency_max_s": lat[-1] if lat else None,
        "latency_mean_s": statistics.mean(lat) if lat else None,
        "latency_to_record_saved_p50_s": percentile(lat_saved, 50),
        "latency_to_record_saved_p95_s": percentile(lat_saved, 95),
        "ratio_p50_to_interval": p50 / interval,
        "ratio_p95_to_interval": percentile(lat, 95) / interval,
        "service_messages": messages[:5],
    }


# ------------------------------------------------------------------ the run


def run(quick: bool) -> dict:
    steps, batches, seconds = (3, 10, 8.0) if quick else (5, 50, 30.0)
    rate, interval = 50.0, 1.0
    t0 = time.monotonic()
    results: dict = {"mode": "quick" if quick else "full", "meta": machine()}
    _log("anchoring: compiling bench/contracts ...")
    compiled = compile_bench_contracts()["BatchMint1155"]
    _log(f"anchoring: building an RFC 9162 tree of {2 * MILLION:,} leaves in memory ...")
    tree = MemoryTree(2 * MILLION)
    with tempfile.TemporaryDirectory(prefix="oneclaim-bench-anchoring-") as tmp:
        chain = Chain(Path(tmp) / "anvil", ChainConfig())
        try:
            chain.up()
            w3 = chain.web3()
            results["chain"] = {"rpc_url": chain.status().rpc_url, "hardfork": chain.config.hardfork}
            transfer = eth_transfer_gas(w3)
            results["baseline_eth_transfer_gas"] = transfer
            anchors = Anchors(w3)
            results["registry_deploy_gas"] = anchors.deploy_gas
            _log("1. gas per anchor against log size ...")
            results["gas_by_size"] = gas_by_size(anchors, tree, transfer)
            _log("2. gas per event against batch size ...")
            results["gas_by_batch"] = gas_by_batch(anchors, tree, steps)
            _log(f"3. one transaction per certificate-batch event (ERC-1155), {batches} batches ...")
            alt = erc1155(w3, compiled, batches, transfer)
            ours = results["gas_by_batch"]["10000"]["gas_per_event"]
            alt["oneclaim_gas_per_event_at_10000"] = ours
            alt["ratio_issue_to_oneclaim_per_event"] = alt["gas_median"]["issue"] / ours
            # An issuance appends 2 log entries in OneClaim (the device's allocation and the batch).
            alt["ratio_issue_to_oneclaim_per_issuance"] = alt["gas_median"]["issue"] / (2 * ours)
            alt["ratio_mix_to_oneclaim_per_event"] = alt["mix_gas_per_event"] / ours
            results["erc1155_alternative"] = alt
            _log(f"4. commit -> anchor latency, {seconds:.0f} s at {rate:.0f} events/s, interval {interval} s ...")
            results["latency"] = latency(chain, Path(tmp), seconds, rate, interval)
        finally:
            chain.down()
    results["seconds"] = time.monotonic() - t0
    return results


def summary(results: dict) -> dict:
    s, b, a, lat = (results[k] for k in ("gas_by_size", "gas_by_batch", "erc1155_alternative", "latency"))
    return {
        "mode": results["mode"],
        "seconds": round(results["seconds"], 1),
        "baseline_eth_transfer_gas": results["baseline_eth_transfer_gas"],
        "first_anchor_gas_median": s["first_anchor_gas_median"],
        "gas_per_anchor": [
            {k: r[k] for k in ("from_size", "to_size", "proof_hashes", "gas")}
            | {"x_eth_transfer": round(r["ratio_to_eth_transfer"], 2)}
            for r in s["anchors"]
        ],
        "max_gas_at_million": s["max_gas_at_million"],
        "target_100k_met": s["target_met"],
        "gas_per_event_by_batch": {k: round(v["gas_per_event"], 4) for k, v in b.items()},
        "gas_per_anchor_by_batch": {k: v["gas_per_anchor_median"] for k, v in b.items()},
        "erc1155_gas_median": a["gas_median"],
        "erc1155_issue_vs_oneclaim_per_event_at_10000": round(a["ratio_issue_to_oneclaim_per_event"], 1),
        "erc1155_issue_vs_oneclaim_per_issuance_at_10000": round(a["ratio_issue_to_oneclaim_per_issuance"], 1),
        "latency_p50_s": round(lat["latency_p50_s"], 3),
        "latency_p95_s": round(lat["latency_p95_s"], 3),
        "latency_p50_over_interval": round(lat["ratio_p50_to_interval"], 2),
        "latency_events": lat["events"],
        "latency_anchors": lat["anchors"],
        "events_not_anchored": lat["events_not_anchored"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and a shorter latency run (smoke test)")
    results = run(parser.parse_args().quick)
    if results["mode"] == "full":
        write_json(OUT, results)
    print(json.dumps(summary(results), indent=2))


if __name__ == "__main__":
    main()
