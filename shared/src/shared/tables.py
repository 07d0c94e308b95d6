"""The outbox and inbox tables, created in every service's own database.

Each service adds them to its metadata with `add_messaging_tables(metadata)` and creates them in
its first migration with `migration_ops.create_messaging_tables()`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox_message",
        metadata,
        # A bigserial orders events as they were committed within one service.
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("routing_key", Text, nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("correlation_id", Text, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("available_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        Index(
            "ix_outbox_message_pending",
            "id",
            postgresql_where=text("published_at IS NULL"),
        ),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox_message",
        metadata,
        # Every subscriber of one service sees the same event id: the key is (consumer, event).
        Column("consumer", Text, primary_key=True),
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def timer_table(metadata: MetaData) -> Table:
    return Table(
        "timer",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        # (kind, key) names one timer: scheduling it again moves it instead of adding another.
        Column("kind", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("tenant_id", Text, nullable=False),
        Column("due_at", DateTime(timezone=True), nullable=False),
        Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("fired_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        UniqueConstraint("kind", "key", name="uq_timer_kind_key"),
        Index("ix_timer_due", "due_at", postgresql_where=text("fired_at IS NULL")),
    )


def add_messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    return outbox_table(metadata), inbox_table(metadata)
