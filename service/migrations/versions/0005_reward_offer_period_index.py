"""reward: index by offer and time, for reading an offer's rewards in a period

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_reward_offer_occurred", "reward", ["offer_id", "occurred_at"])
    op.drop_index("ix_reward_offer", table_name="reward")


def downgrade() -> None:
    op.create_index("ix_reward_offer", "reward", ["offer_id"])
    op.drop_index("ix_reward_offer_occurred", table_name="reward")
