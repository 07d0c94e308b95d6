"""lead.dead in assignment: the lead's prospect shows do-not-contact (every prospect of the
person when that is the reason), a redelivery changes nothing, and a lead.dead arriving before
the lead's prospect applies when it arrives."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from shared.contracts import LeadDeadV1, new_envelope
from tests.integration.assignment.conftest import T0, Assignment, qualified, reactivated

pytestmark = pytest.mark.integration


def dead(of: Any, reason: str, at: Any = T0 + timedelta(days=90)) -> Any:
    payload = LeadDeadV1(sequence=9, recovery_id=uuid.uuid4(), reason=reason, dead_at=at)
    return new_envelope(
        payload, tenant_id=of.tenant_id, dealership_id=of.dealership_id, lead_id=of.lead_id
    )


async def test_a_dead_lead_shows_do_not_contact_on_every_prospect_of_the_person(
    svc: Assignment,
) -> None:
    await svc.add_consultant("c1")
    lead = qualified(email="dora.dead@example.com")
    other = qualified(email="dora.dead@example.com")
    stranger = qualified(email="someone.else@example.com")
    for e in (lead, other, stranger):
        await svc.publish(e)
        await svc.prospect(e.lead_id)

    event = dead(lead, "do_not_contact")
    await svc.publish(event)
    await svc.publish(event)  # a redelivery: a no-op
    p = await svc.prospect(lead.lead_id, until=lambda p: p["do_not_contact"])
    assert p["do_not_contact"] is True
    assert (await svc.prospect(other.lead_id, until=lambda p: p["do_not_contact"]))[
        "do_not_contact"
    ] is True
    assert (await svc.prospect(stranger.lead_id))["do_not_contact"] is False
    assert (await svc.prospect(lead.lead_id))["do_not_contact"] is True


async def test_a_lead_dead_before_its_prospect_applies_when_it_arrives(svc: Assignment) -> None:
    await svc.add_consultant("c1")
    lead = qualified(email="early.dead@example.com")
    await svc.publish(dead(lead, "cadence_exhausted"))
    await svc.publish(reactivated(lead, T0 + timedelta(days=30)))
    p = await svc.prospect(lead.lead_id, until=lambda p: p["do_not_contact"])
    assert p["do_not_contact"] is True
    await svc.publish(lead)  # its lead.qualified, later still: the prospect stays so
    p = await svc.prospect(lead.lead_id, until=lambda p: p["qualified_at"] is not None)
    assert p["do_not_contact"] is True
