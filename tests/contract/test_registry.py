"""The registry is exactly the event table of spec/funnel.md, and names follow the convention."""

from __future__ import annotations

import pytest

from shared.contracts import (
    ALL_ROUTING_KEYS,
    REGISTRY,
    EventPayload,
    LeadIngestedV1,
    UnknownEvent,
    payload_class,
)
from tests.contract.samples import SAMPLES

# Copied from spec/funnel.md's event table (the spec lives outside the repository).
FUNNEL_EVENTS = {
    "lead.rejected": "intake",
    "lead.duplicate": "intake",
    "lead.ingested": "intake",
    "lead.contact_attempted": "crm-queue",
    "lead.sla_breached": "crm-queue",
    "lead.qualified": "crm-queue",
    "lead.lost": "crm-queue",
    "prospect.assigned": "assignment",
    "prospect.reassigned": "assignment",
    "prospect.won": "assignment",
    "prospect.lost": "assignment",
    "recovery.scheduled": "recovery",
    "recovery.attempted": "recovery",
    "lead.reactivated": "recovery",
    "lead.bought_elsewhere": "recovery",
    "lead.dead": "recovery",
    "person.erased": "intake",
}
# Events added since, beyond the spec's table (each named by its issue).
ADDED_EVENTS = {
    # issue 14: how a recovery run ended; a person back on their own is counted apart.
    "recovery.ended": "recovery",
    # issue 13: an untouched prospect past its SLA, for the managers' notification systems.
    "prospect.escalated": "assignment",
    # issue 16: a phone-call notification e-mail is a call, not a lead; told to subscribers.
    "call.received": "intake",
}
ALL_EVENTS = FUNNEL_EVENTS | ADDED_EVENTS


def test_registry_covers_exactly_the_funnel_events_and_the_added_ones() -> None:
    assert len(FUNNEL_EVENTS) == 17
    assert {event_type for event_type, _ in REGISTRY} == set(ALL_EVENTS)
    assert set(REGISTRY) == {(event_type, 1) for event_type in ALL_EVENTS}


@pytest.mark.parametrize(("key", "cls"), REGISTRY.items(), ids=lambda v: str(v))
def test_registered_class_declares_its_own_key_and_producer(
    key: tuple[str, int], cls: type[EventPayload]
) -> None:
    assert (cls.event_type, cls.event_version) == key
    assert cls.producer == ALL_EVENTS[cls.event_type]


@pytest.mark.parametrize("cls", REGISTRY.values(), ids=lambda c: c.__name__)
def test_class_name_is_aggregate_past_participle_version(cls: type[EventPayload]) -> None:
    words = cls.event_type.replace(".", "_").split("_")
    assert cls.__name__ == "".join(w.capitalize() for w in words) + f"V{cls.event_version}"


@pytest.mark.parametrize("cls", REGISTRY.values(), ids=lambda c: c.__name__)
def test_payload_is_frozen_and_tolerant(cls: type[EventPayload]) -> None:
    assert cls.model_config.get("frozen") is True
    assert cls.model_config.get("extra") == "ignore"


def test_routing_keys() -> None:
    assert len(ALL_ROUTING_KEYS) == len(set(ALL_ROUTING_KEYS)) == len(ALL_EVENTS)
    assert "lead.ingested.v1" in ALL_ROUTING_KEYS
    assert LeadIngestedV1.routing_key() == "lead.ingested.v1"


def test_payload_class_lookup() -> None:
    assert payload_class("lead.ingested", 1) is LeadIngestedV1
    with pytest.raises(UnknownEvent, match=r"lead\.ingested\.v2"):
        payload_class("lead.ingested", 2)
    with pytest.raises(UnknownEvent, match=r"lead\.teleported\.v1"):
        payload_class("lead.teleported", 1)


def test_every_registered_event_has_a_sample() -> None:
    assert set(SAMPLES) == set(REGISTRY.values())
    assert all(type(sample) is cls for cls, sample in SAMPLES.items())
