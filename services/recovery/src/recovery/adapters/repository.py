"""recovery's SQL: runs in and out, the scanner's claim, contacts, consent, cadences.

Concurrency: a consumer that starts or ends runs by who the person is first takes the advisory
locks of the person's contact keys and lead ids (`lock_people`, all at once, sorted), then the
rows. So a loss and the same person's new enquiry, handled at once on two queues or replicas,
never both miss each other. The scanner only takes row locks, with SKIP LOCKED: it never waits,
so it cannot close a cycle with them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any
from uuid import UUID

from sqlalchemy import func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from recovery.adapters.tables import (
    blocked_contact,
    cadence_config,
    erased_lead,
    lead_contact,
    recovery,
    recovery_attempt,
)
from recovery.domain.cadence import Cadences
from recovery.domain.recovery import Recovery
from shared.contracts.lost_reasons import LostReasonCode

# Every lock of a transaction in one statement, taken in one order (the names sorted as Python
# sorts them: COLLATE "C" is code point order) so that two transactions never wait on each other
# in a circle; the aggregate takes the sorted rows one after the other.
_LOCK = text(
    "SELECT count(pg_advisory_xact_lock(hashtextextended(name, 0))) FROM"
    ' (SELECT DISTINCT name COLLATE "C" AS name FROM unnest(CAST(:names AS text[])) AS name'
    " ORDER BY 1) AS sorted"
)
NOTIFY_CHANNEL = "forecourt_recovery"
_NOTIFY = text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")
_FIELDS = [f.name for f in dataclasses.fields(Recovery) if f.name != "events"]
# What firing a step may change (`Recovery.fire`), written for a whole batch in one statement.
FIRED_FIELDS = (
    "state",
    "step",
    "steps_opened",
    "due_at",
    "channel",
    "fire_at",
    "outcome",
    "ended_at",
    "leased_by",
    "lease_until",
    "sequence",
)
_FIRED_TYPES = (
    "text",
    "integer",
    "integer",
    "timestamptz",
    "text",
    "timestamptz",
    "text",
    "timestamptz",
    "text",
    "timestamptz",
    "integer",
)
# One UPDATE for the batch: a column of values per field, unnested into rows by recovery_id.
_SAVE_FIRED = text(
    "UPDATE recovery AS r SET "
    + ", ".join(f"{name} = v.{name}" for name in FIRED_FIELDS)
    + ", updated_at = now() FROM unnest(CAST(:recovery_id AS uuid[]), "
    + ", ".join(f"CAST(:{n} AS {t}[])" for n, t in zip(FIRED_FIELDS, _FIRED_TYPES, strict=True))
    + ") AS v(recovery_id, "
    + ", ".join(FIRED_FIELDS)
    + ") WHERE r.recovery_id = v.recovery_id"
)


def _jsonable(value: Any) -> Any:
    """Decimals, dates and UUIDs as strings, so JSONB takes them."""
    return json.loads(json.dumps(value, default=str))


def _values(r: Recovery) -> dict[str, Any]:
    values = {name: getattr(r, name) for name in _FIELDS}
    values["reason_code"] = r.reason_code.value
    values["cadence"] = list(r.cadence)
    values["unusable_channels"] = sorted(r.unusable_channels)
    values["person"] = _jsonable(r.person)
    values["consent"] = _jsonable(r.consent)
    values["enquiries"] = _jsonable(r.enquiries)
    return values


# A `select(recovery)` row's fields by position, in one C call (by name: ~1/5 of the scanner's
# CPU per run).
_ROW_FIELDS = itemgetter(*(list(recovery.c.keys()).index(name) for name in _FIELDS))


def _recovery(row: Any) -> Recovery:
    """A run from a `select(recovery)` row (every column, in the table's order)."""
    values = dict(zip(_FIELDS, _ROW_FIELDS(row), strict=True))
    values["reason_code"] = LostReasonCode(row.reason_code)
    values["cadence"] = tuple(row.cadence)
    values["unusable_channels"] = frozenset(row.unusable_channels)
    return Recovery(**values)


class RecoveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_people(self, tenant_id: str, keys: Iterable[str | None]) -> None:
        """Advisory locks on contact keys and `lead:<id>` names, all at once, in one order."""
        await self.lock_people_of({(tenant_id, k) for k in keys if k})

    async def lock_people_of(self, keys: Iterable[tuple[str, str]]) -> None:
        """`lock_people` for the keys of several tenants at once (a batch of events)."""
        names = sorted({f"recovery/{tenant_id}/{key}" for tenant_id, key in keys})
        if names:
            await self.session.execute(_LOCK, {"names": names})

    async def notify_scanner(self) -> None:
        await self.session.execute(_NOTIFY)

    # -- cadences -----------------------------------------------------------------------------

    async def cadences(self, tenant_id: str) -> Cadences:
        data = await self.session.scalar(
            select(cadence_config.c.config).where(cadence_config.c.tenant_id == tenant_id)
        )
        return Cadences.from_json(data) if data else Cadences()

    async def put_cadences(self, tenant_id: str, cadences: Cadences, by: str) -> None:
        values = {"config": cadences.to_json(), "updated_by": by, "updated_at": func.now()}
        await self.session.execute(
            pg_insert(cadence_config)
            .values(tenant_id=tenant_id, **values)
            .on_conflict_do_update(index_elements=[cadence_config.c.tenant_id], set_=values)
        )

    # -- runs ---------------------------------------------------------------------------------

    async def get(self, tenant_id: str, recovery_id: UUID, *, lock: bool = True) -> Recovery | None:
        query = select(recovery).where(
            recovery.c.tenant_id == tenant_id, recovery.c.recovery_id == recovery_id
        )
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _recovery(row) if row else None

    async def of_lead(self, tenant_id: str, lead_id: UUID) -> list[Recovery]:
        rows = await self.session.execute(
            select(recovery)
            .where(recovery.c.tenant_id == tenant_id, recovery.c.lead_id == lead_id)
            .order_by(recovery.c.recovery_id)
            .with_for_update()
        )
        return [_recovery(r) for r in rows]

    async def active_of_person(
        self,
        tenant_id: str,
        *,
        email_key: str | None,
        phone_key: str | None,
        lead_ids: Sequence[UUID] = (),
    ) -> list[Recovery]:
        """Runs still going of whoever has these keys, or of these leads (locked, in order)."""
        match = []
        if email_key:
            match.append(recovery.c.email_key == email_key)
        if phone_key:
            match.append(recovery.c.phone_key == phone_key)
        if lead_ids:
            match.append(recovery.c.lead_id.in_(lead_ids))
        if not match:
            return []
        rows = await self.session.execute(
            select(recovery)
            .where(recovery.c.tenant_id == tenant_id, recovery.c.state != "ended", or_(*match))
            .order_by(recovery.c.recovery_id)
            .with_for_update()
        )
        return [_recovery(r) for r in rows]

    async def active_of_people(
        self,
        *,
        keys: Iterable[tuple[str, str]],
        lead_ids: Iterable[tuple[str, UUID]],
    ) -> list[Recovery]:
        """`active_of_person` for many people at once: runs still going with one of these
        (tenant, contact key)s or of these (tenant, lead)s, locked, in order."""
        wanted_keys, wanted_leads = sorted(set(keys)), sorted(set(lead_ids))
        match = []
        if wanted_keys:
            match.append(tuple_(recovery.c.tenant_id, recovery.c.email_key).in_(wanted_keys))
            match.append(tuple_(recovery.c.tenant_id, recovery.c.phone_key).in_(wanted_keys))
        if wanted_leads:
            match.append(tuple_(recovery.c.tenant_id, recovery.c.lead_id).in_(wanted_leads))
        if not match:
            return []
        rows = await self.session.execute(
            select(recovery)
            .where(recovery.c.state != "ended", or_(*match))
            .order_by(recovery.c.recovery_id)
            .with_for_update()
        )
        return [_recovery(r) for r in rows]

    async def add(self, r: Recovery) -> None:
        await self.session.execute(pg_insert(recovery).values(**_values(r)))

    async def save(self, r: Recovery) -> None:
        values = _values(r)
        del values["recovery_id"]
        await self.session.execute(
            update(recovery)
            .where(recovery.c.recovery_id == r.recovery_id)
            .values(**values, updated_at=func.now())
        )

    async def add_attempt(self, r: Recovery, attempt: dict[str, Any]) -> None:
        await self.add_attempts([(r, attempt)])

    async def add_attempts(self, attempts: Sequence[tuple[Recovery, dict[str, Any]]]) -> None:
        """Attempt rows of any number of runs, in one round trip."""
        if attempts:
            await self.session.execute(
                pg_insert(recovery_attempt),
                [
                    {"recovery_id": r.recovery_id, "tenant_id": r.tenant_id, **a}
                    for r, a in attempts
                ],
            )

    # -- the scanner --------------------------------------------------------------------------

    async def claim_due(self, now: datetime, limit: int) -> list[Recovery]:
        """Runs whose `fire_at` has come, locked; rows another replica holds are skipped."""
        rows = await self.session.execute(
            select(recovery)
            .where(recovery.c.fire_at.is_not(None), recovery.c.fire_at <= now)
            .order_by(recovery.c.fire_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_recovery(r) for r in rows]

    async def save_fired(self, runs: Sequence[Recovery]) -> None:
        """The fields firing changes (`FIRED_FIELDS`) of many claimed runs, in one statement."""
        if runs:
            params: dict[str, list[Any]] = {"recovery_id": [r.recovery_id for r in runs]}
            for name in FIRED_FIELDS:
                params[name] = [getattr(r, name) for r in runs]
            await self.session.execute(_SAVE_FIRED, params)

    async def next_fire_at(self) -> datetime | None:
        value: datetime | None = await self.session.scalar(
            select(func.min(recovery.c.fire_at)).where(recovery.c.fire_at.is_not(None))
        )
        return value

    async def fire_failed(self, recovery_id: UUID, retry_at: datetime, error: str) -> None:
        await self.session.execute(
            update(recovery)
            .where(recovery.c.recovery_id == recovery_id)
            .values(fire_at=retry_at, fire_errors=recovery.c.fire_errors + 1, last_error=error)
        )

    # -- contacts and consent -----------------------------------------------------------------

    async def note_enquiry(
        self,
        tenant_id: str,
        lead_id: UUID,
        at: datetime,
        *,
        email_key: str | None = None,
        phone_key: str | None = None,
        previous_lead_id: UUID | None = None,
        consent: dict[str, Any] | None = None,
        ingested: bool = False,
    ) -> Any:
        """Record a lead's enquiry (its first, or a merged one); returns the contact row."""
        insert = pg_insert(lead_contact).values(
            tenant_id=tenant_id,
            lead_id=lead_id,
            email_key=email_key,
            phone_key=phone_key,
            previous_lead_id=previous_lead_id,
            consent=consent,
            ingested=ingested,
            last_enquiry_at=at,
        )
        ex = insert.excluded
        set_: dict[str, Any] = {
            "last_enquiry_at": func.greatest(lead_contact.c.last_enquiry_at, ex.last_enquiry_at)
        }
        if ingested:
            set_ |= {
                "email_key": ex.email_key,
                "phone_key": ex.phone_key,
                "previous_lead_id": ex.previous_lead_id,
                "consent": ex.consent,
                "ingested": True,
            }
        stmt = insert.on_conflict_do_update(
            index_elements=[lead_contact.c.tenant_id, lead_contact.c.lead_id], set_=set_
        ).returning(lead_contact)
        return (await self.session.execute(stmt)).first()

    async def contact(self, tenant_id: str, lead_id: UUID) -> Any:
        return (
            await self.session.execute(
                select(lead_contact).where(
                    lead_contact.c.tenant_id == tenant_id, lead_contact.c.lead_id == lead_id
                )
            )
        ).first()

    async def asked_again(
        self,
        tenant_id: str,
        lead_id: UUID,
        email_key: str | None,
        phone_key: str | None,
        after: datetime,
    ) -> UUID | None:
        """Another lead of the person (same key, or following this one) with an enquiry after
        `after`: the person came back by themselves."""
        match = [lead_contact.c.previous_lead_id == lead_id]
        if email_key:
            match.append(lead_contact.c.email_key == email_key)
        if phone_key:
            match.append(lead_contact.c.phone_key == phone_key)
        found: UUID | None = await self.session.scalar(
            select(lead_contact.c.lead_id)
            .where(
                lead_contact.c.tenant_id == tenant_id,
                lead_contact.c.lead_id != lead_id,
                lead_contact.c.last_enquiry_at > after,
                or_(*match),
            )
            .order_by(lead_contact.c.last_enquiry_at)
            .limit(1)
        )
        return found

    async def is_blocked(self, tenant_id: str, keys: Iterable[str | None]) -> bool:
        wanted = [k for k in keys if k]
        if not wanted:
            return False
        found = await self.session.scalar(
            select(func.count())
            .select_from(blocked_contact)
            .where(blocked_contact.c.tenant_id == tenant_id, blocked_contact.c.key.in_(wanted))
        )
        return bool(found)

    async def block(self, tenant_id: str, keys: Iterable[str | None]) -> None:
        for key in sorted({k for k in keys if k}):
            await self.session.execute(
                pg_insert(blocked_contact)
                .values(tenant_id=tenant_id, key=key)
                .on_conflict_do_nothing()
            )

    async def blocked_of(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (tenant, contact key)s must never be contacted."""
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        rows = await self.session.execute(
            select(blocked_contact.c.tenant_id, blocked_contact.c.key).where(
                tuple_(blocked_contact.c.tenant_id, blocked_contact.c.key).in_(wanted)
            )
        )
        return {(r.tenant_id, r.key) for r in rows}

    async def erased_of(self, lead_ids: Iterable[tuple[str, UUID]]) -> set[tuple[str, UUID]]:
        """Which of these (tenant, lead)s were erased."""
        wanted = sorted(set(lead_ids))
        if not wanted:
            return set()
        rows = await self.session.execute(
            select(erased_lead.c.tenant_id, erased_lead.c.lead_id).where(
                tuple_(erased_lead.c.tenant_id, erased_lead.c.lead_id).in_(wanted)
            )
        )
        return {(r.tenant_id, r.lead_id) for r in rows}

    async def is_erased(self, tenant_id: str, lead_id: UUID) -> bool:
        found = await self.session.scalar(
            select(func.count())
            .select_from(erased_lead)
            .where(erased_lead.c.tenant_id == tenant_id, erased_lead.c.lead_id == lead_id)
        )
        return bool(found)

    async def mark_erased(self, tenant_id: str, lead_id: UUID, at: datetime) -> None:
        await self.session.execute(
            pg_insert(erased_lead)
            .values(tenant_id=tenant_id, lead_id=lead_id, erased_at=at)
            .on_conflict_do_nothing()
        )
        # Its contact keys served to recognise the person; they go too.
        await self.session.execute(
            update(lead_contact)
            .where(lead_contact.c.tenant_id == tenant_id, lead_contact.c.lead_id == lead_id)
            .values(email_key=None, phone_key=None, consent=None)
        )

    async def scrub_attempts(self, tenant_id: str, recovery_ids: Sequence[UUID]) -> None:
        if recovery_ids:
            await self.session.execute(
                update(recovery_attempt)
                .where(
                    recovery_attempt.c.tenant_id == tenant_id,
                    recovery_attempt.c.recovery_id.in_(recovery_ids),
                )
                .values(note=None)
            )

    # -- reading ------------------------------------------------------------------------------

    async def row(self, tenant_id: str, recovery_id: UUID) -> Any:
        return (
            await self.session.execute(
                select(recovery).where(
                    recovery.c.tenant_id == tenant_id, recovery.c.recovery_id == recovery_id
                )
            )
        ).first()

    async def attempts(self, tenant_id: str, recovery_id: UUID) -> list[Any]:
        rows = await self.session.execute(
            select(recovery_attempt)
            .where(
                recovery_attempt.c.tenant_id == tenant_id,
                recovery_attempt.c.recovery_id == recovery_id,
            )
            .order_by(recovery_attempt.c.at, recovery_attempt.c.attempt_id)
        )
        return list(rows)

    async def due(
        self,
        tenant_id: str,
        dealerships: Sequence[str] | None,
        agent_id: str,
        now: datetime,
        limit: int,
    ) -> list[Any]:
        """Open steps, lost prospects first (staff invested in them), then oldest due first;
        steps leased to someone else are left out."""
        query = select(recovery).where(
            recovery.c.tenant_id == tenant_id,
            recovery.c.state == "due",
            or_(
                recovery.c.lease_until.is_(None),
                recovery.c.lease_until <= now,
                recovery.c.leased_by == agent_id,
            ),
        )
        if dealerships is not None:
            query = query.where(recovery.c.dealership_id.in_(dealerships))
        query = query.order_by(
            (recovery.c.origin == "prospect").desc(), recovery.c.due_at, recovery.c.recovery_id
        )
        return list(await self.session.execute(query.limit(limit)))

    async def every(
        self,
        tenant_id: str,
        dealerships: Sequence[str] | None,
        *,
        states: Sequence[str],
        lead_id: UUID | None,
        origin: str | None,
        limit: int,
        offset: int,
    ) -> list[Any]:
        query = select(recovery).where(
            recovery.c.tenant_id == tenant_id, recovery.c.state.in_(states)
        )
        if dealerships is not None:
            query = query.where(recovery.c.dealership_id.in_(dealerships))
        if lead_id is not None:
            query = query.where(recovery.c.lead_id == lead_id)
        if origin is not None:
            query = query.where(recovery.c.origin == origin)
        query = query.order_by(
            (recovery.c.origin == "prospect").desc(),
            recovery.c.due_at.nulls_last(),
            recovery.c.recovery_id,
        )
        return list(await self.session.execute(query.limit(limit).offset(offset)))
