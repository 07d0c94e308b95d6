"""`GET /v1/kpis/...`: the funnel's KPIs for managers and admins, scoped to the token's tenant
(and dealerships), over a day, month to date, year to date or any range."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from metrics.adapters import kpis as sql
from metrics.adapters import reports
from metrics.domain.kpis import (
    LATENCY_BUCKETS,
    TARGET_LEAD_TO_SALE,
    BadRequest,
    GroupBy,
    Window,
    month_window,
    ratio,
)
from metrics.entrypoints.http.deps import (
    Ask,
    Asked,
    Basis,
    Manager,
    Session,
    checked_zone,
    invalid,
    scope_of,
)
from metrics.entrypoints.http.schemas import (
    AgentRow,
    AgentsReport,
    AttemptCount,
    Bucket,
    CategoryPersistence,
    CategoryRow,
    ConsultantRow,
    ConsultantsReport,
    CreditRow,
    CreditsReport,
    Dimensions,
    Filters,
    FunnelReport,
    FunnelRow,
    LostReasonsReport,
    Money,
    Period,
    PersistenceReport,
    ReasonRow,
    RecoveryReport,
    SourceRef,
    SourceRow,
    SourcesReport,
    SpeedReport,
)
from shared.contracts import LostReasonCode, lost_reason
from shared.http import INVALID_REQUEST, STAFF_AUTH, missing

router = APIRouter(prefix="/v1/kpis", tags=["kpis"])

AUTH: dict[int | str, dict[str, Any]] = (
    STAFF_AUTH | missing("a dealership that is not the caller's") | INVALID_REQUEST
)


def _period(window: Window) -> Period:
    return Period(first_day=window.first_day, last_day=window.last_day, timezone=window.timezone)


def _filters(asked: Ask) -> Filters:
    s = asked.scope
    return Filters(
        dealership=s.dealership,
        source=s.source,
        campaign=s.campaign,
        consultant=s.consultant,
        agent=s.agent,
    )


def _funnel_row(key: str | None, c: dict[str, Any]) -> FunnelRow:
    valid = c["leads"] - c["invalid_leads"]
    return FunnelRow(
        key=key,
        received=c["leads"] + c["duplicates"] + c["rejected"],
        leads=c["leads"],
        new_people=c["leads"] - c["returning"],
        returning=c["returning"],
        invalid_leads=c["invalid_leads"],
        valid_leads=valid,
        rejected=c["rejected"],
        duplicates=c["duplicates"],
        prospects=c["prospects"],
        reactivated=c["reactivated"],
        sales=c["sales"],
        sales_from_reactivated=c["sales_from_reactivated"],
        lead_to_prospect=ratio(c["prospects"], valid),
        prospect_to_sale=ratio(c["sales"], c["prospects"]),
        lead_to_sale=ratio(c["sales"], valid),
        target_lead_to_sale=TARGET_LEAD_TO_SALE,
    )


@router.get("/funnel", response_model=FunnelReport, responses=AUTH)
async def funnel(
    asked: Asked,
    session: Session,
    basis: Annotated[
        Basis,
        Query(
            description="activity: each stage on its own date; cohort: the leads received in "
            "the period and what became of them so far"
        ),
    ] = "activity",
    group_by: Annotated[GroupBy, Query(description="one row per value")] = "none",
) -> FunnelReport:
    """Funnel counts and conversion: enquiries, leads (new people and returning apart), valid
    leads, prospects, sales, reactivations; lead→prospect, prospect→sale, lead→sale."""
    rows = await reports.funnel(session, asked.scope, asked.window, group_by, basis)
    total = {c: sum(r[c] for r in rows) for c in sql.FUNNEL_COLUMNS}
    return FunnelReport(
        period=_period(asked.window),
        filters=_filters(asked),
        basis=basis,
        group_by=group_by,
        total=_funnel_row(None, total),
        rows=[] if group_by == "none" else [_funnel_row(r["k"], r) for r in rows],
    )


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@router.get("/speed-to-lead", response_model=SpeedReport, responses=AUTH)
async def speed_to_lead(asked: Asked, session: Session) -> SpeedReport:
    """First-attempt latency (lead received → first contact attempt by a person) as p50, p90 and
    a distribution, with SLA breaches and compliance, for the valid leads received in the period."""
    r = await reports.speed_to_lead(session, asked.scope, asked.window)
    met, breaches = r["met"], r["breaches"]
    return SpeedReport(
        period=_period(asked.window),
        filters=_filters(asked),
        leads=r["leads"],
        attempted=r["attempted"],
        not_attempted=r["leads"] - r["attempted"],
        p50_seconds=_seconds(r["p50"]),
        p90_seconds=_seconds(r["p90"]),
        percentiles=r["percentiles"],
        automatic_replies=r["automatic"],
        sla_breaches=breaches,
        sla_met=met,
        sla_compliance=ratio(met, met + breaches),
        buckets=[
            Bucket(label=label, upper_seconds=upper, count=r[f"b{i}"])
            for i, (label, upper) in enumerate(LATENCY_BUCKETS)
        ],
    )


@router.get("/persistence", response_model=PersistenceReport, responses=AUTH)
async def persistence(
    request: Request,
    asked: Asked,
    session: Session,
    min_attempts: Annotated[
        int | None,
        Query(
            ge=1,
            le=100,
            description="The minimum to compare every loss with (default: each loss's "
            "dealership minimum as lead.lost said it, else the service's)",
        ),
    ] = None,
) -> PersistenceReport:
    """Contact attempts before a lead was lost, and the losses below the persistence minimum."""
    default = request.app.state.settings.min_attempts
    minimum = min_attempts or default
    r = await reports.persistence(session, asked.scope, asked.window, min_attempts, default)
    return PersistenceReport(
        period=_period(asked.window),
        filters=_filters(asked),
        min_attempts=minimum,
        losses=r["losses"],
        mean_attempts=None if r["mean"] is None else round(r["mean"], 2),
        median_attempts=r["median"],
        below_minimum=r["below_minimum"],
        below_minimum_share=ratio(r["below_minimum"], r["losses"]),
        automatic=r["automatic"],
        histogram=[AttemptCount(attempts=h["attempts"], losses=h["n"]) for h in r["histogram"]],
        by_category=[CategoryPersistence(**c) for c in r["by_category"]],
    )


def _label(code: str) -> str:
    try:
        return lost_reason(LostReasonCode(code)).label
    except ValueError:
        return code


@router.get("/lost-reasons", response_model=LostReasonsReport, responses=AUTH)
async def lost_reasons(asked: Asked, session: Session) -> LostReasonsReport:
    """Losses of leads and prospects in the period by category and code, with shares."""
    rows = await reports.lost_reasons(session, asked.scope, asked.window)
    total = sum(r["losses"] for r in rows)
    categories: dict[str, int] = {}
    for r in rows:
        categories[r["category"]] = categories.get(r["category"], 0) + r["losses"]
    return LostReasonsReport(
        period=_period(asked.window),
        filters=_filters(asked),
        losses=total,
        categories=[
            CategoryRow(category=c, losses=n, share=ratio(n, total))
            for c, n in sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        reasons=[
            ReasonRow(**r, label=_label(r["reason_code"]), share=ratio(r["losses"], total))
            for r in rows
        ],
    )


@router.get("/recovery", response_model=RecoveryReport, responses=AUTH)
async def recovery(asked: Asked, session: Session) -> RecoveryReport:
    """Reactivation rate of lost deals, sales from reactivated deals and their revenue,
    bought-elsewhere share; returning customers shown apart from reactivations."""
    r = await reports.recovery(session, asked.scope, asked.window)
    return RecoveryReport(
        period=_period(asked.window),
        filters=_filters(asked),
        lost_deals=r["lost_deals"],
        reactivations=r["reactivations"],
        reactivation_rate=ratio(r["reactivations"], r["lost_deals"]),
        sales_from_reactivated=r["sales_from_reactivated"],
        reactivated_sale_share=ratio(r["sales_from_reactivated"], r["reactivations"]),
        recovered_revenue=[Money(**m) for m in r["recovered_revenue"]],
        bought_elsewhere=r["bought_elsewhere"],
        bought_elsewhere_share=ratio(r["bought_elsewhere"], r["lost_deals"]),
        dead=r["dead"],
        returning_customers=r["returning_customers"],
    )


def _per(cost: Decimal | None, n: int) -> Decimal | None:
    return None if cost is None or not n else (cost / n).quantize(Decimal("0.01"))


@router.get("/sources", response_model=SourcesReport, responses=AUTH)
async def sources(asked: Asked, session: Session) -> SourcesReport:
    """Per source (and currency): leads, duplicates and pollution, prospects, sales, cost per
    lead and per sale (from each enquiry's `cost_per_lead`)."""
    out = []
    for r in await reports.sources(session, asked.scope, asked.window):
        delivered = r["leads"] + r["duplicates"] + r["rejected"]
        valid = r["leads"] - r["invalid_leads"]
        out.append(
            SourceRow(
                **r,
                delivered=delivered,
                duplicate_rate=ratio(r["duplicates"], delivered),
                pollution_rate=ratio(r["rejected"] + r["invalid_leads"], delivered),
                cost_per_lead=_per(r["cost"], delivered),
                cost_per_valid_lead=_per(r["cost"], valid),
                cost_per_sale=_per(r["cost"], r["sales"]),
            )
        )
    return SourcesReport(period=_period(asked.window), filters=_filters(asked), sources=out)


Limit = Annotated[int, Query(ge=1, le=500, description="rows at most")]


@router.get("/consultants", response_model=ConsultantsReport, responses=AUTH)
async def consultants(asked: Asked, session: Session, limit: Limit = 50) -> ConsultantsReport:
    """Consultant leaderboard: prospects, sales (reactivated apart), losses, close rate, revenue."""
    rows = await reports.consultants(session, asked.scope, asked.window, limit)
    return ConsultantsReport(
        period=_period(asked.window),
        filters=_filters(asked),
        consultants=[
            ConsultantRow(**r, close_rate=ratio(r["sales"], r["sales"] + r["losses"])) for r in rows
        ],
    )


@router.get("/agents", response_model=AgentsReport, responses=AUTH)
async def agents(
    asked: Asked,
    session: Session,
    request: Request,
    limit: Limit = 50,
    min_attempts: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> AgentsReport:
    """CRM agents: first attempts and their median latency, SLA breaches, qualified, lost,
    losses below the persistence minimum."""
    default = request.app.state.settings.min_attempts
    rows = await sql.agents(session, asked.scope, asked.window, limit, default, min_attempts)
    return AgentsReport(
        period=_period(asked.window),
        filters=_filters(asked),
        agents=[
            AgentRow(
                **(r | {"p50_seconds": _seconds(r["p50_seconds"])}),
                qualify_rate=ratio(r["qualified"], r["qualified"] + r["losses"]),
            )
            for r in rows
        ],
    )


CSV_COLUMNS = tuple(CreditRow.model_fields)


@router.get(
    "/source-credits",
    response_model=CreditsReport,
    responses=AUTH | {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def source_credits(
    claims: Manager,
    session: Session,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")],
    tz: Annotated[str, Query(max_length=64)] = "UTC",
    dealership: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._:@-]{1,100}$")] = None,
    source: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._:@-]{1,100}$")] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """Leads of the month a dealer can return to their source for credit, with the evidence:
    rejected by intake (test, invalid), duplicates of another source's earlier lead, and leads
    the CRM team wrote off as test, double or wrong personal data. `format=csv` for a file."""
    try:
        window = month_window(month, checked_zone(tz))
    except BadRequest as exc:
        raise invalid(exc.field, exc.reason) from None
    scope = scope_of(claims, dealership=dealership, source=source)
    rows = [
        CreditRow(**{k: (str(v) if k.endswith("_id") and v else v) for k, v in r.items()})
        for r in await sql.source_credits(session, scope, window)
    ]
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            data = row.model_dump(mode="json")
            writer.writerow(
                ";".join(data[c]) if c == "matched_on" and data[c] else _csv_cell(data[c])
                for c in CSV_COLUMNS
            )
        return Response(
            buffer.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="source-credits-{month}.csv"'},
        )
    return CreditsReport(
        month=month,
        period=Period(first_day=window.first_day, last_day=window.last_day, timezone=tz),
        credits=rows,
    )


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(f"{e.get('field')}: {e.get('reason')}" for e in value)
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@router.get("/dimensions", response_model=Dimensions, responses=AUTH)
async def dimensions(claims: Manager, session: Session) -> Dimensions:
    """What the caller can filter on: dealerships, sources, consultants and agents seen."""
    d = await sql.dimensions(session, scope_of(claims))
    return Dimensions(
        dealerships=d["dealerships"],
        sources=[SourceRef(**s) for s in d["sources"]],
        consultants=d["consultants"],
        agents=d["agents"],
    )
