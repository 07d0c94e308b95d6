"""leads: the earlier closed lead a new one follows, and the person's do-not-contact flag

A person who asks again after their lead closed gets a new lead linked to the earlier one
(`previous_lead_id`); a lead whose person asked never to be contacted is flagged
(`do_not_contact`, learnt from lead.lost, prospect.lost and lead.dead), so the person's next
lead is ingested without a contact task.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("lead", sa.Column("previous_lead_id", postgresql.UUID(), nullable=True))
    op.add_column(
        "lead",
        sa.Column("do_not_contact", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )


def downgrade() -> None:
    op.drop_column("lead", "do_not_contact")
    op.drop_column("lead", "previous_lead_id")
