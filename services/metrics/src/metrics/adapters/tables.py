"""metrics' tables: the event log (every event as received, the source of every projection) and
the fact rows the KPIs are computed from. Every row carries its tenant; every query filters on it.

The facts hold no personal data (no names, emails, phones, notes): an erasure scrubs the event
log and the counts stay.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from metrics.domain.kpis import SPEED_BINS
from shared.tables import add_messaging_tables

metadata = MetaData()
outbox, inbox = add_messaging_tables(metadata)

_now = func.now()


def _ts(name: str) -> Column[object]:
    return Column(name, DateTime(timezone=True))


# Every event consumed, once (the envelope as JSON; personal data scrubbed after an erasure).
event_log = Table(
    "event_log",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event_version", Integer, nullable=False),
    Column("lead_id", UUID(as_uuid=True)),
    Column("dealership_id", Text),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("body", JSONB, nullable=False),
    Column("logged_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("ix_event_log_lead", "tenant_id", "lead_id"),
)

# One row per lead, filled by upserts whose merge does not depend on arrival order: each group
# of columns is taken from the earliest (or latest) event of its kind by the events' own times.
lead_fact = Table(
    "lead_fact",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("dealership_id", Text),
    # lead.ingested
    _ts("received_at"),
    Column("ingest_key", Text),
    Column("source_id", Text),
    Column("source_kind", Text),
    Column("source_name", Text),
    Column("campaign", Text),
    Column("cost_per_lead", Numeric(12, 2)),
    Column("currency", Text),
    Column("previous_lead_id", UUID(as_uuid=True)),
    # lead.contact_attempted (the first one a person made) and how many (automatic ones too)
    _ts("first_attempt_at"),
    Column("first_attempt_key", Text),
    Column("first_attempt_agent", Text),
    Column("first_attempt_channel", Text),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # lead.contact_attempted with `automatic`: the first automatic reply, shown apart
    _ts("first_auto_reply_at"),
    Column("first_auto_reply_key", Text),
    # lead.sla_breached
    _ts("sla_breached_at"),
    Column("sla_key", Text),
    _ts("sla_due_at"),
    # lead.qualified
    _ts("qualified_at"),
    Column("qualified_key", Text),
    Column("qualified_agent", Text),
    Column("qualified_outcome", Text),
    # lead.lost
    _ts("lead_lost_at"),
    Column("lead_lost_key", Text),
    Column("lead_lost_code", Text),
    Column("lead_lost_category", Text),
    Column("lead_lost_agent", Text),
    # prospect.assigned / reassigned: the first assignment, and the consultant now
    _ts("first_assigned_at"),
    Column("first_assigned_key", Text),
    _ts("consultant_at"),
    Column("consultant_key", Text),
    Column("consultant_id", Text),
    # prospect.won
    _ts("won_at"),
    Column("won_key", Text),
    Column("won_consultant", Text),
    Column("won_amount", Numeric(14, 2)),
    Column("won_currency", Text),
    Column("won_reactivated", Boolean),
    # recovery's ends
    _ts("reactivated_at"),
    Column("reactivated_key", Text),
    _ts("bought_elsewhere_at"),
    Column("bought_elsewhere_key", Text),
    Column("bought_elsewhere_same_brand", Boolean),
    _ts("dead_at"),
    Column("dead_key", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("ix_lead_fact_received", "tenant_id", "received_at"),
    Index(
        "ix_lead_fact_qualified",
        "tenant_id",
        "qualified_at",
        postgresql_where=text("qualified_at IS NOT NULL"),
    ),
    Index("ix_lead_fact_won", "tenant_id", "won_at", postgresql_where=text("won_at IS NOT NULL")),
)

# One row per loss (lead.lost, prospect.lost): a lead can be lost, reactivated and lost again.
loss_fact = Table(
    "loss_fact",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("dealership_id", Text),
    Column("origin", Text, nullable=False),  # lead | prospect
    Column("reason_code", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("attempts", Integer),  # lead losses only
    Column("agent_id", Text),
    Column("consultant_id", Text),
    Column("automatic", Boolean, nullable=False, server_default=text("false")),
    Column("min_attempts", Integer),  # the dealership's minimum, when lead.lost says it
    Column("lost_at", DateTime(timezone=True), nullable=False),
    Index("ix_loss_fact_lost", "tenant_id", "lost_at"),
    Index("ix_loss_fact_lead", "tenant_id", "lead_id"),
    Index(
        "ix_loss_fact_bought_elsewhere",
        "tenant_id",
        "lost_at",
        postgresql_where=text("category = 'bought_elsewhere'"),
    ),
)

# One row per enquiry intake did not make a new lead of: rejected, or merged as a duplicate.
intake_fact = Table(
    "intake_fact",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("dealership_id", Text),
    Column("kind", Text, nullable=False),  # rejected | duplicate
    Column("lead_id", UUID(as_uuid=True)),  # duplicate: the lead it was merged into
    Column("source_id", Text, nullable=False),
    Column("source_kind", Text),
    Column("source_name", Text),
    Column("campaign", Text),
    Column("cost_per_lead", Numeric(12, 2)),
    Column("currency", Text),
    Column("reason_code", Text),
    Column("matched_on", ARRAY(Text)),
    Column("errors", JSONB),
    Column("raw_payload_id", UUID(as_uuid=True)),
    Column("enquiry_id", UUID(as_uuid=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_intake_fact_received", "tenant_id", "received_at"),
    Index("ix_intake_fact_lead", "tenant_id", "lead_id"),
    # One enquiry merged into a lead counts once: intake publishes one again (same enquiry id)
    # when it learns the lead was a prospect when it came (stage prospect, for the consultant).
    Index(
        "uq_intake_fact_enquiry",
        "tenant_id",
        "lead_id",
        "enquiry_id",
        unique=True,
        postgresql_where=text("kind = 'duplicate'"),
    ),
)

# One row per recovery outcome (lead.reactivated, lead.bought_elsewhere, lead.dead).
recovery_fact = Table(
    "recovery_fact",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("dealership_id", Text),
    Column("kind", Text, nullable=False),  # reactivated | bought_elsewhere | dead
    Column("origin", Text),
    Column("reason_code", Text),
    Column("same_brand", Boolean),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_recovery_fact_at", "tenant_id", "at"),
    Index("ix_recovery_fact_lead", "tenant_id", "lead_id"),
    Index(
        "ix_recovery_fact_bought_elsewhere",
        "tenant_id",
        "at",
        postgresql_where=text("kind = 'bought_elsewhere'"),
    ),
)

# Leads whose person was erased: events of theirs that arrive later are scrubbed on arrival.
erased_lead = Table(
    "erased_lead",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)


# Rollups: the KPIs' sums per UTC day (grain `d`) and per UTC month (grain `m`, `day` its 1st),
# per dealership ('' when unknown) and the family's keys ('' or -1 for none). Maintained with the
# facts in the same transaction and rebuilt from them (`metrics.adapters.rollups`), so a year is
# a few thousand rows to add up instead of every lead of the year.
def _rollup(name: str, keys: list[Column[object]], measures: list[Column[object]]) -> Table:
    return Table(
        name,
        metadata,
        Column("tenant_id", Text, primary_key=True),
        Column("grain", Text, primary_key=True),
        Column("day", Date, primary_key=True),
        Column("dealership_id", Text, primary_key=True),
        *keys,
        *measures,
    )


def _n(name: str) -> Column[object]:
    return Column(name, BigInteger, nullable=False, server_default=text("0"))


def _key(name: str, type_: type[Text] | type[Integer] = Text) -> Column[object]:
    return Column(name, type_, primary_key=True)


# Latency bins of speed to lead (metrics.domain.kpis.SPEED_BINS): h0 ... h44.
SPEED_BIN_COLUMNS = len(SPEED_BINS) + 1

funnel_rollup = _rollup(
    "funnel_rollup",
    [],
    [
        _n(c)
        for c in (
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
        )
    ]
    + [_n(f"h{i}") for i in range(SPEED_BIN_COLUMNS)],
)

money_rollup = _rollup(
    "money_rollup",
    [_key("currency")],
    [
        _n("react_sales"),
        Column("react_revenue", Numeric(18, 2), nullable=False, server_default=text("0")),
    ],
)

reason_rollup = _rollup(
    "reason_rollup",
    [_key("origin"), _key("category"), _key("reason_code")],
    [_n("losses")],
)

persist_rollup = _rollup(
    "persist_rollup",
    [
        _key("category"),
        _key("attempts", Integer),
        _key("min_attempts", Integer),
        Column("automatic", Boolean, primary_key=True),
    ],
    [_n("losses")],
)

source_rollup = _rollup(
    "source_rollup",
    [_key("source_id"), _key("source_name"), _key("source_kind"), _key("currency")],
    [
        _n("leads"),
        _n("invalid_leads"),
        _n("duplicates"),
        _n("rejected"),
        _n("prospects"),
        _n("sales"),
        _n("cost_n"),
        Column("cost", Numeric(18, 2), nullable=False, server_default=text("0")),
    ],
)

consultant_rollup = _rollup(
    "consultant_rollup",
    [_key("consultant_id")],
    [
        _n("prospects"),
        _n("sales"),
        _n("reactivated_sales"),
        _n("losses"),
        _n("revenue_n"),
        Column("revenue", Numeric(18, 2), nullable=False, server_default=text("0")),
    ],
)
