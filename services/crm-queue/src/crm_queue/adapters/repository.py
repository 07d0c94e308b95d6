"""crm-queue's SQL: the task aggregate in and out, the queue, the manager's view."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_queue.adapters.tables import (
    attempt,
    dealership,
    dealership_policy,
    do_not_contact,
    enquiry,
    task,
    tenant_hours,
)
from crm_queue.domain.default_hours import DefaultHours
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

    async def note_dealerships(
        self,
        pairs: Iterable[tuple[str, str]],
        places: Mapping[tuple[str, str], tuple[str, str]] | None = None,
    ) -> None:
        """`note_dealership` for many (tenant, dealership) pairs in one statement; `places`:
        the (timezone, country) an event named, stored once (a dealership does not move)."""
        places = places or {}
        rows = [
            {
                "tenant_id": t,
                "dealership_id": d,
                "timezone": places.get((t, d), (None, None))[0],
                "country": places.get((t, d), (None, None))[1],
            }
            for t, d in sorted(set(pairs))
        ]
        if not rows:
            return
        await self.session.execute(pg_insert(dealership).on_conflict_do_nothing(), rows)
        learnt = [r for r in rows if r["timezone"] is not None]
        if learnt:
            # A dealership noted before its zone was known. A plain UPDATE locks only the rows
            # it changes (ON CONFLICT DO UPDATE would lock the row on every event).
            await self.session.execute(
                update(dealership)
                .where(
                    dealership.c.tenant_id == bindparam("t"),
                    dealership.c.dealership_id == bindparam("d"),
                    dealership.c.timezone.is_distinct_from(bindparam("tz")),
                )
                .values(timezone=bindparam("tz"), country=bindparam("c")),
                [
                    {
                        "t": r["tenant_id"],
                        "d": r["dealership_id"],
                        "tz": r["timezone"],
                        "c": r["country"],
                    }
                    for r in learnt
                ],
            )

    async def policy(self, tenant_id: str, dealership_id: str) -> Policy:
        return (await self.policies([(tenant_id, dealership_id)]))[(tenant_id, dealership_id)]

    async def policies(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Policy]:
        """The policy of each (tenant, dealership), read in one query: its own, else the
        tenant's default hours in its zone, else (zone unknown) always open in UTC."""
        wanted = sorted(set(pairs))
        if not wanted:
            return {}
        rows = await self.session.execute(
            select(
                dealership.c.tenant_id,
                dealership.c.dealership_id,
                dealership.c.timezone,
                dealership_policy.c.policy,
                tenant_hours.c.hours,
            )
            .select_from(dealership)
            .outerjoin(
                dealership_policy,
                and_(
                    dealership_policy.c.tenant_id == dealership.c.tenant_id,
                    dealership_policy.c.dealership_id == dealership.c.dealership_id,
                ),
            )
            .outerjoin(tenant_hours, tenant_hours.c.tenant_id == dealership.c.tenant_id)
            .where(tuple_(dealership.c.tenant_id, dealership.c.dealership_id).in_(wanted))
        )
        found = {(r.tenant_id, r.dealership_id): r for r in rows}
        return {pair: self._policy(*pair, found.get(pair)) for pair in wanted}

    @staticmethod
    def _policy(tenant_id: str, dealership_id: str, row: Any) -> Policy:
        if row is not None and row.policy is not None:
            try:
                return Policy.from_json(row.policy)
            except ValueError as exc:
                # Stored before a rule refused it (hours that never open): every lead of the
                # dealership would be dead-lettered. Work with the defaults until it is fixed.
                log.error("policy of %s/%s: %s; using the default", tenant_id, dealership_id, exc)
        if row is None or row.timezone is None:
            return Policy.default()
        try:
            return Policy(hours=_default_hours(tenant_id, row.hours).in_zone(row.timezone))
        except ValueError as exc:  # a zone this machine's tz database does not know
            log.error("zone of %s/%s: %s; using the default", tenant_id, dealership_id, exc)
            return Policy.default()

    async def default_hours(self, tenant_id: str) -> DefaultHours:
        data = await self.session.scalar(
            select(tenant_hours.c.hours).where(tenant_hours.c.tenant_id == tenant_id)
        )
        return _default_hours(tenant_id, data)

    async def put_default_hours(self, tenant_id: str, hours: DefaultHours) -> None:
        values = {"hours": hours.to_json(), "updated_at": func.now()}
        await self.session.execute(
            pg_insert(tenant_hours)
            .values(tenant_id=tenant_id, **values)
            .on_conflict_do_update(index_elements=[tenant_hours.c.tenant_id], set_=values)
        )

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

    async def lock_task(self, tenant_id: str, lead_id: UUID) -> None:
        """The task's row lock alone (`get` takes it too): before a timer of the task is
        claimed, as every other writer of the task locks the task, then its timers."""
        await self.session.execute(
            select(task.c.lead_id)
            .where(task.c.tenant_id == tenant_id, task.c.lead_id == lead_id)
            .with_for_update()
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

    async def get_many(self, keys: Iterable[tuple[str, UUID]]) -> dict[UUID, Task]:
        """The tasks of many (tenant, lead) keys, locked for update in lead order, by lead id."""
        wanted = sorted(set(keys), key=lambda k: k[1])
        if not wanted:
            return {}
        rows = list(
            await self.session.execute(
                select(task)
                .where(tuple_(task.c.tenant_id, task.c.lead_id).in_(wanted))
                .order_by(task.c.lead_id)
                .with_for_update()
            )
        )
        if not rows:
            return {}
        attempts: dict[UUID, list[Any]] = {r.lead_id: [] for r in rows}
        for a in await self.session.execute(
            select(attempt)
            .where(attempt.c.lead_id.in_(list(attempts)))
            .order_by(attempt.c.lead_id, attempt.c.number)
        ):
            attempts[a.lead_id].append(a)
        return {r.lead_id: self._task(r, attempts[r.lead_id]) for r in rows}

    async def owners(self, lead_ids: Collection[UUID]) -> dict[UUID, str]:
        """The tenant of each lead id that has a task, whoever's it is (to tell a foreign
        lead from a concurrent insert)."""
        rows = await self.session.execute(
            select(task.c.lead_id, task.c.tenant_id).where(task.c.lead_id.in_(list(lead_ids)))
        )
        return {r.lead_id: r.tenant_id for r in rows}

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

    async def add_many(self, new: Sequence[tuple[Task, dict[str, Any]]]) -> set[UUID]:
        """`add` for many tasks, one multi-row insert per set of fact columns: the lead ids
        inserted (a lead that already has a task is left out, as in `add`)."""
        inserted: set[UUID] = set()
        for rows in _by_columns(
            [{"lead_id": t.lead_id} | self._values(t) | facts for t, facts in new]
        ):
            result = await self.session.execute(
                pg_insert(task).on_conflict_do_nothing().returning(task.c.lead_id), rows
            )
            inserted.update(result.scalars())
        for t, _ in new:
            if t.lead_id in inserted:
                await self._add_attempts(t, known=0)
        return inserted

    async def save_many(self, changed: Sequence[tuple[Task, dict[str, Any], int]]) -> None:
        """`save` for many (task, facts, attempts known) in one executemany per set of fact
        columns; `known` is the number of attempts the task had when it was loaded."""
        rows = [
            {"_tenant_id": t.tenant_id, "_lead_id": t.lead_id} | self._values(t) | facts
            for t, facts, _ in changed
        ]
        for group in _by_columns(rows):
            await self.session.execute(
                update(task)
                .where(
                    task.c.tenant_id == bindparam("_tenant_id"),
                    task.c.lead_id == bindparam("_lead_id"),
                )
                .values(updated_at=func.now()),
                group,
            )
        for t, _, known in changed:
            await self._add_attempts(t, known=known)

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

    async def add_enquiries(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record enquiries; one already recorded (a replayed event) is left as it is."""
        if rows:
            await self.session.execute(pg_insert(enquiry).on_conflict_do_nothing(), list(rows))

    async def enquiries_of(
        self, keys: Iterable[tuple[str, UUID]]
    ) -> dict[UUID, list[dict[str, Any]]]:
        """The recorded enquiries of many (tenant, lead), by lead id, in one query."""
        wanted = sorted(set(keys), key=lambda k: k[1])
        found: dict[UUID, list[dict[str, Any]]] = {}
        if not wanted:
            return found
        rows = await self.session.execute(
            select(enquiry).where(tuple_(enquiry.c.tenant_id, enquiry.c.lead_id).in_(wanted))
        )
        for r in rows:
            found.setdefault(r.lead_id, []).append(dict(r._mapping))
        return found

    async def enquiries_for_view(self, tenant_id: str, lead_id: UUID) -> list[Any]:
        """A lead's enquiries for reading: the lead's own first, then the repeats by time."""
        rows = await self.session.execute(
            select(enquiry)
            .where(enquiry.c.tenant_id == tenant_id, enquiry.c.lead_id == lead_id)
            .order_by((enquiry.c.kind != "lead"), enquiry.c.received_at, enquiry.c.enquiry_id)
        )
        return list(rows)

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

    async def do_not_contact_among(
        self, people: Iterable[tuple[str, str | None, str | None]]
    ) -> set[tuple[str, str, str]]:
        """Of many (tenant, email, phone), the (tenant, kind, value) on the do-not-contact
        list, in one query (`is_do_not_contact` for a batch)."""
        wanted = sorted(
            {key for tenant, email, phone in people for key in _contact_keys(tenant, email, phone)}
        )
        if not wanted:
            return set()
        rows = await self.session.execute(
            select(do_not_contact.c.tenant_id, do_not_contact.c.kind, do_not_contact.c.value).where(
                tuple_(
                    do_not_contact.c.tenant_id, do_not_contact.c.kind, do_not_contact.c.value
                ).in_(wanted)
            )
        )
        return {(r.tenant_id, r.kind, r.value) for r in rows}

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


def _default_hours(tenant_id: str, data: Any) -> DefaultHours:
    if data is None:
        return DefaultHours.standard()
    try:
        return DefaultHours.from_json(data)
    except ValueError as exc:
        log.error("default hours of %s: %s; using the standard ones", tenant_id, exc)
        return DefaultHours.standard()


def _has_attempt() -> Any:
    return select(attempt.c.attempt_id).where(attempt.c.lead_id == task.c.lead_id).exists()


def _contact_keys(
    tenant_id: str, email: str | None, phone: str | None
) -> list[tuple[str, str, str]]:
    """The do-not-contact keys of a person, as `is_do_not_contact` looks them up."""
    return [
        (tenant_id, kind, value)
        for kind, value in (("email", (email or "").lower()), ("phone", phone or ""))
        if value
    ]


def is_listed(
    listed: set[tuple[str, str, str]], tenant_id: str, email: str | None, phone: str | None
) -> bool:
    """Whether a person is on the list `do_not_contact_among` returned."""
    return any(key in listed for key in _contact_keys(tenant_id, email, phone))


def _by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by their keys: one executemany needs the same columns in every row."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.values())
