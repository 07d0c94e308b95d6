"""leads: the funnel steps intake learnt (`stages`), so a prospect takes its person's enquiries

A lead is `open` (first contact), `prospect` (qualified or reactivated, not closed since) or
`closed` (lost, won, dead), computed from the funnel events intake learnt, each kept with its
time in `lead.stages`. A merged enquiry records the stage its lead.duplicate said
(`submission.stage`): one merged as a first-contact repeat into a lead that was in fact a
prospect already is published again for the consultant when intake learns it.

A lead closed before this migration kept no steps: it gets one step `closed` at the time it
left first contact, taken as a loss (a later reactivation opens it again). Whether it was
qualified is not known, so its person's next enquiry is a new lead, as it was before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "lead",
        sa.Column(
            "stages",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default=sa.text("'[]'::jsonb"),
        ),
    )
    op.execute(
        "UPDATE lead SET stages = jsonb_build_array(jsonb_build_object('kind', 'closed', 'at', "
        "to_jsonb(coalesce(status_changed_at, last_enquiry_at)))) WHERE status = 'closed'"
    )
    op.add_column("submission", sa.Column("stage", sa.Text(), nullable=True))
    op.execute("UPDATE submission SET stage = 'first_contact' WHERE outcome = 'merged'")


def downgrade() -> None:
    op.execute("UPDATE lead SET status = 'closed' WHERE status = 'prospect'")
    op.drop_column("submission", "stage")
    op.drop_column("lead", "stages")
