"""The managed local chain: anvil on 127.0.0.1, its state kept in the data directory.

The embedded default runs the anchor contract on a local anvil (shipped inside the npm package
`@foundry-rs/anvil-linux-amd64`, installed by `npm ci`). `--state <data_dir>/chain/state.json
--state-interval 1` makes anvil load that file at start and write it every second and on exit, so
anchors survive `down`/`up` and even a `kill -9` once a second has passed. In production only the
RPC URL changes (a permissioned Besu or GoQuorum network), not the code or the contract.

`Chain.up` records pid, port and URL in `<data_dir>/chain/anvil.json` so that a later process
(`down`, `status`) finds the running chain. The accounts come from a fixed, publicly known
development mnemonic: fine for a local chain, never for a shared one.

`HardhatNode` starts `hardhat node` for tests that check the contract on a second EVM.
All servers listen on 127.0.0.1 only; every RPC call goes through web3.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from ledger.errors import LedgerError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""anvil's and Hardhat's default development mnemonic: its keys are public, so local use only."""


class ChainError(LedgerError):
    """The local chain could not be started, reached or stopped; the message says why."""

    code = "CHAIN_ERROR"
    http_status = 503


@dataclass(frozen=True)
class ChainConfig:
    """How the managed chain runs. `port=None` picks a free port at each `up`."""

    port: int | None = None
    chain_id: int = 31337
    mnemonic: str = DEV_MNEMONIC
    accounts: int = 10
    hardfork: str = "prague"
    """Pinned so that gas figures do not move with anvil's default."""
    state_interval: int = 1
    """Seconds between state dumps: the most a `kill -9` can lose."""
    block_time: int | None = None
    """None mines a block per transaction (instant receipts); N seconds mines on an interval."""


@dataclass(frozen=True)
class ChainStatus:
    running: bool
    rpc_url: str | None = None
    chain_id: int | None = None
    block_number: int | None = None
    pid: int | None = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def anvil_binary(root: Path = PROJECT_ROOT) -> Path:
    """The anvil executable inside the npm package, found through the package's `bin` field."""
    package = root / "node_modules" / "@foundry-rs" / "anvil-linux-amd64"
    try:
        manifest = json.loads((package / "package.json").read_text())
    except FileNotFoundError:
        raise ChainError(
            f"anvil is not installed: run `npm ci` in {root}", code="ANVIL_UNAVAILABLE", package=str(package)
        ) from None
    binary = package / manifest["bin"]["anvil"]
    if not os.access(binary, os.X_OK):
        raise ChainError(f"{binary} is not executable: run `npm ci` again", code="ANVIL_UNAVAILABLE")
    return binary


def connect(rpc_url: str, timeout: int = 10, *, retry: bool = True) -> Web3:
    """A web3 client for `rpc_url` (HTTP JSON-RPC). `retry=False` for probes, which must answer
    fast: web3 otherwise retries reads that fail to connect, with backoff."""
    if retry:
        return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None))


class Chain:
    """anvil for one data directory: `up`, `down` and `status`, each safe to repeat."""

    def __init__(self, data_dir: Path | str, config: ChainConfig | None = None, *, root: Path = PROJECT_ROOT):
        self.config = config or ChainConfig()
        self.root = root
        self.dir = Path(data_dir) / "chain"
        self.state_file = self.dir / "state.json"
        self.record_file = self.dir / "anvil.json"
        self.log_file = self.dir / "anvil.log"
        self._process: subprocess.Popen | None = None  # set when this object started anvil

    # ------------------------------------------------------------------ commands

    def up(self, timeout: float = 15.0) -> ChainStatus:
        """Start anvil unless it already runs for this data directory; return its status."""
        with self._locked():
            record = self._record()
            if record is not None and self._is_ours(record["pid"]):
                return self._running(record, timeout)
            binary = anvil_binary(self.root)
            for attempt in range(3):
                port = self.config.port or free_port()
                process = self._spawn(binary, port)
                rpc_url = f"http://{LOOPBACK}:{port}"
                if self._wait_ready(process, rpc_url, timeout):
                    break
                # A free port taken meanwhile by someone else: try another, unless one was configured.
                port_taken = "Address already in use" in self._log_tail()
                if self.config.port is not None or not port_taken or attempt == 2:
                    raise ChainError(
                        f"anvil did not start on {rpc_url}: {self._log_tail()}",
                        code="CHAIN_START_FAILED",
                        log=str(self.log_file),
                    )
            self._process = process
            record = {"pid": process.pid, "port": port, "rpc_url": rpc_url, "chain_id": self.config.chain_id}
            self.record_file.write_text(json.dumps(record, indent=2) + "\n")
            return self.status()

    def down(self, timeout: float = 15.0) -> bool:
        """Stop anvil (SIGTERM, so it writes its state first). True if it was running."""
        with self._locked():
            record = self._record()
            if record is None:
                return False
            pid = record["pid"]
            stopped = False
            if self._is_ours(pid):
                os.kill(pid, signal.SIGTERM)
                if not self._wait_exit(pid, timeout):
                    os.kill(pid, signal.SIGKILL)
                    self._wait_exit(pid, timeout)
                    raise ChainError(
                        f"anvil (pid {pid}) ignored SIGTERM for {timeout}s and was killed; "
                        f"up to {self.config.state_interval}s of state may be lost",
                        code="CHAIN_STOP_FORCED",
                    )
                stopped = True
            self.record_file.unlink(missing_ok=True)
            self._process = None
            return stopped

    def status(self) -> ChainStatus:
        """Whether anvil runs for this data directory and, if so, where and at which block."""
        record = self._record()
        if record is None or not self._is_ours(record["pid"]):
            return ChainStatus(running=False)
        w3 = connect(record["rpc_url"], timeout=2, retry=False)
        try:
            chain_id, block_number = w3.eth.chain_id, w3.eth.block_number
        except Exception:  # not answering yet, or stopping: reported, not raised
            return ChainStatus(running=False, rpc_url=record["rpc_url"], pid=record["pid"])
        return ChainStatus(True, record["rpc_url"], chain_id, block_number, record["pid"])

    def web3(self) -> Web3:
        """A client for the running chain; raises CHAIN_DOWN when it is not running."""
        status = self.status()
        if not status.running:
            raise ChainError(f"the chain in {self.dir} is not running: start it first", code="CHAIN_DOWN")
        return connect(status.rpc_url)

    # ------------------------------------------------------------------ process handling

    def _running(self, record: dict, timeout: float) -> ChainStatus:
        """The status of an anvil already started for this directory, once it answers."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status.running:
                return status
            if time.monotonic() > deadline:
                raise ChainError(
                    f"anvil (pid {record['pid']}) runs for {self.dir} but does not answer on {record['rpc_url']}",
                    code="CHAIN_UNRESPONSIVE",
                )
            time.sleep(0.1)

    def _spawn(self, binary: Path, port: int) -> subprocess.Popen:
        cfg = self.config
        args = [
            str(binary),
            "--host", LOOPBACK,
            "--port", str(port),
            "--chain-id", str(cfg.chain_id),
            "--mnemonic", cfg.mnemonic,
            "--accounts", str(cfg.accounts),
            "--hardfork", cfg.hardfork,
            "--state", str(self.state_file),
            "--state-interval", str(cfg.state_interval),
        ]  # fmt: skip
        if cfg.block_time is not None:
            args += ["--block-time", str(cfg.block_time)]
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            # A session of its own: the chain outlives the command that started it (`up` then exit),
            # and a Ctrl-C in that terminal does not reach it.
            return subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_ready(self, process: subprocess.Popen, rpc_url: str, timeout: float) -> bool:
        w3 = connect(rpc_url, timeout=1, retry=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            with contextlib.suppress(Exception):
                if w3.eth.chain_id == self.config.chain_id:
                    return True
            time.sleep(0.05)
        process.kill()
        process.wait()
        return False

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._process is not None and self._process.pid == pid:
            try:
                self._process.wait(timeout)  # our child: reap it, or it lingers as a zombie
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.05)
        return False

    def _is_ours(self, pid: int) -> bool:
        """Whether `pid` is an anvil keeping this data directory's state (not a recycled pid)."""
        if self._process is not None and self._process.pid == pid and self._process.poll() is not None:
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return bool(cmdline) and cmdline[0].endswith(b"anvil") and str(self.state_file).encode() in cmdline

    def _record(self) -> dict | None:
        try:
            return json.loads(self.record_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_file.read_text(errors="replace").strip().splitlines()[-lines:]) or "no output"
        except FileNotFoundError:
            return "no output"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One `up` or `down` at a time per data directory, across processes."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; only its parent has not reaped it yet.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


class HardhatNode:
    """`hardhat node --hostname 127.0.0.1 --port P` (no state kept), for tests; a context manager.

    Runs the project's local hardhat binary (what `npx hardhat` resolves to) so nothing is fetched.
    """

    def __init__(self, port: int | None = None, *, root: Path = PROJECT_ROOT, chain_id: int = 31337):
        self.port = port or free_port()
        self.root = root
        self.chain_id = chain_id
        self.rpc_url = f"http://{LOOPBACK}:{self.port}"
        self._process: subprocess.Popen | None = None
        self._output = None

    def start(self, timeout: float = 60.0) -> HardhatNode:
        binary = self.root / "node_modules" / ".bin" / "hardhat"
        if not binary.exists():
            raise ChainError(f"hardhat is not installed: run `npm ci` in {self.root}", code="HARDHAT_UNAVAILABLE")
        env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"}
        # A file, not a pipe (an unread pipe can block the node); closed by stop().
        self._output = output = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [str(binary), "node", "--hostname", LOOPBACK, "--port", str(self.port)],
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        w3 = connect(self.rpc_url, timeout=1, retry=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output.seek(0)
                tail = output.read().decode(errors="replace").strip()[-500:]
                raise ChainError(f"hardhat node exited: {tail}", code="CHAIN_START_FAILED")
            with contextlib.suppress(Exception):
                if w3.eth.chain_id == self.chain_id:
                    return self
            time.sleep(0.1)
        self.stop()
        raise ChainError(f"hardhat node did not answer on {self.rpc_url} within {timeout}s", code="CHAIN_START_FAILED")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to its process group, SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    def web3(self) -> Web3:
        return connect(self.rpc_url)

    def __enter__(self) -> HardhatNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
