"""leads: the earlier closed lead a new one follows, and the person's do-not-contact flag

A person who asks again after their lead closed gets a new lead linked to the earlier one
(`previous_lead_id`); a lead whose person asked never to be contacted is flagged
(`do_not_contact`, learnt from lead.lost, prospect.lost and lead.dead), so the person's next
lead is ingested without a contact task. A merged enquiry keeps what its lead.duplicate carried
(`enquiry`, with its `dealership_id`): one merged into a lead that had closed before it came
(intake learnt of it later) becomes a new lead (`promoted_to`).

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
    op.add_column("lead", sa.Column("previous_lead_id", postgresql.UUID(), nullable=True))
    op.add_column(
        "lead",
        sa.Column("do_not_contact", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )


    op.add_column("submission", sa.Column("dealership_id", postgresql.UUID(), nullable=True))
    op.add_column(
        "submission", sa.Column("enquiry", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column("submission", sa.Column("promoted_to", postgresql.UUID(), nullable=True))


def downgrade() -> None:
    op.drop_column("submission", "promoted_to")
    op.drop_column("submission", "enquiry")
    op.drop_column("submission", "dealership_id")
    op.drop_column("lead", "do_not_contact")
    op.drop_column("lead", "previous_lead_id")
