"""The KPIs' rollups: per UTC day and per UTC month, per dealership, the sums the reports add up.

Each family (a rollup table) is defined once, below, as what every fact row contributes to it:
a `Branch` per kind of fact, with the time that decides the row's day and the measures it adds.
That one definition is used three ways, so the three cannot drift apart:
- `maintain`: live, in the projection's transaction. The contributions of the lead an event
  touches are read before and after its facts are applied; the difference is added to the day's
  and the month's rows. A rollup is thus a function of the facts, which are order-free and
  idempotent, so the rollup is too; the lead is locked first (advisory lock) so replicas working
  on one lead take turns.
- `rebuild_all`: the rollups emptied and summed again from the facts (the rebuild command).
- `edge_sums`: the same sums straight from the facts for a part of a window that is not whole
  UTC days (a time zone other than UTC), so every figure stays exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from metrics.adapters.lead_lock import lock_leads
from metrics.domain.kpis import SPEED_BINS, Scope, Window

INVALID = "COALESCE(l.lead_lost_category IN ('pollution', 'invalid'), false)"
REACTIVATED_SALE = "(COALESCE(l.won_reactivated, false) OR l.reactivated_at <= l.won_at)"
LATENCY = (
    "CASE WHEN l.first_attempt_at IS NOT NULL THEN "
    "GREATEST(0, EXTRACT(EPOCH FROM l.first_attempt_at - l.received_at))::float8 END"
)
_EDGES = "ARRAY[" + ", ".join(str(float(b)) for b in SPEED_BINS) + "]::float8[]"
UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Branch:
    """One kind of fact row and what it adds: `time` picks its day (rows where it is null add
    nothing), `keys` and `measures` are SQL over the row (measures left out add 0)."""

    source: str  # FROM ... (aliases: l lead_fact, x loss_fact, r recovery_fact, i intake_fact)
    alias: str  # the fact table's alias: its tenant, and the lead it belongs to
    time: str
    dealership: str
    measures: Mapping[str, str]
    keys: Mapping[str, str] = field(default_factory=dict)
    where: str = "true"


@dataclass(frozen=True)
class Family:
    table: str
    keys: tuple[str, ...]  # besides tenant_id, grain, day, dealership_id
    measures: tuple[str, ...]
    branches: tuple[Branch, ...]
    money: frozenset[str] = frozenset()  # numeric measures; the others are counts


def _when(condition: str) -> str:
    return f"({condition})::int"


# The lead's validity and latency bin, worked out once a row (`z`), for the 45 bins.
_RECEIVED = (
    f"lead_fact l CROSS JOIN LATERAL (SELECT {INVALID} AS invalid, "
    f"width_bucket({LATENCY}, {_EDGES}) AS bin) z"
)
_BIN_MEASURES = {
    f"h{i}": _when(f"NOT z.invalid AND z.bin = {i}") for i in range(len(SPEED_BINS) + 1)
}

FUNNEL = Family(
    "funnel_rollup",
    (),
    (
        "leads",
        "returning_leads",
        "invalid_leads",
        "prospects",
        "sales",
        "sales_react",
        "reactivated",
        "dead",
        "rejected",
        "duplicates",
        "lost_deals",
        "c_prospects",
        "c_reactivated",
        "c_sales",
        "c_sales_react",
        "s_leads",
        "s_attempted",
        "s_breaches",
        "s_met",
        "s_auto",
        *_BIN_MEASURES,
    ),
    (
        # By the day the lead came in: the lead, its cohort's outcomes, its speed to lead.
        Branch(
            _RECEIVED,
            "l",
            "l.received_at",
            "l.dealership_id",
            {
                "leads": "1",
                "returning_leads": _when("l.previous_lead_id IS NOT NULL"),
                "invalid_leads": _when("z.invalid"),
                "c_prospects": _when("l.qualified_at IS NOT NULL"),
                "c_reactivated": _when("l.reactivated_at IS NOT NULL"),
                "c_sales": _when("l.won_at IS NOT NULL"),
                "c_sales_react": _when(f"l.won_at IS NOT NULL AND {REACTIVATED_SALE}"),
                "s_leads": _when("NOT z.invalid"),
                "s_attempted": _when("NOT z.invalid AND l.first_attempt_at IS NOT NULL"),
                "s_breaches": _when("NOT z.invalid AND l.sla_breached_at IS NOT NULL"),
                "s_met": _when(
                    "NOT z.invalid AND l.first_attempt_at IS NOT NULL AND l.sla_breached_at IS NULL"
                ),
                "s_auto": _when("NOT z.invalid AND l.first_auto_reply_at IS NOT NULL"),
                **_BIN_MEASURES,
            },
        ),
        Branch("lead_fact l", "l", "l.qualified_at", "l.dealership_id", {"prospects": "1"}),
        Branch(
            "lead_fact l",
            "l",
            "l.won_at",
            "l.dealership_id",
            {"sales": "1", "sales_react": _when(REACTIVATED_SALE)},
        ),
        Branch(
            "recovery_fact r",
            "r",
            "r.at",
            "r.dealership_id",
            {"reactivated": _when("r.kind = 'reactivated'"), "dead": _when("r.kind = 'dead'")},
            where="r.kind IN ('reactivated', 'dead')",
        ),
        Branch(
            "intake_fact i",
            "i",
            "i.received_at",
            "i.dealership_id",
            {"rejected": _when("i.kind = 'rejected'"), "duplicates": _when("i.kind = 'duplicate'")},
        ),
        Branch(
            "loss_fact x",
            "x",
            "x.lost_at",
            "x.dealership_id",
            {"lost_deals": "1"},
            where="x.category NOT IN ('pollution', 'invalid')",
        ),
    ),
)

# Revenue of sales from reactivated deals, per currency, by the day of the sale.
MONEY = Family(
    "money_rollup",
    ("currency",),
    ("react_sales", "react_revenue"),
    (
        Branch(
            "lead_fact l",
            "l",
            "l.won_at",
            "l.dealership_id",
            {"react_sales": "1", "react_revenue": "l.won_amount"},
            keys={"currency": "COALESCE(l.won_currency, '')"},
            where=f"{REACTIVATED_SALE} AND l.won_amount IS NOT NULL",
        ),
    ),
    money=frozenset({"react_revenue"}),
)

# Losses of leads and prospects by code, by the day of the loss.
REASONS = Family(
    "reason_rollup",
    ("origin", "category", "reason_code"),
    ("losses",),
    (
        Branch(
            "loss_fact x",
            "x",
            "x.lost_at",
            "x.dealership_id",
            {"losses": "1"},
            keys={"origin": "x.origin", "category": "x.category", "reason_code": "x.reason_code"},
        ),
    ),
)

# Attempts before the leads lost (test and invalid write-offs left out), by the day of the loss.
PERSIST = Family(
    "persist_rollup",
    ("category", "attempts", "min_attempts", "automatic"),
    ("losses",),
    (
        Branch(
            "loss_fact x",
            "x",
            "x.lost_at",
            "x.dealership_id",
            {"losses": "1"},
            keys={
                "category": "x.category",
                "attempts": "COALESCE(x.attempts, -1)",
                "min_attempts": "COALESCE(x.min_attempts, -1)",
                "automatic": "x.automatic",
            },
            where="x.origin = 'lead' AND x.category NOT IN ('pollution', 'invalid')",
        ),
    ),
)

_SOURCE_KEYS = ("source_id", "source_name", "source_kind", "currency")


def _source_keys(a: str) -> dict[str, str]:
    return {k: f"COALESCE({a}.{k}, '')" for k in _SOURCE_KEYS}


# Per source: what it delivered and cost (by the day received), prospects and sales (by theirs).
SOURCES = Family(
    "source_rollup",
    _SOURCE_KEYS,
    (
        "leads",
        "invalid_leads",
        "duplicates",
        "rejected",
        "prospects",
        "sales",
        "cost_n",
        "cost",
    ),
    (
        Branch(
            "lead_fact l",
            "l",
            "l.received_at",
            "l.dealership_id",
            {
                "leads": "1",
                "invalid_leads": _when(INVALID),
                "cost_n": _when("l.cost_per_lead IS NOT NULL"),
                "cost": "COALESCE(l.cost_per_lead, 0)",
            },
            keys=_source_keys("l"),
            where="l.source_id IS NOT NULL",
        ),
        Branch(
            "lead_fact l",
            "l",
            "l.qualified_at",
            "l.dealership_id",
            {"prospects": "1"},
            keys=_source_keys("l"),
            where="l.source_id IS NOT NULL",
        ),
        Branch(
            "lead_fact l",
            "l",
            "l.won_at",
            "l.dealership_id",
            {"sales": "1"},
            keys=_source_keys("l"),
            where="l.source_id IS NOT NULL",
        ),
        Branch(
            "intake_fact i",
            "i",
            "i.received_at",
            "i.dealership_id",
            {
                "duplicates": _when("i.kind = 'duplicate'"),
                "rejected": _when("i.kind = 'rejected'"),
                "cost_n": _when("i.cost_per_lead IS NOT NULL"),
                "cost": "COALESCE(i.cost_per_lead, 0)",
            },
            keys=_source_keys("i"),
        ),
    ),
    money=frozenset({"cost"}),
)

CONSULTANT_OF_LEAD = "COALESCE(l.won_consultant, l.consultant_id)"

# Per consultant: prospects first assigned (to whoever has them now), sales and revenue, losses.
CONSULTANTS = Family(
    "consultant_rollup",
    ("consultant_id",),
    ("prospects", "sales", "reactivated_sales", "losses", "revenue_n", "revenue"),
    (
        Branch(
            "lead_fact l",
            "l",
            "l.first_assigned_at",
            "l.dealership_id",
            {"prospects": "1"},
            keys={"consultant_id": CONSULTANT_OF_LEAD},
            where=f"{CONSULTANT_OF_LEAD} IS NOT NULL",
        ),
        Branch(
            "lead_fact l",
            "l",
            "l.won_at",
            "l.dealership_id",
            {
                "sales": "1",
                "reactivated_sales": _when(REACTIVATED_SALE),
                "revenue_n": _when("l.won_amount IS NOT NULL"),
                "revenue": "COALESCE(l.won_amount, 0)",
            },
            keys={"consultant_id": "l.won_consultant"},
            where="l.won_consultant IS NOT NULL",
        ),
        Branch(
            "loss_fact x",
            "x",
            "x.lost_at",
            "x.dealership_id",
            {"losses": "1"},
            keys={"consultant_id": "x.consultant_id"},
            where="x.origin = 'prospect' AND x.consultant_id IS NOT NULL",
        ),
    ),
    money=frozenset({"revenue"}),
)

FAMILIES: tuple[Family, ...] = (FUNNEL, MONEY, REASONS, PERSIST, SOURCES, CONSULTANTS)
ROLLUP_TABLES = tuple(f.table for f in FAMILIES)


# -- what the facts contribute ----------------------------------------------------------------


def _branch_sql(family: Family, b: Branch, condition: str) -> str:
    keys = [f"{b.keys[k]} AS {k}" for k in family.keys]
    # A condition on a null (no reactivation, say) counts nothing, as FILTER (WHERE ...) does.
    measures = [
        f"COALESCE({b.measures[m]}, 0) AS {m}" if m in b.measures else f"0 AS {m}"
        for m in family.measures
    ]
    source = b.source
    return (
        f"SELECT {b.alias}.tenant_id AS tenant_id, {b.time} AS at, "
        f"COALESCE({b.dealership}, '') AS dealership_id, "
        + ", ".join([*keys, *measures])
        + f" FROM {source} WHERE {b.time} IS NOT NULL AND ({b.where}) AND {condition}"
    )


# A lead's own rows, read once each by primary key or the lead's index (`one_*` stand for the
# fact tables in the branches), so the plan does not depend on how many rows the tenant has.
_ONE_LEAD = {
    "lead_fact": "SELECT * FROM lead_fact WHERE tenant_id = :tenant AND lead_id = :lead_id",
    "loss_fact": "SELECT * FROM loss_fact WHERE tenant_id = :tenant AND lead_id = :lead_id",
    "recovery_fact": (
        "SELECT * FROM recovery_fact WHERE tenant_id = :tenant AND lead_id = :lead_id"
    ),
    # A rejected enquiry has no lead: it is found by its own event id.
    "intake_fact": (
        "SELECT * FROM intake_fact WHERE tenant_id = :tenant AND lead_id = :lead_id "
        "UNION SELECT * FROM intake_fact WHERE event_id = :event_id AND tenant_id = :tenant"
    ),
}


def _of_lead_sql(family: Family) -> str:
    """The family's contributions of one lead (and of one intake event), per day."""
    tables = sorted({_table_of(b) for b in family.branches})
    ctes = ", ".join(f"one_{t} AS MATERIALIZED ({_ONE_LEAD[t]})" for t in tables)
    union = " UNION ALL ".join(
        _branch_sql(family, replace(b, source=f"one_{b.source}"), "true") for b in family.branches
    )
    return f"WITH {ctes} " + _grouped(family, union)


def _sums(family: Family) -> str:
    return ", ".join(f"sum({m}) AS {m}" for m in family.measures)


def _per_day(family: Family, condition: Any) -> str:
    """The contributions summed per tenant, UTC day, dealership and keys."""
    union = " UNION ALL ".join(_branch_sql(family, b, condition(b)) for b in family.branches)
    return _grouped(family, union)


def _grouped(family: Family, union: str) -> str:
    keys = ", ".join(("tenant_id", "day", "dealership_id", *family.keys))
    return (
        "SELECT tenant_id, (at AT TIME ZONE 'UTC')::date AS day, dealership_id"
        + "".join(f", {k}" for k in family.keys)
        + f", {_sums(family)} FROM ({union}) c GROUP BY {keys}"
    )


Row = tuple[Any, ...]  # (day, dealership_id, *keys)


def _month(day: date) -> date:
    return day.replace(day=1)


@dataclass
class Delta:
    rows: dict[tuple[str, date, str, Row], list[Any]] = field(default_factory=dict)

    def add(self, grain: str, day: date, dealership: str, keys: Row, values: Sequence[Any]) -> None:
        k = (grain, day, dealership, keys)
        current = self.rows.get(k)
        if current is None:
            self.rows[k] = list(values)
        else:
            self.rows[k] = [a + b for a, b in zip(current, values, strict=True)]


async def _contributions(
    session: AsyncSession, family: Family, params: Mapping[str, Any]
) -> dict[tuple[date, str, Row], list[Any]]:
    rows = await session.execute(text(_of_lead_sql(family)), params)
    n = len(family.keys)
    return {(r[1], r[2], tuple(r[3 : 3 + n])): list(r[3 + n :]) for r in rows.all()}


def _table_of(branch: Branch) -> str:
    return branch.source.split()[0]


class Pending:
    """Rollup changes of a transaction's events, written together just before it commits: a
    rollup row (a tenant's day) is shared by all its events, so its lock is held for the
    shortest time, and once per batch rather than once per event. Rows go in one order (table,
    tenant, key), so transactions never wait on each other in a circle."""

    def __init__(self) -> None:
        self.deltas: dict[tuple[str, str], Delta] = {}

    def add(self, family: Family, tenant: str, delta: Delta) -> None:
        into = self.deltas.setdefault((family.table, tenant), Delta())
        for (grain, day, dealership, keys), values in delta.rows.items():
            into.add(grain, day, dealership, keys, values)

    async def flush(self, session: AsyncSession) -> None:
        by_table = {f.table: f for f in FAMILIES}
        for (table, tenant), delta in sorted(self.deltas.items(), key=lambda kv: kv[0]):
            await _apply(session, by_table[table], tenant, delta)
        self.deltas.clear()


class Maintainer:
    """Reads a lead's contributions before its event's facts are applied, then adds the change
    (to `pending`, written at its flush). Only the families fed by the fact tables the event
    writes (`tables`) are read."""

    def __init__(
        self,
        session: AsyncSession,
        tenant_id: str,
        lead_id: UUID | None,
        event_id: UUID,
        tables: Iterable[str],
        pending: Pending,
    ) -> None:
        self.session = session
        self.pending = pending
        self.tenant_id, self.lead_id = tenant_id, lead_id
        self.params = {"tenant": tenant_id, "lead_id": lead_id, "event_id": event_id}
        written = set(tables)
        self.families = [f for f in FAMILIES if any(_table_of(b) in written for b in f.branches)]
        self.before: dict[str, dict[tuple[date, str, Row], list[Any]]] = {}

    async def __aenter__(self) -> Maintainer:
        # One plan a statement and connection: the lead's rows are read by key whatever the
        # parameters, and planning these unions costs more than running them.
        await self.session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        if self.lead_id is not None:
            await lock_leads(self.session, self.tenant_id, [self.lead_id])
        for family in self.families:
            self.before[family.table] = await _contributions(self.session, family, self.params)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        for family in self.families:
            after = await _contributions(self.session, family, self.params)
            delta = Delta()
            for key in self.before[family.table].keys() | after.keys():
                old = self.before[family.table].get(key) or [0] * len(family.measures)
                new = after.get(key) or [0] * len(family.measures)
                change = [b - a for a, b in zip(old, new, strict=True)]
                if any(change):
                    day, dealership, keys = key
                    delta.add("d", day, dealership, keys, change)
                    delta.add("m", _month(day), dealership, keys, change)
            self.pending.add(family, self.tenant_id, delta)


async def _apply(session: AsyncSession, family: Family, tenant: str, delta: Delta) -> None:
    """Add the changes, rows in key order (so replicas lock them in one order: no deadlock)."""
    if not delta.rows:
        return
    names = ("tenant_id", "grain", "day", "dealership_id", *family.keys)
    sets = ", ".join(f"{m} = {family.table}.{m} + EXCLUDED.{m}" for m in family.measures)
    sql = (
        f"INSERT INTO {family.table} ({', '.join((*names, *family.measures))}) VALUES ("
        + ", ".join(f":{c}" for c in (*names, *family.measures))
        + f") ON CONFLICT ({', '.join(names)}) DO UPDATE SET {sets}"
    )
    rows = []
    for (grain, day, dealership, keys), values in sorted(delta.rows.items(), key=lambda kv: kv[0]):
        row: dict[str, Any] = {"tenant_id": tenant, "grain": grain, "day": day}
        row["dealership_id"] = dealership
        row |= dict(zip(family.keys, keys, strict=True))
        row |= dict(zip(family.measures, values, strict=True))
        rows.append(row)
    for row in rows:  # one at a time, in order: executemany may not keep it
        await session.execute(text(sql), row)


async def rebuild_all(conn: AsyncConnection) -> None:
    """Every rollup emptied and summed again from the facts (inside the caller's transaction)."""
    await conn.execute(text(f"TRUNCATE {', '.join(ROLLUP_TABLES)}"))
    for family in FAMILIES:
        keys = "".join(f", {k}" for k in family.keys)
        measures = ", ".join(family.measures)
        await conn.execute(
            text(
                f"INSERT INTO {family.table} (tenant_id, grain, day, dealership_id{keys}, "
                f"{measures}) SELECT tenant_id, 'd', day, dealership_id{keys}, {measures} "
                f"FROM ({_per_day(family, lambda b: 'true')}) s"
            )
        )
        await conn.execute(
            text(
                f"INSERT INTO {family.table} (tenant_id, grain, day, dealership_id{keys}, "
                f"{measures}) SELECT tenant_id, 'm', date_trunc('month', day)::date, "
                f"dealership_id{keys}, {_sums(family)} FROM {family.table} WHERE grain = 'd' "
                f"GROUP BY tenant_id, date_trunc('month', day), dealership_id{keys}"
            )
        )


async def from_scratch(conn: AsyncConnection, family: Family) -> set[tuple[Any, ...]]:
    """What the family's daily rows would be if summed from the facts now (for checks)."""
    rows = await conn.execute(text(_per_day(family, lambda b: "true")))
    return {_normal(family, tuple(r)) for r in rows.all() if any(r[3 + len(family.keys) :])}


async def stored(conn: AsyncConnection, family: Family, grain: str = "d") -> set[tuple[Any, ...]]:
    """The family's rows as maintained (all-zero rows, left by changes that cancel out, aside)."""
    columns = ", ".join(("tenant_id", "day", "dealership_id", *family.keys, *family.measures))
    rows = await conn.execute(
        text(f"SELECT {columns} FROM {family.table} WHERE grain = :grain"), {"grain": grain}
    )
    return {_normal(family, tuple(r)) for r in rows.all() if any(r[3 + len(family.keys) :])}


def _normal(family: Family, row: tuple[Any, ...]) -> tuple[Any, ...]:
    n = 3 + len(family.keys)
    return row[:n] + tuple(Decimal(v) for v in row[n:])


# -- reading ----------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


@dataclass(frozen=True)
class Plan:
    """A window split into what the rollups answer (whole UTC days [first, last), the whole
    months among them from the month rows) and the edges the facts answer (less than a day
    each, only when the window's zone is not UTC)."""

    first: date
    months_from: date
    months_to: date
    last: date
    edges: tuple[tuple[datetime, datetime], ...]


def plan(window: Window, *, months: bool = True) -> Plan:
    start, end = window.start, window.end
    first = (start.astimezone(UTC) + timedelta(days=1) - timedelta(microseconds=1)).date()
    last = end.astimezone(UTC).date()
    edges: list[tuple[datetime, datetime]] = []
    if first >= last:  # not one whole UTC day inside: the facts answer it all
        return Plan(last, last, last, last, ((start, end),))
    if start < _midnight(first):
        edges.append((start, _midnight(first)))
    if _midnight(last) < end:
        edges.append((_midnight(last), end))
    m_from = first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    m_to = _month(last)
    if not months or m_from >= m_to:
        m_from = m_to = last
    return Plan(first, m_from, m_to, last, tuple(edges))


def utc_days(window: Window) -> bool:
    """Whether every day of the window starts at a UTC midnight (its days are UTC days)."""
    zone = ZoneInfo(window.timezone)
    day = window.first_day
    while day <= window.last_day + timedelta(days=1):
        if zone.utcoffset(datetime.combine(day, time())) != timedelta(0):
            return False
        day += timedelta(days=1)
    return True


def scope_sql(column: str, scope: Scope) -> str:
    parts = []
    if scope.dealerships is not None:
        parts.append(f"{column} = ANY(:dealerships)")
    if scope.dealership is not None:
        parts.append(f"{column} = :dealership")
    return "".join(f" AND {p}" for p in parts)


def _scope_params(scope: Scope) -> dict[str, Any]:
    return {
        "tenant": scope.tenant_id,
        "dealerships": list(scope.dealerships or ()),
        "dealership": scope.dealership,
    }


def answers(scope: Scope) -> bool:
    """The rollups hold dealerships only: a filter on anything else is read from the facts."""
    return all(
        getattr(scope, name) is None for name in ("source", "campaign", "consultant", "agent")
    )


async def sums(
    session: AsyncSession,
    family: Family,
    scope: Scope,
    window: Window,
    by: Iterable[str] = (),
    *,
    group: str = "none",
) -> list[dict[str, Any]]:
    """The family's measures summed over the window, per `by` (of its keys and `dealership_id`)
    and per `group` (`none`, `day` or `month`; `day`/`month` only for UTC days). Edges of a
    window in another zone are summed from the facts and added in."""
    by = tuple(by)
    p = plan(window, months=group != "day")
    params = _scope_params(scope) | {
        "first": p.first,
        "m_from": p.months_from,
        "m_to": p.months_to,
        "last": p.last,
    }
    period = {
        "none": "NULL::text",
        "day": "to_char(day, 'YYYY-MM-DD')",
        "month": "to_char(day, 'YYYY-MM')",
    }[group]
    cols = ", ".join((f"{period} AS k", *by))
    sql = (
        f"SELECT {cols}, {_sums(family)} FROM {family.table} WHERE tenant_id = :tenant"
        f"{scope_sql('dealership_id', scope)} AND ((grain = 'm' AND day >= :m_from AND "
        "day < :m_to) OR (grain = 'd' AND ((day >= :first AND day < :m_from) OR "
        f"(day >= :m_to AND day < :last)))) GROUP BY {', '.join(('k', *by))}"
    )
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    rows = [dict(r._mapping) for r in await session.execute(text(sql), params)]
    for start, end in p.edges:
        rows += await _edge_sums(session, family, scope, start, end, by)
    for r in rows:
        key = (r["k"], *(r[b] for b in by))
        if key in out:
            for m in family.measures:
                out[key][m] += r[m] or 0
        else:
            out[key] = {"k": r["k"]} | {b: r[b] for b in by}
            out[key] |= {m: r[m] or 0 for m in family.measures}
    result = list(out.values())
    for r in result:
        for m in family.measures:
            if m not in family.money:
                r[m] = int(r[m])
    return result


async def _edge_sums(
    session: AsyncSession,
    family: Family,
    scope: Scope,
    start: datetime,
    end: datetime,
    by: tuple[str, ...],
) -> list[dict[str, Any]]:
    def condition(b: Branch) -> str:
        return (
            f"{b.alias}.tenant_id = :tenant AND {b.time} >= :start AND {b.time} < :end"
            + scope_sql(f"COALESCE({b.dealership}, '')", scope)
        )

    union = " UNION ALL ".join(_branch_sql(family, b, condition(b)) for b in family.branches)
    cols = ", ".join(("NULL::text AS k", *by))
    group = f" GROUP BY {', '.join(by)}" if by else ""
    sql = f"SELECT {cols}, {_sums(family)} FROM ({union}) c{group}"
    params = _scope_params(scope) | {"start": start, "end": end}
    return [dict(r._mapping) for r in await session.execute(text(sql), params)]
