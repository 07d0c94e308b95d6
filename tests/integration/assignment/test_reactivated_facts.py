"""`lead.reactivated` carries who is back (person, enquiries, language) and the consultant they
had: assignment builds the prospect from them when it never saw the lead qualified, and gives
it back to that consultant if eligible."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from shared.contracts import (
    EnquiryV1,
    LeadReactivatedV1,
    LostReasonCode,
    PersonV1,
    VehicleV1,
    new_envelope,
)
from tests.integration.assignment.conftest import T0, Assignment, qualified

pytestmark = pytest.mark.integration


def returning(*, consultant_id: str | None, make: str = "Volvo", language: str = "fr") -> Any:
    """A lead lost in crm-queue before qualification, brought back by recovery."""
    payload = LeadReactivatedV1(
        sequence=4,
        recovery_id=uuid.uuid4(),
        origin="lead",
        previous_reason_code=LostReasonCode.NO_INTEREST_FOLLOW_UP,
        reactivated_at=T0,
        person=PersonV1(first_name="Bea", last_name="Lund", email="bea@example.com"),
        enquiries=(
            EnquiryV1(
                received_at=T0 - timedelta(days=20),
                source_id="s1",
                source_kind="website",
                source_name="Own site",
                vehicle=VehicleV1(make=make, model="X", condition="new"),
            ),
        ),
        language=language,
        consultant_id=consultant_id,
    )
    return new_envelope(payload, tenant_id="acme", dealership_id="d1", lead_id=uuid.uuid4())


def _open(p: dict[str, Any]) -> bool:
    return p["state"] == "open"


async def test_a_reactivated_lead_arrives_with_its_person_and_goes_back_to_its_consultant(
    svc: Assignment,
) -> None:
    for who in ("ada", "bob", "cy"):
        await svc.add_consultant(who)
    event = returning(consultant_id="bob")
    await svc.publish(event)
    p = await svc.prospect(event.lead_id, until=_open)
    assert p["consultant_id"] == "bob"
    assert p["method"] == "sticky"
    assert p["reason"] == "hot_reactivation" and p["hot"] is True
    assert p["person"]["last_name"] == "Lund"
    assert p["enquiries"][0]["vehicle"]["make"] == "Volvo"
    assert p["language"] == "fr"
    [assigned] = await svc.events.wait_for("prospect.assigned", lead_id=event.lead_id)
    assert assigned["payload"]["consultant_id"] == "bob"


async def test_its_consultant_if_not_eligible_is_passed_over_by_the_routing_on_its_facts(
    svc: Assignment,
) -> None:
    await svc.add_consultant("bob", brands=["BMW"])  # the car is a Volvo: not eligible
    await svc.add_consultant("eve", brands=["BMW"])
    await svc.add_consultant("fay", brands=["Volvo"])
    event = returning(consultant_id="bob")
    await svc.publish(event)
    p = await svc.prospect(event.lead_id, until=_open)
    assert p["consultant_id"] == "fay"  # the enquiry's make, from the event, decided
    assert p["method"] != "sticky"


async def test_a_later_qualification_replaces_the_reactivation_facts(svc: Assignment) -> None:
    await svc.add_consultant("gus")
    event = returning(consultant_id=None)
    await svc.publish(event)
    await svc.prospect(event.lead_id, until=_open)
    lead = qualified(lead_id=event.lead_id, make="Saab", qualified_at=T0 - timedelta(hours=1))
    await svc.publish(lead)
    p = await svc.prospect(event.lead_id, until=lambda p: p["person"].get("last_name") == "Roe")
    assert p["enquiries"][0]["vehicle"]["make"] == "Saab"
    assert p["consultant_id"] == "gus"
