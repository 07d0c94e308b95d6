"""Who is calling, and the service's pieces, for crm-queue's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm_queue.service_layer.handlers import Actor
from crm_queue.service_layer.unit_of_work import CrmUnitOfWork
from shared.auth import StaffClaims
from shared.auth.http import require_staff
from shared.clock import Clock


def actor_of(claims: StaffClaims) -> Actor:
    everywhere = claims.role == "admin" and not claims.dealerships
    return Actor(
        tenant_id=claims.tenant,
        agent_id=claims.sub,
        dealerships=None if everywhere else claims.dealerships,
        is_manager=claims.role in ("manager", "admin"),
    )


async def _agent(
    claims: Annotated[StaffClaims, Depends(require_staff("agent", "manager", "admin"))],
) -> Actor:
    return actor_of(claims)


async def _manager(
    claims: Annotated[StaffClaims, Depends(require_staff("manager", "admin"))],
) -> Actor:
    return actor_of(claims)


Agent = Annotated[Actor, Depends(_agent)]
Manager = Annotated[Actor, Depends(_manager)]


async def uow(request: Request) -> CrmUnitOfWork:
    unit: CrmUnitOfWork = request.app.state.uow_factory()
    return unit


async def clock(request: Request) -> Clock:
    c: Clock = request.app.state.clock
    return c


Uow = Annotated[CrmUnitOfWork, Depends(uow)]
Now = Annotated[Clock, Depends(clock)]
