"""every enquiry of a lead (the first, then each repeat), as the agent sees it on the task

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enquiry",
        sa.Column("lead_id", postgresql.UUID(), nullable=False),
        sa.Column("enquiry_id", postgresql.UUID(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dealership_id", sa.Text(), nullable=True),
        sa.Column("source", postgresql.JSONB(), nullable=False),
        sa.Column("person", postgresql.JSONB(), nullable=True),
        sa.Column("vehicle", postgresql.JSONB(), nullable=True),
        sa.Column(
            "trade_ins", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        sa.Column("comments", sa.Text(), nullable=True),
        sa.Column("consent", postgresql.JSONB(), nullable=True),
        sa.PrimaryKeyConstraint("lead_id", "enquiry_id"),
    )


def downgrade() -> None:
    op.drop_table("enquiry")
