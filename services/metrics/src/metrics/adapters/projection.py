"""Writes facts: the event log, and the fact rows by upserts whose merge is order-free.

For a group of a lead's columns (see `metrics.domain.facts.GROUPS`) the upsert keeps the values
of the event whose (time, event id) is the smallest (`min`) or largest (`max`) seen so far. In
PostgreSQL's `ON CONFLICT DO UPDATE` every `SET` expression reads the row as it was, and
concurrent upserts of one row wait for each other, so replicas racing on a lead are safe too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from metrics.adapters.lead_lock import lock_leads
from metrics.adapters.rollups import Maintainer, Pending
from metrics.domain.facts import GROUPS, Facts, Group
from metrics.domain.privacy import scrub_envelope


@cache
def _group_upsert(name: str) -> TextClause:
    g: Group = GROUPS[name]
    cmp = "<" if g.pick == "min" else ">"
    better = (
        f"(lead_fact.{g.time} IS NULL OR (EXCLUDED.{g.time}, EXCLUDED.{g.key}) "
        f"{cmp} (lead_fact.{g.time}, lead_fact.{g.key}))"
    )
    cols = [g.time, g.key, *g.columns]
    sets = [f"{c} = CASE WHEN {better} THEN EXCLUDED.{c} ELSE lead_fact.{c} END" for c in cols]
    if g.sets_dealership:
        dealership = (
            f"CASE WHEN {better} THEN COALESCE(EXCLUDED.dealership_id, lead_fact.dealership_id) "
            "ELSE COALESCE(lead_fact.dealership_id, EXCLUDED.dealership_id) END"
        )
    else:
        dealership = "COALESCE(lead_fact.dealership_id, EXCLUDED.dealership_id)"
    sets += [f"dealership_id = {dealership}", "updated_at = now()"]
    names = ", ".join(cols)
    values = ", ".join(f":{c}" for c in cols)
    return text(
        f"INSERT INTO lead_fact (tenant_id, lead_id, dealership_id, {names}) "
        f"VALUES (:tenant_id, :lead_id, :dealership_id, {values}) "
        f"ON CONFLICT (tenant_id, lead_id) DO UPDATE SET {', '.join(sets)}"
    )


_ATTEMPTS = text(
    "INSERT INTO lead_fact (tenant_id, lead_id, dealership_id, attempts) "
    "VALUES (:tenant_id, :lead_id, :dealership_id, :attempts) "
    "ON CONFLICT (tenant_id, lead_id) DO UPDATE SET "
    "attempts = GREATEST(lead_fact.attempts, EXCLUDED.attempts), "
    "dealership_id = COALESCE(lead_fact.dealership_id, EXCLUDED.dealership_id), "
    "updated_at = now()"
)

_LOSS = text(
    "INSERT INTO loss_fact (event_id, tenant_id, lead_id, dealership_id, origin, reason_code, "
    "category, attempts, agent_id, consultant_id, automatic, min_attempts, lost_at) VALUES "
    "(:event_id, :tenant_id, :lead_id, :dealership_id, :origin, :reason_code, :category, "
    ":attempts, :agent_id, :consultant_id, :automatic, :min_attempts, :lost_at) "
    "ON CONFLICT DO NOTHING"
)

_INTAKE = text(
    "INSERT INTO intake_fact (event_id, tenant_id, dealership_id, kind, lead_id, source_id, "
    "source_kind, source_name, campaign, cost_per_lead, currency, reason_code, matched_on, "
    "errors, raw_payload_id, enquiry_id, received_at) VALUES (:event_id, :tenant_id, "
    ":dealership_id, :kind, :lead_id, :source_id, :source_kind, :source_name, :campaign, "
    ":cost_per_lead, :currency, :reason_code, :matched_on, CAST(:errors AS jsonb), "
    ":raw_payload_id, :enquiry_id, :received_at) ON CONFLICT DO NOTHING"
)

_RECOVERY = text(
    "INSERT INTO recovery_fact (event_id, tenant_id, lead_id, dealership_id, kind, origin, "
    "reason_code, same_brand, at) VALUES (:event_id, :tenant_id, :lead_id, :dealership_id, "
    ":kind, :origin, :reason_code, :same_brand, :at) ON CONFLICT DO NOTHING"
)

_LOG = text(
    "INSERT INTO event_log (event_id, tenant_id, event_type, event_version, lead_id, "
    "dealership_id, occurred_at, body) VALUES (:event_id, :tenant_id, :event_type, "
    ":event_version, :lead_id, :dealership_id, :occurred_at, CAST(:body AS jsonb)) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)

_IS_ERASED = text("SELECT 1 FROM erased_lead WHERE tenant_id = :tenant_id AND lead_id = :lead_id")

_MARK_ERASED = text(
    "INSERT INTO erased_lead (tenant_id, lead_id, erased_at) VALUES (:tenant_id, :lead_id, "
    ":erased_at) ON CONFLICT DO NOTHING"
)

_LOGGED_OF = text(
    "SELECT event_id, body FROM event_log WHERE tenant_id = :tenant_id "
    "AND lead_id = ANY(:lead_ids) ORDER BY event_id"
)

_REWRITE = text("UPDATE event_log SET body = CAST(:body AS jsonb) WHERE event_id = :event_id")


def _table_of(statement: TextClause) -> str:
    return str(statement).split()[2]  # INSERT INTO <table> ...


def _params(facts: Facts) -> dict[str, Any]:
    return {
        "event_id": facts.event_id,
        "tenant_id": facts.tenant_id,
        "lead_id": facts.lead_id,
        "dealership_id": facts.dealership_id,
    }


def statements(facts: Facts) -> list[tuple[TextClause, dict[str, Any]]]:
    """The writes of one event's facts (besides the event log and erasures)."""
    base = _params(facts)
    out: list[tuple[TextClause, dict[str, Any]]] = []
    for update in facts.lead:
        g = GROUPS[update.group]
        row = base | {g.time: update.at, g.key: facts.key}
        row |= {c: update.values.get(c) for c in g.columns}
        out.append((_group_upsert(update.group), row))
    if facts.attempts is not None:
        out.append((_ATTEMPTS, base | {"attempts": facts.attempts}))
    if facts.loss is not None:
        out.append((_LOSS, base | facts.loss))
    if facts.intake is not None:
        row = base | facts.intake
        row["errors"] = None if row["errors"] is None else json.dumps(row["errors"])
        out.append((_INTAKE, row))
    if facts.recovery is not None:
        out.append((_RECOVERY, base | facts.recovery))
    return out


class Projection:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.pending = Pending()  # the rollups' change, written by `flush` before the commit

    async def log(
        self, facts: Facts, event_type: str, version: int, at: datetime, body: Any
    ) -> bool:
        """Keep the event; False when it is already in the log."""
        if facts.lead_id is None:
            # A lead-less event (a call, a rejected payload) can never be reached by an erasure,
            # which names leads: it is kept without personal data from the start.
            body = scrub_envelope(body)
        else:
            # Locked before the check, so an erasure being handled beside us either is seen
            # here or sees our row (`lead_lock`).
            await lock_leads(self.session, facts.tenant_id, [facts.lead_id])
            if await self.is_erased(facts.tenant_id, facts.lead_id):
                body = scrub_envelope(body)
        result = await self.session.execute(
            _LOG,
            _params(facts)
            | {
                "event_type": event_type,
                "event_version": version,
                "occurred_at": at,
                "body": json.dumps(body),
            },
        )
        return result.scalar() is not None

    async def is_erased(self, tenant_id: str, lead_id: UUID) -> bool:
        found = await self.session.execute(_IS_ERASED, {"tenant_id": tenant_id, "lead_id": lead_id})
        return found.scalar() is not None

    async def apply(self, facts: Facts) -> None:
        """One event's facts, and the rollups' change with them."""
        writes = statements(facts)
        tables = {_table_of(statement) for statement, _ in writes}
        if tables:
            async with Maintainer(
                self.session, facts.tenant_id, facts.lead_id, facts.event_id, tables, self.pending
            ):
                for statement, params in writes:
                    await self.session.execute(statement, params)
        if facts.erased_leads:
            await self.erase(facts.tenant_id, facts.erased_leads, facts.erased_at)

    async def flush(self) -> None:
        """Write the rollups' change of the events applied so far (last, before the commit)."""
        await self.pending.flush(self.session)

    async def apply_many(self, batch: Iterable[Facts]) -> None:
        """Several events' facts, one executemany per statement (the rebuild's path: the
        rollups are summed from the facts afterwards, `rollups.rebuild_all`)."""
        grouped: dict[TextClause, list[dict[str, Any]]] = {}
        erasures: list[Facts] = []
        for facts in batch:
            for statement, params in statements(facts):
                grouped.setdefault(statement, []).append(params)
            if facts.erased_leads:
                erasures.append(facts)
        for statement, rows in grouped.items():
            await self.session.execute(statement, rows)
        for facts in erasures:
            await self.erase(facts.tenant_id, facts.erased_leads, facts.erased_at)

    async def erase(
        self, tenant_id: str, lead_ids: Sequence[UUID], erased_at: datetime | None
    ) -> None:
        """Mark the leads erased and scrub their events already in the log."""
        await lock_leads(self.session, tenant_id, lead_ids)
        for lead_id in lead_ids:
            await self.session.execute(
                _MARK_ERASED, {"tenant_id": tenant_id, "lead_id": lead_id, "erased_at": erased_at}
            )
        rows = await self.session.execute(
            _LOGGED_OF, {"tenant_id": tenant_id, "lead_ids": list(lead_ids)}
        )
        for event_id, body in rows.all():
            clean = scrub_envelope(body)
            if clean != body:
                await self.session.execute(
                    _REWRITE, {"event_id": event_id, "body": json.dumps(clean)}
                )
