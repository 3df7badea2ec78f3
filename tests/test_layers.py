"""The layer rules hold, and the CLI starts without loading what only some commands need."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 kept, 0 broken" in done.stdout


def test_every_module_of_the_cli_package_is_under_the_no_cycle_contract() -> None:
    """A new module of oneclaim/ must be named in the contract, or it could import the root unseen."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in config if c["forbidden_modules"] == ["oneclaim.cli"]]
    modules = {f"oneclaim.{p.stem}" for p in (ROOT / "oneclaim").glob("*.py")} - {"oneclaim.__init__"}
    assert modules - {"oneclaim.cli", "oneclaim.__main__"} == set(contract["source_modules"])


def test_the_cli_starts_without_web3_the_chain_postgres_or_the_read_models() -> None:
    probe = (
        "import sys, oneclaim.cli; heavy = ('web3', 'eth_account', 'anchoring', 'psycopg', 'sqlalchemy',"
        " 'eventsourcing.postgres', 'pydantic'); print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


CALENDAR_READERS = {
    "ledger/app.py": "datetime.now(CHINA).date()",  # today(): the bound on business dates
    "ledger/tlog/log.py": 'datetime.now(UTC).isoformat(timespec="seconds")',  # a checkpoint's signed_at
    "ledger/tlog/witness.py": "return int(time.time())",  # unix_now(): a cosignature's timestamp
    "api/app.py": "app.state.now = lambda: datetime.now(UTC)",  # tokens expire in real time
    "oneclaim/serve_cli.py": "return datetime.now(UTC)",  # token_now(): when a token is issued or revoked
}
"""The only places the product reads the wall clock's date or time of day. The last two are the
API's tokens, which expire in real time; no business date comes from them."""


def test_the_calendar_is_read_in_these_places_only() -> None:
    """The faketime passes leave out the calendar_free modules (tests/conftest.py) on the ground
    that nothing they test reads the calendar; a new reader anywhere must be looked at first."""
    reader = re.compile(r"datetime\.(now|utcnow|today)\(|date\.today\(|time\.(time|time_ns|gmtime|localtime|ctime)\(")
    found = {}
    for package in ("ledger", "anchoring", "oneclaim", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line in path.read_text().splitlines():
                if reader.search(line):
                    found.setdefault(str(path.relative_to(ROOT)), []).append(line.strip())
    assert set(found) == set(CALENDAR_READERS), found
    for path, expected in CALENDAR_READERS.items():
        assert len(found[path]) == 1 and expected in found[path][0], found[path]
