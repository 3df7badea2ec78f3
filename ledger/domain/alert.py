"""A surveillance alert's review: raised by the projection (ledger/surveillance.py), which is
not an event, and acknowledged by the registry operator, which is."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.errors import InvalidInput


def review_id(alert_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:alert:{alert_id}")


class AlertReview(Aggregate):
    """The operator's acknowledgement of one alert, naming the events it was raised on."""

    @staticmethod
    def create_id(alert_id: str, **_: object) -> UUID:
        return review_id(alert_id)

    @event("Acknowledged")
    def __init__(self, alert_id: str, rule: str, seqs: list[int], by: str, note: str) -> None:
        self.alert_id, self.rule, self.seqs, self.by, self.note = alert_id, rule, seqs, by, note

    @classmethod
    def acknowledge(cls, alert_id: str, rule: str, seqs: list[int], by: str, note: str) -> AlertReview:
        if not isinstance(note, str) or not note.strip() or len(note) > 1_000:
            raise InvalidInput("say what was found (a note of 1 to 1,000 characters)", code="NOTE_INVALID")
        return cls(alert_id=alert_id, rule=rule, seqs=seqs, by=by, note=note)
