"""Witnessing on loopback: how long from a checkpoint being signed to its quorum being met, with
1, 2 and 3 witnesses, and how many add-checkpoint requests one witness takes a second.

    python -m bench.witness [--quick] [--json]

Every witness is a real `oneclaim witness serve` process (its own data directory, uvicorn on
127.0.0.1, SQLite with synchronous=FULL), reached over HTTP with keep-alive.

- **Quorum latency.** A log of a few thousand events is built through the real write path. Each
  round signs a checkpoint of a larger prefix (a few hundred leaves more; the witnesses check a
  real consistency proof from the size they hold) and times `ledger.tlog.publish.publish` until
  it returns with the quorum met: reading the proof from the database, the requests (in
  parallel), verifying and keeping the cosignatures. Policies require all k witnesses, k = 1, 2,
  3, and the rounds of the three are interleaved. **Baseline**: the k = 1 publication measured in
  the same rounds, the single-witness round trip. Target: p95(k = 3) <= 1.5 x p95(k = 1).
- **add-checkpoint throughput of one witness.** Checkpoints of a log growing one leaf at a time,
  with their proofs, are made first; then they are sent in order, each request after the last
  answer (the protocol allows nothing else for one log), and, separately, for 4 logs at once from
  4 threads. Target: >= 200 add-checkpoint/s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.report import percentile, standalone, target_lines
from bench.workload import build_log
from ledger.app import Ledger
from ledger.tlog.note import Checkpoint, generate_signer, sign_note
from ledger.tlog.policy import parse_policy
from ledger.tlog.publish import publish, request_body
from ledger.tlog.witness import Witness
from oneclaim.serve_cli import serving_witness

TARGET_P95_RATIO = 1.5
TARGET_ADDS_PER_S = 200
ORIGIN = "bench.oneclaim.local/witnessed"


def _witnesses(stack: ExitStack, tmp: Path, origins: dict[str, str], count: int) -> list[tuple[str, str]]:
    """Start `count` witness processes witnessing `origins` (origin -> vkey); (vkey, url) each."""
    out = []
    for i in range(count):
        directory = tmp / f"w{i + 1}"
        Witness.init(directory, f"witness{i + 1}.bench.local/w")
        witness = Witness(directory)
        for origin, vkey in origins.items():
            witness.add_log(origin, vkey)
        out.append((witness.verifier_key, stack.enter_context(serving_witness(directory))))
        witness.close()
    return out


def _stats(seconds: list[float]) -> dict:
    ms = sorted(s * 1e3 for s in seconds)
    return {"p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "max_ms": ms[-1], "samples": len(ms)}


def quorum_latency(tmp: Path, rounds: int, events: int) -> dict:
    """Interleaved publications to policies of 1, 2 and 3 witnesses (all required)."""
    db = tmp / "log.sqlite"
    build_log(f"sqlite:///{db}", events, checkpoint_every=events)
    signer = generate_signer(ORIGIN)
    ledger = Ledger(f"sqlite:///{db}")
    seconds: dict[int, list[float]] = {1: [], 2: [], 3: []}
    try:
        with ExitStack() as stack, httpx.Client(timeout=10) as client:
            running = _witnesses(stack, tmp, {ORIGIN: signer.verifier_key()}, 3)
            policies = {}
            for k in (1, 2, 3):
                lines = [f"witness w{i} {vkey} {url}" for i, (vkey, url) in enumerate(running[:k], 1)]
                policies[k] = parse_policy(
                    "\n".join(
                        [*lines, f"group all-{k} all {' '.join(f'w{i}' for i in range(1, k + 1))}", f"quorum all-{k}"]
                    )
                )
            step = max(1, events // (rounds * 3 + 3))
            size = step
            for _ in range(rounds):
                for k in (1, 2, 3):
                    size += step
                    note = sign_note(Checkpoint(ORIGIN, size, ledger.log.root(size)).text(), signer)
                    cp = ledger.log.add_checkpoint(size, ledger.log.root(size), note)
                    # witnesses 1..k are asked; the others are behind and catch up in a later round
                    started = time.perf_counter()
                    result = publish(ledger.log, policies[k], cp, client=client)
                    elapsed = time.perf_counter() - started
                    if not result.published:
                        raise RuntimeError(f"k={k}: {result.message}")
                    seconds[k].append(elapsed)
    finally:
        ledger.close()
    stats = {k: _stats(v) for k, v in seconds.items()}
    ratio = stats[3]["p95_ms"] / stats[1]["p95_ms"]
    return {"by_witnesses": stats, "ratio_p95_3_to_1": ratio, "met": ratio <= TARGET_P95_RATIO,
            "target_ratio": TARGET_P95_RATIO}  # fmt: skip


def _chain_of_requests(origin: str, n: int) -> tuple[str, list[bytes]]:
    """add-checkpoint bodies for a log growing one leaf at a time: sizes 1..n, each with the
    consistency proof from the one before (an in-memory RFC 9162 tree)."""
    from ledger.tlog.merkle import CompactRange, consistency_proof, leaf_hash, root

    signer = generate_signer(origin)
    nodes: dict[tuple[int, int], bytes] = {}
    frontier = CompactRange()

    def get_nodes(addresses):
        return [nodes[a] for a in addresses]

    bodies = []
    for size in range(1, n + 1):
        leaf = leaf_hash(b"entry %d" % size)
        nodes[(0, size - 1)] = leaf
        frontier.append(leaf, lambda level, index, digest: nodes.__setitem__((level, index), digest))
        note = sign_note(Checkpoint(origin, size, root(size, get_nodes)).text(), signer)
        proof = consistency_proof(size - 1, size, get_nodes)
        bodies.append(request_body(size - 1, proof, note))
    return signer.verifier_key(), bodies


def throughput(tmp: Path, n: int, logs: int = 4) -> dict:
    chains = {
        f"bench.oneclaim.local/log{i}": _chain_of_requests(f"bench.oneclaim.local/log{i}", n) for i in range(logs)
    }
    with ExitStack() as stack:
        ((_, url),) = _witnesses(stack, tmp, {o: vkey for o, (vkey, _) in chains.items()}, 1)

        def send(bodies: list[bytes]) -> float:
            with httpx.Client(base_url=url, timeout=10) as client:
                started = time.perf_counter()
                for body in bodies:
                    answer = client.post("/add-checkpoint", content=body)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{answer.status_code}: {answer.text}")
                return time.perf_counter() - started

        origins = list(chains)
        one = send(chains[origins[0]][1])
        with ThreadPoolExecutor(logs - 1) as pool:
            started = time.perf_counter()
            list(pool.map(send, [chains[o][1] for o in origins[1:]]))
            together = time.perf_counter() - started
    sequential = n / one
    parallel = (logs - 1) * n / together
    return {"requests": n, "sequential_per_s": sequential, "logs_in_parallel": logs - 1, "parallel_per_s": parallel,
            "met": sequential >= TARGET_ADDS_PER_S, "target_per_s": TARGET_ADDS_PER_S}  # fmt: skip


def run(quick: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="oneclaim-bench-witness-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "q").mkdir()
        (tmp / "t").mkdir()
        latency = quorum_latency(tmp / "q", rounds=20 if quick else 100, events=2_000 if quick else 20_000)
        adds = throughput(tmp / "t", n=200 if quick else 1_000)
    return {"quorum": latency, "add_checkpoint": adds}


def targets(result: dict) -> list[dict]:
    q, a = result["quorum"], result["add_checkpoint"]
    return [
        {"name": "quorum met p95, 3 witnesses / 1 witness", "target": f"<= {TARGET_P95_RATIO}",
         "measured": f"{q['ratio_p95_3_to_1']:.2f}", "met": q["met"]},
        {"name": "add-checkpoint/s, one witness, one log", "target": f">= {TARGET_ADDS_PER_S}/s",
         "measured": f"{a['sequential_per_s']:,.0f}/s", "met": a["met"]},
    ]  # fmt: skip


def render(result: dict) -> str:
    q, a = result["quorum"], result["add_checkpoint"]
    lines = ["Witnessing on loopback: from checkpoint signed to quorum met (publish), all k required:"]
    for k, s in q["by_witnesses"].items():
        lines.append(f"  {k} witness(es): p50 {s['p50_ms']:.2f} ms, p95 {s['p95_ms']:.2f} ms, max {s['max_ms']:.2f} ms"
                     f" ({s['samples']} rounds)")  # fmt: skip
    lines.append(
        f"  add-checkpoint, one witness: {a['sequential_per_s']:,.0f}/s one log in order ({a['requests']} requests);"
        f" {a['parallel_per_s']:,.0f}/s with {a['logs_in_parallel']} logs at once"
    )
    lines += target_lines(targets(result))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m bench.witness", __doc__, run, render, argv)


if __name__ == "__main__":
    sys.exit(main())
