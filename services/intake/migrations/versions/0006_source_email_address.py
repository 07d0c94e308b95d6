"""lead sources: an e-mail address an admin may give a source (intake by e-mail)

Every source also takes mail at `<source id>@<INTAKE_SMTP_DOMAIN>`; this is the one address an
admin sets on top (e.g. the one a provider already sends to). Addresses match case-insensitively
and belong to one source across all tenants: the listener finds the source from it alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("lead_source", sa.Column("email_address", sa.Text(), nullable=True))
    op.create_index(
        "uq_lead_source_email_address",
        "lead_source",
        [sa.text("lower(email_address)")],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_lead_source_email_address", table_name="lead_source")
    op.drop_column("lead_source", "email_address")
