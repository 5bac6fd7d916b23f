"""budget holds: a feed batch reserves in a short transaction of its own (PostgreSQL)

Two ingest processes reserving budgets inside their batches held each budget row through the
batch's writes, and waited for each other there. A batch now reserves in a transaction of its
own, committed at once, and records what it took here; its own transaction deletes these rows,
so its commit makes the reservation final. Rows of a batch that did not commit are given back.

Revision ID: 0029
Revises: 0028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "offer_budget_hold",
        sa.Column("batch_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("offer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("batch_key", "offer_id"),
    )


def downgrade() -> None:
    op.drop_table("offer_budget_hold")
