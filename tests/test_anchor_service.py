"""The anchor service against a real anvil: anchoring, crash recovery, outages and resets.

The fault tests kill a real `oneclaim anchor run` process with SIGKILL at random moments, stop
the chain under load, and restart it without its state.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from web3 import Web3

from anchoring.chain import Chain, ChainConfig, connect, free_port
from anchoring.registry import AnchorRegistry, key_hash, log_id
from anchoring.service import AnchorConfig, AnchorError, AnchorService, verify_anchors
from ledger.app import Ledger
from ledger.tlog.merkle import verify_consistency
from ledger.tlog.note import Signer
from tests.anchor_support import grow, home_service, oneclaim
from tests.support import ensure_owner, wait_for

pytest_plugins = ["tests.anchor_fixtures"]  # chain, w3, roles, compiled

ORIGIN = "oneclaim.test/anchors"
ROOT = Path(__file__).resolve().parents[1]


def setup_service(ledger: Ledger, signer: Signer, w3: Web3, origin: str = ORIGIN) -> AnchorService:
    admin, anchorer = w3.eth.accounts[0], w3.eth.accounts[1]
    registry, _ = AnchorRegistry.deploy(w3, sender=admin)
    registry.register_log(log_id(origin), anchorer, key_hash(signer.verifier_key()), sender=admin)
    rpc_url = w3.provider.endpoint_uri
    return AnchorService(ledger, signer, AnchorConfig(rpc_url, w3.eth.chain_id, registry.address, anchorer, origin))


def on_chain(service: AnchorService) -> list[tuple[int, str, str]]:
    return [(a["tree_size"], a["root_hash"], a["tx_hash"]) for a in service.chain_anchors()]


def in_log(service: AnchorService) -> list[tuple[int, str, str]]:
    history = service.history()
    return [(a["tree_size"], a["root_hash"], a["tx_hash"]) for a in (history.anchors if history else [])]


def test_anchors_the_signed_checkpoint_and_records_it_in_the_log(ledger: Ledger, signer: Signer, w3: Web3) -> None:
    service = setup_service(ledger, signer, w3)
    assert service.once() is None  # an empty log has nothing to anchor
    ensure_owner(ledger)
    grow(ledger, 5)
    first = service.once()
    assert first is not None and first["tree_size"] == 6
    assert 6 in {cp.tree_size for cp in ledger.log.checkpoints()}  # it anchored a checkpoint it signed
    # and the head, with the anchor's own records, is signed too: no event is left uncovered
    assert ledger.log.latest_checkpoint().tree_size == ledger.log.size()
    assert first["root_hash"] == ledger.log.root(6).hex()
    assert service.once() is None  # only the Anchored record is new: nothing to anchor
    assert service.pending_events() == 0

    grow(ledger, 7)
    second = service.once()
    assert second["tree_size"] == ledger.log.size() - 1
    latest = service.registry.latest(service.log_id)
    assert (latest.tree_size, latest.root_hash.hex(), latest.count) == (second["tree_size"], second["root_hash"], 2)
    # the chain accepted it because the proof from the first anchor is valid; check it here too
    proof = ledger.log.consistency_proof(first["tree_size"], second["tree_size"])
    verify_consistency(6, second["tree_size"], proof.hashes, bytes.fromhex(first["root_hash"]), latest.root_hash)
    assert in_log(service) == on_chain(service)
    roots = {a["tree_size"]: ledger.log.root(a["tree_size"]).hex() for a in service.history().anchors}
    assert verify_anchors(w3, service.config.contract, ORIGIN, service.history().anchors, roots)["failures"] == []


def test_verify_catches_an_anchor_that_the_chain_does_not_hold(ledger: Ledger, signer: Signer, w3: Web3) -> None:
    service = setup_service(ledger, signer, w3)
    ensure_owner(ledger)
    grow(ledger, 3)
    service.once()
    good = service.history().anchors[0]
    forged = [{**good, "root_hash": "00" * 31 + "01"}]
    codes = [f["code"] for f in verify_anchors(w3, service.config.contract, ORIGIN, forged, {})["failures"]]
    assert codes == ["ANCHOR_EVENT"]
    wrong_tx = [{**good, "tx_hash": "0x" + "ab" * 32}]
    codes = [f["code"] for f in verify_anchors(w3, service.config.contract, ORIGIN, wrong_tx, {})["failures"]]
    assert codes == ["ANCHOR_TX_MISSING"]
    other_root = {good["tree_size"]: "cd" * 32}
    codes = [f["code"] for f in verify_anchors(w3, service.config.contract, ORIGIN, [good], other_root)["failures"]]
    assert codes == ["ANCHOR_ROOT"]


def test_an_anchor_mined_but_not_recorded_is_recorded_on_the_next_pass(
    ledger: Ledger, signer: Signer, w3: Web3, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = setup_service(ledger, signer, w3)
    ensure_owner(ledger)
    grow(ledger, 4)
    real_record = AnchorService._record

    def crash(self, history, anchors):
        raise KeyboardInterrupt("killed after the transaction was mined")

    monkeypatch.setattr(AnchorService, "_record", crash)
    with pytest.raises(KeyboardInterrupt):
        service.once()
    assert in_log(service) == [] and len(on_chain(service)) == 1
    monkeypatch.setattr(AnchorService, "_record", real_record)
    assert service.once() is None  # the recovered anchor covers everything but its own record
    assert in_log(service) == on_chain(service) and len(on_chain(service)) == 1


# ---------------------------------------------------------------------------------- fault tests


class Runner:
    """`oneclaim anchor run` in its own process, followed through the lines it reports."""

    def __init__(self, home: Path, *args: str) -> None:
        env = {**os.environ, "ONECLAIM_HOME": str(home)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oneclaim", "anchor", "run", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []

    def until(self, prefix: str) -> str:
        """Read reported lines until one starts with `prefix` (fails if the process ends first)."""
        while True:
            line = self.proc.stderr.readline()
            assert line, f"the anchor service ended before reporting {prefix!r}: {self.lines}"
            self.lines.append(line.strip())
            if line.startswith(prefix):
                return line.strip()

    def kill(self) -> list[str]:
        """SIGKILL it; every line it reported, the ones after the last `until` included."""
        self.proc.send_signal(signal.SIGKILL)
        _, rest = self.proc.communicate(timeout=60)
        assert self.proc.returncode == -signal.SIGKILL
        self.lines += [line.strip() for line in rest.splitlines()]
        return self.lines


def killed_during_a_pass(lines: list[str]) -> bool:
    """Whether the last transaction the service began was not yet recorded when it died."""
    sent = [i for i, line in enumerate(lines) if line.startswith("anchoring tree size")]
    done = [i for i, line in enumerate(lines) if line.startswith("anchored tree size")]
    return bool(sent) and (not done or done[-1] < sent[-1])


@pytest.mark.slow
def test_killing_the_anchor_service_at_random_points_never_doubles_or_loses_an_anchor(home: Path) -> None:
    rng = random.Random(20261122)
    service = home_service(home)
    ensure_owner(service.ledger)
    kills = {"between passes": 0, "during a pass": 0}
    completed = 0
    for round_ in range(12):
        runner = Runner(home, "--interval", "0.02")
        runner.until("ready")
        grow(service.ledger, rng.randint(1, 6), prefix=f"R{round_}")
        if round_ % 2:  # kill it the moment it reports sending a transaction: inside the pass
            runner.until("anchoring tree size")
        else:  # kill it once a pass is recorded: between passes
            runner.until("anchored tree size")
        lines = runner.kill()
        during = killed_during_a_pass(lines)
        kills["during a pass" if during else "between passes"] += 1
        completed += sum(line.startswith("anchored tree size") for line in lines)
    # the premise: kills landed both inside passes and between them
    assert kills["during a pass"] >= 3 and kills["between passes"] >= 3, kills
    service.once()  # one clean pass reconciles whatever the last kill interrupted
    chain_side, log_side = on_chain(service), in_log(service)
    assert chain_side == log_side  # exactly the same anchors: sizes, roots and transactions
    assert len(chain_side) >= completed >= 6  # every recorded pass is on chain, and more were recovered
    sizes = [size for size, _, _ in chain_side]
    assert sizes == sorted(set(sizes))  # strictly growing: no double anchor
    assert service.pending_events() == 0
    service.ledger.close()


@pytest.mark.slow
def test_commands_keep_working_while_the_chain_is_down_and_anchoring_catches_up(home: Path) -> None:
    service = home_service(home)
    ledger = service.ledger
    ensure_owner(ledger)
    stop = threading.Event()
    messages: list[str] = []
    runner = threading.Thread(
        target=service.run, kwargs={"interval": 0.05, "stop": stop.is_set, "report": messages.append}
    )

    def reported(text: str) -> bool:
        return any(text in m for m in list(messages))

    runner.start()
    try:
        wait_for(lambda: reported("ready"), "the service to start")
        grow(ledger, 3, prefix="BEFORE")
        wait_for(lambda: reported("anchored tree size"), "a first anchor")
        oneclaim(home, "chain", "down")
        grow(ledger, 1, prefix="DOWN")  # gives the service something to anchor, so it finds the chain gone
        wait_for(lambda: reported("unreachable"), "the service to notice the outage")
        grow(ledger, 10, prefix="DOWN")  # commands keep working while the chain is down
        oneclaim(home, "chain", "up")
        wait_for(lambda: reported("reachable again"), "the service to notice the chain is back")
        wait_for(lambda: service.pending_events() == 0, "anchoring to catch up")
    finally:
        stop.set()
        runner.join()
    latest = service.history().latest
    assert latest["tree_size"] in {cp.tree_size for cp in service.ledger.log.checkpoints()}
    assert service.ledger.log.latest_checkpoint().tree_size == service.ledger.log.size()
    assert latest["tree_size"] >= 1 + 3 + 11  # the owner, and every event written during the outage
    assert in_log(service) == on_chain(service)
    ledger.close()


def test_a_chain_restarted_without_its_state_is_detected(home: Path) -> None:
    service = home_service(home)
    ensure_owner(service.ledger)
    grow(service.ledger, 3)
    assert service.once() is not None
    service.ledger.close()
    oneclaim(home, "chain", "down")
    (home / "chain" / "state.json").unlink()  # the chain loses everything
    refused = oneclaim(home, "chain", "up", check=False)
    assert refused.returncode == 2 and "CHAIN_RESET" in refused.stderr
    once = oneclaim(home, "anchor", "once", check=False)
    assert once.returncode == 2 and "CHAIN_RESET" in once.stderr
    status = oneclaim(home, "anchor", "status", "--json", check=False)
    assert status.returncode == 1 and json.loads(status.stdout)["chain"]["problem"] == "CHAIN_RESET"


def test_a_chain_that_lost_only_its_latest_anchors_is_detected(tmp_path: Path, signer: Signer) -> None:
    """A chain rolled back behind the log's last recorded anchor (state restored from an old copy)."""
    chain = Chain(tmp_path / "c", ChainConfig(port=free_port()))
    chain.up()
    try:
        ledger = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}")
        service = setup_service(ledger, signer, chain.web3())
        ensure_owner(ledger)
        grow(ledger, 2)
        service.once()
        chain.down()  # SIGTERM: anvil writes its state as it stops
        saved = (chain.state_file).read_bytes()
        chain.up()
        service._w3 = service._registry = None
        assert service.registry.latest(service.log_id).count == 1  # the saved state holds the first anchor
        grow(ledger, 2)
        service._w3 = service._registry = None
        service.once()
        chain.down()
        chain.state_file.write_bytes(saved)  # the chain comes back from the older state
        chain.up()
        service._w3 = service._registry = None
        with pytest.raises(AnchorError) as reset:
            service.once()
        assert reset.value.code == "CHAIN_RESET"
        ledger.close()
    finally:
        chain.down()


def test_anchor_status_reports_where_and_what(home: Path) -> None:
    service = home_service(home)
    ensure_owner(service.ledger)
    grow(service.ledger, 2)
    service.ledger.close()
    before = json.loads(oneclaim(home, "anchor", "status", "--json").stdout)
    assert before["events_not_anchored"] == 3 and before["anchored_tree_size"] == 0
    assert before["rpc_url"].startswith("http://127.0.0.1:") and before["chain_id"] == 31337
    oneclaim(home, "anchor", "once")
    after = json.loads(oneclaim(home, "anchor", "status", "--json").stdout)
    assert after["anchored_tree_size"] == 3 and after["events_not_anchored"] == 0
    assert after["chain"] == {"reachable": True, "tree_size": 3, "anchors": 1}
    assert "OK 1 anchors" in oneclaim(home, "anchor", "verify").stdout
    bundle = home.parent / "bundle"
    oneclaim(home, "audit", "export", str(bundle))
    vkey = (home / "log.vkey").read_text().strip()  # the auditor's trusted key, from outside the bundle
    checked = oneclaim(
        home, "audit", "verify", str(bundle), "--key", vkey, "--rpc", after["rpc_url"], "--contract", after["contract"]
    )
    assert "1 on-chain anchors are checkpoints of this log" in checked.stdout
    db_url = json.loads((home / "config.json").read_text())["db_url"]
    checked_db = oneclaim(
        home,
        "audit",
        "verify",
        "--db",
        db_url,
        "--key",
        vkey,
        "--rpc",
        after["rpc_url"],
        "--contract",
        after["contract"],
    )
    assert "1 on-chain anchors are checkpoints" in checked_db.stdout
    bundle_check = oneclaim(
        home, "anchor", "verify", "--bundle", str(bundle), "--rpc", after["rpc_url"], "--contract", after["contract"]
    )
    assert "OK 1 anchors" in bundle_check.stdout
    # the bundle must not be trusted blindly either: a bundle whose checkpoint differs is refused
    note = next((bundle / "checkpoints").glob("000000000003.note"))
    text = note.read_text().split("\n")
    text[2] = Web3.to_hex(b"\x00" * 32)  # not even base64: a tampered checkpoint
    note.write_text("\n".join(text))
    assert oneclaim(home, "audit", "verify", str(bundle), "--key", vkey, check=False).returncode == 1
    assert connect(after["rpc_url"]).eth.chain_id == 31337


def test_run_anchors_after_n_events_without_waiting_for_the_interval(ledger: Ledger, signer: Signer, w3: Web3) -> None:
    service = setup_service(ledger, signer, w3)
    ensure_owner(ledger)
    stop = threading.Event()
    seen: list[int] = []  # the events waiting at each of the service's checks
    runner = threading.Thread(
        target=service.run,
        kwargs={"interval": 3600, "every_events": 5, "stop": stop.is_set, "report": print, "polled": seen.append},
    )
    runner.start()
    try:
        grow(ledger, 3)  # 4 events: fewer than 5, and the hour is far off
        checks = len(wait_for(lambda: [n for n in list(seen) if n == 4], "the service to see the 4 events"))
        wait_for(lambda: len([n for n in list(seen) if n == 4]) > checks, "a second check of the 4 events")
        assert on_chain(service) == []  # checked twice with 4 waiting: nothing anchored
        grow(ledger, 1)  # the fifth
        wait_for(lambda: on_chain(service), "the anchor after the fifth event")
    finally:
        stop.set()
        runner.join()
    assert [size for size, _, _ in on_chain(service)] == [5]
    assert in_log(service) == on_chain(service)


def test_a_second_history_signed_later_does_not_match_the_anchors(home: Path, tmp_path: Path) -> None:
    """The operator signs another history under the same origin and key: its checkpoints verify,
    but the chain's anchors name the first history, so the audit fails."""
    service = home_service(home)
    ensure_owner(service.ledger)
    grow(service.ledger, 2)
    service.ledger.close()
    anchored = json.loads(oneclaim(home, "anchor", "once", "--json").stdout)["anchored"]
    status = json.loads(oneclaim(home, "anchor", "status", "--json").stdout)
    fork = tmp_path / "fork.sqlite"
    forked = Ledger(f"sqlite:///{fork}")
    try:
        ensure_owner(forked)
        grow(forked, 2, prefix="OTHER")  # same size as the anchored tree, other events
        assert forked.log.size() >= anchored["tree_size"]
        operator_key = Signer.from_private_key_string((home / "log.key").read_text().strip())
        forked.sign_checkpoint(operator_key, ORIGIN)  # signed with the operator's real key
    finally:
        forked.close()
    rpc, contract = status["rpc_url"], status["contract"]
    own = oneclaim(home, "audit", "verify", "--db", f"sqlite:///{fork}", "--rpc", rpc, "--contract", contract,
                   "--key", (home / "log.vkey").read_text().strip(), check=False)  # fmt: skip
    assert own.returncode == 1  # the fork's own leaves, roots and signatures verify; its anchors do not
    assert f"ANCHOR_MISMATCH: the chain anchors root {anchored['root_hash']} at tree size 3" in " ".join(
        own.stderr.split()
    )


def test_free_text_that_looks_like_an_event_topic_does_not_break_the_anchor_audit(home: Path) -> None:
    """Finding 8: topics are parsed, never matched as substrings of lines."""
    service = home_service(home)
    ensure_owner(service.ledger)
    topic = "ledger.domain.anchor:AnchorHistory.Anchored"
    service.ledger.add_participant("SIP-TOPIC", topic, "consumer", "江苏", topic)
    service.ledger.close()
    oneclaim(home, "anchor", "once")
    status = json.loads(oneclaim(home, "anchor", "status", "--json").stdout)
    bundle = home.parent / "bundle"
    oneclaim(home, "audit", "export", str(bundle))
    vkey = (home / "log.vkey").read_text().strip()
    rpc, contract = status["rpc_url"], status["contract"]
    checked = oneclaim(home, "anchor", "verify", "--bundle", str(bundle), "--rpc", rpc, "--contract", contract)
    assert "OK 1 anchors" in checked.stdout
    audited = oneclaim(home, "audit", "verify", str(bundle), "--key", vkey, "--rpc", rpc, "--contract", contract)
    assert "1 on-chain anchors are checkpoints of this log" in audited.stdout
