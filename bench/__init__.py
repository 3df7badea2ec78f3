"""OneClaim benchmark suite: `make bench` (or `python -m bench [--quick]`).

Every figure is reported beside a baseline measured in the same run, as a ratio, because the
machines this runs on are small and noisy. See docs/benchmarks.md for what each benchmark
measures and why its baseline is the right one.

Modules:
- `workload`: the aggregates and events written, and the fast bulk build of a big log.
- `append`: 1. append throughput, one event per transaction, against bare eventsourcing.
- `verify`: 2. audit verification throughput, against reading the rows and hashing them once.
- `proofs`: 3. inclusion and consistency proof latency, against one primary-key read.
- `memory`: 4. peak RSS while appending and verifying, in a fresh process per phase.
- `phase`: the entry point of those fresh processes (`python -m bench.phase ...`).
- `report`: statistics, the text table and the JSON results.
"""
