"""dead_lead: leads recovery declared dead (lead.dead), for a prospect arriving later

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_lead",
        sa.Column("tenant_id", sa.Text(), primary_key=True),
        sa.Column("lead_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("do_not_contact", sa.Boolean(), nullable=False),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dead_lead")
