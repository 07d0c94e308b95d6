"""assignment's tables. Every row carries its tenant; every query filters on it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from shared.tables import add_messaging_tables, timer_table

metadata = MetaData()
outbox, inbox = add_messaging_tables(metadata)
timer = timer_table(metadata)

_now = func.now()

consultant = Table(
    "consultant",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    # The subject of the consultant's staff token.
    Column("consultant_id", Text, primary_key=True),
    Column("dealership_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("brands", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("conditions", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("languages", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("hours", JSONB),
    Column("absences", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("cap", Integer, nullable=False, server_default=text("25")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("clocked", Boolean),  # null: follows the schedule
    Column("last_assigned_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("ix_consultant_dealership", "tenant_id", "dealership_id"),
)

# Every version of a dealership's routing is kept; the highest is in force.
routing = Table(
    "routing",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("dealership_id", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("config", JSONB, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
)

prospect = Table(
    "prospect",
    metadata,
    # One row per lead: a lead is never a prospect twice.
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("dealership_id", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("consultant_id", Text),
    Column("hot", Boolean, nullable=False, server_default=text("false")),
    Column("reactivated", Boolean, nullable=False, server_default=text("false")),
    Column("qualified", Boolean, nullable=False, server_default=text("false")),
    Column("person", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("enquiries", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("appointment", JSONB),
    Column("language", Text),
    Column("outcome", Text),
    Column("qualified_at", DateTime(timezone=True)),
    Column("reactivated_at", DateTime(timezone=True)),
    Column("reason", Text),
    Column("reason_detail", Text),
    Column("rule", Text),
    Column("rule_version", Integer),
    Column("method", Text),
    Column("assigned_at", DateTime(timezone=True)),
    Column("respond_by", DateTime(timezone=True)),
    Column("acted_at", DateTime(timezone=True)),
    Column("escalated_at", DateTime(timezone=True)),
    Column("next_follow_up_at", DateTime(timezone=True)),
    # The person's latest new enquiry the owner has not acted on since (see Prospect).
    Column("enquired_at", DateTime(timezone=True)),
    Column("waiting_since", DateTime(timezone=True)),
    Column("passed_over", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("do_not_contact", Boolean, nullable=False, server_default=text("false")),
    Column("erased_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("close_details", JSONB),
    Column("sequence", Integer, nullable=False, server_default=text("0")),
    # Normalised person keys, to send a returning person back to their consultant.
    Column("email_key", Text),
    Column("phone_key", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("ix_prospect_state", "tenant_id", "dealership_id", "state"),
    Index("ix_prospect_consultant", "tenant_id", "consultant_id", "state"),
    Index("ix_prospect_email", "tenant_id", "email_key"),
    Index("ix_prospect_phone", "tenant_id", "phone_key"),
)

# Who owned which prospect when: exactly one current owner per prospect, enforced here too.
ownership = Table(
    "ownership",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("consultant_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Index(
        "uq_ownership_current",
        "lead_id",
        unique=True,
        postgresql_where=text("ended_at IS NULL"),
    ),
    Index("ix_ownership_consultant", "tenant_id", "consultant_id", "started_at"),
)

# What was done on a prospect, and the person's own new enquiries (kind `enquiry`: keyed by
# intake's enquiry id, no consultant, `details` the enquiry as intake carried it). An enquiry
# may be recorded before its prospect exists (events in any order): it is heard on arrival.
activity = Table(
    "activity",
    metadata,
    Column("activity_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("consultant_id", Text),  # null: the person's enquiry
    Column("kind", Text, nullable=False),
    Column("note", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("next_follow_up_at", DateTime(timezone=True)),
    Column("details", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("ix_activity_lead", "lead_id", "at"),
)

# Leads erased before their prospect arrived (events come in any order): scrub on arrival.
erased_lead = Table(
    "erased_lead",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

# Leads recovery declared dead (lead.dead, in any order with the lead's other events): a
# prospect of theirs, now or arriving later, shows do-not-contact. `do_not_contact`: some
# lead.dead said the person asked for it (then every prospect of theirs shows it).
dead_lead = Table(
    "dead_lead",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("do_not_contact", Boolean, nullable=False),
    Column("dead_at", DateTime(timezone=True), nullable=False),
)
