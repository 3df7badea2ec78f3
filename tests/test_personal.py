"""Personal data beside the log (ledger/personal.py): a retirement's beneficiary and location are
committed in the log, kept beside it, opened for the operator and for a certificate, and erasable
without breaking the log; the events anyone may read are exactly the public ones."""

from __future__ import annotations

import json
from datetime import date

from eventsourcing.utils import get_topic

from ledger.app import Ledger
from ledger.domain.participant import Participant
from ledger.personal import commitment_of, is_commitment, opens, public_event
from ledger.tlog import audit, trust
from tests.registry_support import CON, GEN, RETIREMENT, one_gec_batch

ON = date(2025, 2, 12)


def _retire(ledger: Ledger, batch: str, request_id: str | None = None) -> str:
    return ledger.retire(batch, GEN, quantity=2, on=ON, request_id=request_id, **RETIREMENT)


def _all_event_bytes(ledger: Ledger) -> list[bytes]:
    return ledger.log.entries(0, ledger.log.size())


def test_no_event_holds_who_or_where_and_the_operator_still_reads_them(registry: Ledger) -> None:
    batch = one_gec_batch(registry, 10)
    rid = _retire(registry, batch)
    everything = b"\n".join(_all_event_bytes(registry)).decode()
    assert RETIREMENT["beneficiary"] not in everything and RETIREMENT["location"] not in everything
    recorded = registry.batch(batch).retirement(rid)
    assert is_commitment(recorded["beneficiary"]) and is_commitment(recorded["location"])
    shown = registry.personal.reveal(recorded)
    assert (shown["beneficiary"], shown["location"]) == (RETIREMENT["beneficiary"], RETIREMENT["location"])


def test_an_opening_checks_offline_and_only_for_its_own_value(registry: Ledger) -> None:
    batch = one_gec_batch(registry, 10)
    rid = _retire(registry, batch)
    commitment = registry.batch(batch).retirement(rid)["beneficiary"]
    opening = registry.personal.openings([commitment])[commitment]
    assert opens(commitment, opening["salt"], RETIREMENT["beneficiary"])
    assert commitment_of(bytes.fromhex(opening["salt"]), opening["value"]) == commitment
    assert not opens(commitment, opening["salt"], "另一家企业")
    assert not opens(commitment, "00" * 16, RETIREMENT["beneficiary"])
    assert not opens(commitment, "not hex", RETIREMENT["beneficiary"])


def test_the_same_value_commits_alike_here_and_otherwise_in_another_registry(tmp_path, registry: Ledger) -> None:
    """Deterministic within a ledger (a retried retirement is the same request; an enterprise's
    retirements are found by its code), keyed by the ledger's own secret (another registry's
    commitment to the same name differs, so commitments link nothing across registries)."""
    batch = one_gec_batch(registry, 10)
    first = _retire(registry, batch, request_id="retire-1")
    size = registry.log.size()
    assert _retire(registry, batch, request_id="retire-1") == first and registry.log.size() == size
    other = Ledger(f"sqlite:///{tmp_path / 'other.sqlite'}")
    try:
        here = registry.personal.commitment(RETIREMENT["beneficiary"])
        assert here == registry.batch(batch).retirement(first)["beneficiary"]
        assert other.personal.commitment(RETIREMENT["beneficiary"]) != here
    finally:
        other.close()


def test_an_erased_value_is_gone_and_the_log_still_verifies(registry: Ledger, signer) -> None:
    batch = one_gec_batch(registry, 10)
    rid = _retire(registry, batch)
    registry.transfer(batch, GEN, CON, quantity=1, on=ON)
    commitment = registry.batch(batch).retirement(rid)["location"]
    assert registry.personal.erase(commitment) and not registry.personal.erase(commitment)
    assert registry.personal.reveal(registry.batch(batch).retirement(rid))["location"] == commitment
    registry.sign_checkpoint(signer, signer.name)
    report = audit.verify_database(registry.db_url, trust.of(signer.verifier()), events_table=registry.events_table)
    assert report.ok, report


def test_public_events_are_the_public_kinds_with_no_text_that_may_name_a_person(registry: Ledger) -> None:
    batch = one_gec_batch(registry, 10)
    _retire(registry, batch)
    kinds = {}
    for event in _all_event_bytes(registry):
        kinds.setdefault(json.loads(event)["topic"], public_event(event))
    assert kinds[get_topic(Participant.Registered)] is False  # organisations' names
    assert kinds["ledger.domain.batch:Batch.Retired"] is True and kinds["ledger.domain.batch:Batch.Issued"] is True
    assert kinds["ledger.domain.device:Device.Registered"] is True
    retired = next(e for e in _all_event_bytes(registry) if b"Batch.Retired" in e)
    parsed = json.loads(retired)
    parsed["state"]["beneficiary"] = RETIREMENT["beneficiary"]  # as a ledger older than commitments recorded it
    assert not public_event(json.dumps(parsed).encode())
    assert not public_event(b"not json") and not public_event(b'{"topic": 1, "state": {}}')
