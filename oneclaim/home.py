"""The data directory (`ONECLAIM_HOME`, default `./.oneclaim`): settings, the log's signing key
and, by default, the SQLite database."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.database import dialect
from ledger.errors import InvalidInput, LedgerError, NotInitialised

if TYPE_CHECKING:
    from ledger.app import Ledger
    from ledger.tlog.note import Signer
    from ledger.tlog.policy import Policy

DEFAULT_ORIGIN = "oneclaim.local/registry"
CONFIG = "config.json"
KEY = "log.key"
VERIFIER_KEY = "log.vkey"
DB_FILE = "ledger.sqlite"
USCC_SALT = "uscc.salt"
POLICY = "witness-policy.txt"


def home_path(home: str | os.PathLike | None = None) -> Path:
    return Path(home or os.environ.get("ONECLAIM_HOME") or ".oneclaim").resolve()


@dataclass
class Home:
    path: Path

    @classmethod
    def at(cls, home: str | os.PathLike | None = None) -> Home:
        return cls(home_path(home))

    @property
    def initialised(self) -> bool:
        return (self.path / CONFIG).exists()

    @property
    def config(self) -> dict:
        if not self.initialised:
            raise NotInitialised(
                f"no ledger at {self.path}: run `oneclaim init` (or set ONECLAIM_HOME)",
                code="NOT_INITIALISED",
            )
        return json.loads((self.path / CONFIG).read_text())

    @property
    def origin(self) -> str:
        return self.config["origin"]

    @property
    def db_url(self) -> str:
        return os.environ.get("ONECLAIM_DB_URL") or self.config["db_url"]

    def init(self, origin: str = DEFAULT_ORIGIN, db_url: str | None = None) -> bool:
        """Create the home, its key and database. Returns False if it already existed as asked."""
        if self.initialised:
            if self.origin != origin:
                raise LedgerError(
                    f"{self.path} is already initialised for origin {self.origin!r}",
                    code="ALREADY_INITIALISED",
                )
            return False
        url = db_url or os.environ.get("ONECLAIM_DB_URL") or f"sqlite:///{self.path / DB_FILE}"
        dialect(url)
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_file = self.path / KEY
        if key_file.exists():  # an earlier init that crashed before writing its settings
            signer = self.signer()
            if signer.name != origin:
                raise LedgerError(
                    f"{key_file} holds a key for {signer.name!r}, not {origin!r}",
                    code="ALREADY_INITIALISED",
                )
        else:
            from ledger.tlog.note import NoteError, generate_signer

            try:
                signer = generate_signer(origin)
            except NoteError as e:
                raise InvalidInput(f"origin {origin!r} cannot name a key: {e}", code="ORIGIN_INVALID") from e
            # Created 0600 from the start: the key never exists with wider permissions.
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(signer.private_key_string() + "\n")
        (self.path / VERIFIER_KEY).write_text(signer.verifier_key() + "\n")
        from ledger.app import Ledger

        ledger = Ledger(url)
        try:
            ledger.sign_checkpoint(signer, origin)
        finally:
            ledger.close()
        # Written last: a crash before this line leaves a home that `init` can redo.
        (self.path / CONFIG).write_text(json.dumps({"origin": origin, "db_url": url}, indent=2) + "\n")
        return True

    def update_config(self, **values: object) -> None:
        """Set top-level config entries (e.g. "anchoring"), replacing the file atomically."""
        config = {**self.config, **values}
        tmp = self.path / (CONFIG + ".tmp")
        tmp.write_text(json.dumps(config, indent=2) + "\n")
        os.replace(tmp, self.path / CONFIG)

    def signer(self) -> Signer:
        from ledger.tlog.note import Signer

        return Signer.from_private_key_string((self.path / KEY).read_text().strip())

    def uscc_salt(self) -> bytes:
        """The registry's secret salt for unified social credit codes (uscc.salt, 0600, made on
        first use): the log keeps SHA-256(salt || code), never the code."""
        path = self.path / USCC_SALT
        if not path.exists():
            self.config  # noqa: B018  (raises NotInitialised)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32) + "\n")
            except FileExistsError:
                pass  # another command made it first
        return bytes.fromhex(path.read_text().strip())

    def verifier_key(self) -> str:
        self.config  # noqa: B018  (raises NotInitialised)
        return (self.path / VERIFIER_KEY).read_text().strip()

    @property
    def policy_path(self) -> Path:
        return self.path / POLICY

    def policy(self) -> Policy | None:
        """The log's witness policy (C2SP tlog-policy), set with `oneclaim log set-policy`."""
        if not self.policy_path.exists():
            return None
        from ledger.tlog.policy import PolicyError, load_policy

        try:
            return load_policy(self.policy_path)
        except PolicyError as e:
            raise InvalidInput(f"{self.policy_path}: {e}", code="POLICY_INVALID") from None

    def ledger(self) -> Ledger:
        from ledger.app import Ledger  # loaded only by commands that need the application

        return Ledger(self.db_url)
