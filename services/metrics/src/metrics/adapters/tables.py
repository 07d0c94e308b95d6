"""metrics' tables: the event log (every event as received, the source of every projection) and
the fact rows the KPIs are computed from. Every row carries its tenant; every query filters on it.

The facts hold no personal data (no names, emails, phones, notes): an erasure scrubs the event
log and the counts stay.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
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
    # lead.contact_attempted (the first one) and how many
    _ts("first_attempt_at"),
    Column("first_attempt_key", Text),
    Column("first_attempt_agent", Text),
    Column("first_attempt_channel", Text),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
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
    Column("lost_at", DateTime(timezone=True), nullable=False),
    Index("ix_loss_fact_lost", "tenant_id", "lost_at"),
    Index("ix_loss_fact_lead", "tenant_id", "lead_id"),
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
)

# Leads whose person was erased: events of theirs that arrive later are scrubbed on arrival.
erased_lead = Table(
    "erased_lead",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)
