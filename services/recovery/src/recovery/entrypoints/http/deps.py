"""Who is calling, and the service's pieces, for recovery's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from recovery.service_layer.handlers import Actor
from recovery.service_layer.unit_of_work import RecoveryUnitOfWork
from shared.auth import StaffClaims
from shared.auth.http import require_staff
from shared.clock import Clock


def actor_of(claims: StaffClaims) -> Actor:
    everywhere = claims.role == "admin" and not claims.dealerships
    return Actor(
        tenant_id=claims.tenant,
        subject=claims.sub,
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


async def uow(request: Request) -> RecoveryUnitOfWork:
    unit: RecoveryUnitOfWork = request.app.state.uow_factory()
    return unit


async def clock(request: Request) -> Clock:
    c: Clock = request.app.state.clock
    return c


Uow = Annotated[RecoveryUnitOfWork, Depends(uow)]
Now = Annotated[Clock, Depends(clock)]
