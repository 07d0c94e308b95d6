"""drop ix_recovery_lead: the unique index on the loss already starts with (tenant_id, lead_id)

`uq_recovery_loss (tenant_id, lead_id, origin, lost_at)` serves every lookup of a lead's runs
(`of_lead`, the list filtered by lead) through its prefix; the separate `(tenant_id, lead_id)`
index only cost space and a write per run: ~75 MiB per million runs of the ~410 MiB of indexes
that bench/recovery measured (issue 14).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 03:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_recovery_lead", table_name="recovery")


def downgrade() -> None:
    op.create_index("ix_recovery_lead", "recovery", ["tenant_id", "lead_id"])
