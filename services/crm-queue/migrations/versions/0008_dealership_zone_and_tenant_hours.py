"""a dealership's zone and country (from lead.ingested), and a dealer group's default hours

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dealership", sa.Column("timezone", sa.Text(), nullable=True))
    op.add_column("dealership", sa.Column("country", sa.Text(), nullable=True))
    op.create_table(
        "tenant_hours",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("hours", postgresql.JSONB(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    # The agent sees what the normaliser dropped (a phone that did not parse, as written).
    op.add_column(
        "task",
        sa.Column(
            "warnings", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
    )


def downgrade() -> None:
    op.drop_column("task", "warnings")
    op.drop_table("tenant_hours")
    op.drop_column("dealership", "country")
    op.drop_column("dealership", "timezone")
