"""A customer who asks again is never lost (issues 12 and 13).

An enquiry merges into the person's lead still in first contact, or into their open prospect
(qualified or reactivated, not closed since: `lead.duplicate` with stage `prospect`, for the
consultant); once that lead is closed (lost, won, dead) a new enquiry is a new lead that follows
it, for the dealership the new enquiry was addressed to. A person who asked never to be
contacted gets their new lead recorded, flagged `do_not_contact`. Intake learns all this from
the funnel's events, whatever their order.
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
    ProspectLostV1,
    ProspectWonV1,
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


def qualified(lead_id: str, at: Any = None) -> Any:
    return new_envelope(
        LeadQualifiedV1(
            sequence=3,
            outcome="quotation.requested",  # type: ignore[arg-type]
            agent_id="agent-1",
            attempts=1,
            qualified_at=at or NOW,
        ),
        tenant_id="acme",
        lead_id=uuid.UUID(lead_id),
        occurred_at=at,
    )


def won(lead_id: str, at: Any = None) -> Any:
    return new_envelope(
        ProspectWonV1(sequence=4, consultant_id="cara", won_at=at or NOW),
        tenant_id="acme",
        lead_id=uuid.UUID(lead_id),
        occurred_at=at,
    )


def prospect_lost(lead_id: str, at: datetime) -> Any:
    return new_envelope(
        ProspectLostV1(
            sequence=4,
            consultant_id="cara",
            reason_code="prospect.price",  # type: ignore[arg-type]
            category="prospect",  # type: ignore[arg-type]
            lost_at=at,
        ),
        tenant_id="acme",
        lead_id=uuid.UUID(lead_id),
        occurred_at=at,
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


async def test_an_open_prospect_takes_its_persons_enquiry_until_it_is_won(
    intake: Intake, funnel: Funnel
) -> None:
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "q@example.com"})).json()
    await funnel.publish(qualified(first["lead_id"]))
    assert (await _lead_row(intake, first["lead_id"])).status == "prospect"
    # Asked again while a prospect: merged, for the consultant (not a lead for the agents).
    again = (
        await intake.post(source["api_key"], {"email": "q@example.com", "comments": "still?"})
    ).json()
    assert (again["outcome"], again["lead_id"]) == ("merged", first["lead_id"])
    [event] = await intake.events.wait_for("lead.duplicate", lead_id=first["lead_id"])
    assert event["payload"]["stage"] == "prospect"
    assert event["payload"]["comments"] == "still?"
    # Won: closed. The person's next enquiry is a new lead following it, in first contact.
    await funnel.publish(won(first["lead_id"]))
    assert (await _lead_row(intake, first["lead_id"])).status == "closed"
    third = (await intake.post(source["api_key"], {"email": "q@example.com"})).json()
    assert third["outcome"] == "ingested"
    [ingested] = await intake.events.wait_for("lead.ingested", lead_id=third["lead_id"])
    assert ingested["payload"]["previous_lead_id"] == first["lead_id"]
    assert ingested["payload"]["do_not_contact"] is False
    assert (await _lead_row(intake, third["lead_id"])).previous_lead_id == uuid.UUID(
        first["lead_id"]
    )
    # The new lead is in first contact: the person's next enquiry merges into it, as a repeat.
    fourth = (await intake.post(source["api_key"], {"email": "q@example.com"})).json()
    assert (fourth["outcome"], fourth["lead_id"]) == ("merged", third["lead_id"])
    [repeat] = await intake.events.wait_for("lead.duplicate", lead_id=third["lead_id"])
    assert repeat["payload"]["stage"] == "first_contact"


async def test_a_lost_prospect_is_followed_by_a_new_lead(intake: Intake, funnel: Funnel) -> None:
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "pl@example.com"})).json()
    await funnel.publish(qualified(first["lead_id"]))
    await funnel.publish(prospect_lost(first["lead_id"], datetime.now(UTC)))
    again = (await intake.post(source["api_key"], {"email": "pl@example.com"})).json()
    assert again["outcome"] == "ingested"
    [event] = await intake.events.wait_for("lead.ingested", lead_id=again["lead_id"])
    assert event["payload"]["previous_lead_id"] == first["lead_id"]


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


async def test_stages_are_order_free_and_idempotent(intake: Intake, funnel: Funnel) -> None:
    """Qualified, lost as a prospect, reactivated, lost again, reactivated again: the same
    row whatever the order the events arrive in, and again when each comes twice."""
    source = await intake.source("acme")
    history = [NOW + timedelta(days=d) for d in range(5)]

    def events(lead_id: str) -> list[Any]:
        q, l1, r1, l2, r2 = history
        return [
            qualified(lead_id, q),
            prospect_lost(lead_id, l1),
            reactivated(lead_id, r1),
            prospect_lost(lead_id, l2),
            reactivated(lead_id, r2),
        ]

    rows = []
    for email, order in (("o1@example.com", [0, 1, 2, 3, 4]), ("o2@example.com", [4, 2, 3, 0, 1])):
        lead = (await intake.post(source["api_key"], {"email": email})).json()
        every = events(lead["lead_id"])
        for i in order + order:
            await funnel.publish(every[i])
        rows.append(await _lead_row(intake, lead["lead_id"]))
    for row in rows:
        assert (row.status, row.status_changed_at) == ("prospect", NOW)
    assert sorted(rows[0].stages, key=str) == sorted(rows[1].stages, key=str)
    assert len(rows[0].stages) == 5
    # Reactivated and not lost since: the person's enquiry is the consultant's.
    again = (await intake.post(source["api_key"], {"email": "o2@example.com"})).json()
    assert (again["outcome"], again["lead_id"]) == ("merged", str(rows[1].id))


async def test_a_loss_after_the_last_reactivation_closes_the_lead(
    intake: Intake, funnel: Funnel
) -> None:
    """A reactivation older than the loss, arriving after it: still closed."""
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "c@example.com"})).json()
    await funnel.publish(lost(first["lead_id"], at=NOW + timedelta(days=3)))
    await funnel.publish(reactivated(first["lead_id"], NOW + timedelta(days=1)))
    assert (await _lead_row(intake, first["lead_id"])).status == "closed"
    again = (await intake.post(source["api_key"], {"email": "c@example.com"})).json()
    assert again["outcome"] == "ingested"


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


async def test_an_enquiry_merged_as_a_repeat_before_intake_heard_of_the_qualification(
    intake: Intake, funnel: Funnel
) -> None:
    """crm-queue qualified the lead, then the customer asked again before intake got
    lead.qualified: merged as a first-contact repeat (crm-queue does not count it on the closed
    task). Once intake learns of the qualification, that enquiry goes to the consultant: the
    same enquiry published again with stage `prospect`, once, and no new lead."""
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "lq@example.com"})).json()
    at = datetime.now(UTC)
    late = (await intake.post(source["api_key"], {"email": "lq@example.com"})).json()
    assert (late["outcome"], late["lead_id"]) == ("merged", first["lead_id"])
    [repeat] = await intake.events.wait_for("lead.duplicate", lead_id=first["lead_id"])
    assert repeat["payload"]["stage"] == "first_contact"
    event = qualified(first["lead_id"], at)
    await funnel.publish(event)
    await funnel.publish(event.model_copy(update={"event_id": uuid.uuid4()}))  # a second copy
    await intake.events.wait_for("lead.duplicate", n=2, lead_id=first["lead_id"])
    await intake.events.settle()
    found = [e for e in intake.events.of("lead.duplicate") if e["lead_id"] == first["lead_id"]]
    assert [e["payload"]["stage"] for e in found] == ["first_contact", "prospect"]
    assert found[1]["payload"]["enquiry_id"] == found[0]["payload"]["enquiry_id"]
    assert found[1]["payload"]["sequence"] > found[0]["payload"]["sequence"]
    assert [e["lead_id"] for e in intake.events.of("lead.ingested")] == [first["lead_id"]]
    row = await _lead_row(intake, first["lead_id"])
    assert (row.status, len(row.stages)) == ("prospect", 1)  # the copy: the same step


async def test_an_enquiry_merged_into_a_prospect_already_won_becomes_a_new_lead(
    intake: Intake, funnel: Funnel
) -> None:
    """Won, then the customer asked again before intake got prospect.won: merged for the
    consultant. Once intake learns of the sale, the enquiry is a new lead following it; an
    enquiry from while it was a prospect stays the consultant's."""
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "lw@example.com"})).json()
    await funnel.publish(qualified(first["lead_id"], datetime.now(UTC)))
    during = (await intake.post(source["api_key"], {"email": "lw@example.com"})).json()
    sold = datetime.now(UTC)
    after = (
        await intake.post(
            source["api_key"], {"email": "lw@example.com", "comments": "now my wife wants one"}
        )
    ).json()
    assert during["outcome"] == after["outcome"] == "merged"
    await funnel.publish(won(first["lead_id"], sold))
    found = await intake.events.wait_for("lead.ingested", n=2)
    [new] = [e for e in found if e["payload"]["previous_lead_id"]]
    assert new["payload"]["previous_lead_id"] == first["lead_id"]
    assert new["payload"]["comments"] == "now my wife wants one"
    assert (await _lead_row(intake, new["lead_id"])).status == "open"
    await intake.events.settle()
    consultant = [e for e in intake.events.of("lead.duplicate") if e["lead_id"] == first["lead_id"]]
    assert [e["payload"]["stage"] for e in consultant] == ["prospect", "prospect"]
    assert len(intake.events.of("lead.duplicate")) == 2  # nothing published again
