"""rollups of the KPIs per UTC day and month; automatic replies; the dealership's minimum

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNNEL = (
    "leads", "returning_leads", "invalid_leads", "prospects", "sales", "sales_react", "reactivated",
    "dead", "rejected", "duplicates", "lost_deals", "c_prospects", "c_reactivated", "c_sales",
    "c_sales_react", "s_leads", "s_attempted", "s_breaches", "s_met", "s_auto",
    *(f"h{i}" for i in range(45)),
)  # fmt: skip


def _n(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)


def _money(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Numeric(18, 2), server_default=sa.text("0"), nullable=False)


def _rollup(name: str, keys: list[sa.Column], measures: list[sa.Column]) -> None:  # type: ignore[type-arg]
    names = ["tenant_id", "grain", "day", "dealership_id", *(k.name for k in keys)]
    op.create_table(
        name,
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("grain", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dealership_id", sa.Text(), nullable=False),
        *keys,
        *measures,
        sa.PrimaryKeyConstraint(*names),
    )


def _text(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Text(), nullable=False)


def _int(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.add_column("lead_fact", sa.Column("first_auto_reply_at", sa.DateTime(timezone=True)))
    op.add_column("lead_fact", sa.Column("first_auto_reply_key", sa.Text()))
    op.add_column("loss_fact", sa.Column("min_attempts", sa.Integer()))
    op.create_index(
        "ix_loss_fact_bought_elsewhere",
        "loss_fact",
        ["tenant_id", "lost_at"],
        postgresql_where=sa.text("category = 'bought_elsewhere'"),
    )
    op.create_index("ix_recovery_fact_lead", "recovery_fact", ["tenant_id", "lead_id"])
    op.create_index(
        "ix_recovery_fact_bought_elsewhere",
        "recovery_fact",
        ["tenant_id", "at"],
        postgresql_where=sa.text("kind = 'bought_elsewhere'"),
    )
    _rollup("funnel_rollup", [], [_n(c) for c in _FUNNEL])
    _rollup("money_rollup", [_text("currency")], [_n("react_sales"), _money("react_revenue")])
    _rollup(
        "reason_rollup",
        [_text("origin"), _text("category"), _text("reason_code")],
        [_n("losses")],
    )
    _rollup(
        "persist_rollup",
        [
            _text("category"),
            _int("attempts"),
            _int("min_attempts"),
            sa.Column("automatic", sa.Boolean(), nullable=False),
        ],
        [_n("losses")],
    )
    _rollup(
        "source_rollup",
        [_text("source_id"), _text("source_name"), _text("source_kind"), _text("currency")],
        [
            *(
                _n(c)
                for c in (
                    "leads",
                    "invalid_leads",
                    "duplicates",
                    "rejected",
                    "prospects",
                    "sales",
                    "cost_n",
                )
            ),
            _money("cost"),
        ],
    )
    _rollup(
        "consultant_rollup",
        [_text("consultant_id")],
        [
            *(_n(c) for c in ("prospects", "sales", "reactivated_sales", "losses", "revenue_n")),
            _money("revenue"),
        ],
    )
    # The rollups start empty: a database with facts already projected sums them with one
    # `python -m metrics.rebuild` after upgrading.


def downgrade() -> None:
    for table in (
        "consultant_rollup",
        "source_rollup",
        "persist_rollup",
        "reason_rollup",
        "money_rollup",
        "funnel_rollup",
    ):
        op.drop_table(table)
    op.drop_index("ix_recovery_fact_bought_elsewhere", table_name="recovery_fact")
    op.drop_index("ix_recovery_fact_lead", table_name="recovery_fact")
    op.drop_index("ix_loss_fact_bought_elsewhere", table_name="loss_fact")
    op.drop_column("loss_fact", "min_attempts")
    op.drop_column("lead_fact", "first_auto_reply_key")
    op.drop_column("lead_fact", "first_auto_reply_at")
