"""Intake's tables (SQLAlchemy Core). Every row carries its tenant; every query filters on it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
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

dealership = Table(
    "dealership",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("country", Text, nullable=False),  # ISO 3166 alpha-2: phone numbers are read with it
    Column("timezone", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    UniqueConstraint("tenant_id", "name"),
)

lead_source = Table(
    "lead_source",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("dealership_id", UUID(as_uuid=True), ForeignKey("dealership.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("cost_per_lead", Numeric(12, 2), nullable=True),
    Column("currency", Text, nullable=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    # An admin-given address taking mail for this source (beside `<id>@<INTAKE_SMTP_DOMAIN>`).
    Column("email_address", Text, nullable=True),
    UniqueConstraint("tenant_id", "name"),
    Index("uq_lead_source_email_address", func.lower(text("email_address")), unique=True),
)

source_api_key = Table(
    "source_api_key",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("source_id", UUID(as_uuid=True), ForeignKey("lead_source.id"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("prefix", Text, nullable=False, unique=True),
    Column("key_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

tenant_config = Table(
    "tenant_config",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("dedup_window_days", Integer, nullable=False, server_default=text("30")),
    Column("test_rules", JSONB, nullable=True),  # null: the default rules
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
)

raw_payload = Table(
    "raw_payload",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("source_id", UUID(as_uuid=True), ForeignKey("lead_source.id"), nullable=False),
    Column("format", Text, nullable=False),  # json | adf | amqp
    Column("content_type", Text, nullable=True),
    Column("body", LargeBinary, nullable=False),
    Column("idempotency_key", Text, nullable=True),
    Column("message_id", Text, nullable=True),  # an AMQP message's id (format amqp only)
    Column("dealership_id", UUID(as_uuid=True), nullable=True),
    # pending | processed | invalid (unreadable as a lead) | failed (processing failed)
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("error", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    Index("ix_raw_payload_pending", "received_at", postgresql_where=text("status = 'pending'")),
    # One row per AMQP message of a source, however often it is delivered.
    UniqueConstraint("source_id", "message_id", name="uq_raw_payload_message"),
)

lead = Table(
    "lead",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("dealership_id", UUID(as_uuid=True), nullable=False),
    Column("source_id", UUID(as_uuid=True), nullable=False),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("email", Text),
    Column("phone", Text),
    Column("other_phones", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("vehicle", JSONB),
    Column("trade_ins", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("comments", Text),
    Column("consent", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("campaign", Text),
    Column("channel", Text),
    Column("lead_type", Text),
    Column("provider", Text),
    Column("source_lead_id", Text),
    Column("extensions", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # What the normaliser dropped, with the text as written where a person should read it.
    Column("warnings", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("requested_at", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("last_enquiry_at", DateTime(timezone=True), nullable=False),
    Column("enquiry_count", Integer, nullable=False, server_default=text("1")),
    # open: in first contact; prospect: qualified or reactivated and not closed since (new
    # enquiries of the person merge into either); closed: lost, won or dead (a new enquiry is
    # a new lead). Computed from `stages` (intake.domain.stages); never open again once left.
    Column("status", Text, nullable=False, server_default=text("'open'")),  # open|prospect|closed
    # When it left first contact: the earliest funnel event's time.
    Column("status_changed_at", DateTime(timezone=True), nullable=True),
    # The funnel events intake learnt of, each {"kind", "at"}, in the order they arrived.
    Column("stages", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # The person's earlier, closed lead this one follows (they asked again).
    Column("previous_lead_id", UUID(as_uuid=True), nullable=True),
    # The person asked never to be contacted (learnt from the funnel's events, or inherited
    # from an earlier lead of theirs): their next leads open no contact task.
    Column("do_not_contact", Boolean, nullable=False, server_default=text("false")),
    Column("sequence", Integer, nullable=False, server_default=text("1")),
    # Emails match case-insensitively: the lookup is on lower(email). The tenant is left out
    # of these indexes on purpose (the lookup still filters on it): with it in, statistics gone
    # stale during a dealer group's first big upload let the planner read every lead of the
    # tenant for each batch's lookup (see migration 0002).
    Index("ix_lead_email", func.lower(text("email"))),
    Index("ix_lead_phone", "phone"),
    # The admin's lead list, newest first. Not led by the tenant, like the two above: the
    # planner took a tenant-led index for the de-duplication lookup (test_dedup_plan).
    Index("ix_lead_received", "received_at"),
)

# One row per lead received: a new lead, a merge into an existing one, or a rejection.
# The unique key makes a resent lead (same source, same idempotency key) a no-op.
submission = Table(
    "submission",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("source_id", UUID(as_uuid=True), nullable=False),
    Column("raw_payload_id", UUID(as_uuid=True), nullable=True),
    Column("bulk_job_id", UUID(as_uuid=True), nullable=True),
    Column("idempotency_key", Text, nullable=True),
    Column("outcome", Text, nullable=False),  # ingested | merged | rejected
    Column("lead_id", UUID(as_uuid=True), nullable=True),
    Column("reason_code", Text, nullable=True),
    Column("errors", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("matched_on", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("vehicle", JSONB),
    Column("comments", Text),
    Column("campaign", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # A merged enquiry: its dealership and what its lead.duplicate carried, so that one merged
    # into a lead that had in fact closed before it came can become a new lead (`promoted_to`).
    Column("dealership_id", UUID(as_uuid=True), nullable=True),
    Column("enquiry", JSONB, nullable=True),
    Column("promoted_to", UUID(as_uuid=True), nullable=True),
    # A merged enquiry's stage as its lead.duplicate last said it: first_contact | prospect.
    Column("stage", Text, nullable=True),
    UniqueConstraint("source_id", "idempotency_key", name="uq_submission_idempotency"),
    Index("ix_submission_lead", "lead_id"),
    Index("ix_submission_source_received", "tenant_id", "source_id", "received_at"),
    Index(
        "ix_submission_raw_payload",
        "raw_payload_id",
        postgresql_where=text("raw_payload_id IS NOT NULL"),
    ),
)

bulk_job = Table(
    "bulk_job",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("source_id", UUID(as_uuid=True), nullable=False),
    Column("dealership_id", UUID(as_uuid=True), nullable=True),
    Column("mapping", JSONB, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'receiving'")),
    Column("bytes", BigInteger, nullable=False, server_default=text("0")),
    Column("chunks", Integer, nullable=False, server_default=text("0")),
    # Data rows reported (the header is not one), and the checkpoint: records of the file up to
    # this number are done, committed with their results in one transaction.
    Column("rows_done", Integer, nullable=False, server_default=text("0")),
    Column("last_row", Integer, nullable=False, server_default=text("0")),
    Column("accepted", Integer, nullable=False, server_default=text("0")),
    Column("merged", Integer, nullable=False, server_default=text("0")),
    Column("rejected", Integer, nullable=False, server_default=text("0")),
    Column("resent", Integer, nullable=False, server_default=text("0")),
    Column("error", Text, nullable=True),
    # Tries that failed (not counting database outages); failed for good at the limit.
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("retry_at", DateTime(timezone=True), nullable=True),  # not tried again before
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)

# The uploaded file as received, chunk by chunk: the raw payload of a bulk job.
bulk_chunk = Table(
    "bulk_chunk",
    metadata,
    Column("job_id", UUID(as_uuid=True), ForeignKey("bulk_job.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

bulk_row = Table(
    "bulk_row",
    metadata,
    Column("job_id", UUID(as_uuid=True), primary_key=True),
    Column("row_number", Integer, primary_key=True),
    Column("outcome", Text, nullable=False),  # ingested | merged | rejected | duplicate_resend
    Column("lead_id", UUID(as_uuid=True), nullable=True),
    Column("reason_code", Text, nullable=True),
    Column("errors", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
)

# One row per erasure carried out: what was erased (lead ids, counts), never who.
erasure = Table(
    "erasure",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("lead_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
    Column("counts", JSONB, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Index("ix_erasure_tenant", "tenant_id", "erased_at"),
)
