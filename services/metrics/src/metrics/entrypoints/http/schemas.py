"""Response models of the KPI API (they are its OpenAPI documentation)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field


class Period(BaseModel):
    first_day: date = Field(description="First day counted (in `timezone`)")
    last_day: date = Field(description="Last day counted, inclusive")
    timezone: str


class Filters(BaseModel):
    dealership: str | None = None
    source: str | None = None
    campaign: str | None = None
    consultant: str | None = None
    agent: str | None = None


class FunnelRow(BaseModel):
    key: str | None = Field(description="The group (null for the total or an unknown value)")
    received: int = Field(description="Enquiries: leads + duplicates + rejected")
    leads: int = Field(description="New leads (lead.ingested)")
    new_people: int = Field(description="Leads of people with no earlier closed lead")
    returning: int = Field(description="Leads linked to an earlier closed lead of the person")
    invalid_leads: int = Field(description="Leads written off as pollution or invalid")
    valid_leads: int
    rejected: int
    duplicates: int
    prospects: int = Field(description="Leads qualified (lead.qualified)")
    reactivated: int = Field(description="Lost deals brought back by recovery (apart)")
    sales: int
    sales_from_reactivated: int
    lead_to_prospect: float | None = Field(description="prospects / valid leads")
    prospect_to_sale: float | None = Field(description="sales / prospects")
    lead_to_sale: float | None = Field(description="sales / valid leads")
    target_lead_to_sale: float = Field(description="13 sales per 100 leads")


class FunnelReport(BaseModel):
    period: Period
    filters: Filters
    basis: str
    group_by: str
    total: FunnelRow
    rows: list[FunnelRow]


class Bucket(BaseModel):
    label: str
    upper_seconds: float | None = Field(description="Upper bound (exclusive); null: open")
    count: int


class SpeedReport(BaseModel):
    period: Period
    filters: Filters
    leads: int = Field(description="Valid leads received in the period")
    attempted: int = Field(description="... with a first contact attempt by a person")
    not_attempted: int
    p50_seconds: float | None
    p90_seconds: float | None
    percentiles: Literal["exact", "binned"] = Field(
        default="exact",
        description="exact: over every lead's latency; binned: read from the day rollups' "
        "latency bins (past 20,000 leads), each bin's leads taken as spread evenly over it",
    )
    automatic_replies: int = Field(
        default=0,
        description="... of which an automatic reply was sent (not counted as contact above)",
    )
    sla_breaches: int
    sla_met: int = Field(description="First attempt made, no breach")
    sla_compliance: float | None = Field(description="met / (met + breaches)")
    buckets: list[Bucket]


class AttemptCount(BaseModel):
    attempts: int = Field(
        description="Attempts before the loss (the last bucket: the minimum or more)"
    )
    losses: int


class CategoryPersistence(BaseModel):
    category: str
    losses: int
    below_minimum: int


class PersistenceReport(BaseModel):
    period: Period
    filters: Filters
    min_attempts: int = Field(
        description="The minimum asked for; when not asked, each loss is compared with its "
        "dealership's minimum as lead.lost said it, else with this (the service's default)"
    )
    losses: int = Field(description="Leads lost (not test or invalid) in the period")
    mean_attempts: float | None
    median_attempts: float | None
    below_minimum: int
    below_minimum_share: float | None
    automatic: int = Field(description="Closed by crm-queue after the pool period")
    histogram: list[AttemptCount]
    by_category: list[CategoryPersistence]


class ReasonRow(BaseModel):
    category: str
    reason_code: str
    label: str
    losses: int
    lead_losses: int
    prospect_losses: int
    share: float | None


class CategoryRow(BaseModel):
    category: str
    losses: int
    share: float | None


class LostReasonsReport(BaseModel):
    period: Period
    filters: Filters
    losses: int
    categories: list[CategoryRow]
    reasons: list[ReasonRow]


class Money(BaseModel):
    currency: str | None
    amount: Decimal
    sales: int


class RecoveryReport(BaseModel):
    period: Period
    filters: Filters
    lost_deals: int = Field(description="Leads and prospects lost (not test or invalid)")
    reactivations: int
    reactivation_rate: float | None = Field(description="reactivations / lost deals (ref. 15%)")
    sales_from_reactivated: int
    reactivated_sale_share: float | None = Field(
        description="sales from reactivated deals / reactivations (ref. 31%)"
    )
    recovered_revenue: list[Money]
    bought_elsewhere: int
    bought_elsewhere_share: float | None = Field(description="bought elsewhere / lost deals")
    dead: int
    returning_customers: int = Field(
        description="New leads of people who came back by themselves (not reactivations)"
    )


class SourceRow(BaseModel):
    source_id: str
    source_name: str | None
    source_kind: str | None
    currency: str | None
    delivered: int = Field(description="leads + duplicates + rejected")
    leads: int
    invalid_leads: int
    duplicates: int
    rejected: int
    prospects: int
    sales: int
    duplicate_rate: float | None
    pollution_rate: float | None = Field(description="(rejected + invalid leads) / delivered")
    cost: Decimal | None = Field(description="Sum of cost_per_lead over what it delivered")
    cost_per_lead: Decimal | None = Field(description="cost / delivered")
    cost_per_valid_lead: Decimal | None
    cost_per_sale: Decimal | None


class SourcesReport(BaseModel):
    period: Period
    filters: Filters
    sources: list[SourceRow]


class ConsultantRow(BaseModel):
    consultant_id: str
    prospects: int = Field(description="Prospects first assigned in the period (now theirs)")
    sales: int
    reactivated_sales: int
    losses: int
    close_rate: float | None = Field(description="sales / (sales + losses)")
    revenue: Decimal | None


class ConsultantsReport(BaseModel):
    period: Period
    filters: Filters
    consultants: list[ConsultantRow]


class AgentRow(BaseModel):
    agent_id: str
    first_attempts: int
    p50_seconds: float | None
    sla_breaches: int
    qualified: int
    losses: int
    losses_below_minimum: int
    qualify_rate: float | None = Field(description="qualified / (qualified + losses)")


class AgentsReport(BaseModel):
    period: Period
    filters: Filters
    agents: list[AgentRow]


class CreditRow(BaseModel):
    kind: str = Field(description="rejected | duplicate (of another source's lead) | written_off")
    source_id: str | None
    source_name: str | None
    reason_code: str | None
    received_at: datetime
    event_id: str | None
    lead_id: str | None
    raw_payload_id: str | None
    enquiry_id: str | None
    original_lead_id: str | None
    original_source_id: str | None
    original_received_at: datetime | None
    matched_on: list[str] | None
    errors: list[dict[str, Any]] | None
    cost_per_lead: Decimal | None
    currency: str | None


class CreditsReport(BaseModel):
    month: str
    period: Period
    credits: list[CreditRow]


class SourceRef(BaseModel):
    source_id: str
    name: str | None
    kind: str | None


class Dimensions(BaseModel):
    dealerships: list[str]
    sources: list[SourceRef]
    consultants: list[str]
    agents: list[str]
