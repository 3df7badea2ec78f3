"""3. Inclusion and consistency proof latency on a big log, through `ledger.tlog.log`.

Baseline: one primary-key read, `SELECT leaf FROM log_leaves WHERE seq = ?`, through the same
connection path (`LogStore.reading()`, i.e. eventsourcing's SQLite datastore transaction),
timed for the same seq right before each proof. Every proof is also checked (outside the timing)
against the tree head, with the RFC 9162 verification algorithms.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

from bench.report import median, percentile
from ledger.app import Ledger
from ledger.tlog.merkle import root_from_inclusion_proof, verify_consistency

TARGET_P95_MS = 2.0
WARMUP = 20


def _affordable(requested: int, seconds_each: float, budget_s: float) -> int:
    """As many samples as fit the time budget (at least 50), never more than requested, so
    that a slow implementation is still measured, with fewer samples, in bounded time."""
    return max(min(requested, 50), min(requested, int(budget_s / max(seconds_each, 1e-9))))


def _stats(samples_s: list[float]) -> dict:
    ms = sorted(s * 1e3 for s in samples_s)
    return {
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": ms[-1],
        "mean_ms": sum(ms) / len(ms),
    }


def _pk_read(log, seq: int) -> float:
    started = time.perf_counter()
    with log.reading() as cur:
        cur.execute("SELECT leaf FROM log_leaves WHERE seq = ?", [seq])
        cur.fetchone()
    return time.perf_counter() - started


def run(path: Path, samples: int, consistency_samples: int, budget_s: float, seed: int = 2025) -> dict:
    """`samples` inclusion proofs and `consistency_samples` consistency proofs at random
    positions, each kind within about `budget_s` seconds (fewer samples if proofs are slow)."""
    ledger = Ledger(f"sqlite:///{path}")
    log = ledger.log
    try:
        n, _, head_root = log.head()
        rng = random.Random(seed)
        started = time.perf_counter()
        for seq in (rng.randrange(n) for _ in range(WARMUP)):
            log.inclusion_proof(seq)
            _pk_read(log, seq)
        each = (time.perf_counter() - started) / WARMUP
        requested, samples = samples, _affordable(samples, each, budget_s)

        seqs = [rng.randrange(n) for _ in range(samples)]
        proof_t, base_t, proofs = [], [], []
        for seq in seqs:
            base_t.append(_pk_read(log, seq))
            started = time.perf_counter()
            proof = log.inclusion_proof(seq)
            proof_t.append(time.perf_counter() - started)
            proofs.append(proof)
        bound = math.ceil(math.log2(n))
        for p in proofs:
            if p.root_hash != head_root or (
                root_from_inclusion_proof(p.leaf_index, p.tree_size, p.leaf_hash, p.hashes) != head_root
            ):
                raise RuntimeError(f"inclusion proof for seq {p.leaf_index} does not verify")
        inclusion = {
            "tree_size": n,
            "samples": samples,
            "samples_requested": requested,
            "latency": _stats(proof_t),
            "baseline_pk_read": _stats(base_t),
            "ratio_p50": median(proof_t) / median(base_t),
            "max_hashes": max(len(p.hashes) for p in proofs),
            "mean_hashes": sum(len(p.hashes) for p in proofs) / len(proofs),
            "bound_hashes": bound,
            "within_bound": max(len(p.hashes) for p in proofs) <= bound,
            "all_verified": True,
        }

        started = time.perf_counter()
        for old in (rng.randrange(1, n) for _ in range(WARMUP)):
            log.consistency_proof(old, n)
        each = (time.perf_counter() - started) / WARMUP
        requested_c = consistency_samples
        consistency_samples = _affordable(consistency_samples, each, budget_s)
        olds = [rng.randrange(1, n) for _ in range(consistency_samples)]
        cons_t, base_t, cons = [], [], []
        for old in olds:
            base_t.append(_pk_read(log, old))
            started = time.perf_counter()
            c = log.consistency_proof(old, n)
            cons_t.append(time.perf_counter() - started)
            cons.append(c)
        for c in cons:
            # Raises ProofError unless the proof links the old root to the head's.
            verify_consistency(c.old_size, c.new_size, c.hashes, c.old_root, head_root)
        consistency = {
            "tree_size": n,
            "samples": consistency_samples,
            "samples_requested": requested_c,
            "latency": _stats(cons_t),
            "baseline_pk_read": _stats(base_t),
            "ratio_p50": median(cons_t) / median(base_t),
            "max_hashes": max(len(c.hashes) for c in cons),
            "bound_hashes": bound + 1,  # RFC 9162: a consistency proof may hold one more
            "within_bound": max(len(c.hashes) for c in cons) <= bound + 1,
            "all_verified": True,
        }
    finally:
        ledger.close()
    return {"target_p95_ms": TARGET_P95_MS, "inclusion": inclusion, "consistency": consistency}
