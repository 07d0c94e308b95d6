"""dealerships crm-queue learnt from lead events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dealership",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("dealership_id", sa.Text(), nullable=False),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "dealership_id"),
    )
    # The dealerships of the leads already taken in.
    op.execute(
        "INSERT INTO dealership (tenant_id, dealership_id, first_seen_at) "
        "SELECT tenant_id, dealership_id, min(created_at) FROM task "
        "GROUP BY tenant_id, dealership_id"
    )


def downgrade() -> None:
    op.drop_table("dealership")
