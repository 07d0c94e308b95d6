"""Events: per-lead sequence numbers, hand-over to the unit of work, and the public contract."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from crm_queue.domain import (
    AttemptRecorded,
    DomainEvent,
    Lost,
    Qualified,
    Refused,
    SlaBreached,
)
from shared.contracts.base import LeadEventPayload
from shared.contracts.crm_queue import (
    LeadContactAttemptedV1,
    LeadLostV1,
    LeadQualifiedV1,
    LeadSlaBreachedV1,
)
from tests.unit.crm_queue.support import ALWAYS, LEAD_ID, T0, attempt, new_task

M = timedelta(minutes=1)


def test_every_event_takes_the_next_sequence_number() -> None:
    task = new_task()
    task.breach_sla(T0 + 15 * M)
    attempt(task, T0 + 20 * M)
    attempt(task, T0 + 20 * M + timedelta(hours=2))
    task.claim("ann", T0 + 3 * timedelta(hours=1), ALWAYS)
    task.lose("ann", "pollution.test", None, T0 + 3 * timedelta(hours=1), ALWAYS)
    assert [type(e) for e in task.events] == [SlaBreached, AttemptRecorded, AttemptRecorded, Lost]
    assert [e.sequence for e in task.events] == [1, 2, 3, 4]
    assert task.sequence == 4


def test_pulled_events_are_handed_over_once_and_the_sequence_goes_on() -> None:
    task = new_task()
    attempt(task, T0)
    pulled = task.pull_events()
    assert [e.sequence for e in pulled] == [1]
    assert task.events == []
    attempt(task, T0 + timedelta(hours=2))
    assert [e.sequence for e in task.pull_events()] == [2]


def test_refused_commands_emit_nothing() -> None:
    task = new_task()
    with pytest.raises(Refused, match=r"lease\.required"):
        task.record_attempt("ann", "call", "no_answer", None, T0, ALWAYS, uuid4())
    assert (task.events, task.sequence) == ([], 0)


def _events() -> list[DomainEvent]:
    breached, qualified, lost = new_task(), new_task(), new_task()
    breached.breach_sla(T0 + 15 * M)
    attempt(qualified, T0, "reached")
    qualified.qualify("ann", "appointment.showroom", "Saturday", T0 + timedelta(days=3), T0)
    attempt(lost, T0, "reached", "email")
    lost.lose("ann", "no_interest.do_not_contact", "asked twice", T0, ALWAYS)
    return [*breached.events, *qualified.events, *lost.events]


CONTRACTS: dict[type[DomainEvent], type[LeadEventPayload]] = {
    AttemptRecorded: LeadContactAttemptedV1,
    SlaBreached: LeadSlaBreachedV1,
    Qualified: LeadQualifiedV1,
    Lost: LeadLostV1,
}


def test_payloads_are_exactly_the_public_contract() -> None:
    events = _events()
    assert {type(e) for e in events} == set(CONTRACTS)
    for event in events:
        contract = CONTRACTS[type(event)]
        assert event.event_type == contract.event_type
        payload = event.payload()
        assert set(payload) <= set(contract.model_fields), type(event)
        assert contract(**payload).model_dump(include=set(payload)) == payload
        ids = (event.lead_id, event.tenant_id, event.dealership_id)
        assert ids == (LEAD_ID, "vw-north", "berlin-1")
