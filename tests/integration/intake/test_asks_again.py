"""A customer who asks again is never lost (issue 12).

An enquiry merges only into the person's lead still in first contact; once that lead left it
(qualified, lost, won, dead, reactivated) a new enquiry is a new lead that follows it, for the
dealership the new enquiry was addressed to. A person who asked never to be contacted gets
their new lead recorded, flagged `do_not_contact`. Intake learns all this from the funnel's
events, whatever their order.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from sqlalchemy import text

from shared.contracts import (
    LeadDeadV1,
    LeadLostV1,
    LeadQualifiedV1,
    LeadReactivatedV1,
    new_envelope,
)
from shared.messaging.topology import Topology
from tests.integration.intake.conftest import Intake

pytestmark = pytest.mark.integration


class Funnel:
    """Publishes the events of the other services on the run's exchange, and waits until
    intake handled each (its id in intake's inbox)."""

    def __init__(self, intake: Intake, exchange: aio_pika.abc.AbstractExchange) -> None:
        self.intake = intake
        self.exchange = exchange

    async def publish(self, envelope: Any, *, wait: bool = True) -> None:
        await self.exchange.publish(
            aio_pika.Message(envelope.to_json_bytes(), message_id=str(envelope.event_id)),
            routing_key=envelope.routing_key,
        )
        if wait:
            await self.handled(envelope.event_id)

    async def handled(self, event_id: uuid.UUID) -> None:
        async with asyncio.timeout(15):
            while True:
                async with self.intake.app.state.engine.connect() as conn:
                    found = (
                        await conn.execute(
                            text("SELECT count(*) FROM inbox_message WHERE event_id = :e"),
                            {"e": event_id},
                        )
                    ).scalar_one()
                if found:
                    return
                await asyncio.sleep(0.05)


@pytest.fixture
async def funnel(intake: Intake, amqp_url: str, topology: Topology) -> Any:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(topology.events_exchange_name)
    yield Funnel(intake, exchange)
    await connection.close()


NOW = datetime.now(UTC)


def lost(
    lead_id: str, *, code: str = "no_interest.follow_up", dnc: bool = False, at: Any = None
) -> Any:
    category = code.split(".")[0]
    return new_envelope(
        LeadLostV1(
            sequence=3,
            reason_code=code,  # type: ignore[arg-type]
            category=category,  # type: ignore[arg-type]
            attempts=1,
            lost_at=NOW,
            do_not_contact=dnc,
        ),
        tenant_id="acme",
        lead_id=uuid.UUID(lead_id),
        occurred_at=at or NOW,
    )


def qualified(lead_id: str) -> Any:
    return new_envelope(
        LeadQualifiedV1(
            sequence=3,
            outcome="quotation.requested",  # type: ignore[arg-type]
            agent_id="agent-1",
            attempts=1,
            qualified_at=NOW,
        ),
        tenant_id="acme",
        lead_id=uuid.UUID(lead_id),
    )


def reactivated(lead_id: str, at: datetime) -> Any:
    return new_envelope(
        LeadReactivatedV1(
            sequence=5,
            recovery_id=uuid.uuid4(),
            origin="lead",
            previous_reason_code="no_interest.follow_up",  # type: ignore[arg-type]
            reactivated_at=at,
        ),
        tenant_id="acme",
        lead_id=uuid.UUID(lead_id),
        occurred_at=at,
    )


def dead(lead_id: str, reason: str) -> Any:
    return new_envelope(
        LeadDeadV1(sequence=6, reason=reason, dead_at=NOW),
        tenant_id="acme",
        lead_id=uuid.UUID(lead_id),
    )


async def _lead_row(intake: Intake, lead_id: str) -> Any:
    async with intake.app.state.engine.connect() as conn:
        return (
            await conn.execute(text("SELECT * FROM lead WHERE id = :id"), {"id": lead_id})
        ).one()


async def test_a_qualified_lead_is_followed_by_a_new_lead_not_merged(
    intake: Intake, funnel: Funnel
) -> None:
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "q@example.com"})).json()
    await funnel.publish(qualified(first["lead_id"]))
    again = (await intake.post(source["api_key"], {"email": "q@example.com"})).json()
    assert again["outcome"] == "ingested"  # before: merged into the prospect, nobody called
    assert again["lead_id"] != first["lead_id"]
    [event] = await intake.events.wait_for("lead.ingested", lead_id=again["lead_id"])
    assert event["payload"]["previous_lead_id"] == first["lead_id"]
    assert event["payload"]["do_not_contact"] is False
    assert (await _lead_row(intake, again["lead_id"])).previous_lead_id == uuid.UUID(
        first["lead_id"]
    )
    # The new lead is in first contact: the person's next enquiry merges into it.
    third = (await intake.post(source["api_key"], {"email": "q@example.com"})).json()
    assert (third["outcome"], third["lead_id"]) == ("merged", again["lead_id"])


async def test_a_lost_lead_asked_again_through_another_dealership_goes_to_that_one(
    intake: Intake, funnel: Funnel
) -> None:
    north = await intake.source("acme")
    south = await intake.source("acme")
    assert north["dealership_id"] != south["dealership_id"]
    first = (await intake.post(north["api_key"], {"phone": "+14165550101"})).json()
    await funnel.publish(lost(first["lead_id"]))
    # A recent loss, well inside the 30-day window that used to merge into closed leads.
    again = (
        await intake.post(south["api_key"], {"phone": "+14165550101", "email": "p@example.com"})
    ).json()
    assert again["outcome"] == "ingested"
    [event] = await intake.events.wait_for("lead.ingested", lead_id=again["lead_id"])
    assert event["dealership_id"] == south["dealership_id"]
    assert event["payload"]["previous_lead_id"] == first["lead_id"]


async def test_closing_is_order_free_and_idempotent(intake: Intake, funnel: Funnel) -> None:
    """A reactivation newer than the loss, arriving first, then the loss, then both again: the
    lead is out of first contact whatever the order (a reactivated lead is assignment's)."""
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "o@example.com"})).json()
    back = reactivated(first["lead_id"], NOW + timedelta(days=3))
    loss = lost(first["lead_id"], at=NOW)
    for event in (back, loss, back, loss):
        await funnel.publish(event)
    row = await _lead_row(intake, first["lead_id"])
    assert (row.status, row.status_changed_at) == ("closed", NOW)  # when it left first contact
    again = (await intake.post(source["api_key"], {"email": "o@example.com"})).json()
    assert again["outcome"] == "ingested"
    async with intake.app.state.engine.connect() as conn:
        handled = (
            await conn.execute(
                text("SELECT count(*) FROM inbox_message WHERE event_id IN (:a, :b)"),
                {"a": back.event_id, "b": loss.event_id},
            )
        ).scalar_one()
    assert handled == 2


@pytest.mark.parametrize("how", ["lost do_not_contact", "recovery do_not_contact"])
async def test_a_do_not_contact_person_asking_again_gets_a_flagged_lead(
    intake: Intake, funnel: Funnel, how: str
) -> None:
    source = await intake.source("acme")
    first = (
        await intake.post(source["api_key"], {"email": "stop@example.com", "phone": "+14165550199"})
    ).json()
    if how == "lost do_not_contact":
        await funnel.publish(lost(first["lead_id"], code="no_interest.do_not_contact", dnc=True))
    else:
        await funnel.publish(lost(first["lead_id"], code="no_interest.follow_up"))
        await funnel.publish(dead(first["lead_id"], "do_not_contact"))
    assert (await _lead_row(intake, first["lead_id"])).do_not_contact is True
    # The same person by phone only, through another source: a lead (it counts for the
    # source) that says nobody may contact it.
    other = await intake.source("acme", dealership_id=source["dealership_id"])
    again = (await intake.post(other["api_key"], {"phone": "(416) 555-0199"})).json()
    assert again["outcome"] == "ingested"
    [event] = await intake.events.wait_for("lead.ingested", lead_id=again["lead_id"])
    assert event["payload"]["do_not_contact"] is True
    assert event["payload"]["previous_lead_id"] == first["lead_id"]
    assert (await _lead_row(intake, again["lead_id"])).do_not_contact is True


async def test_a_dead_lead_for_another_reason_is_no_do_not_contact(
    intake: Intake, funnel: Funnel
) -> None:
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "d@example.com"})).json()
    await funnel.publish(dead(first["lead_id"], "cadence_exhausted"))
    again = (await intake.post(source["api_key"], {"email": "d@example.com"})).json()
    [event] = await intake.events.wait_for("lead.ingested", lead_id=again["lead_id"])
    assert event["payload"]["do_not_contact"] is False
    assert event["payload"]["previous_lead_id"] == first["lead_id"]


async def test_a_duplicate_carries_the_new_enquiry_whole(intake: Intake) -> None:
    north = await intake.source("acme")
    south = await intake.source("acme")
    first = (
        await intake.post(north["api_key"], {"email": "w@example.com", "first_name": "Wen"})
    ).json()
    again = (
        await intake.post(
            south["api_key"],
            {
                "email": "w@example.com",
                "phone": "+14165550177",
                "comments": "call me after 6",
                "vehicle": {"make": "Volvo", "model": "XC60"},
                "trade_ins": [{"make": "Honda", "model": "Civic", "year": 2015}],
                "consent": {"sms": False, "phone": True},
                "campaign": "autumn",
            },
        )
    ).json()
    assert (again["outcome"], again["lead_id"]) == ("merged", first["lead_id"])
    [event] = await intake.events.wait_for("lead.duplicate", lead_id=first["lead_id"])
    assert event["dealership_id"] == north["dealership_id"]  # the lead's
    p = event["payload"]
    assert p["enquiry_dealership_id"] == south["dealership_id"]  # the enquiry's
    assert p["source"]["source_id"] == south["id"]
    assert p["source"]["campaign"] == "autumn"
    assert p["person"]["phone"] == "+14165550177"
    assert p["person"]["email"] == "w@example.com"
    assert p["comments"] == "call me after 6"
    assert p["vehicle"]["model"] == "XC60"
    assert p["trade_ins"][0]["make"] == "Honda"
    assert p["consent"] == {"email": None, "sms": False, "phone": True, "marketing": None}


async def test_an_enquiry_merged_before_intake_heard_of_the_closing_becomes_a_new_lead(
    intake: Intake, funnel: Funnel
) -> None:
    """crm-queue closed the lead, then the customer asked again before intake got lead.lost:
    the enquiry was merged (crm-queue ignores it on the closed task). Once intake learns of
    the closing, that enquiry is a new lead following the closed one, as if in order."""
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "late@example.com"})).json()
    closed_at = datetime.now(UTC)
    body = {"email": "late@example.com", "phone": "+14165550155", "comments": "call me after 6"}
    late = (await intake.post(source["api_key"], body)).json()
    assert (late["outcome"], late["lead_id"]) == ("merged", first["lead_id"])
    await funnel.publish(lost(first["lead_id"], at=closed_at))
    found = await intake.events.wait_for("lead.ingested", n=2)
    [event] = [e for e in found if e["payload"]["previous_lead_id"]]
    p = event["payload"]
    assert p["previous_lead_id"] == first["lead_id"]
    assert p["comments"] == "call me after 6"
    assert p["person"]["phone"] == "+14165550155"
    assert event["dealership_id"] == source["dealership_id"]
    new_lead = event["lead_id"]
    assert (await _lead_row(intake, new_lead)).status == "open"
    # The person's next enquiry merges into the new lead; a later closing event of the old one
    # (recovery ends it) promotes nothing again.
    again = (await intake.post(source["api_key"], {"email": "late@example.com"})).json()
    assert (again["outcome"], again["lead_id"]) == ("merged", new_lead)
    await funnel.publish(dead(first["lead_id"], "cadence_exhausted"))
    await intake.events.settle()
    follows = [e for e in intake.events.of("lead.ingested") if e["payload"]["previous_lead_id"]]
    assert [e["lead_id"] for e in follows] == [new_lead]


async def test_an_enquiry_merged_before_the_closing_stays_merged(
    intake: Intake, funnel: Funnel
) -> None:
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "early@example.com"})).json()
    merged = (await intake.post(source["api_key"], {"email": "early@example.com"})).json()
    assert merged["outcome"] == "merged"
    await funnel.publish(lost(first["lead_id"], at=datetime.now(UTC)))
    await intake.events.settle()
    assert [e["lead_id"] for e in intake.events.of("lead.ingested")] == [first["lead_id"]]


async def test_late_enquiries_make_one_new_lead_whatever_the_closing_events_order(
    intake: Intake, funnel: Funnel
) -> None:
    """Lost at T1, dead at T2; enquiries merged at T1 < e1 < T2 < e2 while intake knew of
    neither. lead.dead arrives first (promotes e2), then lead.lost (e1 joins that lead)."""
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "two@example.com"})).json()
    t1 = datetime.now(UTC)
    e1 = (await intake.post(source["api_key"], {"email": "two@example.com"})).json()
    t2 = datetime.now(UTC)
    e2 = (await intake.post(source["api_key"], {"email": "two@example.com"})).json()
    assert e1["outcome"] == e2["outcome"] == "merged"
    end = dead(first["lead_id"], "cadence_exhausted")
    end = end.model_copy(update={"occurred_at": t2})
    await funnel.publish(end)
    await funnel.publish(lost(first["lead_id"], at=t1))
    await intake.events.settle()
    follows = [e for e in intake.events.of("lead.ingested") if e["payload"]["previous_lead_id"]]
    [new] = follows
    repeats = [e for e in intake.events.of("lead.duplicate") if e["lead_id"] == new["lead_id"]]
    assert [r["payload"]["sequence"] for r in repeats] == [2]
    row = await _lead_row(intake, new["lead_id"])
    assert (row.enquiry_count, row.sequence, row.status) == (2, 2, "open")
