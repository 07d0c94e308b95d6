"""Consultants work their prospects (activities, win, lose, claim what is up for grabs);
managers see every open prospect with its next follow-up, the unassigned queue, and reassign."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, status

from assignment.domain.prospect import LossDetails
from assignment.entrypoints.http.deps import ConsultantOnly, Manager, Now, Staff, Uow
from assignment.entrypoints.http.errors import (
    INVALID_REQUEST,
    NO_PROSPECT,
    RULE_OR_INVALID,
    STATE,
    WITH_BODY,
    not_found,
    refused,
)
from assignment.entrypoints.http.schemas import (
    ActivityIn,
    ConsultantId,
    LoseIn,
    ProspectOut,
    ReassignIn,
    WinIn,
)
from assignment.service_layer import handlers
from shared.http import STAFF_AUTH

router = APIRouter(prefix="/v1/prospects", tags=["prospects"], responses=STAFF_AUTH)

StateIn = Literal["unassigned", "up_for_grabs", "open", "won", "lost"]


def prospect_out(row: Any, activities: list[Any] | None = None) -> dict[str, Any]:
    data = dict(row._mapping)
    data["activities"] = [dict(a._mapping) for a in activities or []]
    return data


async def _view(unit: Uow, actor: handlers.Actor, lead_id: UUID) -> dict[str, Any]:
    async with unit:
        row = await unit.repo.row(actor.tenant_id, lead_id)
        return prospect_out(row, await unit.repo.activities(actor.tenant_id, lead_id))


async def _act(unit: Uow, actor: handlers.Actor, lead_id: UUID, coro: Any) -> Any:
    try:
        await coro
    except handlers.Refused as exc:
        return refused(exc)
    except handlers.NotFound as exc:
        raise not_found(exc) from exc
    return await _view(unit, actor, lead_id)


@router.get("/mine", response_model=list[ProspectOut], responses=INVALID_REQUEST)
async def mine(
    actor: ConsultantOnly,
    unit: Uow,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Any:
    """The caller's open prospects: hot first, then those whose person asked again
    (`enquired_at`, unanswered), then by next follow-up."""
    async with unit:
        rows = await unit.repo.prospects(
            actor.tenant_id,
            actor.dealerships,
            states=["open"],
            consultant_id=actor.subject,
            limit=limit,
            offset=offset,
        )
    return [prospect_out(r) for r in rows]


@router.get("/up-for-grabs", response_model=list[ProspectOut], responses=INVALID_REQUEST)
async def up_for_grabs(
    actor: Staff, unit: Uow, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> Any:
    """Prospects offered to a pool in the caller's dealerships: claim one to own it."""
    async with unit:
        rows = await unit.repo.prospects(
            actor.tenant_id,
            actor.dealerships,
            states=["up_for_grabs"],
            consultant_id=None,
            limit=limit,
            offset=0,
        )
    return [prospect_out(r) for r in rows]


@router.get("/unassigned", response_model=list[ProspectOut], responses=INVALID_REQUEST)
async def unassigned(
    actor: Manager, unit: Uow, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> Any:
    """The queue of prospects nobody eligible could take yet (hot first)."""
    async with unit:
        rows = await unit.repo.prospects(
            actor.tenant_id,
            actor.dealerships,
            states=["unassigned"],
            consultant_id=None,
            limit=limit,
            offset=0,
        )
    return [prospect_out(r) for r in rows]


@router.get("", response_model=list[ProspectOut], responses=INVALID_REQUEST)
async def every_prospect(
    actor: Manager,
    unit: Uow,
    state: Annotated[list[StateIn] | None, Query(max_length=5)] = None,
    consultant_id: Annotated[ConsultantId | None, Query()] = None,
    escalated: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Any:
    """Every prospect of the manager's dealerships (default: the open ones, waiting ones
    included), hot first, then those whose person asked again, then by next follow-up;
    `escalated=true`: past their SLA."""
    async with unit:
        rows = await unit.repo.prospects(
            actor.tenant_id,
            actor.dealerships,
            states=state or ["unassigned", "up_for_grabs", "open"],
            consultant_id=consultant_id,
            escalated=escalated,
            limit=limit,
            offset=offset,
        )
    return [prospect_out(r) for r in rows]


@router.get("/{lead_id}", response_model=ProspectOut, responses=NO_PROSPECT | INVALID_REQUEST)
async def one_prospect(lead_id: UUID, actor: Staff, unit: Uow) -> Any:
    async with unit:
        row = await unit.repo.row(actor.tenant_id, lead_id)
        if (
            row is None
            or not actor.sees(row.dealership_id)
            or (
                not actor.is_manager
                and row.consultant_id != actor.subject
                and row.state != "up_for_grabs"
            )
        ):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such prospect of yours")
        return prospect_out(row, await unit.repo.activities(actor.tenant_id, lead_id))


@router.post(
    "/{lead_id}/activities",
    response_model=ProspectOut,
    status_code=201,
    responses=NO_PROSPECT | STATE | INVALID_REQUEST | WITH_BODY,
)
async def log_activity(lead_id: UUID, body: ActivityIn, actor: Staff, unit: Uow, clock: Now) -> Any:
    """Appointment, test drive, quote, call, email or note; counts as acting on the prospect.
    `next_follow_up_at` plans the next step (managers see it)."""
    return await _act(
        unit,
        actor,
        lead_id,
        handlers.record_activity(
            unit,
            actor,
            lead_id,
            kind=body.kind,
            note=body.note,
            at=body.at,
            next_follow_up_at=body.next_follow_up_at,
            now=clock.now(),
        ),
    )


@router.post(
    "/{lead_id}/claim",
    response_model=ProspectOut,
    responses=NO_PROSPECT | STATE | INVALID_REQUEST,
)
async def claim(lead_id: UUID, actor: ConsultantOnly, unit: Uow, clock: Now) -> Any:
    """Take a prospect that is up for grabs (first eligible consultant of its pool wins)."""
    return await _act(unit, actor, lead_id, handlers.claim(unit, actor, lead_id, clock.now()))


@router.post(
    "/{lead_id}/reassign",
    response_model=ProspectOut,
    responses=NO_PROSPECT | STATE | RULE_OR_INVALID | WITH_BODY,
)
async def reassign(lead_id: UUID, body: ReassignIn, actor: Manager, unit: Uow, clock: Now) -> Any:
    """Give the prospect to another consultant (active, same dealership, under the cap)."""
    return await _act(
        unit,
        actor,
        lead_id,
        handlers.reassign(unit, actor, lead_id, body.consultant_id, clock.now()),
    )


@router.post(
    "/{lead_id}/win",
    response_model=ProspectOut,
    responses=NO_PROSPECT | STATE | INVALID_REQUEST | WITH_BODY,
)
async def win(lead_id: UUID, body: WinIn, actor: Staff, unit: Uow, clock: Now) -> Any:
    """A sale: the vehicle sold and its price."""
    return await _act(
        unit,
        actor,
        lead_id,
        handlers.win(
            unit,
            actor,
            lead_id,
            vehicle=body.vehicle.model_dump(mode="json", exclude_none=True),
            amount=body.price,
            currency=body.currency,
            now=clock.now(),
        ),
    )


@router.post(
    "/{lead_id}/lose",
    response_model=ProspectOut,
    responses=NO_PROSPECT | STATE | RULE_OR_INVALID | WITH_BODY,
)
async def lose(lead_id: UUID, body: LoseIn, actor: Staff, unit: Uow, clock: Now) -> Any:
    """Written off with a code from the closed list; bought-elsewhere codes name the dealer
    (and, for another brand, the brand); a postponed purchase gives its date."""
    return await _act(
        unit,
        actor,
        lead_id,
        handlers.lose(
            unit,
            actor,
            lead_id,
            reason_code=body.reason_code,
            note=body.note,
            details=LossDetails(
                body.competitor_brand, body.competitor_dealer, body.postponed_until
            ),
            now=clock.now(),
        ),
    )
