"""activities: the person's new enquiries on their open prospect

An enquiry of a person whose lead is an open prospect (intake's lead.duplicate with stage
`prospect`) is an activity of kind `enquiry`: no consultant (`consultant_id` null), the enquiry
as intake carried it in `details`. The prospect shows the latest one its owner has not acted on
since (`enquired_at`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("prospect", sa.Column("enquired_at", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("activity", "consultant_id", existing_type=sa.Text(), nullable=True)
    op.add_column(
        "activity", sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )


def downgrade() -> None:
    op.execute("DELETE FROM activity WHERE consultant_id IS NULL")
    op.drop_column("activity", "details")
    op.alter_column("activity", "consultant_id", existing_type=sa.Text(), nullable=False)
    op.drop_column("prospect", "enquired_at")
