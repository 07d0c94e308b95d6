"""A new enquiry of a person who is an open prospect reaches their consultant (issue 13): intake
merges it into the prospect's lead (`lead.duplicate` with stage `prospect`), and assignment
records it as an activity of kind `enquiry` on the prospect, which shows it (`enquired_at`,
first among the consultant's prospects after the hot ones) until the consultant acts. In any
order with the prospect's own events, and once however often it comes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from shared.contracts import LeadDuplicateV1, PersonV1, SourceRefV1, VehicleV1, new_envelope
from tests.integration.assignment.conftest import T0, Assignment, erased, qualified, reactivated

pytestmark = pytest.mark.integration

H = timedelta(hours=1)


def enquiry(
    of: Any,
    at: datetime,
    *,
    enquiry_id: uuid.UUID | None = None,
    stage: str = "prospect",
    comments: str | None = "Is the XC90 still there? Call me after 6.",
) -> Any:
    payload = LeadDuplicateV1(
        sequence=2,
        enquiry_id=enquiry_id or uuid.uuid4(),
        source=SourceRefV1(source_id="s2", kind="marketplace", name="AutoTrader"),
        matched_on=("email",),
        received_at=at,
        vehicle=VehicleV1(make="Volvo", model="XC90"),
        comments=comments,
        enquiry_dealership_id=of.dealership_id,
        person=PersonV1(email="ann.again@example.com", phone="+14165550123"),
        stage=stage,  # type: ignore[arg-type]
    )
    return new_envelope(
        payload, tenant_id=of.tenant_id, dealership_id=of.dealership_id, lead_id=of.lead_id
    )


async def recorded(svc: Assignment, enquiry_id: uuid.UUID, within: float = 15.0) -> None:
    """Until assignment recorded the enquiry (whether or not its prospect exists yet)."""
    async with asyncio.timeout(within):
        while True:
            async with svc.app.state.runtime.engine.connect() as conn:
                found = await conn.scalar(
                    text("SELECT count(*) FROM activity WHERE activity_id = :id"),
                    {"id": enquiry_id},
                )
            if found:
                return
            await asyncio.sleep(0.05)


async def handled(svc: Assignment, event_id: uuid.UUID, within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while True:
            async with svc.app.state.runtime.engine.connect() as conn:
                found = await conn.scalar(
                    text(
                        "SELECT count(*) FROM inbox_message WHERE event_id = :id "
                        "AND consumer = 'assignment'"
                    ),
                    {"id": event_id},
                )
            if found:
                return
            await asyncio.sleep(0.05)


def enquiries(p: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in p["activities"] if a["kind"] == "enquiry"]


async def test_an_enquiry_of_an_open_prospect_reaches_its_consultant(svc: Assignment) -> None:
    await svc.add_consultant("cara")
    lead = qualified(email="ann.again@example.com")
    await svc.publish(lead)
    p = await svc.prospect(lead.lead_id, until=lambda p: p["consultant_id"] == "cara")
    other = qualified()  # another prospect of hers, with a follow-up planned
    await svc.publish(other)
    await svc.prospect(other.lead_id, until=lambda p: p["consultant_id"] == "cara")
    r = await svc.act(
        other.lead_id,
        "activities",
        {"kind": "call", "next_follow_up_at": (T0 + 3 * H).isoformat()},
        headers=svc.consultant("cara"),
    )
    assert r.status_code == 201, r.text
    await svc.move(2 * H)

    asked = T0 + H
    event = enquiry(lead, asked)
    await svc.publish(event)
    p = await svc.prospect(lead.lead_id, until=lambda p: p["enquired_at"] is not None)
    assert datetime.fromisoformat(p["enquired_at"]) == asked
    [activity] = enquiries(p)
    assert activity["activity_id"] == str(event.payload.enquiry_id)
    assert activity["consultant_id"] is None
    assert activity["note"] == "Is the XC90 still there? Call me after 6."
    assert datetime.fromisoformat(activity["at"]) == asked
    details = activity["details"]
    assert details["source"]["name"] == "AutoTrader"
    assert details["vehicle"]["model"] == "XC90"
    assert details["person"]["phone"] == "+14165550123"

    # The consultant's own list: the prospect whose person asked again comes first.
    r = await svc.client.get("/v1/prospects/mine", headers=svc.consultant("cara"))
    assert r.status_code == 200, r.text
    mine = r.json()
    assert [x["lead_id"] for x in mine] == [str(lead.lead_id), str(other.lead_id)]
    assert datetime.fromisoformat(mine[0]["enquired_at"]) == asked

    # A redelivery, and intake publishing the same enquiry again: one activity still.
    await svc.publish(event)
    again = enquiry(lead, asked, enquiry_id=event.payload.enquiry_id)
    await svc.publish(again)
    await handled(svc, again.event_id)
    p = await svc.prospect(lead.lead_id)
    assert len(enquiries(p)) == 1

    # The consultant calls back: answered.
    r = await svc.act(lead.lead_id, "activities", {"kind": "call"}, headers=svc.consultant("cara"))
    assert r.status_code == 201, r.text
    assert r.json()["enquired_at"] is None
    # The same enquiry once more after that changes nothing.
    await svc.publish(enquiry(lead, asked, enquiry_id=event.payload.enquiry_id))
    late = enquiry(lead, asked - timedelta(minutes=30))  # made before the call, heard after it
    await svc.publish(late)
    await recorded(svc, late.payload.enquiry_id)
    p = await svc.prospect(lead.lead_id)
    assert p["enquired_at"] is None
    assert len(enquiries(p)) == 2


async def test_events_in_reverse_order_give_the_same_prospect(svc: Assignment) -> None:
    """In order: qualified, then the enquiry. Reversed: the enquiry first (the prospect is not
    there yet: it is kept), then qualified. Both prospects end up alike."""
    await svc.add_consultant("cara")
    in_order = qualified(email="first@example.com")
    reverse = qualified(email="second@example.com")
    asked = T0 + H
    await svc.publish(in_order)
    await svc.prospect(in_order.lead_id, until=lambda p: p["consultant_id"] is not None)
    await svc.publish(enquiry(in_order, asked))

    first = enquiry(reverse, asked)
    await svc.publish(first)
    await recorded(svc, first.payload.enquiry_id)
    await svc.publish(reverse)

    def done(p: dict[str, Any]) -> bool:
        return p["consultant_id"] is not None and p["enquired_at"] is not None

    a = await svc.prospect(in_order.lead_id, until=done)
    b = await svc.prospect(reverse.lead_id, until=done)
    same = ("state", "consultant_id", "enquired_at", "next_follow_up_at", "hot", "acted_at")
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    assert datetime.fromisoformat(b["enquired_at"]) == asked
    strip = ("activity_id",)
    assert [{k: v for k, v in x.items() if k not in strip} for x in enquiries(a)] == [
        {k: v for k, v in x.items() if k not in strip} for x in enquiries(b)
    ]


async def test_a_first_contact_repeat_is_not_the_consultants(svc: Assignment) -> None:
    await svc.add_consultant("cara")
    lead = qualified()
    await svc.publish(lead)
    await svc.prospect(lead.lead_id, until=lambda p: p["consultant_id"] is not None)
    repeat = enquiry(lead, T0 - H, stage="first_contact")  # crm-queue's, before qualifying
    await svc.publish(repeat)
    marker = enquiry(lead, T0 + H)
    await svc.publish(marker)
    p = await svc.prospect(lead.lead_id, until=lambda p: p["enquired_at"] is not None)
    assert [a["activity_id"] for a in enquiries(p)] == [str(marker.payload.enquiry_id)]


async def test_a_closed_prospect_keeps_the_enquiry_and_a_reactivation_hears_it(
    svc: Assignment,
) -> None:
    """Lost at T0+2h; the person asks at T0+2.5h (before recovery reactivates) and at T0+4h.
    The lost prospect only records them; reactivated at T0+3h it shows the one of its new spell,
    whether the reactivation or the enquiries came first."""
    await svc.add_consultant("cara")
    lead = qualified()
    await svc.publish(lead)
    await svc.prospect(lead.lead_id, until=lambda p: p["consultant_id"] == "cara")
    await svc.move(2 * H)
    r = await svc.act(
        lead.lead_id, "lose", {"reason_code": "prospect.price"}, headers=svc.consultant("cara")
    )
    assert r.status_code == 200, r.text
    gap, spell = enquiry(lead, T0 + 2.5 * H), enquiry(lead, T0 + 4 * H)
    for e in (gap, spell):
        await svc.publish(e)
        await recorded(svc, e.payload.enquiry_id)
    p = await svc.prospect(lead.lead_id)
    assert (p["state"], p["enquired_at"], len(enquiries(p))) == ("lost", None, 2)

    await svc.publish(reactivated(lead, T0 + 3 * H))
    p = await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "open")
    assert datetime.fromisoformat(p["enquired_at"]) == T0 + 4 * H

    # The other order: reactivated first, then the enquiries.
    other = qualified()
    await svc.publish(other)
    await svc.prospect(other.lead_id, until=lambda p: p["consultant_id"] == "cara")
    r = await svc.act(
        other.lead_id, "lose", {"reason_code": "prospect.price"}, headers=svc.consultant("cara")
    )
    assert r.status_code == 200, r.text
    await svc.publish(reactivated(other, T0 + 3 * H))
    await svc.prospect(other.lead_id, until=lambda p: p["state"] == "open")
    for e in (enquiry(other, T0 + 2.5 * H), enquiry(other, T0 + 4 * H)):
        await svc.publish(e)
        await recorded(svc, e.payload.enquiry_id)
    q = await svc.prospect(other.lead_id)
    assert q["enquired_at"] == p["enquired_at"]
    assert len(enquiries(q)) == 2


async def test_an_erased_persons_enquiry_keeps_only_where_it_came_from(svc: Assignment) -> None:
    await svc.add_consultant("cara")
    lead = qualified()
    await svc.publish(erased("acme", lead.lead_id))
    first = enquiry(lead, T0 + H)
    await svc.publish(first)
    await recorded(svc, first.payload.enquiry_id)
    await svc.publish(lead)
    p = await svc.prospect(lead.lead_id, until=lambda p: p["erased_at"] is not None)
    [activity] = enquiries(p)
    assert activity["note"] is None
    assert activity["details"] == {
        "source": {
            "source_id": "s2",
            "kind": "marketplace",
            "name": "AutoTrader",
            "campaign": None,
            "channel": None,
        }
    }

    # Erased after the enquiry: scrubbed the same way.
    other = qualified()
    await svc.publish(other)
    await svc.prospect(other.lead_id, until=lambda p: p["consultant_id"] == "cara")
    await svc.publish(enquiry(other, T0 + H))
    await svc.prospect(other.lead_id, until=lambda p: p["enquired_at"] is not None)
    await svc.publish(erased("acme", other.lead_id))
    q = await svc.prospect(other.lead_id, until=lambda p: p["erased_at"] is not None)
    [scrubbed] = enquiries(q)
    assert scrubbed["note"] is None
    assert scrubbed["details"] == activity["details"]
