"""crm-queue's SQL: the task aggregate in and out, the queue, the manager's view."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_queue.adapters.tables import (
    attempt,
    dealership,
    dealership_policy,
    do_not_contact,
    task,
)
from crm_queue.domain.policy import Policy
from crm_queue.domain.task import Attempt, Task

log = logging.getLogger(__name__)

# Columns the aggregate owns (the rest, person/vehicle/source, are read-only lead facts).
_TASK_FIELDS = {
    f.name for f in dataclasses.fields(Task) if f.name in task.c and f.name != "lead_id"
}
_ATTEMPT_FIELDS = [f.name for f in dataclasses.fields(Attempt)]
_CHANNEL_SETS = ("unusable_channels", "no_consent_channels")  # frozensets, arrays in the table


class CrmRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def note_dealership(self, tenant_id: str, dealership_id: str) -> None:
        """Remember a dealership a lead event named (a no-op once known)."""
        await self.session.execute(
            pg_insert(dealership)
            .values(tenant_id=tenant_id, dealership_id=dealership_id)
            .on_conflict_do_nothing()
        )

    async def knows_dealership(self, tenant_id: str, dealership_id: str) -> bool:
        found = await self.session.scalar(
            select(dealership.c.dealership_id).where(
                dealership.c.tenant_id == tenant_id, dealership.c.dealership_id == dealership_id
            )
        )
        return found is not None

    async def policy(self, tenant_id: str, dealership_id: str) -> Policy:
        data = await self.session.scalar(
            select(dealership_policy.c.policy).where(
                dealership_policy.c.tenant_id == tenant_id,
                dealership_policy.c.dealership_id == dealership_id,
            )
        )
        if data is None:
            return Policy.default()
        try:
            return Policy.from_json(data)
        except ValueError as exc:
            # Stored before a rule refused it (hours that never open): every lead of the
            # dealership would be dead-lettered. Work with the defaults until a manager fixes it.
            log.error("policy of %s/%s: %s; using the default", tenant_id, dealership_id, exc)
            return Policy.default()

    async def put_policy(self, tenant_id: str, dealership_id: str, policy: Policy) -> None:
        values = {"policy": policy.to_json(), "updated_at": func.now()}
        await self.session.execute(
            pg_insert(dealership_policy)
            .values(tenant_id=tenant_id, dealership_id=dealership_id, **values)
            .on_conflict_do_update(
                index_elements=[dealership_policy.c.tenant_id, dealership_policy.c.dealership_id],
                set_=values,
            )
        )

    async def get(self, tenant_id: str, lead_id: UUID, *, lock: bool = True) -> Task | None:
        query = select(task).where(task.c.tenant_id == tenant_id, task.c.lead_id == lead_id)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        attempts = await self.session.execute(
            select(attempt).where(attempt.c.lead_id == lead_id).order_by(attempt.c.number)
        )
        return self._task(row, list(attempts))

    @staticmethod
    def _task(row: Any, attempts: Sequence[Any]) -> Task:
        values = {name: getattr(row, name) for name in _TASK_FIELDS}
        for name in _CHANNEL_SETS:
            values[name] = frozenset(values[name])
        loaded = Task(lead_id=row.lead_id, **values)
        loaded.attempts = [
            Attempt(**{name: getattr(a, name) for name in _ATTEMPT_FIELDS}) for a in attempts
        ]
        return loaded

    @staticmethod
    def _values(of: Task) -> dict[str, Any]:
        values = {name: getattr(of, name) for name in _TASK_FIELDS}
        for name in _CHANNEL_SETS:
            values[name] = sorted(values[name])
        return values

    async def add(self, new: Task, facts: dict[str, Any]) -> bool:
        """Insert the task; False (nothing written) if the lead already has one.

        ON CONFLICT waits for a concurrent insert of the same lead (another replica handling
        its lead.duplicate or lead.ingested) and then does nothing instead of failing on the
        key: the caller locks and updates the row that won.
        """
        values = self._values(new)
        inserted = await self.session.scalar(
            pg_insert(task)
            .values(lead_id=new.lead_id, **values, **facts)
            .on_conflict_do_nothing()
            .returning(task.c.lead_id)
        )
        if inserted is None:
            return False
        await self._add_attempts(new, known=0)
        return True

    async def save(self, changed: Task, facts: dict[str, Any] | None = None) -> None:
        values = self._values(changed)
        await self.session.execute(
            update(task)
            .where(task.c.tenant_id == changed.tenant_id, task.c.lead_id == changed.lead_id)
            .values(**values, **(facts or {}), updated_at=func.now())
        )
        known = await self.session.scalar(
            select(func.count()).select_from(attempt).where(attempt.c.lead_id == changed.lead_id)
        )
        await self._add_attempts(changed, known=int(known or 0))

    async def _add_attempts(self, changed: Task, known: int) -> None:
        fresh = [a for a in changed.attempts if a.number > known]
        if fresh:
            await self.session.execute(
                pg_insert(attempt),
                [
                    {"lead_id": changed.lead_id, "tenant_id": changed.tenant_id}
                    | {name: getattr(a, name) for name in _ATTEMPT_FIELDS}
                    for a in fresh
                ],
            )

    async def person(self, tenant_id: str, lead_id: UUID) -> dict[str, Any]:
        person = await self.session.scalar(
            select(task.c.person).where(task.c.tenant_id == tenant_id, task.c.lead_id == lead_id)
        )
        return dict(person or {})

    async def mark_do_not_contact(
        self, tenant_id: str, lead_id: UUID, email: str | None, phone: str | None
    ) -> None:
        rows = [
            {"tenant_id": tenant_id, "kind": kind, "value": value, "lead_id": lead_id}
            for kind, value in (("email", (email or "").lower()), ("phone", phone or ""))
            if value
        ]
        if rows:
            await self.session.execute(pg_insert(do_not_contact).on_conflict_do_nothing(), rows)

    async def is_do_not_contact(self, tenant_id: str, email: str | None, phone: str | None) -> bool:
        wanted = [
            and_(do_not_contact.c.kind == kind, do_not_contact.c.value == value)
            for kind, value in (("email", (email or "").lower()), ("phone", phone or ""))
            if value
        ]
        if not wanted:
            return False
        found = await self.session.scalar(
            select(func.count())
            .select_from(do_not_contact)
            .where(do_not_contact.c.tenant_id == tenant_id, or_(*wanted))
        )
        return bool(found)

    async def queue(
        self,
        tenant_id: str,
        dealerships: Sequence[str] | None,
        agent_id: str,
        now: datetime,
        limit: int,
    ) -> list[Any]:
        """Open tasks an agent may work now, most urgent first: first contacts by SLA due,
        follow-ups by their next attempt, then the freshest enquiry."""
        due = func.coalesce(task.c.next_attempt_due_at, task.c.sla_due_at)
        query = (
            select(task)
            .where(
                task.c.tenant_id == tenant_id,
                task.c.state == "open",
                task.c.ingested.is_(True),  # until lead.ingested comes, nobody knows whom to call
                task.c.do_not_contact.is_(False),
                or_(task.c.next_attempt_due_at.is_(None), task.c.next_attempt_due_at <= now),
                or_(
                    task.c.leased_by.is_(None),
                    task.c.leased_by == agent_id,
                    task.c.lease_until <= now,
                ),
            )
            .order_by(due, task.c.last_enquiry_at.desc())
            .limit(limit)
        )
        if dealerships is not None:
            query = query.where(task.c.dealership_id.in_(dealerships))
        return list(await self.session.execute(query))

    async def leads(
        self,
        tenant_id: str,
        dealerships: Sequence[str] | None,
        *,
        now: datetime,
        state: str | None,
        agent: str | None,
        source: str | None,
        overdue: bool | None,
        limit: int,
        offset: int,
    ) -> list[Any]:
        query = select(task).where(task.c.tenant_id == tenant_id)
        if dealerships is not None:
            query = query.where(task.c.dealership_id.in_(dealerships))
        if state:
            query = query.where(task.c.state == state)
        if source:
            query = query.where(task.c.source_id == source)
        if agent:
            worked = select(attempt.c.lead_id).where(
                attempt.c.tenant_id == tenant_id, attempt.c.agent_id == agent
            )
            query = query.where(or_(task.c.leased_by == agent, task.c.lead_id.in_(worked)))
        if overdue is not None:
            # Late: first contact past its SLA, or a follow-up past its due time.
            late = and_(
                task.c.state == "open",
                task.c.do_not_contact.is_(False),
                or_(
                    and_(task.c.sla_due_at <= now, ~_has_attempt()),
                    task.c.next_attempt_due_at <= now,
                ),
            )
            query = query.where(late if overdue else ~late)
        query = query.order_by(task.c.sla_due_at).limit(limit).offset(offset)
        return list(await self.session.execute(query))

    async def row(self, tenant_id: str, lead_id: UUID) -> Any:
        """The task as stored, with the lead's facts, for reading."""
        return (
            await self.session.execute(
                select(task).where(task.c.tenant_id == tenant_id, task.c.lead_id == lead_id)
            )
        ).first()

    async def attempts_of(self, tenant_id: str, lead_id: UUID) -> list[Any]:
        rows = await self.session.execute(
            select(attempt)
            .where(attempt.c.tenant_id == tenant_id, attempt.c.lead_id == lead_id)
            .order_by(attempt.c.number)
        )
        return list(rows)


def _has_attempt() -> Any:
    return select(attempt.c.attempt_id).where(attempt.c.lead_id == task.c.lead_id).exists()
