"""card events by brand and time: a brand's spend in a period is one index range

The holdout report sums each member's spend at the offer's brand in the period and in the
pre-period. By `merchant_id` alone the database read the brand's every event and filtered the
period; and on PostgreSQL, for a pre-period its statistics said was empty, it walked
`ix_card_event_member_occurred` whole instead. (merchant_id, occurred_at) replaces the
single-column index (same leading column, so no reader loses it) at no extra b-tree per event.

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_card_event_merchant_occurred", "card_event", ["merchant_id", "occurred_at"])
    op.drop_index("ix_card_event_merchant_id", table_name="card_event")


def downgrade() -> None:
    op.create_index("ix_card_event_merchant_id", "card_event", ["merchant_id"])
    op.drop_index("ix_card_event_merchant_occurred", table_name="card_event")
