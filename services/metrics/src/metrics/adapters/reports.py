"""The KPI reports, from the rollups when they can answer (filters on dealerships only; days
and months grouped only when they are UTC days), else from the fact rows (`adapters.kpis`).
Both give the same figures: the rollups are sums of the same facts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from metrics.adapters import kpis as facts
from metrics.adapters import rollups
from metrics.adapters.rollups import CONSULTANTS, FUNNEL, MONEY, PERSIST, REASONS, SOURCES
from metrics.domain.kpis import (
    EXACT_PERCENTILE_MAX,
    LATENCY_BUCKETS,
    SPEED_BINS,
    GroupBy,
    Scope,
    Window,
    bins_of_buckets,
    percentile_of_bins,
)

_ACTIVITY = {
    "leads": "leads",
    "returning": "returning_leads",
    "invalid_leads": "invalid_leads",
    "rejected": "rejected",
    "duplicates": "duplicates",
    "prospects": "prospects",
    "reactivated": "reactivated",
    "sales": "sales",
    "sales_from_reactivated": "sales_react",
}
_COHORT = _ACTIVITY | {
    "prospects": "c_prospects",
    "reactivated": "c_reactivated",
    "sales": "c_sales",
    "sales_from_reactivated": "c_sales_react",
}


def _none(value: Any) -> Any:
    return None if value in ("", -1) else value


def _last_nulls(key: Any) -> tuple[bool, Any]:
    return (key is None, key if key is not None else "")


def rolled(scope: Scope, window: Window, group_by: str = "none", *, allowed: bool = True) -> bool:
    """Whether the rollups answer (`allowed` False: read the facts, for checks)."""
    if not allowed or not rollups.answers(scope):
        return False
    if group_by in ("none", "dealership"):
        return True
    return group_by in ("day", "month") and rollups.utc_days(window)


async def funnel(
    session: AsyncSession,
    scope: Scope,
    window: Window,
    group_by: GroupBy,
    basis: str,
    *,
    allowed: bool = True,
) -> list[dict[str, Any]]:
    if not rolled(scope, window, group_by, allowed=allowed):
        return await facts.funnel(session, scope, window, group_by, basis)
    by = ("dealership_id",) if group_by == "dealership" else ()
    group = group_by if group_by in ("day", "month") else "none"
    columns = _COHORT if basis == "cohort" else _ACTIVITY
    out = []
    for r in await rollups.sums(session, FUNNEL, scope, window, by, group=group):
        row = {name: r[m] for name, m in columns.items()}
        if not any(row.values()):  # the facts give no row for a group with nothing counted
            continue
        row["k"] = _none(r["dealership_id"]) if by else r["k"]
        out.append(row)
    return sorted(out, key=lambda row: _last_nulls(row["k"]))


async def speed_to_lead(
    session: AsyncSession, scope: Scope, window: Window, *, allowed: bool = True
) -> dict[str, Any]:
    if not rolled(scope, window, allowed=allowed):
        row = await facts.speed_to_lead(session, scope, window)
        return row | {"percentiles": "exact"}
    [r] = await rollups.sums(session, FUNNEL, scope, window) or [dict.fromkeys(FUNNEL.measures, 0)]
    bins = [r[f"h{i}"] for i in range(len(SPEED_BINS) + 1)]
    out: dict[str, Any] = {
        "leads": r["s_leads"],
        "attempted": r["s_attempted"],
        "breaches": r["s_breaches"],
        "met": r["s_met"],
        "automatic": r["s_auto"],
    }
    for i, members in enumerate(bins_of_buckets()):
        out[f"b{i}"] = sum(bins[j] for j in members)
    assert len(bins_of_buckets()) == len(LATENCY_BUCKETS)
    if r["s_leads"] <= EXACT_PERCENTILE_MAX:
        exact = await facts.speed_to_lead(session, scope, window)
        out |= {"p50": exact["p50"], "p90": exact["p90"], "percentiles": "exact"}
    else:
        out |= {
            "p50": percentile_of_bins(bins, 0.5),
            "p90": percentile_of_bins(bins, 0.9),
            "percentiles": "binned",
        }
    return out


def persistence_of(
    rows: Iterable[dict[str, Any]], asked: int | None, default: int
) -> dict[str, Any]:
    """Persistence from losses counted per (category, attempts, dealership minimum, automatic):
    each loss is compared with the minimum asked for, else its dealership's, else the default."""
    cap = asked or default
    losses = automatic = below = 0
    attempts: Counter[int] = Counter()
    histogram: Counter[int | None] = Counter()
    categories: dict[str, list[int]] = {}
    for r in rows:
        n, a = r["losses"], _none(r["attempts"])
        minimum = asked or _none(r["min_attempts"]) or default
        losses += n
        automatic += n if r["automatic"] else 0
        is_below = a is not None and a < minimum
        below += n if is_below else 0
        if a is not None:
            attempts[a] += n
        histogram[None if a is None else min(a, cap)] += n
        c = categories.setdefault(r["category"], [0, 0])
        c[0] += n
        c[1] += n if is_below else 0
    counted = sum(attempts.values())
    return {
        "losses": losses,
        "mean": sum(a * n for a, n in attempts.items()) / counted if counted else None,
        "median": _median(attempts),
        "below_minimum": below,
        "automatic": automatic,
        "histogram": [
            {"attempts": a, "n": n}
            for a, n in sorted(histogram.items(), key=lambda kv: _last_nulls(kv[0]))
        ],
        "by_category": [
            {"category": c, "losses": v[0], "below_minimum": v[1]}
            for c, v in sorted(categories.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ],
    }


def _median(counts: Counter[int]) -> float | None:
    """`percentile_cont(0.5)` of the attempts counted."""
    n = sum(counts.values())
    if not n:
        return None
    values = sorted(counts)

    def nth(rank: int) -> int:
        seen = 0
        for v in values:
            seen += counts[v]
            if rank < seen:
                return v
        raise AssertionError("rank beyond the counts")

    position = 0.5 * (n - 1)
    low = int(position)
    high = min(low + 1, n - 1)
    return nth(low) + (nth(high) - nth(low)) * (position - low)


_PERSIST_FACTS = """
SELECT x.category, COALESCE(x.attempts, -1) AS attempts,
  COALESCE(x.min_attempts, -1) AS min_attempts, x.automatic, count(*) AS losses
FROM loss_fact x {join}
WHERE {where} AND x.origin = 'lead' AND x.lost_at >= :start AND x.lost_at < :end
  AND x.category NOT IN ('pollution', 'invalid')
GROUP BY 1, 2, 3, 4"""


async def persistence(
    session: AsyncSession,
    scope: Scope,
    window: Window,
    asked: int | None,
    default: int,
    *,
    allowed: bool = True,
) -> dict[str, Any]:
    if rolled(scope, window, allowed=allowed):
        by = ("category", "attempts", "min_attempts", "automatic")
        rows = await rollups.sums(session, PERSIST, scope, window, by)
    else:
        sql = _PERSIST_FACTS.format(
            join=facts.LEAD_JOIN.format(a="x"), where=facts.where("loss", scope)
        )
        rows = [
            dict(r._mapping) for r in await session.execute(text(sql), facts.params(scope, window))
        ]
    return persistence_of(rows, asked, default)


async def lost_reasons(
    session: AsyncSession, scope: Scope, window: Window, *, allowed: bool = True
) -> list[dict[str, Any]]:
    if not rolled(scope, window, allowed=allowed):
        return await facts.lost_reasons(session, scope, window)
    by = ("origin", "category", "reason_code")
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for r in await rollups.sums(session, REASONS, scope, window, by):
        if not r["losses"]:
            continue
        m = merged.setdefault(
            (r["category"], r["reason_code"]),
            {
                "category": r["category"],
                "reason_code": r["reason_code"],
                "losses": 0,
                "lead_losses": 0,
                "prospect_losses": 0,
            },
        )
        m["losses"] += r["losses"]
        m[f"{r['origin']}_losses"] += r["losses"]
    return sorted(merged.values(), key=lambda m: (-m["losses"], m["reason_code"]))


_BOUGHT_ELSEWHERE = """
SELECT count(DISTINCT lead_id) FROM (
  SELECT x.lead_id FROM loss_fact x WHERE x.tenant_id = :tenant{scope_x}
    AND x.lost_at >= :start AND x.lost_at < :end AND x.category = 'bought_elsewhere'
  UNION ALL
  SELECT r.lead_id FROM recovery_fact r WHERE r.tenant_id = :tenant{scope_r}
    AND r.at >= :start AND r.at < :end AND r.kind = 'bought_elsewhere') b"""


async def recovery(
    session: AsyncSession, scope: Scope, window: Window, *, allowed: bool = True
) -> dict[str, Any]:
    if not rolled(scope, window, allowed=allowed):
        return await facts.recovery(session, scope, window)
    [r] = await rollups.sums(session, FUNNEL, scope, window) or [dict.fromkeys(FUNNEL.measures, 0)]
    out: dict[str, Any] = {
        "lost_deals": r["lost_deals"],
        "reactivations": r["reactivated"],
        "dead": r["dead"],
        "sales_from_reactivated": r["sales_react"],
        "returning_customers": r["returning_leads"],
    }
    # Distinct leads over two kinds of fact: not a sum of days, read from the facts (few rows,
    # on partial indexes).
    sql = _BOUGHT_ELSEWHERE.format(
        scope_x=rollups.scope_sql("x.dealership_id", scope),
        scope_r=rollups.scope_sql("r.dealership_id", scope),
    )
    params = facts.params(scope, window)
    out["bought_elsewhere"] = (await session.execute(text(sql), params)).scalar_one()
    money = await rollups.sums(session, MONEY, scope, window, ("currency",))
    out["recovered_revenue"] = sorted(
        (
            {
                "currency": _none(m["currency"]),
                "amount": m["react_revenue"],
                "sales": m["react_sales"],
            }
            for m in money
            if m["react_sales"]
        ),
        key=lambda m: _last_nulls(m["currency"]),
    )
    return out


async def sources(
    session: AsyncSession, scope: Scope, window: Window, *, allowed: bool = True
) -> list[dict[str, Any]]:
    if not rolled(scope, window, allowed=allowed):
        return await facts.sources(session, scope, window)
    by = ("source_id", "source_name", "source_kind", "currency")
    merged: dict[tuple[str, str | None], dict[str, Any]] = {}
    counts = ("leads", "invalid_leads", "duplicates", "rejected", "prospects", "sales", "cost_n")
    for r in await rollups.sums(session, SOURCES, scope, window, by):
        if not any(r[c] for c in counts):
            continue
        key = (r["source_id"], _none(r["currency"]))
        m = merged.setdefault(
            key,
            {"source_id": key[0], "source_name": None, "source_kind": None, "currency": key[1]}
            | dict.fromkeys(counts, 0)
            | {"cost": Decimal(0)},
        )
        for name in ("source_name", "source_kind"):
            value = _none(r[name])
            if value is not None and (m[name] is None or value > m[name]):
                m[name] = value
        for c in counts:
            m[c] += r[c]
        m["cost"] += r["cost"]
    out = []
    for m in merged.values():
        if not m.pop("cost_n"):
            m["cost"] = None
        out.append(m)
    out.sort(key=lambda m: (-m["leads"], m["source_id"]))
    return out[:1000]


async def consultants(
    session: AsyncSession, scope: Scope, window: Window, limit: int, *, allowed: bool = True
) -> list[dict[str, Any]]:
    if not rolled(scope, window, allowed=allowed):
        return await facts.consultants(session, scope, window, limit)
    out = []
    for r in await rollups.sums(session, CONSULTANTS, scope, window, ("consultant_id",)):
        if not (r["prospects"] or r["sales"] or r["losses"]):
            continue
        out.append(
            {
                "consultant_id": r["consultant_id"],
                "prospects": r["prospects"],
                "sales": r["sales"],
                "reactivated_sales": r["reactivated_sales"],
                "losses": r["losses"],
                "revenue": r["revenue"] if r["revenue_n"] else None,
            }
        )
    out.sort(key=lambda c: (-c["sales"], -c["prospects"], c["consultant_id"]))
    return out[:limit]
