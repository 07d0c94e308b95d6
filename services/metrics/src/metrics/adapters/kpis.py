"""The KPIs as SQL over the fact rows. Every query starts from the tenant (and the caller's
dealerships), then the request's filters, then the time window on an indexed time column."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from metrics.domain.kpis import LATENCY_BUCKETS, GroupBy, Scope, Window

# The lead's agent (who closed first contact, else who first tried) and consultant (who sold
# it, else who has it now).
AGENT_OF_LEAD = "COALESCE(l.qualified_agent, l.lead_lost_agent, l.first_attempt_agent)"
CONSULTANT_OF_LEAD = "COALESCE(l.won_consultant, l.consultant_id)"
INVALID_LEAD = "COALESCE(l.lead_lost_category IN ('pollution', 'invalid'), false)"

# Dimension -> column, per fact table alias. None: the table has no such dimension, so a filter
# on it matches none of its rows.
DIMS: Mapping[str, Mapping[str, str | None]] = {
    "lead": {
        "dealership": "l.dealership_id",
        "source": "l.source_id",
        "campaign": "l.campaign",
        "consultant": CONSULTANT_OF_LEAD,
        "agent": AGENT_OF_LEAD,
    },
    "intake": {
        "dealership": "i.dealership_id",
        "source": "i.source_id",
        "campaign": "i.campaign",
        "consultant": None,
        "agent": None,
    },
    "loss": {
        "dealership": "x.dealership_id",
        "source": "l.source_id",
        "campaign": "l.campaign",
        "consultant": "x.consultant_id",
        "agent": f"COALESCE(x.agent_id, {AGENT_OF_LEAD})",
    },
    "recovery": {
        "dealership": "r.dealership_id",
        "source": "l.source_id",
        "campaign": "l.campaign",
        "consultant": CONSULTANT_OF_LEAD,
        "agent": AGENT_OF_LEAD,
    },
}
TENANT_OF = {"lead": "l", "intake": "i", "loss": "x", "recovery": "r"}


def where(table: str, scope: Scope) -> str:
    dims = DIMS[table]
    alias = TENANT_OF[table]
    parts = [f"{alias}.tenant_id = :tenant"]
    if scope.dealerships is not None:
        parts.append(f"{dims['dealership']} = ANY(:dealerships)")
    for name in ("dealership", "source", "campaign", "consultant", "agent"):
        if getattr(scope, name) is not None:
            column = dims[name]
            parts.append("false" if column is None else f"{column} = :{name}")
    return " AND ".join(parts)


def params(scope: Scope, window: Window | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tenant": scope.tenant_id,
        "dealerships": list(scope.dealerships or ()),
        "dealership": scope.dealership,
        "source": scope.source,
        "campaign": scope.campaign,
        "consultant": scope.consultant,
        "agent": scope.agent,
    }
    if window is not None:
        out |= {"start": window.start, "end": window.end, "tz": window.timezone}
    return out | extra


def _in(column: str) -> str:
    return f"{column} >= :start AND {column} < :end"


def _group_key(table: str, group_by: GroupBy, time_column: str) -> str:
    if group_by == "none":
        return "NULL::text"
    if group_by == "day":
        return f"to_char({time_column} AT TIME ZONE :tz, 'YYYY-MM-DD')"
    if group_by == "month":
        return f"to_char({time_column} AT TIME ZONE :tz, 'YYYY-MM')"
    column = DIMS[table][group_by]
    return "NULL::text" if column is None else column


_LEAD_JOIN = "LEFT JOIN lead_fact l ON l.tenant_id = {a}.tenant_id AND l.lead_id = {a}.lead_id"
LEAD_JOIN = _LEAD_JOIN

FUNNEL_COLUMNS = (
    "leads",
    "returning",
    "invalid_leads",
    "rejected",
    "duplicates",
    "prospects",
    "reactivated",
    "sales",
    "sales_from_reactivated",
)

_REACTIVATED_SALE = "(COALESCE(l.won_reactivated, false) OR l.reactivated_at <= l.won_at)"


async def funnel(
    session: AsyncSession, scope: Scope, window: Window, group_by: GroupBy, basis: str
) -> list[dict[str, Any]]:
    """Counts per group. `activity`: each stage counted on its own date (leads received, leads
    qualified, sales made in the window); `cohort`: the leads received in the window and what
    has become of them so far."""
    wl, wi, wr = where("lead", scope), where("intake", scope), where("recovery", scope)
    if basis == "cohort":
        k = _group_key("lead", group_by, "l.received_at")
        sql = f"""
        SELECT k, count(*) FILTER (WHERE stage = 'lead') AS leads,
          count(*) FILTER (WHERE stage = 'lead' AND is_returning) AS "returning",
          count(*) FILTER (WHERE stage = 'lead' AND invalid) AS invalid_leads,
          count(*) FILTER (WHERE stage = 'rejected') AS rejected,
          count(*) FILTER (WHERE stage = 'duplicate') AS duplicates,
          count(*) FILTER (WHERE stage = 'lead' AND prospect) AS prospects,
          count(*) FILTER (WHERE stage = 'lead' AND reactivated) AS reactivated,
          count(*) FILTER (WHERE stage = 'lead' AND sale) AS sales,
          count(*) FILTER (WHERE stage = 'lead' AND sale AND sale_reactivated) AS
            sales_from_reactivated
        FROM (
          SELECT 'lead' AS stage, {k} AS k, l.previous_lead_id IS NOT NULL AS is_returning,
            {INVALID_LEAD} AS invalid, l.qualified_at IS NOT NULL AS prospect,
            l.reactivated_at IS NOT NULL AS reactivated, l.won_at IS NOT NULL AS sale,
            {_REACTIVATED_SALE} AS sale_reactivated
          FROM lead_fact l WHERE {wl} AND {_in("l.received_at")}
          UNION ALL
          SELECT i.kind, {_group_key("intake", group_by, "i.received_at")}, false, false, false,
            false, false, false
          FROM intake_fact i WHERE {wi} AND {_in("i.received_at")}
        ) s GROUP BY k ORDER BY k NULLS LAST"""
    else:

        def lead_stage(stage: str, column: str, extra: str = "") -> str:
            return (
                f"SELECT '{stage}' AS stage, {_group_key('lead', group_by, column)} AS k, "
                f"l.previous_lead_id IS NOT NULL AS is_returning, {INVALID_LEAD} AS invalid "
                f"FROM lead_fact l WHERE {wl} AND {_in(column)} {extra}"
            )

        sql = f"""
        SELECT k, count(*) FILTER (WHERE stage = 'lead') AS leads,
          count(*) FILTER (WHERE stage = 'lead' AND is_returning) AS "returning",
          count(*) FILTER (WHERE stage = 'lead' AND invalid) AS invalid_leads,
          count(*) FILTER (WHERE stage = 'rejected') AS rejected,
          count(*) FILTER (WHERE stage = 'duplicate') AS duplicates,
          count(*) FILTER (WHERE stage = 'prospect') AS prospects,
          count(*) FILTER (WHERE stage = 'reactivated') AS reactivated,
          count(*) FILTER (WHERE stage = 'sale') AS sales,
          count(*) FILTER (WHERE stage = 'sale_reactivated') AS sales_from_reactivated
        FROM (
          {lead_stage("lead", "l.received_at")}
          UNION ALL {lead_stage("prospect", "l.qualified_at")}
          UNION ALL {lead_stage("sale", "l.won_at")}
          UNION ALL {lead_stage("sale_reactivated", "l.won_at", f"AND {_REACTIVATED_SALE}")}
          UNION ALL
          SELECT i.kind, {_group_key("intake", group_by, "i.received_at")}, false, false
          FROM intake_fact i WHERE {wi} AND {_in("i.received_at")}
          UNION ALL
          SELECT 'reactivated', {_group_key("recovery", group_by, "r.at")}, false, false
          FROM recovery_fact r {_LEAD_JOIN.format(a="r")}
          WHERE {wr} AND r.kind = 'reactivated' AND {_in("r.at")}
        ) s GROUP BY k ORDER BY k NULLS LAST"""
    rows = await session.execute(text(sql), params(scope, window))
    return [dict(r._mapping) for r in rows]


async def speed_to_lead(session: AsyncSession, scope: Scope, window: Window) -> dict[str, Any]:
    """First-attempt latency of the leads received in the window (test and invalid leads left
    out), its distribution, and the SLA."""
    buckets = []
    lower = 0.0
    for i, (_label, upper) in enumerate(LATENCY_BUCKETS):
        cond = f"lat >= {lower}" + (f" AND lat < {upper}" if upper is not None else "")
        buckets.append(f"count(*) FILTER (WHERE {cond}) AS b{i}")
        lower = upper or 0.0
    sql = f"""
    SELECT count(*) AS leads, count(lat) AS attempted,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY lat) AS p50,
      percentile_cont(0.9) WITHIN GROUP (ORDER BY lat) AS p90,
      count(*) FILTER (WHERE breached) AS breaches,
      count(*) FILTER (WHERE lat IS NOT NULL AND NOT breached) AS met,
      count(*) FILTER (WHERE auto) AS automatic,
      {", ".join(buckets)}
    FROM (
      -- GREATEST skips NULLs: a lead with no attempt must stay NULL, not 0.
      SELECT CASE WHEN l.first_attempt_at IS NOT NULL THEN
          GREATEST(0, EXTRACT(EPOCH FROM l.first_attempt_at - l.received_at))::float8 END AS lat,
        l.sla_breached_at IS NOT NULL AS breached, l.first_auto_reply_at IS NOT NULL AS auto
      FROM lead_fact l WHERE {where("lead", scope)} AND {_in("l.received_at")}
        AND NOT {INVALID_LEAD}
    ) q"""
    row = (await session.execute(text(sql), params(scope, window))).one()
    return dict(row._mapping)


async def lost_reasons(session: AsyncSession, scope: Scope, window: Window) -> list[dict[str, Any]]:
    sql = f"""
    SELECT x.category, x.reason_code, count(*) AS losses,
      count(*) FILTER (WHERE x.origin = 'lead') AS lead_losses,
      count(*) FILTER (WHERE x.origin = 'prospect') AS prospect_losses
    FROM loss_fact x {_LEAD_JOIN.format(a="x")}
    WHERE {where("loss", scope)} AND {_in("x.lost_at")}
    GROUP BY 1, 2 ORDER BY 3 DESC, 2"""
    return [dict(r._mapping) for r in await session.execute(text(sql), params(scope, window))]


async def recovery(session: AsyncSession, scope: Scope, window: Window) -> dict[str, Any]:
    wl, wx, wr = where("lead", scope), where("loss", scope), where("recovery", scope)
    sql = f"""
    SELECT
      (SELECT count(*) FROM loss_fact x {_LEAD_JOIN.format(a="x")} WHERE {wx}
         AND {_in("x.lost_at")} AND x.category NOT IN ('pollution', 'invalid')) AS lost_deals,
      (SELECT count(*) FROM recovery_fact r {_LEAD_JOIN.format(a="r")} WHERE {wr}
         AND r.kind = 'reactivated' AND {_in("r.at")}) AS reactivations,
      (SELECT count(*) FROM recovery_fact r {_LEAD_JOIN.format(a="r")} WHERE {wr}
         AND r.kind = 'dead' AND {_in("r.at")}) AS dead,
      (SELECT count(*) FROM lead_fact l WHERE {wl} AND {_in("l.won_at")}
         AND {_REACTIVATED_SALE}) AS sales_from_reactivated,
      (SELECT count(*) FROM lead_fact l WHERE {wl} AND {_in("l.received_at")}
         AND l.previous_lead_id IS NOT NULL) AS returning_customers,
      (SELECT count(DISTINCT lead_id) FROM (
         SELECT x.lead_id FROM loss_fact x {_LEAD_JOIN.format(a="x")} WHERE {wx}
           AND {_in("x.lost_at")} AND x.category = 'bought_elsewhere'
         UNION ALL
         SELECT r.lead_id FROM recovery_fact r {_LEAD_JOIN.format(a="r")} WHERE {wr}
           AND r.kind = 'bought_elsewhere' AND {_in("r.at")}) b) AS bought_elsewhere"""
    row = dict((await session.execute(text(sql), params(scope, window))).one()._mapping)
    revenue = f"""
    SELECT l.won_currency AS currency, sum(l.won_amount) AS amount, count(*) AS sales
    FROM lead_fact l WHERE {wl} AND {_in("l.won_at")} AND {_REACTIVATED_SALE}
      AND l.won_amount IS NOT NULL GROUP BY 1 ORDER BY 1"""
    row["recovered_revenue"] = [
        dict(r._mapping) for r in await session.execute(text(revenue), params(scope, window))
    ]
    return row


async def sources(session: AsyncSession, scope: Scope, window: Window) -> list[dict[str, Any]]:
    """Per source (and currency): what it delivered in the window, what it cost, what came of
    it. Sales are those made in the window, credited to the lead's source."""
    wl, wi = where("lead", scope), where("intake", scope)
    sql = f"""
    SELECT source_id, max(source_name) AS source_name, max(source_kind) AS source_kind, currency,
      count(*) FILTER (WHERE stage = 'lead') AS leads,
      count(*) FILTER (WHERE stage = 'lead' AND invalid) AS invalid_leads,
      count(*) FILTER (WHERE stage = 'duplicate') AS duplicates,
      count(*) FILTER (WHERE stage = 'rejected') AS rejected,
      count(*) FILTER (WHERE stage = 'prospect') AS prospects,
      count(*) FILTER (WHERE stage = 'sale') AS sales,
      sum(cost) FILTER (WHERE stage IN ('lead', 'duplicate', 'rejected')) AS cost
    FROM (
      SELECT 'lead' AS stage, l.source_id, l.source_name, l.source_kind, l.currency,
        l.cost_per_lead AS cost, {INVALID_LEAD} AS invalid
      FROM lead_fact l WHERE {wl} AND {_in("l.received_at")}
      UNION ALL
      SELECT 'prospect', l.source_id, l.source_name, l.source_kind, l.currency, NULL, false
      FROM lead_fact l WHERE {wl} AND {_in("l.qualified_at")} AND l.source_id IS NOT NULL
      UNION ALL
      SELECT 'sale', l.source_id, l.source_name, l.source_kind, l.currency, NULL, false
      FROM lead_fact l WHERE {wl} AND {_in("l.won_at")} AND l.source_id IS NOT NULL
      UNION ALL
      SELECT i.kind, i.source_id, i.source_name, i.source_kind, i.currency, i.cost_per_lead, false
      FROM intake_fact i WHERE {wi} AND {_in("i.received_at")}
    ) s WHERE source_id IS NOT NULL
    GROUP BY source_id, currency ORDER BY leads DESC, source_id LIMIT 1000"""
    return [dict(r._mapping) for r in await session.execute(text(sql), params(scope, window))]


async def consultants(
    session: AsyncSession, scope: Scope, window: Window, limit: int
) -> list[dict[str, Any]]:
    wl, wx = where("lead", scope), where("loss", scope)
    sql = f"""
    SELECT consultant_id,
      count(*) FILTER (WHERE stage = 'assigned') AS prospects,
      count(*) FILTER (WHERE stage = 'sale') AS sales,
      count(*) FILTER (WHERE stage = 'sale' AND reactivated) AS reactivated_sales,
      count(*) FILTER (WHERE stage = 'lost') AS losses,
      sum(amount) FILTER (WHERE stage = 'sale') AS revenue
    FROM (
      SELECT 'assigned' AS stage, {CONSULTANT_OF_LEAD} AS consultant_id, false AS reactivated,
        NULL::numeric AS amount
      FROM lead_fact l WHERE {wl} AND {_in("l.first_assigned_at")}
      UNION ALL
      SELECT 'sale', l.won_consultant, {_REACTIVATED_SALE}, l.won_amount
      FROM lead_fact l WHERE {wl} AND {_in("l.won_at")}
      UNION ALL
      SELECT 'lost', x.consultant_id, false, NULL
      FROM loss_fact x {_LEAD_JOIN.format(a="x")}
      WHERE {wx} AND x.origin = 'prospect' AND {_in("x.lost_at")}
    ) s WHERE consultant_id IS NOT NULL
    GROUP BY 1 ORDER BY sales DESC, prospects DESC, consultant_id LIMIT :limit"""
    p = params(scope, window, limit=limit)
    return [dict(r._mapping) for r in await session.execute(text(sql), p)]


async def agents(
    session: AsyncSession,
    scope: Scope,
    window: Window,
    limit: int,
    min_attempts: int,
    asked: int | None = None,
) -> list[dict[str, Any]]:
    """Per agent; a loss is below the minimum asked for, else its dealership's (lead.lost),
    else `min_attempts`."""
    wl, wx = where("lead", scope), where("loss", scope)
    sql = f"""
    SELECT agent_id,
      count(*) FILTER (WHERE stage = 'first') AS first_attempts,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY lat) FILTER (WHERE stage = 'first')
        AS p50_seconds,
      count(*) FILTER (WHERE stage = 'first' AND breached) AS sla_breaches,
      count(*) FILTER (WHERE stage = 'qualified') AS qualified,
      count(*) FILTER (WHERE stage = 'lost') AS losses,
      count(*) FILTER (WHERE stage = 'lost' AND below) AS losses_below_minimum
    FROM (
      SELECT 'first' AS stage, l.first_attempt_agent AS agent_id,
        GREATEST(0, EXTRACT(EPOCH FROM l.first_attempt_at - l.received_at))::float8 AS lat,
        l.sla_breached_at IS NOT NULL AS breached, false AS below
      FROM lead_fact l WHERE {wl} AND {_in("l.first_attempt_at")}
      UNION ALL
      SELECT 'qualified', l.qualified_agent, NULL, false, false
      FROM lead_fact l WHERE {wl} AND {_in("l.qualified_at")}
      UNION ALL
      SELECT 'lost', x.agent_id, NULL, false,
        x.attempts < COALESCE(:asked, x.min_attempts, :min_attempts)
      FROM loss_fact x {_LEAD_JOIN.format(a="x")}
      WHERE {wx} AND x.origin = 'lead' AND {_in("x.lost_at")}
        AND x.category NOT IN ('pollution', 'invalid')
    ) s WHERE agent_id IS NOT NULL
    GROUP BY 1 ORDER BY qualified DESC, first_attempts DESC, agent_id LIMIT :limit"""
    p = params(scope, window, limit=limit, min_attempts=min_attempts, asked=asked)
    return [dict(r._mapping) for r in await session.execute(text(sql), p)]


# Codes crm-queue writes a lead off with that say the source delivered a lead it should not
# have (a test, a double, wrong personal data).
CREDIT_CODES = ("pollution.test", "pollution.duplicate", "invalid.personal_data")


async def source_credits(
    session: AsyncSession, scope: Scope, window: Window
) -> list[dict[str, Any]]:
    """Enquiries of the window a dealer can return to their source for credit, with evidence."""
    wl, wi = where("lead", scope), where("intake", scope)
    sql = f"""
    SELECT * FROM (
      SELECT 'rejected' AS kind, i.source_id, i.source_name, i.reason_code, i.received_at,
        i.event_id, NULL::uuid AS lead_id, i.raw_payload_id, NULL::uuid AS enquiry_id,
        NULL::uuid AS original_lead_id, NULL::text AS original_source_id,
        NULL::timestamptz AS original_received_at, NULL::text[] AS matched_on, i.errors,
        i.cost_per_lead, i.currency
      FROM intake_fact i WHERE {wi} AND i.kind = 'rejected' AND {_in("i.received_at")}
      UNION ALL
      SELECT 'duplicate', i.source_id, i.source_name, i.reason_code, i.received_at, i.event_id,
        NULL, NULL, i.enquiry_id, l.lead_id, l.source_id, l.received_at, i.matched_on, NULL,
        i.cost_per_lead, i.currency
      FROM intake_fact i JOIN lead_fact l ON l.tenant_id = i.tenant_id AND l.lead_id = i.lead_id
      WHERE {wi} AND i.kind = 'duplicate' AND {_in("i.received_at")}
        AND l.source_id IS NOT NULL AND l.source_id <> i.source_id
        AND l.received_at <= i.received_at
      UNION ALL
      SELECT 'written_off', l.source_id, l.source_name, l.lead_lost_code, l.received_at, NULL,
        l.lead_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, l.cost_per_lead, l.currency
      FROM lead_fact l WHERE {wl} AND {_in("l.received_at")}
        AND l.lead_lost_code = ANY(:codes)
    ) c ORDER BY source_id, received_at, kind LIMIT 100000"""
    p = params(scope, window, codes=list(CREDIT_CODES))
    return [dict(r._mapping) for r in await session.execute(text(sql), p)]


async def dimensions(session: AsyncSession, scope: Scope) -> dict[str, list[Any]]:
    """The dealerships, sources, consultants and agents the caller can filter on."""
    wl = where("lead", scope)
    p = params(scope)
    out: dict[str, list[Any]] = {}
    out["dealerships"] = [
        r[0]
        for r in await session.execute(
            text(
                f"SELECT DISTINCT l.dealership_id FROM lead_fact l WHERE {wl} "
                "AND l.dealership_id IS NOT NULL ORDER BY 1 LIMIT 1000"
            ),
            p,
        )
    ]
    out["sources"] = [
        dict(r._mapping)
        for r in await session.execute(
            text(
                "SELECT l.source_id, max(l.source_name) AS name, max(l.source_kind) AS kind "
                f"FROM lead_fact l WHERE {wl} AND l.source_id IS NOT NULL GROUP BY 1 "
                "ORDER BY 1 LIMIT 1000"
            ),
            p,
        )
    ]
    for name, column in (("consultants", CONSULTANT_OF_LEAD), ("agents", AGENT_OF_LEAD)):
        out[name] = [
            r[0]
            for r in await session.execute(
                text(
                    f"SELECT DISTINCT {column} FROM lead_fact l WHERE {wl} "
                    f"AND {column} IS NOT NULL ORDER BY 1 LIMIT 1000"
                ),
                p,
            )
        ]
    return out


async def gauges(session: AsyncSession, window: Window) -> list[dict[str, Any]]:
    """Month-to-date leads, prospects and sales per tenant, for /metrics."""
    sql = f"""
    SELECT tenant_id, count(*) FILTER (WHERE {_in("received_at")}) AS leads,
      count(*) FILTER (WHERE {_in("qualified_at")}) AS prospects,
      count(*) FILTER (WHERE {_in("won_at")}) AS sales
    FROM lead_fact WHERE received_at >= :start OR qualified_at >= :start OR won_at >= :start
    GROUP BY 1 ORDER BY 1 LIMIT 1000"""
    rows = await session.execute(text(sql), {"start": window.start, "end": window.end})
    return [dict(r._mapping) for r in rows]
