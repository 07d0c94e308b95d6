"""crm-queue running for real (migrations, broker, relay, timers) with a clock tests move."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import text

from crm_queue.config import CrmQueueSettings
from crm_queue.entrypoints.http.app import create_app
from crm_queue.service_layer import handlers
from shared.contracts import (
    ConsentV1,
    LeadDuplicateV1,
    LeadIngestedV1,
    PersonV1,
    SourceRefV1,
    new_envelope,
)
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.running import RunningService, service_starter

# A Monday, 10:00 UTC.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def ingested(
    tenant: str = "acme",
    dealership: str = "d1",
    *,
    received_at: datetime = T0,
    email: str | None = None,
    phone: str | None = None,
    lead_id: uuid.UUID | None = None,
    correlation_id: str | None = None,
    consent: ConsentV1 | None = None,
    kind: str = "website",
) -> Any:
    payload = LeadIngestedV1(
        sequence=1,
        source=SourceRefV1(source_id="s1", kind=kind, name="Own site"),  # type: ignore[arg-type]
        received_at=received_at,
        person=PersonV1(
            first_name="Ann",
            last_name="Roe",
            email=email or f"{uuid.uuid4().hex[:8]}@example.com",
            phone=phone,
        ),
        consent=consent or ConsentV1(),
    )
    return new_envelope(
        payload,
        tenant_id=tenant,
        dealership_id=dealership,
        lead_id=lead_id or uuid.uuid4(),
        correlation_id=correlation_id,
    )


def duplicate(of: Any, received_at: datetime, correlation_id: str | None = None) -> Any:
    payload = LeadDuplicateV1(
        sequence=2,
        enquiry_id=uuid.uuid4(),
        source=SourceRefV1(source_id="s2", kind="marketplace", name="Cars"),
        matched_on=["email"],
        received_at=received_at,
    )
    return new_envelope(
        payload,
        tenant_id=of.tenant_id,
        dealership_id=of.dealership_id,
        lead_id=of.lead_id,
        correlation_id=correlation_id,  # intake: the repeat's own request, not the lead's chain
    )


@dataclass
class Crm(RunningService):
    default_role: ClassVar[str] = "agent"
    default_sub: ClassVar[str] = "agent-1"

    async def task(self, lead_id: Any, within: float = 15.0, **headers: str) -> dict[str, Any]:
        """The task once the consumer has created it."""
        async with asyncio.timeout(within):
            while True:
                r = await self.client.get(
                    f"/v1/leads/{lead_id}", headers=headers or self.staff("manager")
                )
                if r.status_code == 200:
                    return dict(r.json())
                await asyncio.sleep(0.05)

    async def act(self, lead_id: Any, action: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.post(
            f"/v1/leads/{lead_id}/{action}", json=body, headers=self.staff(**kw)
        )

    async def row(self, lead_id: Any) -> dict[str, Any] | None:
        """The task's row as stored (every column), or None."""
        async with self.app.state.runtime.engine.connect() as conn:
            found = (
                await conn.execute(text("SELECT * FROM task WHERE lead_id = :id"), {"id": lead_id})
            ).first()
        return dict(found._mapping) if found is not None else None

    async def row_when(
        self, lead_id: Any, done: Callable[[dict[str, Any]], bool], within: float = 15.0
    ) -> dict[str, Any]:
        """The task's row once `done(row)` holds (the consumers work asynchronously)."""
        async with asyncio.timeout(within):
            while True:
                found = await self.row(lead_id)
                if found is not None and done(found):
                    return found
                await asyncio.sleep(0.05)

    async def timers_of(self, lead_id: Any) -> list[dict[str, Any]]:
        """The lead's durable timers (kind, due_at, fired_at, payload), by kind."""
        async with self.app.state.runtime.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT kind, due_at, fired_at, payload FROM timer WHERE key = :key "
                    "ORDER BY kind"
                ),
                {"key": str(lead_id)},
            )
        return [dict(r._mapping) for r in rows]

    async def move(self, delta: timedelta) -> int:
        """Move the clock and fire whatever timers fell due."""
        self.clock.advance(delta)
        fired: int = await self.app.state.timers.fire_due()
        return fired


@dataclass
class Handled:
    """Event ids whose consumer handler has finished, in order (a redelivery appears twice)."""

    done: list[uuid.UUID]

    async def wait(self, event_id: uuid.UUID, times: int = 1, within: float = 15.0) -> None:
        async with asyncio.timeout(within):
            while self.done.count(event_id) < times:
                await asyncio.sleep(0.02)


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> Handled:
    """Tells when the real lead.ingested/lead.duplicate handler is done with an event: a
    redelivery that changes nothing leaves nothing else to wait for."""
    record = Handled([])
    real = handlers.on_lead_events

    async def spy(uow: Any, envelopes: Any, now: datetime) -> None:
        try:
            await real(uow, envelopes, now)
        finally:
            record.done.extend(e.event_id for e in envelopes)

    monkeypatch.setattr(handlers, "on_lead_events", spy)
    return record


def crm_settings(database_url: str, common: CommonSettings, **kw: Any) -> CrmQueueSettings:
    return CrmQueueSettings(database_url=database_url, common=common, **kw)


@pytest.fixture
def running_crm(
    database_url: str, common_settings: CommonSettings, topology: Topology, amqp_url: str
) -> Callable[..., AbstractAsyncContextManager[Crm]]:
    return service_starter(
        Crm,
        create_app,
        crm_settings,
        database_url=database_url,
        common_settings=common_settings,
        topology=topology,
        amqp_url=amqp_url,
        start_at=T0,
        base_url="http://crm",
    )


@pytest.fixture
async def crm(running_crm: Callable[..., AbstractAsyncContextManager[Crm]]) -> AsyncIterator[Crm]:
    # Timers are fired by the tests (Crm.move), not by a background loop on the frozen clock.
    async with running_crm(run_timers=False) as running:
        yield running
