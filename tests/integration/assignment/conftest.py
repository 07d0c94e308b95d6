"""assignment running for real (migrations, broker, relay, timers) with a clock tests move."""

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

from assignment.config import AssignmentSettings
from assignment.entrypoints.http.app import create_app
from shared.contracts import (
    EnquiryV1,
    LeadQualifiedV1,
    LeadReactivatedV1,
    LostReasonCode,
    PersonErasedV1,
    PersonV1,
    QualifyingOutcome,
    VehicleV1,
    new_envelope,
)
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.running import RunningService, service_starter

# A Monday, 10:00 UTC.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def qualified(
    tenant: str = "acme",
    dealership: str = "d1",
    *,
    lead_id: uuid.UUID | None = None,
    email: str | None = None,
    make: str | None = "Volvo",
    condition: str | None = "new",
    source_id: str = "s1",
    campaign: str | None = None,
    hot: bool = False,
    language: str | None = None,
    qualified_at: datetime = T0,
) -> Any:
    payload = LeadQualifiedV1(
        sequence=5,
        outcome=QualifyingOutcome.APPOINTMENT_TEST_DRIVE,
        agent_id="agent-1",
        attempts=1,
        qualified_at=qualified_at,
        hot=hot,
        person=PersonV1(
            first_name="Ann",
            last_name="Roe",
            email=email or f"{uuid.uuid4().hex[:8]}@example.com",
        ),
        enquiries=(
            EnquiryV1(
                received_at=qualified_at - timedelta(hours=1),
                source_id=source_id,
                source_kind="website",
                source_name="Own site",
                campaign=campaign,
                vehicle=VehicleV1(make=make, model="XC60", condition=condition),  # type: ignore[arg-type]
                comments="call me after 5",
            ),
        ),
        language=language,
    )
    return new_envelope(
        payload, tenant_id=tenant, dealership_id=dealership, lead_id=lead_id or uuid.uuid4()
    )


def reactivated(of: Any, at: datetime) -> Any:
    payload = LeadReactivatedV1(
        sequence=3,
        recovery_id=uuid.uuid4(),
        origin="prospect",
        previous_reason_code=LostReasonCode.PROSPECT_PRICE,
        reactivated_at=at,
    )
    return new_envelope(
        payload, tenant_id=of.tenant_id, dealership_id=of.dealership_id, lead_id=of.lead_id
    )


def erased(tenant: str, *lead_ids: uuid.UUID, at: datetime = T0) -> Any:
    payload = PersonErasedV1(
        erasure_id=uuid.uuid4(), lead_ids=lead_ids, requested_at=at, erased_at=at
    )
    return new_envelope(payload, tenant_id=tenant)


@dataclass
class Assignment(RunningService):
    default_role: ClassVar[str] = "manager"
    default_sub: ClassVar[str] = "boss"

    def consultant(self, sub: str, tenant: str = "acme", dealership: str = "d1") -> dict[str, str]:
        return self.staff("consultant", tenant, sub, (dealership,))

    async def add_consultant(
        self,
        consultant_id: str,
        dealership: str = "d1",
        *,
        tenant: str = "acme",
        clock_in: bool = True,
        **profile: Any,
    ) -> dict[str, Any]:
        body = {"consultant_id": consultant_id, "dealership_id": dealership, "name": consultant_id}
        r = await self.client.post(
            "/v1/consultants",
            json=body | profile,
            headers=self.staff(tenant=tenant, dealerships=(dealership,)),
        )
        assert r.status_code == 201, r.text
        if clock_in:
            r = await self.client.post(
                f"/v1/consultants/{consultant_id}/clock-in",
                headers=self.consultant(consultant_id, tenant, dealership),
            )
            assert r.status_code == 200, r.text
        return dict(r.json())

    async def prospect(
        self,
        lead_id: Any,
        *,
        tenant: str = "acme",
        dealership: str = "d1",
        until: Callable[[dict[str, Any]], bool] = lambda p: True,
        within: float = 15.0,
    ) -> dict[str, Any]:
        """The prospect once the consumer has made it (and `until` holds)."""
        headers = self.staff(tenant=tenant, dealerships=(dealership,))
        async with asyncio.timeout(within):
            while True:
                r = await self.client.get(f"/v1/prospects/{lead_id}", headers=headers)
                if r.status_code == 200 and until(r.json()):
                    return dict(r.json())
                await asyncio.sleep(0.05)

    async def act(
        self, lead_id: Any, action: str, body: Any = None, *, headers: dict[str, str]
    ) -> httpx.Response:
        url = f"/v1/prospects/{lead_id}/{action}"
        return await self.client.post(url, json=body, headers=headers)

    async def move(self, delta: timedelta) -> int:
        """Move the clock and fire whatever timers fell due."""
        self.clock.advance(delta)
        fired: int = await self.app.state.timers.fire_due()
        return fired


def assignment_settings(database_url: str, common: CommonSettings, **kw: Any) -> AssignmentSettings:
    return AssignmentSettings(database_url=database_url, common=common, **kw)


@pytest.fixture
def running_assignment(
    database_url: str, common_settings: CommonSettings, topology: Topology, amqp_url: str
) -> Callable[..., AbstractAsyncContextManager[Assignment]]:
    return service_starter(
        Assignment,
        create_app,
        assignment_settings,
        database_url=database_url,
        common_settings=common_settings,
        topology=topology,
        amqp_url=amqp_url,
        start_at=T0,
        base_url="http://assign",
    )


@pytest.fixture
async def svc(
    running_assignment: Callable[..., AbstractAsyncContextManager[Assignment]],
) -> AsyncIterator[Assignment]:
    # Timers are fired by the tests (Assignment.move), not by a background loop.
    async with running_assignment(run_timers=False) as running:
        yield running
