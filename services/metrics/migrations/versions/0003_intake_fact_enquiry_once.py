"""intake_fact: an enquiry merged into a lead counts once

intake may publish one merged enquiry twice under the same enquiry id (as a first-contact
repeat, then for the consultant once it learns the lead was a prospect already when it came):
a unique index on (tenant, lead, enquiry) of the duplicates makes the second a no-op (the
projection inserts with ON CONFLICT DO NOTHING). Rows that already break it are dropped first,
keeping one per enquiry.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM intake_fact a USING intake_fact b WHERE a.kind = 'duplicate' "
        "AND b.kind = 'duplicate' AND a.tenant_id = b.tenant_id AND a.lead_id = b.lead_id "
        "AND a.enquiry_id = b.enquiry_id AND a.event_id > b.event_id"
    )
    op.create_index(
        "uq_intake_fact_enquiry",
        "intake_fact",
        ["tenant_id", "lead_id", "enquiry_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'duplicate'"),
    )


def downgrade() -> None:
    op.drop_index("uq_intake_fact_enquiry", table_name="intake_fact")
