#!/usr/bin/env python3
"""Throw-away PostgreSQL clusters for tests (standard library only).

    cluster = start()          # initdb + pg_ctl start on a free 127.0.0.1 port
    cluster.url                # postgresql://postgres@127.0.0.1:PORT/postgres
    cluster.stop()             # pg_ctl stop -m immediate, then remove the directory

CLI (used by scripts/test.sh):

    python tools/pgcluster.py start --dir DIR   # prints: export ONECLAIM_TEST_PG_URL=...
    python tools/pgcluster.py stop --dir DIR    # stops the cluster and removes DIR

Layout of a cluster directory: DIR/data (PGDATA), DIR/postgres.log (server log),
DIR/.s.PGSQL.PORT (unix socket), DIR/cluster.json (what `stop` needs).

PostgreSQL refuses to run as root.  When this runs as root the server runs as the
`postgres` OS user (created as a system user if missing) through `runuser -u postgres`,
and DIR is chowned to it; as any other user everything runs directly as that user.

The server is tuned for tests but stays durable: fsync, synchronous_commit and
full_page_writes keep their defaults (on), because the test suite includes crash tests.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

OS_USER = os.environ.get("ONECLAIM_PG_OS_USER", "postgres")
DB_SUPERUSER = "postgres"
HOST = "127.0.0.1"
STATE_FILE = "cluster.json"
START_TIMEOUT_S = 60

# Appended to postgresql.conf.  Nothing here weakens durability.
SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "max_connections": "200",
    "shared_buffers": "'128MB'",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    # Keep test runs lean and deterministic.
    "max_parallel_workers_per_gather": "0",
    "max_wal_size": "'1GB'",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %d '",
    "timezone": "'UTC'",
}


class ClusterError(RuntimeError):
    pass


def _log(msg: str) -> None:
    print(f"pgcluster: {msg}", file=sys.stderr, flush=True)


def find_bindir() -> Path:
    """Directory holding initdb/pg_ctl/pg_isready of the newest installed server."""
    candidates: list[Path] = []
    env = os.environ.get("ONECLAIM_PG_BINDIR")
    if env:
        candidates.append(Path(env))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(Path(out))

    def version_key(p: str) -> float:
        try:
            return float(Path(p).parent.name)
        except ValueError:
            return 0.0

    candidates += [
        Path(p)
        for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    ]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    raise ClusterError(
        "PostgreSQL server binaries not found (looked for initdb/pg_ctl via "
        "$ONECLAIM_PG_BINDIR, pg_config --bindir, /usr/lib/postgresql/*/bin, PATH)"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind-probe)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _conf_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "''")


def _is_root() -> bool:
    return os.geteuid() == 0


def _ensure_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        pass
    _log(f"creating system user {OS_USER!r}")
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            OS_USER,
        ],
        check=True,
    )
    return pwd.getpwnam(OS_USER)


def _run(argv: list[str], cwd: Path, *, check: bool = True, timeout: float | None = None):
    """Run a server tool, as the postgres OS user when we are root."""
    if _is_root():
        argv = ["runuser", "-u", OS_USER, "--", *argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.setdefault("LC_ALL", "C")
    proc = subprocess.run(
        argv,
        cwd=cwd,  # must be a directory the postgres user can enter
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise ClusterError(
            f"command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stdout}{proc.stderr}"
        )
    return proc


def _prepare_dir(base: Path) -> None:
    base.mkdir(parents=True, exist_ok=True)
    if any(base.iterdir()):
        raise ClusterError(f"{base} is not empty")
    base.chmod(0o700)
    if _is_root():
        user = _ensure_os_user()
        os.chown(base, user.pw_uid, user.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", OS_USER, "--", "test", "-w", str(base), "-a", "-x", str(base)],
            stdin=subprocess.DEVNULL,
        )
        if probe.returncode != 0:
            raise ClusterError(
                f"user {OS_USER!r} cannot use {base}: every parent directory must be "
                "traversable by it (use a directory under /tmp)"
            )


@dataclass
class Cluster:
    base_dir: str
    port: int
    bindir: str
    host: str = HOST
    user: str = DB_SUPERUSER

    @property
    def data_dir(self) -> Path:
        return Path(self.base_dir) / "data"

    @property
    def log_file(self) -> Path:
        return Path(self.base_dir) / "postgres.log"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def _save(self) -> None:
        (Path(self.base_dir) / STATE_FILE).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, base_dir: str | os.PathLike[str]) -> Cluster:
        state = json.loads((Path(base_dir) / STATE_FILE).read_text())
        return cls(**state)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def is_ready(self) -> bool:
        isready = Path(self.bindir) / "pg_isready"
        if not isready.is_file():
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1),
            ):
                return True
            return False
        proc = _run(
            [str(isready), "-q", "-h", self.host, "-p", str(self.port), "-U", self.user],
            Path(self.base_dir),
            check=False,
        )
        return proc.returncode == 0

    def _start_server(self) -> None:
        proc = _run(
            [
                str(Path(self.bindir) / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            ],
            Path(self.base_dir),
            check=False,
            timeout=START_TIMEOUT_S + 30,
        )
        if proc.returncode != 0:
            raise ClusterError(f"pg_ctl start failed:\n{proc.stdout}{proc.stderr}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise ClusterError(f"server on port {self.port} never became ready")
            time.sleep(0.1)

    def stop(self, *, remove: bool = True) -> None:
        """Stop immediately (like a crash; fine for throw-away data) and remove base_dir."""
        base = Path(self.base_dir)
        if (self.data_dir / "postmaster.pid").exists():
            proc = _run(
                [
                    str(Path(self.bindir) / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ],
                base if base.is_dir() else Path("/"),
                check=False,
                timeout=60,
            )
            pid = self._postmaster_pid()
            if proc.returncode != 0 and pid is not None:
                # pg_ctl could not stop it: kill our own postmaster by its pid.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        if remove:
            shutil.rmtree(base, ignore_errors=True)


def start(base_dir: str | os.PathLike[str] | None = None) -> Cluster:
    """Create and start a throw-away cluster; returns once it accepts connections.

    base_dir must be empty or absent; when None a fresh directory is made under
    /tmp (as root) or the default temp dir.  Cluster.stop() removes it again.
    """
    bindir = find_bindir()
    if base_dir is None:
        parent = "/tmp" if _is_root() else None
        base = Path(tempfile.mkdtemp(prefix="oneclaim-pg-", dir=parent))
    else:
        base = Path(base_dir).absolute()
    _prepare_dir(base)

    cluster = Cluster(base_dir=str(base), port=0, bindir=str(bindir))
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(cluster.data_dir),
                "-A",
                "trust",
                "-U",
                DB_SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",  # only skips syncing the initial files; the server keeps fsync=on
            ],
            base,
            timeout=120,
        )
        conf = cluster.data_dir / "postgresql.conf"
        base_conf = conf.read_text()
        # Unix socket next to the data (the default /var/run/postgresql may not exist);
        # none at all if the path is too long for a socket name.
        sockdir = str(base) if len(str(base)) < 90 else ""
        settings = "".join(f"{k} = {v}\n" for k, v in SETTINGS.items())
        settings += f"unix_socket_directories = '{_conf_quote(sockdir)}'\n"
        last_error: Exception | None = None
        for _attempt in range(5):
            cluster.port = free_port()
            # Written as root into a postgres-owned file: ownership is unchanged.
            conf.write_text(
                f"{base_conf}\n# oneclaim test settings\n{settings}port = {cluster.port}\n"
            )
            try:
                cluster._start_server()
                break
            except ClusterError as exc:
                last_error = exc
                log = cluster.log_file.read_text() if cluster.log_file.exists() else ""
                cluster.stop(remove=False)
                if "could not bind" in log or "already in use" in log:
                    cluster.log_file.unlink(missing_ok=True)
                    continue  # lost the race for the port: try another one
                raise ClusterError(f"{exc}\n--- server log ---\n{log}") from None
        else:
            raise ClusterError(f"could not find a free port: {last_error}")
        cluster._save()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_start = sub.add_parser("start", help="start a cluster in DIR, print an export line")
    p_start.add_argument("--dir", required=True, help="empty or absent directory")
    p_stop = sub.add_parser("stop", help="stop the cluster in DIR and remove DIR")
    p_stop.add_argument("--dir", required=True)
    p_stop.add_argument("--keep", action="store_true", help="do not remove DIR")
    args = parser.parse_args(argv)

    try:
        if args.cmd == "start":
            cluster = start(args.dir)
            _log(f"PostgreSQL ready at {cluster.url} (data in {cluster.base_dir})")
            print(f"export ONECLAIM_TEST_PG_URL={cluster.url}")
        else:
            base = Path(args.dir)
            if (base / STATE_FILE).exists():
                Cluster.load(base).stop(remove=not args.keep)
            elif (base / "data" / "postmaster.pid").exists():
                # start failed half-way: no state file, but maybe a server
                Cluster(str(base.absolute()), 0, str(find_bindir())).stop(remove=not args.keep)
            elif not args.keep:
                shutil.rmtree(base, ignore_errors=True)
    except ClusterError as exc:
        _log(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
