"""crm-queue's tables. Every row carries its tenant; every query filters on it."""

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

from shared.tables import add_messaging_tables, timer_table

metadata = MetaData()
outbox, inbox = add_messaging_tables(metadata)
timer = timer_table(metadata)

_now = func.now()

# The first-contact task of one lead (one per lead: the lead id is the key).
task = Table(
    "task",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("task_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("tenant_id", Text, nullable=False),
    Column("dealership_id", Text, nullable=False),
    Column("source_id", Text),
    Column("source_name", Text),
    Column("source_kind", Text),  # website | marketplace | ... | list: picks the SLA
    Column("person", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("vehicle", JSONB),
    Column("comments", Text),
    # lead.ingested's warnings: what the normaliser dropped, with the text as written.
    Column("warnings", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # False while only a lead.duplicate has arrived (events of one lead can come out of order):
    # received_at and sla_due_at are then the duplicate's, until lead.ingested corrects them.
    Column("ingested", Boolean, nullable=False, server_default=text("false")),
    # open | pool | qualified | lost | do_not_contact (a lead of a person who must never be
    # contacted: managers see it, the queue never has it)
    Column("state", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("sla_due_at", DateTime(timezone=True), nullable=False),
    Column("last_enquiry_at", DateTime(timezone=True), nullable=False),
    Column("enquiries", Integer, nullable=False, server_default=text("1")),
    Column("next_attempt_due_at", DateTime(timezone=True)),
    Column("pool_until", DateTime(timezone=True)),  # in the pool: closed automatically from then
    Column("round", Integer, nullable=False, server_default=text("1")),
    Column("round_gaps_used", Integer, nullable=False, server_default=text("0")),
    Column("unusable_channels", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("no_consent_channels", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("leased_by", Text),
    Column("lease_until", DateTime(timezone=True)),
    Column("sla_breached_at", DateTime(timezone=True)),
    Column("escalated_at", DateTime(timezone=True)),
    Column("do_not_contact", Boolean, nullable=False, server_default=text("false")),
    Column("outcome", Text),
    Column("closed_by", Text),
    Column("closed_at", DateTime(timezone=True)),
    Column("sequence", Integer, nullable=False, server_default=text("0")),
    Column("correlation_id", Text),  # the lead's event chain, from lead.ingested
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("ix_task_queue", "tenant_id", "dealership_id", "state"),
)

# Every enquiry of a lead as the agent sees it: the lead's own (kind `lead`, enquiry_id = the
# lead id) and each repeat (`repeat`, intake's enquiry id). The key makes a replay a no-op.
enquiry = Table(
    "enquiry",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("enquiry_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # lead | repeat
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("dealership_id", Text),  # the dealership the enquiry was addressed to
    Column("source", JSONB, nullable=False),  # source_id, kind, name, campaign, channel
    Column("person", JSONB),  # the contact details as given this time
    Column("vehicle", JSONB),
    Column("trade_ins", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("comments", Text),
    Column("consent", JSONB),
)

attempt = Table(
    "attempt",
    metadata,
    Column("attempt_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("number", Integer, nullable=False),
    Column("agent_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("note", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("automatic", Boolean, nullable=False, server_default=text("false")),
    UniqueConstraint("lead_id", "number"),
)

# People who asked not to be contacted, by normalised email and phone, per dealer group.
do_not_contact = Table(
    "do_not_contact",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),  # email | phone
    Column("value", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
)

# The dealerships of each dealer group, as crm-queue learnt them from the lead events it consumed
# (it never reads intake's database): a policy can only be set for one of these.
dealership = Table(
    "dealership",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("dealership_id", Text, primary_key=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False, server_default=_now),
    # From lead.ingested (`dealership`): its policy starts from the tenant's default hours in
    # this zone. Null until an event names it.
    Column("timezone", Text),
    Column("country", Text),
)

# A dealer group's default opening hours (`DefaultHours` JSON); no row: the standard ones.
tenant_hours = Table(
    "tenant_hours",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("hours", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
)

dealership_policy = Table(
    "dealership_policy",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("dealership_id", Text, primary_key=True),
    Column("policy", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
)

# Leads whose person was erased: a lead event of theirs arriving later is scrubbed on arrival.
erased_lead = Table(
    "erased_lead",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

# Leads recovery declared dead (lead.dead): a lead event of theirs arriving later leaves the
# task uncontactable; `do_not_contact` once any lead.dead said the person asked for it.
dead_lead = Table(
    "dead_lead",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("do_not_contact", Boolean, nullable=False),
    Column("dead_at", DateTime(timezone=True), nullable=False),
)
