"""ledger: daily booking rollup for statements; reward report index covers its figures

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from settlement.ledger.bookings import rebuild_daily_bookings

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REWARD_REPORT_COLUMNS = [
    "offer_id",
    "occurred_at",
    "state",
    "member_id",
    "merchant_id",
    "spend_amount",
    "refunded_spend_amount",
    "reward_amount",
    "clawed_reward_amount",
    "commission_amount",
    "clawed_commission_amount",
]


def upgrade() -> None:
    op.create_table(
        "ledger_daily_booking",
        sa.Column("booked_on", sa.Date(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("ledger_account.id"), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("offer_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("postings", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=True),
    )
    # Ledgers written before the rollup existed get it from their postings.
    rebuild_daily_bookings(op.get_bind())
    op.drop_index("ix_reward_offer_occurred", table_name="reward")
    op.create_index("ix_reward_offer_occurred", "reward", REWARD_REPORT_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_reward_offer_occurred", table_name="reward")
    op.create_index("ix_reward_offer_occurred", "reward", ["offer_id", "occurred_at"])
    op.drop_table("ledger_daily_booking")
