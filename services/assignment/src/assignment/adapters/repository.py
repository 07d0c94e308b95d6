"""assignment's SQL: consultants, routing versions, prospects and their owners.

Concurrency: every transaction that changes who owns what in a dealership first takes that
dealership's advisory lock (`lock_dealership`), then reads loads and writes. Replicas thus
allocate one prospect of a dealership at a time (different dealerships in parallel), so two
of them can never both see a consultant one under the cap. One lock per transaction, always
taken first: no lock-order deadlock is possible. The partial unique index on `ownership` and
the prospect's primary key back it up in the schema itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import case, func, null, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from assignment.adapters.tables import (
    activity,
    consultant,
    dead_lead,
    erased_lead,
    ownership,
    prospect,
    routing,
)
from assignment.domain.consultant import Absence, Consultant
from assignment.domain.prospect import Prospect
from assignment.domain.rules import Routing
from assignment.domain.schedule import WeeklyHours

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
_PROSPECT_FIELDS = [f.name for f in dataclasses.fields(Prospect) if f.name != "events"]


def _jsonable(value: Any) -> Any:
    """Decimals, dates and UUIDs as strings, so JSONB takes them."""
    return json.loads(json.dumps(value, default=str))


def person_keys(person: dict[str, Any]) -> tuple[str | None, str | None]:
    email = (person.get("email") or "").strip().lower() or None
    phone = (person.get("phone") or "").strip() or None
    return email, phone


class AssignmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_dealership(self, tenant_id: str, dealership_id: str) -> None:
        await self.session.execute(_LOCK, {"key": f"assignment/{tenant_id}/{dealership_id}"})

    # -- consultants --------------------------------------------------------------------------

    @staticmethod
    def _consultant(row: Any) -> Consultant:
        return Consultant(
            tenant_id=row.tenant_id,
            consultant_id=row.consultant_id,
            dealership_id=row.dealership_id,
            name=row.name,
            brands=frozenset(row.brands),
            conditions=frozenset(row.conditions),
            languages=frozenset(row.languages),
            hours=WeeklyHours.from_json(row.hours) if row.hours else None,
            absences=tuple(
                Absence(
                    datetime.fromisoformat(a["start"]),
                    datetime.fromisoformat(a["end"]),
                    a.get("reason"),
                )
                for a in row.absences
            ),
            cap=row.cap,
            active=row.active,
            clocked=row.clocked,
            last_assigned_at=row.last_assigned_at,
        )

    async def consultants(self, tenant_id: str, dealership_id: str) -> list[Consultant]:
        rows = await self.session.execute(
            select(consultant)
            .where(consultant.c.tenant_id == tenant_id, consultant.c.dealership_id == dealership_id)
            .order_by(consultant.c.consultant_id)
        )
        return [self._consultant(r) for r in rows]

    async def consultant(self, tenant_id: str, consultant_id: str) -> Consultant | None:
        row = (
            await self.session.execute(
                select(consultant).where(
                    consultant.c.tenant_id == tenant_id,
                    consultant.c.consultant_id == consultant_id,
                )
            )
        ).first()
        return self._consultant(row) if row else None

    async def consultant_rows(
        self, tenant_id: str, dealerships: Sequence[str] | None, dealership_id: str | None
    ) -> list[Any]:
        query = select(consultant).where(consultant.c.tenant_id == tenant_id)
        if dealerships is not None:
            query = query.where(consultant.c.dealership_id.in_(dealerships))
        if dealership_id:
            query = query.where(consultant.c.dealership_id == dealership_id)
        return list(await self.session.execute(query.order_by(consultant.c.consultant_id)))

    async def put_consultant(self, c: Consultant) -> None:
        values = {
            "dealership_id": c.dealership_id,
            "name": c.name,
            "brands": sorted(c.brands),
            "conditions": sorted(c.conditions),
            "languages": sorted(c.languages),
            "hours": c.hours.to_json() if c.hours else None,
            "absences": [
                {"start": a.start.isoformat(), "end": a.end.isoformat(), "reason": a.reason}
                for a in c.absences
            ],
            "cap": c.cap,
            "active": c.active,
            "clocked": c.clocked,
            "updated_at": func.now(),
        }
        await self.session.execute(
            pg_insert(consultant)
            .values(tenant_id=c.tenant_id, consultant_id=c.consultant_id, **values)
            .on_conflict_do_update(
                index_elements=[consultant.c.tenant_id, consultant.c.consultant_id], set_=values
            )
        )

    async def touch_consultant(self, tenant_id: str, consultant_id: str, at: datetime) -> None:
        await self.session.execute(
            update(consultant)
            .where(consultant.c.tenant_id == tenant_id, consultant.c.consultant_id == consultant_id)
            .values(last_assigned_at=at)
        )

    async def open_loads(self, tenant_id: str, dealership_id: str) -> dict[str, int]:
        rows = await self.session.execute(
            select(prospect.c.consultant_id, func.count())
            .where(
                prospect.c.tenant_id == tenant_id,
                prospect.c.dealership_id == dealership_id,
                prospect.c.state == "open",
            )
            .group_by(prospect.c.consultant_id)
        )
        return {r[0]: int(r[1]) for r in rows}

    async def close_stats(
        self, tenant_id: str, dealership_id: str, since: datetime
    ) -> dict[str, tuple[int, int]]:
        """Won and lost per consultant since `since`."""
        won = func.count().filter(prospect.c.state == "won")
        lost = func.count().filter(prospect.c.state == "lost")
        rows = await self.session.execute(
            select(prospect.c.consultant_id, won, lost)
            .where(
                prospect.c.tenant_id == tenant_id,
                prospect.c.dealership_id == dealership_id,
                prospect.c.closed_at >= since,
            )
            .group_by(prospect.c.consultant_id)
        )
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    async def assigned_since(self, tenant_id: str, since: datetime) -> dict[str, int]:
        rows = await self.session.execute(
            select(ownership.c.consultant_id, func.count())
            .where(ownership.c.tenant_id == tenant_id, ownership.c.started_at >= since)
            .group_by(ownership.c.consultant_id)
        )
        return {r[0]: int(r[1]) for r in rows}

    # -- routing ------------------------------------------------------------------------------

    async def routing(
        self, tenant_id: str, dealership_id: str, version: int | None = None
    ) -> Routing | None:
        query = select(routing.c.config, routing.c.version).where(
            routing.c.tenant_id == tenant_id, routing.c.dealership_id == dealership_id
        )
        if version is not None:
            query = query.where(routing.c.version == version)
        row = (await self.session.execute(query.order_by(routing.c.version.desc()))).first()
        if row is None:
            return None if version is not None else Routing()
        return Routing.from_json(row.config, row.version)

    async def add_routing(
        self, tenant_id: str, dealership_id: str, config: dict[str, Any], by: str
    ) -> int:
        """A new version (the caller holds the dealership's lock)."""
        current = await self.session.scalar(
            select(func.max(routing.c.version)).where(
                routing.c.tenant_id == tenant_id, routing.c.dealership_id == dealership_id
            )
        )
        version = int(current or 0) + 1
        await self.session.execute(
            pg_insert(routing).values(
                tenant_id=tenant_id,
                dealership_id=dealership_id,
                version=version,
                config=config,
                created_by=by,
            )
        )
        return version

    # -- prospects ----------------------------------------------------------------------------

    async def dealership_of(self, tenant_id: str, lead_id: UUID) -> str | None:
        found: str | None = await self.session.scalar(
            select(prospect.c.dealership_id).where(
                prospect.c.tenant_id == tenant_id, prospect.c.lead_id == lead_id
            )
        )
        return found

    async def get(self, tenant_id: str, lead_id: UUID) -> Prospect | None:
        row = (
            await self.session.execute(
                select(prospect)
                .where(prospect.c.tenant_id == tenant_id, prospect.c.lead_id == lead_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        values = {name: getattr(row, name) for name in _PROSPECT_FIELDS}
        values["passed_over"] = list(values["passed_over"])
        return Prospect(**values)

    def _values(self, p: Prospect) -> dict[str, Any]:
        values = {name: getattr(p, name) for name in _PROSPECT_FIELDS if name != "lead_id"}
        for name in ("person", "enquiries", "appointment", "close_details"):
            values[name] = _jsonable(values[name])
        values["email_key"], values["phone_key"] = person_keys(p.person)
        return values

    async def add(self, p: Prospect) -> bool:
        """Insert the prospect; False if another transaction created it first."""
        result = await self.session.execute(
            pg_insert(prospect)
            .values(lead_id=p.lead_id, **self._values(p))
            .on_conflict_do_nothing()
            .returning(prospect.c.lead_id)
        )
        return result.first() is not None

    async def save(self, p: Prospect) -> None:
        await self.session.execute(
            update(prospect)
            .where(prospect.c.tenant_id == p.tenant_id, prospect.c.lead_id == p.lead_id)
            .values(**self._values(p), updated_at=func.now())
        )

    async def previous_consultant(self, p: Prospect) -> str | None:
        """The consultant this person had last in this dealership, on another lead."""
        email, phone = person_keys(p.person)
        same = [prospect.c.email_key == email] if email else []
        same += [prospect.c.phone_key == phone] if phone else []
        if not same:
            return None
        found: str | None = await self.session.scalar(
            select(prospect.c.consultant_id)
            .where(
                prospect.c.tenant_id == p.tenant_id,
                prospect.c.dealership_id == p.dealership_id,
                prospect.c.lead_id != p.lead_id,
                prospect.c.consultant_id.is_not(None),
                or_(*same),
            )
            .order_by(func.coalesce(prospect.c.closed_at, prospect.c.assigned_at).desc())
            .limit(1)
        )
        return found

    async def waiting(self, tenant_id: str, dealership_id: str, limit: int) -> list[UUID]:
        """The unassigned queue: hot first, then who waited longest."""
        rows = await self.session.execute(
            select(prospect.c.lead_id)
            .where(
                prospect.c.tenant_id == tenant_id,
                prospect.c.dealership_id == dealership_id,
                prospect.c.state == "unassigned",
            )
            .order_by(prospect.c.hot.desc(), prospect.c.waiting_since, prospect.c.lead_id)
            .limit(limit)
        )
        return [r[0] for r in rows]

    async def same_person(self, tenant_id: str, p: Prospect) -> list[UUID]:
        email, phone = person_keys(p.person)
        same = [prospect.c.email_key == email] if email else []
        same += [prospect.c.phone_key == phone] if phone else []
        if not same:
            return []
        rows = await self.session.execute(
            select(prospect.c.lead_id).where(prospect.c.tenant_id == tenant_id, or_(*same))
        )
        return [r[0] for r in rows]

    # -- ownership ----------------------------------------------------------------------------

    async def change_owner(
        self, p: Prospect, consultant_id: str | None, reason: str, at: datetime
    ) -> None:
        """End the current ownership, start the new one (None: nobody owns it now)."""
        await self.session.execute(
            update(ownership)
            .where(ownership.c.lead_id == p.lead_id, ownership.c.ended_at.is_(None))
            .values(ended_at=at)
        )
        if consultant_id is not None:
            await self.session.execute(
                pg_insert(ownership).values(
                    lead_id=p.lead_id,
                    tenant_id=p.tenant_id,
                    consultant_id=consultant_id,
                    reason=reason,
                    started_at=at,
                )
            )

    # -- activities ---------------------------------------------------------------------------

    async def add_activity(self, p: Prospect, values: dict[str, Any]) -> None:
        await self.session.execute(
            pg_insert(activity).values(lead_id=p.lead_id, tenant_id=p.tenant_id, **values)
        )

    async def add_enquiry(self, tenant_id: str, lead_id: UUID, values: dict[str, Any]) -> bool:
        """Record the person's enquiry (kind `enquiry`, keyed by intake's enquiry id); False if
        it was recorded before (a redelivery, or intake publishing it again for the consultant)."""
        found = await self.session.execute(
            pg_insert(activity)
            .values(lead_id=lead_id, tenant_id=tenant_id, kind="enquiry", **values)
            .on_conflict_do_nothing(index_elements=[activity.c.activity_id])
            .returning(activity.c.activity_id)
        )
        return found.first() is not None

    async def enquiry_times(
        self, tenant_id: str, lead_ids: Sequence[UUID]
    ) -> dict[UUID, list[datetime]]:
        """When each of these leads' people enquired again (recorded enquiries), in one query."""
        if not lead_ids:
            return {}
        rows = await self.session.execute(
            select(activity.c.lead_id, activity.c.at).where(
                activity.c.tenant_id == tenant_id,
                activity.c.lead_id.in_(sorted(set(lead_ids))),
                activity.c.kind == "enquiry",
            )
        )
        found: dict[UUID, list[datetime]] = {}
        for r in rows:
            found.setdefault(r.lead_id, []).append(r.at)
        return found

    async def activities(self, tenant_id: str, lead_id: UUID) -> list[Any]:
        rows = await self.session.execute(
            select(activity)
            .where(activity.c.tenant_id == tenant_id, activity.c.lead_id == lead_id)
            .order_by(activity.c.at, activity.c.created_at)
        )
        return list(rows)

    async def scrub_activities(self, tenant_id: str, lead_id: UUID) -> None:
        """Notes go; an enquiry keeps only where it came from (its source)."""
        await self.session.execute(
            update(activity)
            .where(activity.c.tenant_id == tenant_id, activity.c.lead_id == lead_id)
            .values(
                note=None,
                details=case(
                    (activity.c.details.is_(None), null()),
                    else_=func.jsonb_build_object("source", activity.c.details["source"]),
                ),
            )
        )

    # -- consent ------------------------------------------------------------------------------

    async def mark_erased(self, tenant_id: str, lead_id: UUID, at: datetime) -> None:
        await self.session.execute(
            pg_insert(erased_lead)
            .values(tenant_id=tenant_id, lead_id=lead_id, erased_at=at)
            .on_conflict_do_nothing()
        )

    async def is_erased(self, tenant_id: str, lead_id: UUID) -> bool:
        found = await self.session.scalar(
            select(erased_lead.c.lead_id).where(
                erased_lead.c.tenant_id == tenant_id, erased_lead.c.lead_id == lead_id
            )
        )
        return found is not None

    async def mark_dead(
        self, tenant_id: str, lead_id: UUID, at: datetime, *, do_not_contact: bool
    ) -> None:
        """Two lead.dead of one lead end in the same row in either order."""
        row = pg_insert(dead_lead).values(
            tenant_id=tenant_id, lead_id=lead_id, dead_at=at, do_not_contact=do_not_contact
        )
        await self.session.execute(
            row.on_conflict_do_update(
                index_elements=[dead_lead.c.tenant_id, dead_lead.c.lead_id],
                set_={
                    "dead_at": func.least(dead_lead.c.dead_at, row.excluded.dead_at),
                    "do_not_contact": dead_lead.c.do_not_contact | row.excluded.do_not_contact,
                },
            )
        )

    async def dead(self, tenant_id: str, lead_id: UUID) -> bool | None:
        """None: the lead is not dead; else whether its person is do-not-contact."""
        found: bool | None = await self.session.scalar(
            select(dead_lead.c.do_not_contact).where(
                dead_lead.c.tenant_id == tenant_id, dead_lead.c.lead_id == lead_id
            )
        )
        return found

    # -- reading ------------------------------------------------------------------------------

    async def row(self, tenant_id: str, lead_id: UUID) -> Any:
        return (
            await self.session.execute(
                select(prospect).where(
                    prospect.c.tenant_id == tenant_id, prospect.c.lead_id == lead_id
                )
            )
        ).first()

    async def prospects(
        self,
        tenant_id: str,
        dealerships: Sequence[str] | None,
        *,
        states: Sequence[str] | None,
        consultant_id: str | None,
        escalated: bool | None = None,
        limit: int,
        offset: int,
    ) -> list[Any]:
        query = select(prospect).where(prospect.c.tenant_id == tenant_id)
        if dealerships is not None:
            query = query.where(prospect.c.dealership_id.in_(dealerships))
        if states:
            query = query.where(prospect.c.state.in_(states))
        if consultant_id:
            query = query.where(prospect.c.consultant_id == consultant_id)
        if escalated is not None:
            query = query.where(
                prospect.c.escalated_at.is_not(None)
                if escalated
                else prospect.c.escalated_at.is_(None)
            )
        # Hot first, then those whose person asked again (unanswered, the longest waiting
        # first), then the next follow-up (none planned: right after those with one).
        query = query.order_by(
            prospect.c.hot.desc(),
            prospect.c.enquired_at.asc().nulls_last(),
            prospect.c.next_follow_up_at.asc().nulls_last(),
            prospect.c.respond_by,
            prospect.c.lead_id,
        )
        return list(await self.session.execute(query.limit(limit).offset(offset)))
