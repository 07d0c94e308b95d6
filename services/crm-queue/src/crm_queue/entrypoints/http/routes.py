"""Agents work the queue; managers see every open lead and set each dealership's policy."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse

from crm_queue.domain.default_hours import DefaultHours
from crm_queue.domain.policy import Policy
from crm_queue.domain.task import Refused, Task
from crm_queue.entrypoints.http.deps import Agent, Manager, Now, Uow
from crm_queue.entrypoints.http.schemas import (
    AttemptIn,
    DefaultHoursIO,
    LoseIn,
    PolicyIO,
    QualifyIn,
    Refusal,
    TaskOut,
)
from crm_queue.service_layer import handlers
from shared.http import (
    INVALID_REQUEST,
    STAFF_AUTH,
    UNREADABLE_BODY,
    ErrorOut,
    InvalidRequestOut,
    answer,
    inline_schema,
    missing,
)

router = APIRouter(prefix="/v1", tags=["crm"], responses=STAFF_AUTH)

_NO_LEAD = missing("no such lead in your dealerships")
_REFUSALS: dict[int | str, dict[str, Any]] = _NO_LEAD | {
    409: answer(Refusal, "the lead is leased to someone else, or closed (the rule is named)"),
    422: answer(
        Refusal | InvalidRequestOut,
        "a rule refused it (`refused`, the rule named); or the body or a parameter does not "
        "fit the route (FastAPI's validation body)",
    ),
}
_WITH_BODY = _REFUSALS | UNREADABLE_BODY
_NO_DEALERSHIP = missing("not a dealership of your dealer group that crm-queue has seen a lead of")
_POLICY: dict[int | str, dict[str, Any]] = {
    200: answer(PolicyIO, "the dealership's policy, every field filled in")
}


def refused(exc: Refused) -> JSONResponse:
    code = 409 if exc.rule.startswith(("lease.", "task.")) else 422
    return JSONResponse(Refusal(rule=exc.rule, message=exc.message).model_dump(), code)


def not_found(exc: handlers.NotFound) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))


def task_out(
    row: Any, attempts: list[Any] | None = None, enquiries: list[Any] | None = None
) -> dict[str, Any]:
    data = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    if attempts is not None:
        data["attempts"] = [dict(a._mapping) for a in attempts]
        data["attempts_made"] = len(attempts)
    if enquiries is not None:
        data["enquiry_list"] = [dict(e._mapping) for e in enquiries]
    return data


async def _view(unit: Uow, tenant_id: str, lead_id: UUID) -> dict[str, Any]:
    async with unit:
        row = await unit.repo.row(tenant_id, lead_id)
        return task_out(
            row,
            await unit.repo.attempts_of(tenant_id, lead_id),
            await unit.repo.enquiries_for_view(tenant_id, lead_id),
        )


async def _act(unit: Uow, actor: Any, lead_id: UUID, coro: Any) -> Any:
    try:
        task: Task = await coro
    except Refused as exc:
        return refused(exc)
    except handlers.NotFound as exc:
        raise not_found(exc) from exc
    return await _view(unit, actor.tenant_id, task.lead_id)


@router.get("/queue", response_model=list[TaskOut], responses=INVALID_REQUEST)
async def next_tasks(
    actor: Agent,
    unit: Uow,
    clock: Now,
    limit: Annotated[int, Query(ge=1, le=200, description="how many tasks, at most")] = 20,
) -> Any:
    """The agent's next tasks, most urgent first (first contacts by SLA due, follow-ups by
    their next attempt, then the freshest enquiry), `limit` of them (20 unless asked). Leased
    tasks of others are left out."""
    async with unit:
        rows = await unit.repo.queue(
            actor.tenant_id, actor.dealerships, actor.agent_id, clock.now(), limit
        )
    return [task_out(r) for r in rows]


@router.post("/leads/{lead_id}/claim", response_model=TaskOut, responses=_REFUSALS)
async def claim(lead_id: UUID, actor: Agent, unit: Uow, clock: Now) -> Any:
    """Lease the lead to the caller so no one else calls it meanwhile (renewed by claiming
    again)."""
    return await _act(unit, actor, lead_id, handlers.claim(unit, actor, lead_id, clock.now()))


@router.post("/leads/{lead_id}/release", response_model=TaskOut, responses=_REFUSALS)
async def release(lead_id: UUID, actor: Agent, unit: Uow, clock: Now) -> Any:
    return await _act(unit, actor, lead_id, handlers.release(unit, actor, lead_id, clock.now()))


@router.post(
    "/leads/{lead_id}/attempts", response_model=TaskOut, status_code=201, responses=_WITH_BODY
)
async def record_attempt(
    lead_id: UUID, body: AttemptIn, actor: Agent, unit: Uow, clock: Now
) -> Any:
    async def run() -> Task:
        task, _ = await handlers.record_attempt(
            unit,
            actor,
            lead_id,
            channel=body.channel,
            outcome=body.outcome,
            note=body.note,
            now=clock.now(),
            automatic=body.automatic,
        )
        return task

    return await _act(unit, actor, lead_id, run())


@router.post("/leads/{lead_id}/qualify", response_model=TaskOut, responses=_WITH_BODY)
async def qualify(lead_id: UUID, body: QualifyIn, actor: Agent, unit: Uow, clock: Now) -> Any:
    return await _act(
        unit,
        actor,
        lead_id,
        handlers.qualify(
            unit,
            actor,
            lead_id,
            outcome=body.outcome,
            details=body.details,
            appointment_at=body.appointment_at,
            now=clock.now(),
            hot=body.hot,
        ),
    )


@router.post("/leads/{lead_id}/lose", response_model=TaskOut, responses=_WITH_BODY)
async def lose(lead_id: UUID, body: LoseIn, actor: Agent, unit: Uow, clock: Now) -> Any:
    return await _act(
        unit,
        actor,
        lead_id,
        handlers.lose(
            unit, actor, lead_id, reason_code=body.reason_code, note=body.note, now=clock.now()
        ),
    )


# Filters are ids and names: no control characters (PostgreSQL refuses NUL in text: a 500).
FILTER_TEXT = r"^[^\x00-\x1f\x7f]*$"


@router.get("/leads", response_model=list[TaskOut], responses=INVALID_REQUEST)
async def manager_view(
    actor: Manager,
    unit: Uow,
    clock: Now,
    state: Annotated[
        str | None, Query(pattern="^(open|pool|qualified|lost|do_not_contact)$")
    ] = None,
    agent: Annotated[str | None, Query(max_length=200, pattern=FILTER_TEXT)] = None,
    source: Annotated[str | None, Query(max_length=200, pattern=FILTER_TEXT)] = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    # Capped below PostgreSQL's bigint: a larger OFFSET is an error there, not an empty page.
    offset: Annotated[int, Query(ge=0, le=10**9, description="leads to skip (paging)")] = 0,
) -> Any:
    """Every lead of the manager's dealerships: open ones, pending follow-ups, overdue ones,
    and the leads of people who must not be contacted (`state=do_not_contact`)."""
    async with unit:
        rows = await unit.repo.leads(
            actor.tenant_id,
            actor.dealerships,
            now=clock.now(),
            state=state,
            agent=agent,
            source=source,
            overdue=overdue,
            limit=limit,
            offset=offset,
        )
    return [task_out(r) for r in rows]


@router.get("/leads/{lead_id}", response_model=TaskOut, responses=_NO_LEAD | INVALID_REQUEST)
async def one_lead(lead_id: UUID, actor: Agent, unit: Uow) -> Any:
    async with unit:
        row = await unit.repo.row(actor.tenant_id, lead_id)
        if row is None or (
            actor.dealerships is not None and row.dealership_id not in actor.dealerships
        ):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such lead in your dealerships")
        return task_out(
            row,
            await unit.repo.attempts_of(actor.tenant_id, lead_id),
            await unit.repo.enquiries_for_view(actor.tenant_id, lead_id),
        )


# Dealership ids are intake's (UUIDs today); the cap and character set keep a path parameter
# from becoming a 5,000-character key.
DealershipId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="a dealership of the caller's dealer group, as named in its lead events",
    ),
]


async def _known_dealership(unit: Uow, actor: Any, dealership_id: str) -> None:
    """404 unless the dealership is the caller's and crm-queue has seen a lead of it.

    crm-queue never reads intake's database: it knows a dealer group's dealerships from the
    lead events it consumed. Unknown ids are refused instead of creating rows for them.
    """
    if (
        actor.dealerships is not None and dealership_id not in actor.dealerships
    ) or not await unit.repo.knows_dealership(actor.tenant_id, dealership_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not one of your dealerships")


@router.get(
    "/dealerships/{dealership_id}/policy",
    responses=_POLICY | _NO_DEALERSHIP | INVALID_REQUEST,
)
async def get_policy(dealership_id: DealershipId, actor: Manager, unit: Uow) -> Any:
    async with unit:
        await _known_dealership(unit, actor, dealership_id)
        return (await unit.repo.policy(actor.tenant_id, dealership_id)).to_json()


@router.put(
    "/dealerships/{dealership_id}/policy",
    responses=_POLICY
    | _NO_DEALERSHIP
    | UNREADABLE_BODY
    | {
        422: answer(
            ErrorOut | InvalidRequestOut,
            "the policy is refused, the field and reason in `detail`; or the body is not a JSON "
            "object (FastAPI's validation body)",
        )
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(PolicyIO)}},
        }
    },
)
async def put_policy(
    dealership_id: DealershipId, body: dict[str, Any], actor: Manager, unit: Uow
) -> Any:
    """Opening hours and time zone, SLA, minimum attempts/days/channels, retry rounds."""
    async with unit:
        await _known_dealership(unit, actor, dealership_id)
        try:
            policy = Policy.from_json(body)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        await unit.repo.put_policy(actor.tenant_id, dealership_id, policy)
        await unit.commit()
    return policy.to_json()


_TENANT_WIDE = {
    403: answer(ErrorOut, "only an admin of the whole dealer group changes its default hours")
}
_DEFAULT_HOURS: dict[int | str, dict[str, Any]] = {
    200: answer(DefaultHoursIO, "the dealer group's default hours")
}


@router.get("/default-hours", responses=_DEFAULT_HOURS)
async def get_default_hours(actor: Manager, unit: Uow) -> Any:
    """The opening hours every dealership of the group starts from, in its own time zone
    (Monday to Friday 09:00-19:00, Saturday 09:00-17:00 until changed). A dealership's own
    policy wins over them."""
    async with unit:
        return (await unit.repo.default_hours(actor.tenant_id)).to_json()


@router.put(
    "/default-hours",
    responses=_DEFAULT_HOURS
    | _TENANT_WIDE
    | UNREADABLE_BODY
    | {
        422: answer(
            ErrorOut | InvalidRequestOut,
            "the hours are refused, the field and reason in `detail`; or the body is not a JSON "
            "object (FastAPI's validation body)",
        )
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(DefaultHoursIO)}},
        }
    },
)
async def put_default_hours(body: dict[str, Any], actor: Manager, unit: Uow) -> Any:
    """(Admin of the whole group.) Change the group's default opening hours: the SLA and
    follow-ups of every dealership without a policy of its own count them from the next lead
    on."""
    if actor.dealerships is not None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "default hours are set by an admin of the whole dealer group"
        )
    try:
        hours = DefaultHours.from_json(body)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    async with unit:
        await unit.repo.put_default_hours(actor.tenant_id, hours)
        await unit.commit()
    return hours.to_json()
