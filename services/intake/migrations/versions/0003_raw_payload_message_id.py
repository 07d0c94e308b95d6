"""raw payloads: one row per AMQP message; a payload's submissions found by its id

`raw_payload.message_id` (AMQP only, unique per source): a message redelivered on
`forecourt.intake.raw` (after a nack, a crash, or a replay from its `.dlq`) reuses the row of
its first delivery instead of adding one per delivery. Rows kept before this migration have no
message id, so duplicates among them stay as they are. What a row gave is read back from its
submissions (bulk rows have no raw payload: not indexed). A payload
that fails for a reason other than its content is now marked `failed` (with `error`), which
needs no schema change: `status` is text.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("raw_payload", sa.Column("message_id", sa.Text(), nullable=True))
    op.create_unique_constraint(
        "uq_raw_payload_message", "raw_payload", ["source_id", "message_id"]
    )
    op.create_index(
        "ix_submission_raw_payload",
        "submission",
        ["raw_payload_id"],
        postgresql_where=sa.text("raw_payload_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_submission_raw_payload", table_name="submission")
    op.drop_constraint("uq_raw_payload_message", "raw_payload", type_="unique")
    op.drop_column("raw_payload", "message_id")
