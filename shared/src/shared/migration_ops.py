"""Migration steps for the shared tables, called from each service's Alembic revisions.

Versioned by name: a later change to the outbox adds a new function; revisions already written
keep calling the one they were written with.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import MetaData

from shared.tables import inbox_table, outbox_table, timer_table


def create_messaging_tables_v1() -> None:
    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    metadata.create_all(op.get_bind())


def drop_messaging_tables_v1() -> None:
    op.drop_table("inbox_message")
    op.drop_table("outbox_message")


def create_timer_table_v1() -> None:
    metadata = MetaData()
    timer_table(metadata)
    metadata.create_all(op.get_bind())


def drop_timer_table_v1() -> None:
    op.drop_table("timer")
