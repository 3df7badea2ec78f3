"""Market surveillance: the rules of `ledger.domain.rules.SURVEILLANCE_RULES`, evaluated as the
log grows by a projection (never in a command's write path), and the operator's review of each
alert (docs/enterprise.md).

The projection reads the notification log from its own position, in chunks, and keeps three
tables in the ledger's database: `sv_transfers` (the transfers it has seen, for the patterns
that look back), `sv_senders` (per sender and instrument, how many transfers and the largest,
so that a transfer costs the same however many its sender made before) and `sv_alerts`. Each
alert names the log seqs of the events it was raised on; its id is the SHA-256 of its rule and
those seqs, so a rebuilt projection raises the same alerts with the same ids. Acknowledging one
is an `AlertReview.Acknowledged` event, which the
projection then records as the alert's status.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url

from ledger.app import Ledger
from ledger.domain.alert import AlertReview
from ledger.domain.batch import Batch
from ledger.domain.case import Case
from ledger.domain.device import Device
from ledger.domain.rules import SURVEILLANCE_RULES
from ledger.errors import Conflict, NotFound
from ledger.readmodel import SCHEMA_LOCK, sqlalchemy_url

metadata = MetaData()
sv_tracking = Table("sv_tracking", metadata, Column("name", String, primary_key=True),
                    Column("position", BigInteger, nullable=False))  # fmt: skip
sv_transfers = Table(
    "sv_transfers",
    metadata,
    Column("seq", BigInteger, primary_key=True),
    Column("batch", String, nullable=False, index=True),
    Column("instrument", String, nullable=False),
    Column("sender", String, nullable=False, index=True),
    Column("receiver", String, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("on", String, nullable=False),
)
sv_senders = Table(
    "sv_senders",
    metadata,
    Column("sender", String, primary_key=True),
    Column("instrument", String, primary_key=True),
    Column("transfers", BigInteger, nullable=False),
    Column("largest", BigInteger, nullable=False),
)
sv_alerts = Table(
    "sv_alerts",
    metadata,
    Column("alert_id", String, primary_key=True),
    Column("rule", String, nullable=False, index=True),
    Column("subject", String, nullable=False),
    Column("message", Text, nullable=False),
    Column("seqs", Text, nullable=False),  # JSON list of the log seqs it was raised on
    Column("raised_seq", BigInteger, nullable=False),
    Column("status", String, nullable=False, index=True),  # open | acknowledged
    Column("acknowledged_seq", BigInteger),
    Column("n", Integer, nullable=False),  # the order alerts were raised in
)
TOPICS = {get_topic(t): t for t in (Batch.Transferred, Case.Opened, Device.ReadingCorrected, AlertReview.Acknowledged)}
NAME = "surveillance"
POSITION = select(sv_tracking.c.position).where(sv_tracking.c.name == NAME)


def alert_id(rule: str, seqs: list[int]) -> str:
    return hashlib.sha256(json.dumps([rule, sorted(seqs)]).encode()).hexdigest()[:16]


class Surveillance:
    """The surveillance projection of one ledger."""

    def __init__(self, ledger: Ledger, chunk_size: int = 500) -> None:
        self.ledger, self.chunk_size = ledger, chunk_size
        url = make_url(sqlalchemy_url(ledger.db_url))
        self.engine = create_engine(url, connect_args={"timeout": 60} if url.get_backend_name() == "sqlite" else {})
        with self.engine.begin() as conn:  # several API workers may start at once: one creates
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
            older = inspect(conn).has_table(sv_tracking.name) and not inspect(conn).has_table(sv_senders.name)
            metadata.create_all(conn, checkfirst=True)
            if conn.execute(POSITION).first() is None:
                conn.execute(sv_tracking.insert().values(name=NAME, position=0))
            if older:  # a projection from before sv_senders: rebuilt from the log, to the same alerts
                conn.execute(delete(sv_transfers))
                conn.execute(delete(sv_alerts))
                conn.execute(update(sv_tracking).where(sv_tracking.c.name == NAME).values(position=0))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Surveillance:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the projection

    def catch_up(self) -> int:
        """Evaluate every event committed since the last call; the alerts raised."""
        raised = 0
        while True:
            with self.engine.connect() as conn:
                position = conn.execute(POSITION).scalar_one()
            notifications = self.ledger.recorder.select_notifications(position, self.chunk_size,
                                                                      inclusive_of_start=False)  # fmt: skip
            if not notifications:
                return raised
            wanted = [n for n in notifications if n.topic in TOPICS]
            seqs = self.ledger.log.seqs_for_notifications([n.id for n in wanted])
            # Read what the rules need from the ledger first, with no lock held: on SQLite the
            # projection's write lock is the database's (the read model's lesson, ledger/readmodel.py).
            facts = [self._fact(self.ledger.mapper.to_domain_event(n), seqs[n.id]) for n in wanted]
            with self.engine.begin() as conn:
                claim = sv_tracking.c.name == NAME
                conn.execute(update(sv_tracking).where(claim).values(position=sv_tracking.c.position))  # queue here
                if conn.execute(POSITION).scalar_one() != position:
                    continue  # another catch-up applied this chunk meanwhile
                for fact in facts:
                    raised += self._evaluate(conn, fact) if fact else 0
                conn.execute(update(sv_tracking).where(claim).values(position=notifications[-1].id))

    def _fact(self, event: Any, seq: int) -> dict | None:
        """What the rules need to know of one event (read from the ledger, outside the lock)."""
        if isinstance(event, Batch.Transferred):
            issued = self.ledger.repository.get(event.originator_id, version=1)
            return {"kind": "transfer", "seq": seq, "batch": issued.code, "instrument": issued.instrument,
                    "units": sum(e - s for s, e in event.ranges), "sender": event.from_account,
                    "receiver": event.to_account, "on": event.on}  # fmt: skip
        if isinstance(event, Case.Opened) and event.kind == "GEC_SOLD_TWICE":
            return {"kind": "sold_twice", "seq": seq, "subject": event.subject, "case": event.code,
                    "source": event.theirs.get("source", "another platform")}  # fmt: skip
        if isinstance(event, Device.ReadingCorrected):
            before = self.ledger.repository.get(event.originator_id, version=event.originator_version - 1)
            reading, claimed = (
                before.readings.get(event.corrects_version),
                before.claimed.get(event.corrects_version, 0),
            )
            if reading is None or not claimed or event.on_grid_kwh >= reading.on_grid_kwh:
                return None
            return {"kind": "corrected", "seq": seq, "device": before.code, "claimed": claimed,
                    "was": reading.on_grid_kwh, "now": event.on_grid_kwh, "reason": event.reason}  # fmt: skip
        if isinstance(event, AlertReview.Acknowledged):
            return {"kind": "acknowledged", "seq": seq, "alert_id": event.alert_id}
        return None

    def _raise(self, conn: Connection, rule: str, subject: str, message: str, seqs: list[int]) -> int:
        key = alert_id(rule, seqs)
        if conn.execute(select(sv_alerts.c.alert_id).where(sv_alerts.c.alert_id == key)).first() is not None:
            return 0
        n = conn.execute(select(sv_alerts.c.n).order_by(sv_alerts.c.n.desc()).limit(1)).scalar() or 0
        conn.execute(sv_alerts.insert().values(alert_id=key, rule=rule, subject=subject, message=message,
                                               seqs=json.dumps(sorted(seqs)), raised_seq=max(seqs), status="open",
                                               n=n + 1))  # fmt: skip
        return 1

    def _evaluate(self, conn: Connection, fact: dict) -> int:
        """Apply the rules to one event's facts, against the projection's own tables only."""
        seq = fact["seq"]
        if fact["kind"] == "transfer":
            return self._transferred(conn, fact)
        if fact["kind"] == "sold_twice":
            return self._raise(conn, "SOLD_ON_TWO_PLATFORMS", fact["subject"],
                               f"{fact['subject']}: {fact['source']} reports units sold that were sold here"
                               f" (case {fact['case']})", [seq])  # fmt: skip
        if fact["kind"] == "corrected":
            return self._raise(conn, "CLAIMED_KWH_CORRECTED_DOWN", fact["device"],
                               f"{fact['device']}: a reading of which {fact['claimed']:,} kWh are claimed was"
                               f" corrected from {fact['was']:,} to {fact['now']:,} kWh ({fact['reason']})",
                               [seq])  # fmt: skip
        conn.execute(update(sv_alerts).where(sv_alerts.c.alert_id == fact["alert_id"])
                     .values(status="acknowledged", acknowledged_seq=seq))  # fmt: skip
        return 0

    def _transferred(self, conn: Connection, fact: dict) -> int:
        seq, batch, instrument, units = fact["seq"], fact["batch"], fact["instrument"], fact["units"]
        sender, receiver, on = fact["sender"], fact["receiver"], fact["on"]
        raised = 0
        wash = SURVEILLANCE_RULES["WASH_TRANSFER"].params
        since = (date.fromisoformat(on) - timedelta(days=wash["window_days"])).isoformat()
        back = conn.execute(select(sv_transfers.c.seq, sv_transfers.c.on).where(
            sv_transfers.c.batch == batch, sv_transfers.c.sender == receiver, sv_transfers.c.receiver == sender,
            sv_transfers.c.on >= since).order_by(sv_transfers.c.seq.desc()).limit(1)).first()  # fmt: skip
        if back is not None:
            pair = " <-> ".join(sorted((sender, receiver)))
            raised += self._raise(conn, "WASH_TRANSFER", pair,
                                  f"{batch}: units went {receiver} -> {sender} on {back.on} and {sender} -> {receiver}"
                                  f" on {on}, within {wash['window_days']} days", [back.seq, seq])  # fmt: skip
        far = SURVEILLANCE_RULES["TRANSFER_FAR_ABOVE_HISTORY"].params
        key = (sv_senders.c.sender == sender) & (sv_senders.c.instrument == instrument)
        history = conn.execute(select(sv_senders.c.transfers, sv_senders.c.largest).where(key)).first()
        if history is not None and history.transfers >= far["min_history"] and units > far["factor"] * history.largest:
            raised += self._raise(conn, "TRANSFER_FAR_ABOVE_HISTORY", sender,
                                  f"{sender} transferred {units:,} units of {batch}, more than {far['factor']} times"
                                  f" its largest of {history.transfers} earlier {instrument} transfers"
                                  f" ({history.largest:,})",
                                  [seq])  # fmt: skip
        if history is None:  # units of one instrument are comparable: one row per sender and instrument
            conn.execute(sv_senders.insert().values(sender=sender, instrument=instrument, transfers=1, largest=units))
        else:
            conn.execute(update(sv_senders).where(key).values(transfers=history.transfers + 1,
                                                              largest=max(history.largest, units)))  # fmt: skip
        conn.execute(sv_transfers.insert().values(seq=seq, batch=batch, instrument=instrument, sender=sender,
                                                  receiver=receiver, units=units, on=on))  # fmt: skip
        return raised

    # ------------------------------------------------------------------ queries and the review

    def alerts(self, status: str | None = None) -> list[dict]:
        self.catch_up()
        query = select(sv_alerts).order_by(sv_alerts.c.n)
        if status is not None:
            query = query.where(sv_alerts.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**{k: v for k, v in row.items() if k != "n"}, "seqs": json.loads(row["seqs"])} for row in rows]

    def alert(self, key: str, with_proofs: bool = True) -> dict:
        """One alert, with a tlog-proof (without the event's bytes) of each event it names."""
        found = [a for a in self.alerts() if a["alert_id"] == key]
        if not found:
            raise NotFound(f"unknown alert {key}", code="ALERT_NOT_FOUND", alert=key)
        alert = found[0]
        if with_proofs:
            alert["proofs"] = {str(s): self.ledger.log.tlog_proof(s) for s in alert["seqs"]}
        return alert

    def acknowledge(self, key: str, by: str, note: str) -> dict:
        """The operator's acknowledgement of an alert, as an event; once per alert."""
        alert = self.alert(key, with_proofs=False)
        review = AlertReview.acknowledge(key, alert["rule"], alert["seqs"], by, note)
        try:
            self.ledger.save(review)
        except IntegrityError:
            raise Conflict(f"alert {key} is already acknowledged", code="ALERT_ALREADY_ACKNOWLEDGED") from None
        return self.alert(key, with_proofs=False)
