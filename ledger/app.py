"""The OneClaim application: thin, one method per command, persistence chosen by settings.

Rules live in the aggregates (`ledger.domain`); the tamper-evident log lives in the recorder
(`ledger.log`). This class only loads aggregates, calls them, and saves atomically.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Transcoder

from ledger.canonical import CanonicalJSONTranscoder
from ledger.domain.batch import Batch, batch_id, gec_valid_through
from ledger.domain.contract import GreenPowerContract, contract_id
from ledger.domain.device import CHINA, Device, device_id, month_start, next_month, parse_month
from ledger.domain.participant import Account, Participant, account_id, participant_id
from ledger.domain.project import Programme, Project, programme_id, project_id
from ledger.domain.rules import EMISSION_FACTORS, INCLUSION_METHODOLOGIES
from ledger.domain.rules import kg_co2e as kg_co2e_from
from ledger.errors import Conflict, InvalidInput, LedgerError, NotFound
from ledger.log import LogStore, StoredCheckpoint
from ledger.note import Checkpoint, Signer, sign_note

APP_NAME = "OneClaim"
EVENTS_TABLE = {"sqlite": "stored_events", "postgres": "oneclaim_events"}


def persistence_env(db_url: str) -> dict[str, str]:
    """eventsourcing settings for a database URL: `sqlite:///PATH` or `postgresql://...`."""
    parts = urlsplit(db_url)
    if parts.scheme == "sqlite":
        path = db_url[len("sqlite:///") :]
        if not path:
            raise InvalidInput("sqlite URL needs a file path: sqlite:///PATH", code="DB_URL_INVALID")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "60",
            "APPLICATION_RECORDER_TOPIC": "ledger.log:SQLiteLogRecorder",
        }
    if parts.scheme in ("postgresql", "postgres"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_LOCK_TIMEOUT": "60",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "APPLICATION_RECORDER_TOPIC": "ledger.log:PostgresLogRecorder",
        }
    raise InvalidInput(
        f"unsupported database URL {db_url!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
        code="DB_URL_INVALID",
    )


def dialect(db_url: str) -> str:
    return "postgres" if db_url.startswith(("postgresql://", "postgres://")) else "sqlite"


class Ledger(Application[UUID]):
    """The registry ledger."""

    name = APP_NAME

    def __init__(self, db_url: str, env: dict[str, Any] | None = None) -> None:
        self.db_url = db_url
        self._owners: dict[str, str] = {}
        super().__init__(env={**persistence_env(db_url), **(env or {})})

    def construct_transcoder(self) -> Transcoder:
        transcoder = CanonicalJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    @property
    def log(self) -> LogStore:
        return self.recorder.log  # type: ignore[attr-defined]

    @property
    def events_table(self) -> str:
        return self.recorder.events_table_name  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ checkpoints

    def sign_checkpoint(self, signer: Signer, origin: str) -> StoredCheckpoint:
        """Sign the current tree head (a no-op returning the latest if the tree has not grown)."""
        latest = self.log.latest_checkpoint()
        size, _, root_hash = self.log.head()
        if latest is not None and latest.tree_size == size:
            return latest
        text = Checkpoint(origin=origin, size=size, root=root_hash).text()
        return self.log.add_checkpoint(size, root_hash, sign_note(text, signer))

    # ------------------------------------------------------------------ loading and saving

    def _get(self, aggregate_id: UUID, kind: str, key: str):
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"unknown {kind} {key}", code=f"{kind.upper()}_NOT_FOUND", **{kind: key}) from None

    def _create(self, aggregate: Any, kind: str, key: str, *others: Any) -> None:
        try:
            self.save(aggregate, *others)
        except IntegrityError:
            raise Conflict(f"{kind} {key} already exists", code=f"{kind.upper()}_EXISTS", **{kind: key}) from None

    def _save_or_conflict(self, *aggregates: Any) -> None:
        """Save atomically; a concurrent change to the same aggregate loses with a clear error."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise Conflict(
                "another command changed the same records at the same time; nothing was written, retry",
                code="CONCURRENT_UPDATE",
            ) from None

    # ------------------------------------------------------------------ participants and accounts

    def add_participant(self, code: str, name: str, role: str, province: str, city: str) -> Participant:
        participant = Participant.register(code, name, role, province, city)
        self._create(participant, "participant", code)
        return participant

    def participant(self, code: str) -> Participant:
        return self._get(participant_id(code), "participant", code)

    def open_account(self, account: str, owner: str, purpose: str = "holding") -> Account:
        participant = self.participant(owner)
        opened = Account.open(account, owner, purpose)
        participant.add_account(account)
        self._create(opened, "account", account, participant)
        return opened

    def account(self, account: str) -> Account:
        return self._get(account_id(account), "account", account)

    def owner_of(self, account: str) -> str:
        """The participant holding an account. An account's owner never changes once it is
        opened, so it is remembered rather than loaded for every command."""
        owner = self._owners.get(account)
        if owner is None:
            owner = self._owners[account] = self.account(account).owner
        return owner

    # ------------------------------------------------------------------ devices and readings

    def register_device(
        self,
        code: str,
        technology: str,
        capacity_kw: int,
        province: str,
        city: str,
        owner: str,
        commissioned_on: str,
        schemes: tuple[str, ...] = ("GEC",),
    ) -> Device:
        self.participant(owner)
        device = Device.register(code, technology, capacity_kw, province, city, owner, commissioned_on, tuple(schemes))
        self._create(device, "device", code)
        return device

    def device(self, code: str) -> Device:
        return self._get(device_id(code), "device", code)

    def record_reading(self, code: str, start: str, end: str, on_grid_kwh: int, self_consumed_kwh: int = 0) -> int:
        device = self.device(code)
        device.record_reading(start, end, on_grid_kwh, self_consumed_kwh)
        self._save_or_conflict(device)
        return device.version

    def correct_reading(
        self, code: str, corrects_version: int, on_grid_kwh: int, self_consumed_kwh: int, reason: str
    ) -> int:
        device = self.device(code)
        device.correct_reading(corrects_version, on_grid_kwh, self_consumed_kwh, reason)
        self._save_or_conflict(device)
        return device.version

    def import_readings(self, rows: list[dict], progress: Any = None, errors: list[dict] | None = None) -> dict:
        """Record many readings in one transaction: all are checked first, and if any row is bad
        nothing is written and every bad row is reported with its line number. Rows identical to
        a reading already recorded are skipped, so re-importing a file is harmless."""
        devices: dict[str, Device] = {}
        errors = list(errors or [])  # e.g. rows a file parser could not read, already with their lines
        recorded = skipped = 0
        for row in rows:
            line = row.get("line")
            try:
                missing = [k for k in ("device", "start", "end", "on_grid_kwh") if k not in row]
                if missing:
                    raise InvalidInput(f"the row lacks {', '.join(missing)}", code="ROW_INCOMPLETE")
                code = row["device"]
                if code not in devices:
                    devices[code] = self.device(code)
                device = devices[code]
                reading = (row["start"], row["end"], row["on_grid_kwh"], row.get("self_consumed_kwh", 0))
                if device.has_reading(*reading):
                    skipped += 1
                else:
                    device.record_reading(*reading)
                    recorded += 1
            except LedgerError as e:
                errors.append({"line": line, "code": e.code, "message": e.message})
            if progress is not None:
                progress(1)
        if errors:
            errors.sort(key=lambda e: e["line"] or 0)
            raise InvalidInput(
                f"{len(errors)} bad row(s); nothing was imported."
                f" First: line {errors[0]['line']}: {errors[0]['message']}",
                code="IMPORT_REJECTED",
                errors=errors,
            )
        changed = [d for d in devices.values() if d.pending_events]
        self._save_or_conflict(*changed)
        return {"recorded": recorded, "skipped": skipped, "devices": len(devices)}

    # ------------------------------------------------------------------ issuance

    def _holding_account(self, account: str, owner: str) -> None:
        holder = self.owner_of(account)
        if holder != owner:
            raise Conflict(
                f"account {account} belongs to {holder}, not {owner}", code="ACCOUNT_NOT_OWNED", account=account
            )

    def batch(self, code: str) -> Batch:
        return self._get(batch_id(code), "batch", code)

    def issue_gec(self, device_code: str, month: str, account: str) -> list[Batch]:
        """绿证核发 for one device and production month, into the generator's account."""
        device = self.device(device_code)
        self._holding_account(account, device.owner)
        device.check_scheme("GEC")
        with self._naming_earlier_claims(device):
            specs = device.issue_gec(month)
        valid_through = gec_valid_through(parse_month(month)).isoformat()
        batches = [
            Batch(
                code=spec["code"],
                instrument="GEC",
                quantity=spec["quantity"],
                holder=account,
                tradable=spec["tradable"],
                valid_through=valid_through,
                origin={"device": device.code, "month": month, "kwh": spec["kwh"], "technology": device.technology},
            )
            for spec in specs
        ]
        self._save_or_conflict(device, *batches)
        return batches

    def register_ccer_project(
        self, code: str, methodology: str, owner: str, devices: list[str], crediting_start: str, crediting_end: str
    ) -> Project:
        self.participant(owner)
        for device in devices:
            self.device(device)
        project = Project.register(code, methodology, owner, devices, crediting_start, crediting_end)
        self._create(project, "project", code)
        return project

    def issue_ccer(self, project_code: str, period_start: str, period_end: str, kg_co2e: int, account: str) -> Batch:
        project = self._get(project_id(project_code), "project", project_code)
        self._holding_account(account, project.owner)
        code = project.register_reductions(period_start, period_end, kg_co2e)
        batch = Batch(
            code=code,
            instrument="CCER",
            quantity=kg_co2e,
            holder=account,
            tradable=True,
            valid_through=None,
            origin={"project": project.code, "period": [period_start, period_end], "methodology": project.methodology},
        )
        self._save_or_conflict(project, batch)
        return batch

    def establish_programme(
        self, code: str, name: str, region: str, methodologies: list[str], factor: str
    ) -> Programme:
        programme = Programme.establish(code, name, region, methodologies, factor)
        self._create(programme, "programme", code)
        return programme

    def issue_inclusion(
        self,
        programme_code: str,
        methodology: str,
        account: str,
        *,
        device: str | None = None,
        month: str | None = None,
        subject: str | None = None,
        period: str | None = None,
        kg_co2e: int | None = None,
        evidence_sha256: str | None = None,
    ) -> Batch:
        """碳普惠签发. Generation-based methodologies take a device and month and convert its
        metered on-grid kWh through the programme's emission factor; others take kgCO2e."""
        programme = self._get(programme_id(programme_code), "programme", programme_code)
        holder = self.owner_of(account)
        origin: dict[str, Any] = {"programme": programme.code, "methodology": methodology}
        if INCLUSION_METHODOLOGIES.get(methodology):
            if device is None or month is None:
                raise InvalidInput(f"{methodology} credits need a device and a month", code="SELECTION_INVALID")
            generator = self.device(device)
            generator.check_scheme("INCLUSION")
            if holder != generator.owner:
                raise Conflict(
                    f"account {account} belongs to {holder}, not the device owner {generator.owner}",
                    code="ACCOUNT_NOT_OWNED",
                )
            kwh, _ = generator.month_totals(month)
            factor = EMISSION_FACTORS[programme.factor]
            kg_co2e = kg_co2e_from(kwh, factor)
            if kg_co2e == 0:
                raise Conflict(f"{device} has no metered on-grid electricity in {month}", code="NO_READINGS")
            subject, period = device, month
            origin |= {
                "device": device,
                "month": month,
                "kwh": kwh,
                "factor": factor.code,
                "g_per_mwh": factor.g_per_mwh,
            }
        else:
            if subject is None or period is None or kg_co2e is None:
                raise InvalidInput(
                    f"{methodology} credits need a subject, a period and kgCO2e", code="SELECTION_INVALID"
                )
            origin |= {"subject": subject, "period": period, "evidence_sha256": evidence_sha256}
        code = programme.credit(methodology, subject, period, kg_co2e)
        batch = Batch(
            code=code,
            instrument="INCLUSION",
            quantity=kg_co2e,
            holder=account,
            tradable=True,
            valid_through=None,
            origin=origin,
        )
        if INCLUSION_METHODOLOGIES.get(methodology):
            # One MWh, one claim: the month's on-grid kWh leave the device's pool with this batch.
            begin, finish = month_start(month), month_start(next_month(month))
            with self._naming_earlier_claims(generator):
                generator.claim(f"INCLUSION/{code}", "INCLUSION", code, begin, finish, origin["kwh"])
            self._save_or_conflict(generator, programme, batch)
        else:
            self._save_or_conflict(programme, batch)
        return batch

    @contextmanager
    def _naming_earlier_claims(self, device: Device):
        """Add to a DOUBLE_CLAIM refusal the log position of each earlier claim and its RFC 9162
        inclusion proof, so the refusal can be checked against a signed checkpoint."""
        try:
            yield
        except Conflict as e:
            if e.code != "DOUBLE_CLAIM":
                raise
            for claim in e.details.get("earlier_claims", []):
                seq = self.log.seq_of(device.id, claim["device_version"])
                if seq is None:
                    continue
                claim["seq"] = seq
                claim["inclusion_proof"] = self.log.inclusion_proof(seq).to_json()
            raise

    # ------------------------------------------------------------------ green-power trade

    def sign_contract(
        self, code: str, device: str, generator_account: str, consumer_account: str, monthly_mwh: dict[str, int]
    ) -> GreenPowerContract:
        generator = self.device(device)
        self._holding_account(generator_account, generator.owner)
        self.owner_of(consumer_account)
        contract = GreenPowerContract.sign(code, device, generator_account, consumer_account, monthly_mwh)
        self._create(contract, "contract", code)
        return contract

    def settle(self, code: str, month: str, consumption_kwh: int) -> dict:
        """月结月清: settle a month of a green-power contract and, in the same transaction, move
        the settled quantity of the device's GECs for that month to the consumer."""
        contract = self._get(contract_id(code), "contract", code)
        on_grid, _ = self.device(contract.device).month_totals(month)
        settlement, new = contract.settle(month, consumption_kwh, on_grid)
        batch_code = f"GEC-{month.replace('-', '')}-{contract.device}-T"
        request_id = f"settle/{code}/{month}"
        if not new:  # the first result, with the serials it moved
            moved = self.batch(batch_code).requests[request_id]["ranges"] if settlement["settled_mwh"] else []
            return {**settlement, "batch": batch_code, "serials": moved}
        moved: list = []
        if settlement["settled_mwh"]:
            try:
                batch = self.batch(batch_code)
            except NotFound:
                raise Conflict(
                    f"GECs for {contract.device} in {month} are not issued yet; issue them before settling",
                    code="GEC_NOT_ISSUED",
                ) from None
            moved = batch.transfer(
                contract.generator_account,
                contract.consumer_account,
                today(),
                settlement["settled_mwh"],
                request_id=request_id,
            )
            self._save_or_conflict(contract, batch)
        else:
            self._save_or_conflict(contract)
        return {**settlement, "batch": batch_code, "serials": moved}

    # ------------------------------------------------------------------ moving and ending units

    def transfer(
        self,
        batch_code: str,
        from_account: str,
        to_account: str,
        *,
        quantity: int | None = None,
        spans: list[tuple[int, int]] | None = None,
        on: date | None = None,
        request_id: str | None = None,
    ) -> list[list[int]]:
        sale = self.owner_of(from_account) != self.owner_of(to_account)  # one's own accounts: no trade
        batch = self.batch(batch_code)
        ranges = batch.transfer(from_account, to_account, on or today(), quantity, spans, request_id, sale)
        self._save_or_conflict(batch)
        return ranges

    def retire(
        self,
        batch_code: str,
        account: str,
        *,
        beneficiary: str,
        purpose: str,
        reporting_period: str,
        location: str,
        quantity: int | None = None,
        spans: list[tuple[int, int]] | None = None,
        on: date | None = None,
        request_id: str | None = None,
    ) -> str:
        self.owner_of(account)
        batch = self.batch(batch_code)
        retirement_id = batch.retire(
            account, on or today(), beneficiary, purpose, reporting_period, location, quantity, spans, request_id
        )
        self._save_or_conflict(batch)
        return retirement_id

    def cancel(
        self, batch_code: str, reason: str, spans: list[tuple[int, int]] | None = None, request_id: str | None = None
    ) -> list[list[int]]:
        batch = self.batch(batch_code)
        ranges = batch.cancel(reason, spans, request_id)
        self._save_or_conflict(batch)
        return ranges

    def expire_batches(self, codes: list[str], as_of: date) -> dict[str, list[list[int]]]:
        """Expire the named batches as of a date; batches with nothing to expire are untouched."""
        expired = {}
        for code in codes:
            batch = self.batch(code)
            ranges = batch.expire(as_of)
            if ranges:
                self._save_or_conflict(batch)
                expired[code] = ranges
        return expired


def today() -> date:
    """The business date in China (UTC+8)."""
    return datetime.now(CHINA).date()
