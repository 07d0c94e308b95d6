"""recovery running for real (migrations, broker, relay, scanner) with a clock tests move."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest

from recovery.config import RecoverySettings
from recovery.entrypoints.http.app import create_app
from shared.contracts import (
    ConsentV1,
    EnquiryV1,
    LeadDuplicateV1,
    LeadIngestedV1,
    LeadLostV1,
    LostReasonCode,
    PersonErasedV1,
    PersonV1,
    ProspectLostV1,
    SourceRefV1,
    VehicleV1,
    category_of,
    new_envelope,
)
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.running import RunningService, service_starter

# A Monday, 10:00 UTC.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def person(email: str | None = None, phone: str | None = "+4915112345678") -> PersonV1:
    return PersonV1(
        first_name="Ann",
        last_name="Roe",
        email=email if email is not None else f"{uuid.uuid4().hex[:8]}@example.com",
        phone=phone,
    )


ENQUIRY = EnquiryV1(
    received_at=T0 - 10 * DAY,
    source_id="s1",
    source_kind="website",
    source_name="Own site",
    vehicle=VehicleV1(make="Volvo", model="XC60", condition="new"),
    comments="call me after 5",
)


def lead_lost(
    reason: LostReasonCode = LostReasonCode.NOT_REACHED_MAX_ATTEMPTS,
    *,
    tenant: str = "acme",
    dealership: str = "d1",
    lead_id: uuid.UUID | None = None,
    who: PersonV1 | None = None,
    lost_at: datetime = T0,
    unusable: tuple[str, ...] = (),
    consent: ConsentV1 | None = None,
    do_not_contact: bool = False,
    agent_id: str | None = "agent-1",
) -> Any:
    payload = LeadLostV1(
        sequence=4,
        reason_code=reason,
        category=category_of(reason),
        agent_id=agent_id,
        attempts=6,
        lost_at=lost_at,
        do_not_contact=do_not_contact,
        person=who or person(),
        enquiries=(ENQUIRY,),
        consent=consent,
        unusable_channels=unusable,  # type: ignore[arg-type]
        reached=False,
    )
    return new_envelope(
        payload, tenant_id=tenant, dealership_id=dealership, lead_id=lead_id or uuid.uuid4()
    )


def prospect_lost(
    reason: LostReasonCode = LostReasonCode.PROSPECT_PRICE,
    *,
    tenant: str = "acme",
    dealership: str = "d1",
    lead_id: uuid.UUID | None = None,
    who: PersonV1 | None = None,
    lost_at: datetime = T0,
    postponed_until: date | None = None,
) -> Any:
    payload = ProspectLostV1(
        sequence=6,
        consultant_id="cara",
        reason_code=reason,
        category=category_of(reason),
        lost_at=lost_at,
        postponed_until=postponed_until,
        person=who or person(),
        enquiries=(ENQUIRY,),
        language="de",
        reached=True,
    )
    return new_envelope(
        payload, tenant_id=tenant, dealership_id=dealership, lead_id=lead_id or uuid.uuid4()
    )


def lead_ingested(
    who: PersonV1,
    *,
    tenant: str = "acme",
    dealership: str = "d1",
    lead_id: uuid.UUID | None = None,
    received_at: datetime = T0,
    previous_lead_id: uuid.UUID | None = None,
    consent: ConsentV1 | None = None,
) -> Any:
    payload = LeadIngestedV1(
        sequence=1,
        source=SourceRefV1(source_id="s1", kind="website", name="Own site"),
        received_at=received_at,
        person=who,
        consent=consent or ConsentV1(),
        previous_lead_id=previous_lead_id,
    )
    return new_envelope(
        payload, tenant_id=tenant, dealership_id=dealership, lead_id=lead_id or uuid.uuid4()
    )


def lead_duplicate(of: Any, received_at: datetime) -> Any:
    payload = LeadDuplicateV1(
        sequence=2,
        enquiry_id=uuid.uuid4(),
        source=SourceRefV1(source_id="s2", kind="marketplace", name="Cars"),
        matched_on=["email"],
        received_at=received_at,
    )
    return new_envelope(
        payload, tenant_id=of.tenant_id, dealership_id=of.dealership_id, lead_id=of.lead_id
    )


def person_erased(tenant: str, *lead_ids: uuid.UUID, at: datetime = T0) -> Any:
    payload = PersonErasedV1(
        erasure_id=uuid.uuid4(), lead_ids=lead_ids, requested_at=at, erased_at=at
    )
    return new_envelope(payload, tenant_id=tenant)


@dataclass
class Recovery(RunningService):
    default_role: ClassVar[str] = "agent"
    default_sub: ClassVar[str] = "ana"

    def manager(self, tenant: str = "acme") -> dict[str, str]:
        return self.staff("manager", tenant, "mia")

    async def runs(
        self,
        lead_id: Any,
        *,
        tenant: str = "acme",
        until: Callable[[list[dict[str, Any]]], bool] = bool,
        within: float = 15.0,
    ) -> list[dict[str, Any]]:
        """The lead's runs (every state) once the consumers made them and `until` holds."""
        headers = self.manager(tenant)
        url = f"/v1/recovery?lead_id={lead_id}&state=scheduled&state=due&state=ended"
        async with asyncio.timeout(within):
            while True:
                r = await self.client.get(url, headers=headers)
                assert r.status_code == 200, r.text
                if until(r.json()):
                    return list(r.json())
                await asyncio.sleep(0.05)

    async def run(self, lead_id: Any, **kw: Any) -> dict[str, Any]:
        [one] = await self.runs(lead_id, **kw)
        return one

    async def due(self, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        r = await self.client.get("/v1/recovery/due?limit=200", headers=headers or self.staff())
        assert r.status_code == 200, r.text
        return list(r.json())

    async def act(
        self, recovery_id: Any, action: str, body: Any = None, *, headers: dict[str, str]
    ) -> httpx.Response:
        url = f"/v1/recovery/{recovery_id}/{action}"
        return await self.client.post(url, json=body, headers=headers)

    async def move(self, delta: timedelta) -> int:
        """Move the clock and fire whatever fell due."""
        self.clock.advance(delta)
        fired: int = await self.app.state.scanner.fire_due()
        return fired

    async def move_to(self, moment: datetime) -> int:
        return await self.move(moment - self.clock.now())


def recovery_settings(database_url: str, common: CommonSettings, **kw: Any) -> RecoverySettings:
    return RecoverySettings(database_url=database_url, common=common, **kw)


@pytest.fixture
def running_recovery(
    database_url: str, common_settings: CommonSettings, topology: Topology, amqp_url: str
) -> Callable[..., AbstractAsyncContextManager[Recovery]]:
    return service_starter(
        Recovery,
        create_app,
        recovery_settings,
        database_url=database_url,
        common_settings=common_settings,
        topology=topology,
        amqp_url=amqp_url,
        start_at=T0,
        base_url="http://rec",
    )


@pytest.fixture
async def svc(
    running_recovery: Callable[..., AbstractAsyncContextManager[Recovery]],
) -> AsyncIterator[Recovery]:
    # The scanner is run by the tests (Recovery.move), not by a background loop.
    async with running_recovery(run_scanner=False) as running:
        yield running
