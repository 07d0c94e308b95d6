"""Who is calling, and the service's pieces, for recovery's routes (shared building blocks:
`shared.auth.http.staff_actor`, `shared.http.app_unit_of_work`, `shared.http.app_clock`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from recovery.service_layer.handlers import Actor
from recovery.service_layer.unit_of_work import RecoveryUnitOfWork
from shared.auth import StaffClaims
from shared.auth.http import staff_actor, staff_scope
from shared.clock import Clock
from shared.http import app_clock, app_unit_of_work


def actor_of(claims: StaffClaims) -> Actor:
    tenant, dealerships, is_manager = staff_scope(claims)
    return Actor(tenant, claims.sub, dealerships, is_manager)


Agent = Annotated[Actor, Depends(staff_actor(actor_of, "agent", "manager", "admin"))]
Manager = Annotated[Actor, Depends(staff_actor(actor_of, "manager", "admin"))]
Uow = Annotated[RecoveryUnitOfWork, Depends(app_unit_of_work)]
Now = Annotated[Clock, Depends(app_clock)]
