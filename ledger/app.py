"""The OneClaim application: thin, one method per command, persistence chosen by settings.

Rules live in the aggregates (`ledger.domain`); the tamper-evident log lives in the recorder
(`ledger.tlog.log`). This class only loads aggregates, calls them, and saves atomically.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Transcoder
from eventsourcing.utils import get_topic

from ledger import queries
from ledger.claiming import EnterpriseClaims
from ledger.crossing import CrossRegion
from ledger.database import LOCK_TIMEOUT, persistence_env
from ledger.domain.agreement import Agreement
from ledger.domain.anchor import AnchorHistory
from ledger.domain.batch import FROZEN, Batch, batch_id, gec_valid_through
from ledger.domain.case import Case, Disclosure, case_id, disclosure_id
from ledger.domain.contract import GreenPowerContract, contract_id
from ledger.domain.device import Device, device_id
from ledger.domain.issuance import gec_batch_code
from ledger.domain.link import cancel_ours_for_case, ccer_refusal, make_way_for_ccer
from ledger.domain.participant import Account, Participant, account_id, participant_id
from ledger.domain.project import Programme, Project, programme_id, project_id
from ledger.domain.request import Request, request_id
from ledger.domain.rules import EMISSION_FACTORS, INCLUSION_METHODOLOGIES, kwh_for
from ledger.domain.serials import format_range
from ledger.domain.values import (
    CHINA,
    check_ended,
    check_kwh,
    next_month,
    one_of,
    parse_month,
)
from ledger.errors import Conflict, InvalidInput, LedgerError, NotFound
from ledger.personal import PersonalData
from ledger.tlog.canonical import CanonicalJSONTranscoder
from ledger.tlog.log import LogStore, StoredCheckpoint
from ledger.tlog.note import Checkpoint, Signer, sign_note

if TYPE_CHECKING:
    from ledger.rows import CorrectionRow, MeterReadingRow
    from ledger.tlog.policy import Policy
    from ledger.tlog.publish import Publication

APP_NAME = "OneClaim"
REGISTERED = {
    "participant": Participant.Registered,
    "account": Account.Opened,
    "device": Device.Registered,
    "batch": Batch.Issued,
    "contract": GreenPowerContract.Signed,
    "programme": Programme.Established,
    "project": Project.Registered,
    "case": Case.Opened,
    "anchor": AnchorHistory.Started,
    "agreement": Agreement.Recorded,
}
"""What the registry holds, by the event that creates each kind."""


_REQUEST: ContextVar[Callable[[list[str]], Request] | None] = ContextVar("oneclaim_request", default=None)
"""The Request a command being run by `Ledger.once` records with its first save."""


class Ledger(CrossRegion, EnterpriseClaims, Application[UUID]):
    """The registry ledger."""

    name = APP_NAME

    def __init__(
        self, db_url: str, env: dict[str, Any] | None = None, *, clock: Callable[[], date] | None = None
    ) -> None:
        self.db_url = db_url
        self.clock = clock or today
        """What "today" is (China time): the default business date, and the latest one allowed."""
        self._owners: dict[str, str] = {}
        # Aggregates are cached between commands and fast-forwarded with any newer events (one
        # indexed read), so a device's pool check costs the same whatever its history.
        cache = {"AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "y"}
        super().__init__(env={**persistence_env(db_url), **cache, **(env or {})})
        pool = getattr(getattr(self.recorder, "datastore", None), "pool", None)
        if pool is not None and hasattr(pool, "pool_timeout"):
            # eventsourcing lets one writer at a time hold its SQLite pool's writer connection and
            # gives up on the wait after 5 s, while SQLite itself waits 60 s for the file's lock
            # (SQLITE_LOCK_TIMEOUT): a writer queued behind a slow commit (a WAL checkpoint, say)
            # was refused with a 500. It now waits as long as SQLite does.
            pool.pool_timeout = float(LOCK_TIMEOUT)

    def construct_transcoder(self) -> Transcoder:
        transcoder = CanonicalJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    @cached_property
    def personal(self) -> PersonalData:
        """Beneficiaries and locations, kept outside the log and committed in it (ledger.personal)."""
        from ledger.readmodel import sqlalchemy_url

        return PersonalData(sqlalchemy_url(self.db_url))

    def close(self) -> None:
        if "personal" in self.__dict__:
            self.personal.close()
        super().close()

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

    def publish_checkpoint(self, signer: Signer, origin: str, policy: Policy, **options: Any) -> Publication:
        """Sign the head, and ask the policy's witnesses to cosign it (ledger.tlog.publish); it
        becomes the current checkpoint when their cosignatures meet the quorum."""
        from ledger.tlog.publish import publish

        return publish(self.log, policy, self.sign_checkpoint(signer, origin), **options)

    # ------------------------------------------------------------------ loading and saving

    def save(self, *objects: Any, **kwargs: Any) -> Any:
        """eventsourcing's save; inside `once`, the first save of the command also records the
        client's Request, with the records this save creates, in the same transaction."""
        pending = _REQUEST.get()
        if pending is None:
            return super().save(*objects, **kwargs)
        _REQUEST.set(None)
        created = [
            o.id.hex for o in objects
            if isinstance(o, Aggregate) and o.pending_events and o.pending_events[0].originator_version == 1
        ]  # fmt: skip
        try:
            return super().save(*objects, pending(created), **kwargs)
        except BaseException:
            _REQUEST.set(pending)  # nothing was written: a retry of the attempt records it
            raise

    def once(self, key: str | None, command: str, body: Any, act: Callable[[], Any]) -> Request | None:
        """Run a write at most once per idempotency key. The key's Request is recorded in the
        same transaction as the command's first save; a retry with the same command and body
        does not act but answers the first Request (what it created names the first result);
        with another command or body it is refused (REQUEST_ID_REUSED). A concurrent retry that
        loses the race finds the winner's Request. Without a key the command simply runs. None:
        this call acted."""
        if key is None:
            act()
            return None
        key_sha256 = hashlib.sha256(key.encode()).hexdigest()
        body_sha256 = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        if (first := self._first_request(key_sha256, command, body_sha256)) is not None:
            return first
        token = _REQUEST.set(
            lambda created: Request(key_sha256=key_sha256, command=command, body_sha256=body_sha256, created=created)
        )
        try:
            act()
        except LedgerError:
            if (first := self._first_request(key_sha256, command, body_sha256)) is not None:
                return first  # a concurrent retry won
            raise
        finally:
            _REQUEST.reset(token)
        return None

    def created_by(self, request: Request) -> list[Any]:
        """The records a request created, as they are now."""
        return [self.repository.get(UUID(hex_id)) for hex_id in request.created]

    def _first_request(self, key_sha256: str, command: str, body_sha256: str) -> Request | None:
        try:
            first: Request = self.repository.get(request_id(key_sha256))
        except AggregateNotFoundError:
            return None
        first.check_same(command, body_sha256)
        return first

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

    def _idempotent(self, request_id: str | None, attempt: Callable[[], Any]) -> Any:
        """Run a command with a client request id (load, command, save). If a concurrent retry of
        the same request won the race, the loser answers with the winner's result: it reloads,
        finds the request recorded, and replays it. Without a request id a race is refused."""
        try:
            return attempt()
        except Conflict as e:
            if request_id is None or e.code != "CONCURRENT_UPDATE":
                raise
            return attempt()

    def _save_or_conflict(self, *aggregates: Any) -> None:
        """Save atomically; a concurrent change to the same aggregate loses with a clear error."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise Conflict(
                "another command changed the same records at the same time; nothing was written, retry",
                code="CONCURRENT_UPDATE",
            ) from None

    def business_day(self, on: date | None) -> date:
        """The business date a command records: today when none is given. An explicit date may
        not lie after today (China time); each aggregate also refuses one before the last date
        it already recorded, so nothing can be backdated behind a later move."""
        today_ = self.clock()
        if on is None:
            return today_
        if not isinstance(on, date):
            raise InvalidInput(f"a business date must be a date, got {on!r}", code="DATE_INVALID")
        if on > today_:
            raise InvalidInput(
                f"business date {on.isoformat()} is after today ({today_.isoformat()}, China time);"
                " a command cannot be dated in the future",
                code="DATE_IN_FUTURE",
                on=on.isoformat(),
                today=today_.isoformat(),
            )
        return on

    # ------------------------------------------------------------------ what the registry holds

    def registered(self, kind: str, page: int = 500) -> Iterator[Any]:
        """Every participant, account, device, batch, contract, programme, project, case or
        anchor history, in the order it was created, as it is now (`registered_page` in turn)."""
        after = -1
        while True:
            found = self.registered_page(kind, after, page)
            for _, record in found:
                yield record
            if len(found) < page:
                return
            after = found[-1][0]

    def registered_page(self, kind: str, after_seq: int = -1, limit: int = 100) -> list[tuple[int, Any]]:
        """Up to `limit` records of a kind whose creation event's log seq is after `after_seq`,
        each with that seq (a cursor for the next page): eventsourcing's notification log
        filtered by the topic of the kind's creation event, then each aggregate loaded."""
        one_of("kind", kind, REGISTERED, "KIND_INVALID")
        size = self.log.size()
        if after_seq >= size:
            return []
        start = 1 if after_seq < 0 else self.log.leaf(after_seq).notification_id + 1
        found = self.recorder.select_notifications(start, limit, topics=[get_topic(REGISTERED[kind])])
        seqs = self.log.seqs_for_notifications([n.id for n in found])
        return [(seqs[n.id], self.repository.get(n.originator_id)) for n in found if n.id in seqs]

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
        a reading already recorded are skipped, so re-importing a file is harmless. A row that
        gives another figure for an interval already read is refused (`READING_OVERLAP`): the
        automatic comparison (事中自动比对); such a row belongs in a corrections file."""

        from ledger.rows import MeterReadingRow  # pydantic loads only for the commands that take rows

        def record(device: Device, row: MeterReadingRow) -> bool:
            if device.has_reading(row.start, row.end, *row.figures()):
                return False
            device.record_reading(row.start, row.end, *row.figures())
            return True

        return self._import_rows(rows, MeterReadingRow, record, progress, errors)

    def import_corrections(self, rows: list[dict], progress: Any = None, errors: list[dict] | None = None) -> dict:
        """Correct many readings in one transaction, each row naming the interval of a current
        reading exactly and giving its new figures and a reason (`ReadingCorrected`). The same
        refusals as one correction (`READING_NOT_FOUND`, `READING_ALREADY_CERTIFIED`,
        `READING_ALREADY_CLAIMED`, `READING_EXCEEDS_CAPACITY`, `REASON_REQUIRED`); all rows or
        none. A row equal to the current reading is skipped, so re-importing the file is harmless."""

        from ledger.rows import CorrectionRow

        def correct(device: Device, row: CorrectionRow) -> bool:
            version = device.reading_at(row.start, row.end)
            reading = device.readings[version]
            if (reading.on_grid_kwh, reading.self_consumed_kwh) == row.figures():
                return False
            device.correct_reading(version, *row.figures(), row.reason)
            return True

        return self._import_rows(rows, CorrectionRow, correct, progress, errors)

    def _import_rows(
        self, rows: list[dict], model: type[MeterReadingRow], apply: Any, progress: Any, errors: list[dict] | None
    ) -> dict:
        """Apply `apply(device, row)` to every row, then save every changed device at once, or
        nothing if any row (or a row the file parser could not read, in `errors`) is bad."""
        devices: dict[str, Device] = {}
        errors = list(errors or [])
        recorded = skipped = 0
        for row in rows:
            try:
                parsed = model.parse(row)
                if parsed.device not in devices:
                    devices[parsed.device] = self.device(parsed.device)
                if apply(devices[parsed.device], parsed):
                    recorded += 1
                else:
                    skipped += 1
            except LedgerError as e:
                errors.append({"line": row.get("line"), "code": e.code, "message": e.message})
            if progress is not None:
                progress(1)
        if errors:
            raise rejected_import(errors)
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
        batches = self.new_gec_batches(device, month, account)
        self._save_or_conflict(device, *batches)
        return batches

    def new_gec_batches(self, device: Device, month: str, account: str) -> list[Batch]:
        """The batches `issue_gec` saves, with the device's pool already claimed (unsaved)."""
        self._holding_account(account, device.owner)
        device.check_scheme("GEC")
        with self._naming_earlier_claims(device):
            specs = device.issue_gec(month, self.clock())
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
        project = device.ccer.project_for(month)
        for batch in batches:  # electricity of a registered CCER project: its GECs are born frozen
            if project is not None:
                batch.freeze(f"CCER project {project} registered for {device.code}")
        return batches

    def elect(self, device_code: str, scheme: str, effective_from: str) -> bool:
        """GEC–CCER election for a deep-sea offshore wind or CSP device; False if already in force."""
        device = self.device(device_code)
        if device.elect(scheme, effective_from):
            self._save_or_conflict(device)
            return True
        return False

    def _issued_gec_batches(self, device: Device, first: date, last: date) -> list[Batch]:
        """The device's GEC batches for the production months that [first, last] touches."""
        batches = []
        for month in months_between(first, last):
            batches += [self.batch(code) for code in device.gec_months.get(month, [])]
        return batches

    def register_ccer_project(
        self,
        code: str,
        methodology: str,
        owner: str,
        devices: list[str],
        crediting_start: str,
        crediting_end: str,
        *,
        factor: str | None = None,
        on: date | None = None,
    ) -> Project:
        """审定与登记. For a renewable project (one that names its device), the GEC–CCER rule in
        force on the registration date must admit the device, and the device's untraded GECs for
        the crediting period are frozen in the same transaction."""
        self.participant(owner)
        loaded = [self.device(device) for device in devices]
        project = Project.register(code, methodology, owner, devices, crediting_start, crediting_end, factor)
        frozen = []
        for device in loaded:
            device.join_ccer_project(code, crediting_start, crediting_end, self.business_day(on))
            first, last = date.fromisoformat(crediting_start), date.fromisoformat(crediting_end)
            for batch in self._issued_gec_batches(device, first, last):
                if batch.freeze(f"CCER project {code} registered for {device.code}"):
                    frozen.append(batch)
        self._create(project, "project", code, *loaded, *frozen)
        return project

    def issue_ccer(self, project_code: str, period_start: str, period_end: str, kg_co2e: int, account: str) -> Batch:
        """核查与登记: register verified reductions and issue them as a CCER batch. For a renewable
        project the reductions claim kWh = kgCO2e × 10^6 ÷ the factor (g/MWh) from its device's
        pool; untraded GECs for that electricity are cancelled and the cancellation disclosed."""
        project = self._get(project_id(project_code), "project", project_code)
        self._holding_account(account, project.owner)
        if project.devices:
            return self._issue_renewable_ccer(project, period_start, period_end, kg_co2e, account)
        code = project.register_reductions(period_start, period_end, kg_co2e)
        self._check_period_ended(project_code, period_end)
        batch = self._ccer_batch(project, code, period_start, period_end, kg_co2e, account, {})
        self._save_or_conflict(project, batch)
        return batch

    def _issue_renewable_ccer(self, project: Project, start: str, end: str, kg_co2e: int, account: str) -> Batch:
        """CCER reductions of a renewable project: their kWh leave the device's pool, and the
        frozen, unsold GECs that certified them are cancelled and disclosed (GEC–CCER link)."""
        device = self.device(project.devices[0])
        factor = EMISSION_FACTORS[project.factor]
        kwh = kwh_for(check_kwh("kg_co2e", kg_co2e), factor.g_per_mwh)
        generation = {"device": device.code, "kwh": kwh, "factor": factor.code, "g_per_mwh": factor.g_per_mwh}
        code = project.register_reductions(start, end, kg_co2e, generation)
        self._check_period_ended(project.code, end)
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        begin, finish = day_start(first), day_start(last + timedelta(days=1))
        device.check_metered(begin, finish, f"in [{start}, {end}] to back these reductions")
        free, gecs = device.free_kwh(begin, finish), self._issued_gec_batches(device, first, last)
        reason = f"CCER reductions {code} registered for the same electricity (GEC–CCER link)"
        cancelled, traded = make_way_for_ccer(device, gecs, kwh - free, reason)
        try:
            with self._naming_earlier_claims(device):
                device.claim(f"CCER/{code}", "CCER", code, begin, finish, kwh)
        except Conflict as e:
            if e.code == "DOUBLE_CLAIM":
                ccer_refusal(e, code, device.code, f"[{start}, {end}]", kwh, free, cancelled, traded)
            raise
        changed: list[Any] = [b for b in gecs if b.pending_events]
        if cancelled:
            changed.append(Disclosure.of_ccer(code, project.code, device.code, [start, end], kg_co2e, factor, kwh,
                                              cancelled, traded))  # fmt: skip
        origin = generation | {"disclosure": code if cancelled else None, "traded_gecs_untouched": traded}
        batch = self._ccer_batch(project, code, start, end, kg_co2e, account, origin)
        self._save_or_conflict(project, batch, device, *changed)
        return batch

    def _check_period_ended(self, project_code: str, period_end: str) -> None:
        """Reductions are registered only for a monitoring period that has ended."""
        finish = day_start(date.fromisoformat(period_end) + timedelta(days=1))
        check_ended(f"the monitoring period of {project_code} to {period_end}", finish, self.clock())

    def _ccer_batch(
        self, project: Project, code: str, start: str, end: str, kg_co2e: int, account: str, origin: dict
    ) -> Batch:
        origin = {"project": project.code, "period": [start, end], "methodology": project.methodology, **origin}
        return Batch.credits(code, "CCER", kg_co2e, account, origin)

    def project(self, code: str) -> Project:
        return self._get(project_id(code), "project", code)

    def frozen_gecs(self, project_code: str) -> list[dict]:
        """The GECs frozen for a CCER project's electricity, per batch, in serial notation: what its
        registration froze (and GECs born frozen since), until CCER issuance cancels them."""
        project = self.project(project_code)
        first, last = date.fromisoformat(project.crediting_start), date.fromisoformat(project.crediting_end)
        frozen = []
        for device in map(self.device, project.devices):
            for batch in self._issued_gec_batches(device, first, last):
                spans = [(r.start, r.end) for r in batch.ranges if r.state == FROZEN]
                if spans:
                    serials = [format_range(batch.code, s, e) for s, e in spans]
                    frozen.append({"batch": batch.code, "serials": serials, "units": sum(e - s for s, e in spans)})
        return frozen

    def programme(self, code: str) -> Programme:
        return self._get(programme_id(code), "programme", code)

    def contract(self, code: str) -> GreenPowerContract:
        return self._get(contract_id(code), "contract", code)

    def disclosure(self, code: str) -> Disclosure:
        return self._get(disclosure_id(code), "disclosure", code)

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
        start: str | None = None,
        end: str | None = None,
        subject: str | None = None,
        period: str | None = None,
        kg_co2e: int | None = None,
        evidence_sha256: str | None = None,
    ) -> Batch:
        """碳普惠签发. Generation-based methodologies take a device and a month (or any interval
        of whole readings, e.g. some hours) and convert its metered on-grid kWh through the
        programme's emission factor; the kWh leave the device's pool with the batch. Other
        methodologies take kgCO2e."""
        programme = self._get(programme_id(programme_code), "programme", programme_code)
        holder = self.owner_of(account)
        origin: dict[str, Any] = {"programme": programme.code, "methodology": methodology}
        if INCLUSION_METHODOLOGIES.get(methodology):
            if device is None or (month is None) == (start is None or end is None):
                raise InvalidInput(f"{methodology} credits need a device and either a month or a start and an end",
                                   code="SELECTION_INVALID")  # fmt: skip
            return self._inclusion_of_generation(programme, origin, account, holder, device, month, start, end)
        if subject is None or period is None or kg_co2e is None:
            raise InvalidInput(f"{methodology} credits need a subject, a period and kgCO2e", code="SELECTION_INVALID")
        origin |= {"subject": subject, "period": period, "evidence_sha256": evidence_sha256}
        batch = Batch.credits(programme.credit(methodology, subject, period, kg_co2e), "INCLUSION", kg_co2e,
                              account, origin)  # fmt: skip
        self._save_or_conflict(programme, batch)
        return batch

    def _inclusion_of_generation(
        self, programme: Programme, origin: dict, account: str, holder: str, device: str, *interval: str | None
    ) -> Batch:
        """Carbon-inclusion credits for a device's metered on-grid kWh in a month or an interval
        (`interval`: month, start, end): the kWh leave the device's pool with the batch."""
        generator = self.device(device)
        begin, finish, generation = programme.generation(generator, account, holder, *interval, self.clock())
        period, kg_co2e = generation.pop("period"), generation.pop("kg_co2e")
        code = programme.credit(origin["methodology"], device, period, kg_co2e)
        batch = Batch.credits(code, "INCLUSION", kg_co2e, account, origin | generation)
        with self._naming_earlier_claims(generator):  # one MWh, one claim
            generator.claim(f"INCLUSION/{code}", "INCLUSION", code, begin, finish, generation["kwh"])
        self._save_or_conflict(generator, programme, batch)
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

    # ------------------------------------------------------------------ the pool, seen from outside

    def claims_check(self, device_code: str, month: str | None = None) -> dict:
        """What is metered, claimed (by whom) and free, per reading of a device (one month, or all)."""
        return queries.claims_check(self.device(device_code), month)

    def import_external(self, rows: list[dict], errors: list[dict] | None = None) -> dict:
        """Import claims that other registries and platforms report, and check them against the pool.

        Every row is checked first; if any is bad nothing is imported and each bad row is named
        with its line. Claims on our devices are recorded on the device (an event per device and
        source); a claim that does not fit what is unclaimed opens a double-counting case. GEC
        sales reported by two platforms for the same serials open a case too. Rows already
        imported (same source and reference) are skipped. All of it is one transaction.
        """
        errors = list(errors or [])
        groups, sales, devices, unmatched = self._sort_external_rows(rows, errors)
        batches = {}
        for code in sales:
            try:
                batches[code] = self.batch(code)
            except NotFound as e:
                errors += [{"line": c["line"], "code": e.code, "message": e.message} for c in sales[code]]
        if errors:
            raise rejected_import(errors)
        on_devices, on_batches = _record_claims(groups, devices), _record_sales(sales, batches)
        cases = on_devices["cases"] + on_batches["cases"]
        changed = [d for d in devices.values() if d.pending_events] + [b for b in batches.values() if b.pending_events]
        self._save_or_conflict(*changed, *cases)
        return {
            "rows": len(rows),
            "accepted": on_devices["accepted"] + on_batches["accepted"],
            "cases_opened": [c.code for c in cases],
            "skipped_already_imported": on_devices["skipped"] + on_batches["skipped"],
            "unmatched": unmatched,
        }

    def _sort_external_rows(self, rows: list[dict], errors: list[dict]):
        """Check each reported row (bad ones go to `errors`, with their line) and sort the claims:
        by (device, source) for our devices, by batch for GEC sales, and those on devices we do
        not know (unmatched). Returns (groups, sales, devices, unmatched)."""
        from ledger.rows import ExternalClaimRow

        groups: dict[tuple[str, str], list[dict]] = {}
        sales: dict[str, list[dict]] = {}
        devices: dict[str, Device] = {}
        unmatched = []
        for row in rows:
            try:
                claim = ExternalClaimRow.parse(row).claim()
                if "serials" in claim:
                    sales.setdefault(claim["batch"], []).append(claim)
                    continue
                code = claim["device"]
                try:
                    devices[code] = devices.get(code) or self.device(code)
                except NotFound:
                    unmatched.append({"line": row.get("line"), "device": code, "reference": claim["reference"]})
                    continue
                groups.setdefault((code, claim["source"]), []).append(claim)
            except LedgerError as e:
                errors.append({"line": row.get("line"), "code": e.code, "message": e.message})
        return groups, sales, devices, unmatched

    def case(self, code: str) -> Case:
        return self._get(case_id(code), "case", code)

    def resolve_case(self, code: str, outcome: str, reason: str, by: str) -> Case:
        """Resolve a case with an explicit event. For an overlapping claim resolved as
        `ours_cancelled`, the same transaction cancels enough of our never-sold GECs for the
        overlap (lowest serials first), gives their kWh back to the pool, and lets the other
        registry's claim take them; if sold or retired GECs carry the overlap it is refused."""
        case = self.case(code)
        case.resolve(outcome, reason, by)
        changed: list[Any] = [case]
        if outcome == "ours_cancelled" and case.kind == "OVERLAPPING_CLAIM":
            device = self.device(case.subject)
            why = f"double-counting case {case.code} resolved by cancelling our side: {reason}"
            changed += cancel_ours_for_case(device, case.ours, case.overlap_kwh, why, self.batch)
            device.accept_disputed(case.theirs["source"], case.theirs, why)
            changed.append(device)
        self._save_or_conflict(*changed)
        return case

    def trace_case(self, code: str) -> dict:
        """The trace report of a case, every event proven (ledger/queries.py)."""
        return queries.trace_case(self, code)

    # ------------------------------------------------------------------ green-power trade

    def sign_contract(
        self, code: str, device: str, generator_account: str, consumer_account: str, monthly_mwh: dict[str, int]
    ) -> GreenPowerContract:
        generator = self.device(device)
        self._holding_account(generator_account, generator.owner)
        self.owner_of(consumer_account)
        if not generator.gec_tradable:  # green power moves its tradable GECs to the consumer
            raise Conflict(
                f"{device} ({generator.technology}, commissioned {generator.commissioned_on}) earns only"
                " non-tradable GECs, which cannot move to a green-power buyer",
                code="NOT_TRADABLE",
                device=device,
            )
        contract = GreenPowerContract.sign(code, device, generator_account, consumer_account, monthly_mwh)
        self._create(contract, "contract", code)
        return contract

    def settle(self, code: str, month: str, consumption_kwh: int, *, on: date | None = None) -> dict:
        """月结月清: settle a month of a green-power contract and, in the same transaction, move
        the settled quantity of the device's GECs for that month to the consumer, dated `on`
        (default today)."""
        day, request_id = self.business_day(on), f"settle/{code}/{month}"

        def attempt() -> dict:
            contract = self._get(contract_id(code), "contract", code)
            contract.check_contracted(month)
            green_kwh = self.device(contract.device).green_power_kwh(month)
            settlement, new = contract.settle(month, consumption_kwh, green_kwh, day)
            batch_code, moved, changed = gec_batch_code(month, contract.device, tradable=True), [], [contract]
            if settlement["settled_mwh"]:
                batch = self.batch(batch_code)
                if new:
                    to = contract.consumer_account
                    moved = batch.transfer(
                        contract.generator_account, to, day, settlement["settled_mwh"], request_id=request_id
                    )
                    changed.append(batch)
                else:  # settled before: the first result, with the serials it moved
                    moved = batch.ranges_moved_by(request_id)
            if new:
                self._save_or_conflict(*changed)
            return {**settlement, "batch": batch_code, "serials": moved}

        return self._idempotent(request_id, attempt)  # a concurrent retry answers the first result

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
        day = self.business_day(on)

        def attempt() -> list[list[int]]:
            batch = self.batch(batch_code)
            ranges = batch.transfer(from_account, to_account, day, quantity, spans, request_id, sale)
            self._save_or_conflict(batch)
            return ranges

        return self._idempotent(request_id, attempt)

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
        day = self.business_day(on)
        # the log records commitments to who and where, never the text (ledger/personal.py)
        beneficiary, location = (
            self.personal.commit(v) if isinstance(v, str) and v.strip() else v for v in (beneficiary, location)
        )

        def attempt() -> str:
            batch = self.batch(batch_code)
            retirement_id = batch.retire(
                account, day, beneficiary, purpose, reporting_period, location, quantity, spans, request_id
            )
            self._save_or_conflict(batch)
            return retirement_id

        return self._idempotent(request_id, attempt)

    def cancel(
        self, batch_code: str, reason: str, spans: list[tuple[int, int]] | None = None, request_id: str | None = None
    ) -> list[list[int]]:
        """Cancellation by the registry (an issuer dispute, a correction). Units another platform
        reported sold may be cancelled only by naming them; each such report then opens a
        double-counting case (SALE_OF_ENDED_UNITS), in the same transaction."""

        def attempt() -> list[list[int]]:
            batch = self.batch(batch_code)
            version = batch.version
            ranges = batch.cancel(reason, spans, request_id)
            if batch.version == version:  # a retry answered from the first request
                return ranges
            cases = [Case.of_cancelled_report(batch, ranges, reason, r) for r in batch.reports_touching(ranges)]
            self._save_or_conflict(batch, *cases)
            return ranges

        return self._idempotent(request_id, attempt)

    def expire_batches(self, codes: list[str], as_of: date | None = None) -> dict[str, list[list[int]]]:
        """Expire the named batches as of a date (default today); batches with nothing to expire
        are untouched."""
        as_of = self.business_day(as_of)
        expired = {}
        for code in codes:
            batch = self.batch(code)
            ranges = batch.expire(as_of)
            if ranges:
                self._save_or_conflict(batch)
                expired[code] = ranges
        return expired


def rejected_import(errors: list[dict]) -> InvalidInput:
    """The refusal of a whole import, naming every bad row by its line."""
    errors.sort(key=lambda e: e["line"] or 0)
    return InvalidInput(
        f"{len(errors)} bad row(s); nothing was imported. First: line {errors[0]['line']}: {errors[0]['message']}",
        code="IMPORT_REJECTED",
        errors=errors,
    )


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA)


def months_between(first: date, last: date) -> list[str]:
    """The production months (YYYY-MM) that [first, last] touches."""
    months, month = [], first.strftime("%Y-%m")
    while month <= last.strftime("%Y-%m"):
        months.append(month)
        month = next_month(month)
    return months


def _record_claims(groups: dict[tuple[str, str], list[dict]], devices: dict[str, Device]) -> dict:
    """Record reported claims on our devices, per (device, source): what fits is accepted, what
    does not opens a double-counting case, and what was imported before is skipped."""
    out: dict[str, Any] = {"accepted": 0, "skipped": 0, "cases": []}
    for (code, source), claims in groups.items():
        fits, disputed = devices[code].record_external(source, claims)
        out["accepted"] += len(fits)
        out["skipped"] += len(claims) - len(fits) - len(disputed)
        out["cases"] += [Case.of_disputed_claim(code, source, d, devices[code].version) for d in disputed]
    return out


def _record_sales(sales: dict[str, list[dict]], batches: dict[str, Batch]) -> dict:
    """Record GEC sales other platforms report, per batch: each clash with another sale or with
    units that ended here opens a case, and a report recorded before is skipped."""
    out: dict[str, Any] = {"accepted": 0, "skipped": 0, "cases": []}
    for code, reports in sales.items():
        for report in reports:
            clashes = batches[code].report_sale(
                report["source"], report["reference"], report["spans"], report["sold_on"]
            )
            out["skipped" if clashes is None else "accepted"] += 1
            out["cases"] += [Case.of_sale_clash(code, report, clash, batches[code].version) for clash in clashes or ()]
    return out


def today() -> date:
    """The business date in China (UTC+8)."""
    return datetime.now(CHINA).date()
