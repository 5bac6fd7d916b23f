"""offers by the end of their window: the member feed's "Expiring soon" is one index range

The feed shows the open offers that end first, above the rest. Without an index on `ends_at`
each feed read every offer (about 30 ms at 100,000 offers on PostgreSQL); offers are written
by people, not per card event, so the index costs the feed path nothing.

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_offer_ends_at", "offer", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_offer_ends_at", table_name="offer")
