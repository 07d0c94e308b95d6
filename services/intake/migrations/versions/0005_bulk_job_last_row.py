"""bulk jobs: `rows_done` counts data rows; the checkpoint moves to `last_row`

`rows_done` was the record number of the last row done, so the header counted: 20 data rows
reported `rows_done: 21`. The checkpoint (a record number, header and blank lines included)
is now `last_row`, and `rows_done` the number of data rows reported, i.e. accepted + merged +
rejected + resent.

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
    op.add_column(
        "bulk_job",
        sa.Column("last_row", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.execute(
        "UPDATE bulk_job SET last_row = rows_done, "
        "rows_done = accepted + merged + rejected + resent"
    )


def downgrade() -> None:
    op.execute("UPDATE bulk_job SET rows_done = last_row")
    op.drop_column("bulk_job", "last_row")
