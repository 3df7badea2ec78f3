"""Cross-region transfers end to end: two registries, each a real `oneclaim serve` process on
loopback publishing its head every second, and the relayer (oneclaim.relay) making a pass every
second between their APIs.

    python -m bench.transfers [--quick] [--json]

- **Latency**: one transfer at a time, from `send_transfer` returning on the source to the
  source's packet being `exported` (the destination received it and its receipt was proved
  back). Sampled every 10 ms. Target (issue 16): p95 <= 2 checkpoint intervals plus the witness
  round trips. Each log is witnessed by a witness of the partner (`oneclaim witness serve`, its
  own process), and each side's policy requires that cosignature (1 of 1): the receipt and the
  acknowledgement rest on witnessed checkpoints, as between real registries. The target is
  2 s plus the witness round trips measured in the same run (the add-checkpoint calls the
  publisher makes).
- **Throughput**: a burst of transfers sent at once on one channel, and the time until every one
  is exported: transfers per second through one ordered channel.

The baseline is the checkpoint interval itself (1 s): the latency is reported as a ratio to it.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.report import percentile, standalone, target_lines
from ledger.app import today
from oneclaim.home import Home
from oneclaim.relay import Registry, Relayer
from oneclaim.serve_cli import serving_command

INTERVAL = 1.0
TARGET_CHECKPOINT_INTERVALS = 2.0
SUZHOU, CHUZHOU, CODE = "bench.oneclaim.local/suzhou", "bench.oneclaim.local/chuzhou", "BENCH-SZ-CZ"
GEN, BUYER = "acct:bench-gen", "acct:bench-buyer"


def _witnessed(home: Home, partner: str, stack: ExitStack) -> None:
    """The partner runs a witness of this home's log; the home's policy requires its cosignature."""
    from ledger.tlog.witness import Witness
    from oneclaim.serve_cli import serving_witness

    directory = home.path.parent / f"witness-of-{home.path.name}"
    Witness.init(directory, f"witness.{partner}.bench/oneclaim")
    witness = Witness(directory)
    witness.add_log(home.origin, home.verifier_key())
    vkey = witness.verifier_key
    witness.close()
    url = stack.enter_context(serving_witness(directory))
    home.policy_path.write_text(f"log {home.verifier_key()}\nwitness {partner} {vkey} {url}\nquorum {partner}\n")


def _witness_round_trips(home: Home, n: int) -> list[float]:
    """Seconds per publication of a new head (sign, ask the witness, meet the quorum), n times:
    what each of the two checkpoints a transfer waits for adds to the checkpoint interval."""
    ledger = home.ledger()
    try:
        took = []
        for i in range(n):
            ledger.add_participant(f"BENCH-RTT-{i}", "round trip", "consumer", "-", "-")
            started = time.monotonic()
            if not ledger.publish_checkpoint(home.signer(), home.origin, home.policy()).published:
                raise RuntimeError("the witness did not cosign")
            took.append(time.monotonic() - started)
        return took
    finally:
        ledger.close()


def _homes(tmp: Path, stack: ExitStack) -> tuple[Home, Home, str, list[str]]:
    """Two homes: Suzhou with an EV-charging credit batch, Chuzhou with a buyer, each witnessed
    by the other; the agreement recorded on both; partner tokens. Returns (suzhou, chuzhou,
    batch code, tokens)."""
    from api.auth import TokenStore

    homes = []
    for origin in (SUZHOU, CHUZHOU):
        home = Home.at(tmp / origin.split("/")[-1])
        home.init(origin)
        homes.append(home)
    suzhou, chuzhou = homes
    _witnessed(suzhou, "chuzhou", stack)
    _witnessed(chuzhou, "suzhou", stack)
    recognised = {"instruments": ["INCLUSION"]}
    terms = {
        "code": CODE,
        "parties": sorted(
            (
                {"origin": h.origin, "verifier_key": h.verifier_key(), "policy": h.policy_path.read_text()}
                for h in homes
            ),
            key=lambda p: p["origin"],
        ),  # fmt: skip
        "recognises": {SUZHOU: recognised, CHUZHOU: recognised},
        "valid_from": "2020-01-01",
        "valid_until": "2099-12-31",
    }
    tokens = []
    for home, owner, account in ((suzhou, "BENCH-GEN", GEN), (chuzhou, "BENCH-BUYER", BUYER)):
        ledger = home.ledger()
        try:
            ledger.add_participant(owner, owner, "consumer", "-", "-")
            ledger.add_participant("PARTNER", "partner registry", "registry", "-", "-")
            ledger.open_account(account, owner)
            if home is suzhou:
                ledger.establish_programme("BENCH-PHCER", "bench", "-", ["ev_charging"], "SIP-2020-PURCHASED")
                batch = ledger.issue_inclusion("BENCH-PHCER", "ev_charging", GEN, subject="HUB", period="2025",
                                               kg_co2e=10**9).code  # fmt: skip
            ledger.record_agreement(terms, home.origin)
            store = TokenStore(ledger.db_url)
            try:
                tokens.append(store.issue("PARTNER", "partner", datetime.now(UTC))["token"])
                if home is suzhou:
                    tokens.append(store.issue(owner, "holder", datetime.now(UTC))["token"])
            finally:
                store.close()
        finally:
            ledger.close()
    return suzhou, chuzhou, batch, [tokens[0], tokens[2], tokens[1]]  # Suzhou partner, Chuzhou partner, holder


def _relaying(relayer: Relayer, stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        relayer.run_pass()
        rest = INTERVAL - (time.monotonic() - started)
        if rest > 0:
            time.sleep(rest)


def run(quick: bool = False) -> dict:
    samples, burst = (5, 10) if quick else (30, 50)
    with tempfile.TemporaryDirectory(prefix="oneclaim-bench-transfers-") as tmp_name, ExitStack() as stack:
        suzhou, chuzhou, batch, tokens = _homes(Path(tmp_name), stack)
        round_trips = sorted(t * 1e3 for home in (suzhou, chuzhou) for t in _witness_round_trips(home, samples))
        serve = ("serve", "--publish-every", str(INTERVAL), "--home")
        urls = [stack.enter_context(serving_command(*serve, str(h.path))) for h in (suzhou, chuzhou)]
        relayer = Relayer(Registry(urls[0], tokens[0]), Registry(urls[1], tokens[1]), CODE)
        stack.callback(relayer.close)
        stop = threading.Event()
        thread = threading.Thread(target=_relaying, args=(relayer, stop), daemon=True)
        thread.start()
        stack.callback(thread.join, 30)
        stack.callback(stop.set)
        ledger = suzhou.ledger()
        stack.callback(ledger.close)
        deadline = time.monotonic() + 60
        while not (relayer.view(relayer.a)["confirmed"] and relayer.view(relayer.b)["confirmed"]):
            if time.monotonic() > deadline:
                raise RuntimeError("the agreement never came into force")
            time.sleep(0.05)
        timeout = (today() + timedelta(days=30)).isoformat()
        holder = stack.enter_context(httpx.Client(base_url=urls[0], timeout=30,
                                                  headers={"Authorization": f"Bearer {tokens[2]}"}))  # fmt: skip

        def send(quantity: int) -> int:
            """Through the API, as a holder sends: the source publishes its head at once."""
            answer = holder.post(f"/v1/agreements/{CODE}/transfers", json={
                "batch": batch, "from_account": GEN, "to_account": BUYER, "quantity": quantity,
                "timeout_after": timeout})  # fmt: skip
            if answer.status_code != 201:
                raise RuntimeError(answer.text)
            return answer.json()["sequence"]

        def settled(sequences: list[int]) -> bool:
            agreement = ledger.agreement(CODE)
            return all(agreement.sent[n]["state"] == "exported" for n in sequences)

        latencies = []
        for _ in range(samples):
            started = time.monotonic()
            sequence = send(1_000)
            while not settled([sequence]):
                if time.monotonic() - started > 60:
                    raise RuntimeError(f"packet {sequence} did not settle in 60 s")
                time.sleep(0.01)
            latencies.append(time.monotonic() - started)
        started = time.monotonic()
        sequences = [send(10) for _ in range(burst)]
        while not settled(sequences):
            if time.monotonic() - started > 300:
                raise RuntimeError("the burst did not settle in 300 s")
            time.sleep(0.05)
        burst_seconds = time.monotonic() - started
    ms = sorted(s * 1e3 for s in latencies)
    p95 = percentile(ms, 95)
    witness_p95 = percentile(round_trips, 95)
    target_ms = TARGET_CHECKPOINT_INTERVALS * (INTERVAL * 1e3 + witness_p95)
    return {
        "interval_s": INTERVAL,
        "latency": {
            "p50_ms": percentile(ms, 50),
            "p95_ms": p95,
            "max_ms": ms[-1],
            "samples": len(ms),
            "p95_in_intervals": p95 / (INTERVAL * 1e3),
        },  # fmt: skip
        "witness_round_trip": {
            "p50_ms": percentile(round_trips, 50),
            "p95_ms": witness_p95,
            "samples": len(round_trips),
        },  # fmt: skip
        "burst": {"transfers": burst, "seconds": burst_seconds, "per_s": burst / burst_seconds},
        "target_p95_ms": target_ms,
        "met": p95 <= target_ms,
    }


def targets(result: dict) -> list[dict]:
    return [{"name": "transfer send -> exported p95",
             "target": f"<= {result['target_p95_ms']:.0f} ms (2 intervals + 2 witness round trips)",
             "measured": f"{result['latency']['p95_ms']:.0f} ms", "met": result["met"]}]  # fmt: skip


def render(result: dict) -> str:
    lat, burst = result["latency"], result["burst"]
    lines = [
        "Cross-region transfers, two `oneclaim serve` on loopback, each log witnessed by the partner,"
        f" checkpoints and relayer every {INTERVAL:.0f} s:",
        f"  send -> exported: p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms"
        f" ({lat['p95_in_intervals']:.2f} intervals), max {lat['max_ms']:.0f} ms ({lat['samples']} transfers)",
        f"  witness round trip (sign, add-checkpoint, quorum): p50 {result['witness_round_trip']['p50_ms']:.1f} ms,"
        f" p95 {result['witness_round_trip']['p95_ms']:.1f} ms",
        f"  one channel: {burst['transfers']} transfers sent at once, all exported in {burst['seconds']:.1f} s"
        f" ({burst['per_s']:.1f}/s)",
    ]
    lines += target_lines(targets(result))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m bench.transfers", __doc__, run, render, argv)


if __name__ == "__main__":
    sys.exit(main())
