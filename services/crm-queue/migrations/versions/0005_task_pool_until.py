"""when a lead in the pool is closed automatically

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("task", sa.Column("pool_until", sa.DateTime(timezone=True), nullable=True))
    # Leads already in the pool get the default period from now, with their timers.
    op.execute("UPDATE task SET pool_until = now() + interval '30 days' WHERE state = 'pool'")
    op.execute(
        "INSERT INTO timer (kind, key, tenant_id, due_at, payload) "
        "SELECT 'crm.pool', lead_id::text, tenant_id, pool_until, '{}'::jsonb "
        "FROM task WHERE state = 'pool' ON CONFLICT (kind, key) DO NOTHING"
    )


def downgrade() -> None:
    op.execute("DELETE FROM timer WHERE kind = 'crm.pool'")
    op.drop_column("task", "pool_until")
