"""recovery's tables. Every row carries its tenant; every query filters on it."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from shared.tables import add_messaging_tables

metadata = MetaData()
outbox, inbox = add_messaging_tables(metadata)

_now = func.now()

# One run per loss; the row is its own schedule (`fire_at`, scanned through a partial index).
recovery = Table(
    "recovery",
    metadata,
    Column("recovery_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("dealership_id", Text),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("origin", Text, nullable=False),  # lead | prospect
    Column("reason_code", Text, nullable=False),
    Column("lost_at", DateTime(timezone=True), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("cadence", ARRAY(Integer), nullable=False),
    Column("email_only", Boolean, nullable=False, server_default=text("false")),
    Column("state", Text, nullable=False),  # scheduled | due | ended
    Column("step", Integer, nullable=False, server_default=text("0")),
    Column("steps_opened", Integer, nullable=False, server_default=text("0")),
    Column("due_at", DateTime(timezone=True)),
    Column("channel", Text),
    Column("fire_at", DateTime(timezone=True)),
    Column("outcome", Text),
    Column("ended_at", DateTime(timezone=True)),
    Column("returned_lead_id", UUID(as_uuid=True)),
    Column("person", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("email_key", Text),
    Column("phone_key", Text),
    Column("consent", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("enquiries", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("language", Text),
    Column("consultant_id", Text),
    Column("unusable_channels", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("reached", Boolean),
    Column("leased_by", Text),
    Column("lease_until", DateTime(timezone=True)),
    Column("scrubbed_at", DateTime(timezone=True)),
    Column("sequence", Integer, nullable=False, server_default=text("0")),
    # A step the scanner could not fire: retried later, the error kept for ops.
    Column("fire_errors", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    # The same loss delivered again under another event id starts nothing new; its index also
    # serves a lead's runs (tenant_id, lead_id prefix), so they have no index of their own.
    UniqueConstraint("tenant_id", "lead_id", "origin", "lost_at", name="uq_recovery_loss"),
    Index("ix_recovery_fire", "fire_at", postgresql_where=text("fire_at IS NOT NULL")),
    Index("ix_recovery_list", "tenant_id", "dealership_id", "state", "due_at"),
    Index(
        "ix_recovery_email",
        "tenant_id",
        "email_key",
        postgresql_where=text("state <> 'ended'"),
    ),
    Index(
        "ix_recovery_phone",
        "tenant_id",
        "phone_key",
        postgresql_where=text("state <> 'ended'"),
    ),
)

recovery_attempt = Table(
    "recovery_attempt",
    metadata,
    Column("attempt_id", UUID(as_uuid=True), primary_key=True),
    Column("recovery_id", UUID(as_uuid=True), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("step", Integer, nullable=False),
    Column("channel", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("agent_id", Text),
    Column("note", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_recovery_attempt_recovery", "recovery_id", "at"),
)

# Every lead intake made, by hashed contact keys, and its latest enquiry: a person who asks
# again after a loss ends the cadence (whichever event arrives first).
lead_contact = Table(
    "lead_contact",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("email_key", Text),
    Column("phone_key", Text),
    Column("previous_lead_id", UUID(as_uuid=True)),
    Column("consent", JSONB),
    Column("ingested", Boolean, nullable=False, server_default=text("false")),
    Column("last_enquiry_at", DateTime(timezone=True), nullable=False),
    Index("ix_lead_contact_email", "tenant_id", "email_key"),
    Index("ix_lead_contact_phone", "tenant_id", "phone_key"),
    Index("ix_lead_contact_previous", "tenant_id", "previous_lead_id"),
)

# Hashed contact keys of people who must never be contacted (do-not-contact).
blocked_contact = Table(
    "blocked_contact",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
)

# Leads erased, possibly before their loss arrived (events come in any order).
erased_lead = Table(
    "erased_lead",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

cadence_config = Table(
    "cadence_config",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("config", JSONB, nullable=False),
    Column("updated_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
)
