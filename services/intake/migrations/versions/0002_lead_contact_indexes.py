"""lead contact indexes: on the contact alone, not led by the tenant

The de-duplication lookup (`lower(email) = ANY(:emails)`, `phone = ANY(:phones)`, both with the
tenant) used indexes led by `tenant_id`. While a dealer group's first large upload grows the
table faster than autovacuum analyses it, the statistics say the tenant has a handful of leads,
and the planner preferred reading all of them through the tenant prefix to probing 500 values:
20 ms per lookup with 30,000 leads of the tenant, 126 ms with 200,000 (1.5 s as a generic
plan), and bulk intake slowed down batch after batch. With (contact, tenant) the planner could
still scan the whole index for the tenant alone. On the contact alone, no index offers a
tenant-only path: 2-2.5 ms in every case measured. The tenant filter stays in the query; a
person is rarely a lead of many dealer groups, so it discards little.

Plain CREATE INDEX (not CONCURRENTLY): migrations run in one transaction under the migration
lock. On a large lead table, run this migration in a quiet hour: writes to `lead` wait for it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_lead_email", "lead", [sa.literal_column("lower(email)")])
    op.create_index("ix_lead_phone", "lead", ["phone"])
    op.drop_index("ix_lead_tenant_email", table_name="lead")
    op.drop_index("ix_lead_tenant_phone", table_name="lead")


def downgrade() -> None:
    op.create_index(
        "ix_lead_tenant_email", "lead", ["tenant_id", sa.literal_column("lower(email)")]
    )
    op.create_index("ix_lead_tenant_phone", "lead", ["tenant_id", "phone"])
    op.drop_index("ix_lead_email", table_name="lead")
    op.drop_index("ix_lead_phone", table_name="lead")
