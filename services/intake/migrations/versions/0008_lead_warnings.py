"""a lead's warnings (what the normaliser dropped), kept for the admin's lead view

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
    op.add_column(
        "lead",
        sa.Column(
            "warnings",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'[]'::jsonb"),
        ),
    )
    # The admin's lead list, newest first; not led by the tenant (see 0002).
    op.create_index("ix_lead_received", "lead", ["received_at"])
    # The reject log and the lead list read submissions by source and time.
    op.create_index(
        "ix_submission_source_received", "submission", ["tenant_id", "source_id", "received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_submission_source_received", table_name="submission")
    op.drop_index("ix_lead_received", table_name="lead")
    op.drop_column("lead", "warnings")
