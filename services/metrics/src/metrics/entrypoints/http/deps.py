"""Who asks and what they ask for, for every KPI route: the tenant and dealerships come from the
staff token (managers and admins), the window and filters from the query, checked and capped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import Depends, HTTPException, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metrics.domain.kpis import BadRequest, Period, Scope, Window, resolve_window
from shared.auth import StaffClaims
from shared.auth.http import require_staff
from shared.clock import Clock

ID = r"^[A-Za-z0-9._:@-]{1,100}$"
# Free text (campaign names): no control characters, capped.
TEXT = r"^[^\x00-\x1f\x7f]{1,200}$"
_ZONES = frozenset(available_timezones())


def invalid(field: str, reason: str) -> HTTPException:
    """A 422 in FastAPI's own shape, naming the query parameter."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": ["query", field], "msg": reason, "type": "value_error"}],
    )


async def _manager(
    claims: Annotated[StaffClaims, Depends(require_staff("manager", "admin"))],
) -> StaffClaims:
    return claims


Manager = Annotated[StaffClaims, Depends(_manager)]


@dataclass(frozen=True)
class Ask:
    scope: Scope
    window: Window


def scope_of(claims: StaffClaims, **filters: str | None) -> Scope:
    everywhere = claims.role == "admin" and not claims.dealerships
    dealerships = None if everywhere else claims.dealerships
    wanted = filters.get("dealership")
    if wanted is not None and dealerships is not None and wanted not in dealerships:
        # Not one of the caller's: the same answer as a dealership that does not exist.
        raise HTTPException(status.HTTP_404_NOT_FOUND, "dealership not found")
    return Scope(claims.tenant, dealerships, **filters)


def checked_zone(tz: str) -> str:
    if tz not in _ZONES:
        raise invalid("tz", "unknown IANA time zone")
    try:
        ZoneInfo(tz)
    except ZoneInfoNotFoundError:
        raise invalid("tz", "unknown IANA time zone") from None
    return tz


async def ask(
    request: Request,
    claims: Manager,
    period: Annotated[
        Period, Query(description="day, mtd (month to date), ytd (year to date) or range")
    ] = "mtd",
    on: Annotated[
        str | None,
        Query(description="The day (day) or the last day (mtd, ytd); default today", max_length=10),
    ] = None,
    first: Annotated[
        str | None, Query(alias="from", description="First day (range)", max_length=10)
    ] = None,
    last: Annotated[
        str | None, Query(alias="to", description="Last day, inclusive (range)", max_length=10)
    ] = None,
    tz: Annotated[str, Query(description="IANA time zone of the days", max_length=64)] = "UTC",
    dealership: Annotated[str | None, Query(pattern=ID)] = None,
    source: Annotated[str | None, Query(pattern=ID, description="source_id")] = None,
    campaign: Annotated[str | None, Query(pattern=TEXT)] = None,
    consultant: Annotated[str | None, Query(pattern=ID)] = None,
    agent: Annotated[str | None, Query(pattern=ID)] = None,
) -> Ask:
    zone = checked_zone(tz)

    def day(field: str, value: str | None) -> date | None:
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise invalid(field, "expected YYYY-MM-DD") from None

    clock: Clock = request.app.state.clock
    today = clock.now().astimezone(ZoneInfo(zone)).date()
    try:
        window = resolve_window(
            period,
            today=today,
            timezone=zone,
            on=day("on", on),
            first=day("from", first),
            last=day("to", last),
        )
    except BadRequest as exc:
        raise invalid(exc.field, exc.reason) from None
    scope = scope_of(
        claims,
        dealership=dealership,
        source=source,
        campaign=campaign,
        consultant=consultant,
        agent=agent,
    )
    return Ask(scope, window)


Asked = Annotated[Ask, Depends(ask)]


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.runtime.sessions
    async with sessions() as s:
        yield s


Session = Annotated[AsyncSession, Depends(_session)]


Basis = Literal["activity", "cohort"]
