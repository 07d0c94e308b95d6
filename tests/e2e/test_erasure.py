"""Erasing a person: intake scrubs its rows and publishes person.erased, crm-queue scrubs its own;
afterwards no text, JSON or byte column of either database holds the person's email, phone or
names, while another person and another tenant's person with the same email are untouched.
Both apps run in this test's process (real lifespans, each its own database, the real broker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_queue.entrypoints.http.app import create_app as create_crm
from intake.entrypoints.http.app import create_app as create_intake
from shared.auth import issue_token
from shared.contracts import contact_hash
from shared.db import drop_database
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from tests.integration.crm_queue.conftest import crm_settings
from tests.integration.intake.conftest import Events, Intake, intake_settings, probe

pytestmark = pytest.mark.e2e

# The person to erase, as typed on their leads: an uppercase email, a phone with separators.
ZOE = {
    "first_name": "Zoltana",
    "last_name": "Quixwell",
    "email": "Zoltana.Quixwell@Example.com",
    "phone": "(519) 555-0177",
}
ZOE_NEEDLES = (
    "zoltana.quixwell@example.com",
    "Zoltana.Quixwell@Example.com",
    "+15195550177",
    "(519) 555-0177",
    "5195550177",
    "519-555-0177",
    "Zoltana",
    "Quixwell",
)
# Another person of the same dealer group, who must keep everything.
BEN = {
    "first_name": "Benedikt",
    "last_name": "Ostrander",
    "email": "ben.ostrander@example.com",
    "phone": "+1 519 555 0199",
}
OTHER = "other"  # another dealer group, with a Zoe of the same email
BEN_NEEDLES = ("ben.ostrander@example.com", "Benedikt", "Ostrander", "+15195550199")


async def grep(
    engine: AsyncEngine, needles: tuple[str, ...], *, tenant: str | None = None
) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every text, JSON, array or byte column holding a needle
    (case-insensitive; bytes read with non-ASCII escaped, so never a decoding error). With
    `tenant`, only that tenant's rows; without, every row but those of OTHER."""
    found = []
    async with engine.connect() as conn:
        columns = (
            await conn.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', "
                    "'json', 'jsonb', 'ARRAY', 'bytea') AND table_name <> 'alembic_version'"
                )
            )
        ).all()
        tenanted = {
            t
            for (t,) in await conn.execute(
                text(
                    "SELECT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
                )
            )
        }
        for table, column, data_type in columns:
            as_text = (
                f"encode({column}, 'escape')" if data_type == "bytea" else f"CAST({column} AS text)"
            )
            owner = (
                "tenant_id"
                if table in tenanted
                else "headers->>'tenant_id'"
                if table == "outbox_message"
                else "''"
            )
            scope = f"{owner} = :tenant" if tenant else f"{owner} IS DISTINCT FROM '{OTHER}'"
            for needle in needles:
                hit = await conn.scalar(
                    text(
                        f'SELECT count(*) FROM "{table}" '
                        f"WHERE strpos(lower({as_text}), :n) > 0 AND {scope}"
                    ),
                    {"n": needle.lower(), "tenant": tenant},
                )
                if hit:
                    found.append((table, column, needle))
    return found


@dataclass
class Apps:
    intake: Intake
    intake_engine: AsyncEngine
    crm: httpx.AsyncClient
    crm_engine: AsyncEngine
    events: Events
    staff: Callable[..., dict[str, str]]


@asynccontextmanager
async def running(
    database_url: str, common: CommonSettings, topology: Topology, amqp_url: str
) -> AsyncIterator[Apps]:
    crm_db = make_url(database_url).set(database=make_url(database_url).database + "_crm")
    crm_url = crm_db.render_as_string(hide_password=False)
    connection, events = await probe(amqp_url, topology)
    intake_app = create_intake(intake_settings(database_url, common), topology=topology)
    crm_app = create_crm(crm_settings(crm_url, common), topology=topology)
    try:
        async with (
            LifespanManager(crm_app, startup_timeout=60) as crm_m,
            LifespanManager(intake_app, startup_timeout=60) as intake_m,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=intake_m.app), base_url="http://intake"
            ) as intake_client,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=crm_m.app), base_url="http://crm"
            ) as crm_client,
        ):

            def staff(role: str, tenant: str = "acme", **kw: Any) -> dict[str, str]:
                token = issue_token(common, subject="ana", role=role, tenant=tenant, **kw)  # type: ignore[arg-type]
                return {"Authorization": f"Bearer {token}"}

            yield Apps(
                Intake(intake_app, intake_client, common, events),
                intake_app.state.engine,
                crm_client,
                crm_app.state.runtime.engine,
                events,
                staff,
            )
    finally:
        await connection.close()
        await drop_database(crm_url)


async def until(check: Callable[[], Any], within: float = 20.0) -> Any:
    async with asyncio.timeout(within):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.1)


async def test_erasing_a_person_leaves_no_copy_in_intake_or_crm_queue(
    database_url: str, common_settings: CommonSettings, topology: Topology, amqp_url: str
) -> None:
    async with running(database_url, common_settings, topology, amqp_url) as apps:
        intake = apps.intake
        source = await intake.source("acme")
        other_source = await intake.source(OTHER)
        key = source["api_key"]
        staff = apps.staff

        # Zoe's lead, a repeat of hers through her phone typed otherwise, a payload naming her
        # that intake could not read, and Ben's lead; another dealer group's Zoe.
        # Her second number does not parse: kept as a warning with the text as typed.
        r = await intake.post(
            key,
            ZOE | {"comments": "Zoltana wants a test drive", "other_phones": ["Quixwell 0177"]},
        )
        assert r.status_code == 202, r.text
        zoe_lead = r.json()["lead_id"]
        r = await intake.post(
            key,
            {"phone": "519-555-0177", "comments": "Quixwell again"},
            **{"Idempotency-Key": "k-5195550177"},
        )
        assert r.json()["outcome"] == "merged", r.text
        r = await intake.client.post(
            "/v1/leads",
            content=b'{"email": "Zoltana.Quixwell@Example.com", "phone": ',
            headers={"X-Api-Key": key, "Content-Type": "application/json"},
        )
        assert r.status_code in (400, 422), r.text
        r = await intake.post(key, BEN)
        ben_lead = r.json()["lead_id"]
        r = await intake.post(other_source["api_key"], ZOE)
        other_lead = r.json()["lead_id"]

        # crm-queue opens both tasks; an agent calls Zoe, notes it, and she asks never to be
        # called again (a do-not-contact entry by her email and phone, a lead.lost with her).
        agent = staff("agent", dealerships=[source["dealership_id"]])

        async def task_of(lead: str) -> Any:
            r = await apps.crm.get(f"/v1/leads/{lead}", headers=agent)
            return r.status_code == 200 and r.json()

        await until(lambda: task_of(zoe_lead))
        await until(lambda: task_of(ben_lead))
        base = f"/v1/leads/{zoe_lead}"
        assert (await apps.crm.post(f"{base}/claim", headers=agent)).is_success
        r = await apps.crm.post(
            f"{base}/attempts",
            headers=agent,
            json={"channel": "call", "outcome": "reached", "note": "Zoltana Quixwell: no calls"},
        )
        assert r.status_code == 201, r.text
        r = await apps.crm.post(
            f"{base}/lose",
            headers=agent,
            json={"reason_code": "no_interest.do_not_contact", "note": "Quixwell said no"},
        )
        assert r.status_code == 200, r.text
        await apps.events.wait_for("lead.lost", lead_id=zoe_lead, within=20)
        before = await grep(apps.crm_engine, ZOE_NEEDLES)
        assert {t for t, _, _ in before} >= {"task", "attempt", "do_not_contact"}, before

        # The erasure, typed unlike any lead: an email in other case, the phone in E.164.
        erase = {"email": "zoltana.quixwell@EXAMPLE.com", "phone": "+1 519 555 0177"}
        r = await intake.client.post("/v1/admin/persons/erase", json=erase, headers=staff("admin"))
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["lead_ids"] == [zoe_lead]
        assert done["counts"]["leads"] == 1
        assert done["counts"]["submissions"] == 2
        assert done["counts"]["raw_payloads"] == 3  # two leads' payloads and the unreadable one
        [erased] = await apps.events.wait_for("person.erased", within=20)
        assert erased["payload"]["lead_ids"] == [zoe_lead]
        assert set(erased["payload"]["contact_hashes"]) == {
            contact_hash("email", "zoltana.quixwell@example.com"),
            contact_hash("phone", "+15195550177"),
        }

        async def crm_scrubbed() -> bool:
            async with apps.crm_engine.connect() as conn:
                person = await conn.scalar(
                    text("SELECT person FROM task WHERE lead_id = :id"), {"id": zoe_lead}
                )
            return person == {}

        await until(crm_scrubbed)
        await apps.events.settle()  # intake's and crm-queue's relays are done publishing

        assert await grep(apps.intake_engine, ZOE_NEEDLES) == []
        assert await grep(apps.crm_engine, ZOE_NEEDLES) == []
        # The other dealer group's Zoe keeps everything, in both databases.
        async with apps.intake_engine.connect() as conn:
            email = await conn.scalar(
                text("SELECT email FROM lead WHERE id = :id"), {"id": other_lead}
            )
        assert email == "Zoltana.Quixwell@example.com"
        assert {t for t, _, _ in await grep(apps.intake_engine, ZOE_NEEDLES, tenant=OTHER)} >= {
            "lead",
            "raw_payload",
        }
        assert {t for t, _, _ in await grep(apps.crm_engine, ZOE_NEEDLES, tenant=OTHER)} >= {"task"}
        # Ben keeps everything, in both databases.
        assert {n for _, _, n in await grep(apps.intake_engine, BEN_NEEDLES)} == set(BEN_NEEDLES)
        assert {t for t, _, _ in await grep(apps.crm_engine, BEN_NEEDLES)} >= {"task"}
        ben = await task_of(ben_lead)
        assert ben["person"]["email"] == BEN["email"]
        # The erased task is out of the queue for good, its numbers kept.
        zoe = await task_of(zoe_lead)
        assert zoe["state"] == "lost" and zoe["person"] == {}

        # Again: nothing left to erase, still a success.
        r = await intake.client.post("/v1/admin/persons/erase", json=erase, headers=staff("admin"))
        assert r.status_code == 200, r.text
        assert r.json()["lead_ids"] == [] and set(r.json()["counts"].values()) == {0}

        # She comes back later on her own: a new lead, a new consent.
        r = await intake.post(key, ZOE)
        assert r.json()["outcome"] == "ingested" and r.json()["lead_id"] != zoe_lead


async def test_erasure_needs_an_admin_and_a_usable_contact(
    database_url: str, common_settings: CommonSettings, topology: Topology, amqp_url: str
) -> None:
    async with running(database_url, common_settings, topology, amqp_url) as apps:
        client = apps.intake.client
        body = {"email": "someone@example.com"}
        r = await client.post("/v1/admin/persons/erase", json=body)
        assert r.status_code == 401
        r = await client.post("/v1/admin/persons/erase", json=body, headers=apps.staff("agent"))
        assert r.status_code == 403
        for bad, field in (
            ({}, None),
            ({"email": "nobody"}, "email"),
            ({"phone": "555"}, "phone"),
            ({"email": "a\x00b@example.com"}, "email"),
        ):
            r = await client.post("/v1/admin/persons/erase", json=bad, headers=apps.staff("admin"))
            assert r.status_code == 422, (bad, r.text)
            if field:
                assert any(field in d["loc"] for d in r.json()["detail"]), r.text
