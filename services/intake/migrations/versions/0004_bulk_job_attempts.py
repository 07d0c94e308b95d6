"""bulk jobs: failed tries are counted, and a failing job waits before its next try

A job that failed every time was tried again every second for ever, and as the oldest job it
was always the one tried, so no later job of any tenant was ever processed. Now each failed try
(database outages aside) counts in `attempts` and sets `retry_at`; at INTAKE_BULK_MAX_ATTEMPTS
the job is marked failed with its error.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "bulk_job",
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("bulk_job", sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("bulk_job", "retry_at")
    op.drop_column("bulk_job", "attempts")
