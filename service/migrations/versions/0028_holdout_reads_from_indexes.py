"""a holdout report reads indexes, not rows: brand spend covered, cards by member and time

At ten million events a holdout offer's report spent most of its time on random page reads
(about 0.15 ms each from a cold cache): a heap row per card event of the brand in the period
and the pre-period (the sums need member, kind, currency, amount and the original), and per
spender a card row to learn whether the member linked before the end. On PostgreSQL the brand
index carries those columns in its leaves (INCLUDE: not part of the key, so the index orders
and splits as before); on both databases the card index by member also holds the time, so
"linked before the end" is answered by the index. The column lists are frozen here: a later
change to the models needs its own migration.

Revision ID: 0028
Revises: 0027
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BRAND_SPEND_COLUMNS = ["member_id", "kind", "currency", "amount", "linked_event_id"]


def upgrade() -> None:
    op.create_index("ix_card_member_created", "card", ["member_id", "created_at"])
    op.drop_index("ix_card_member_id", table_name="card")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_card_event_merchant_occurred", table_name="card_event")
        op.create_index(
            "ix_card_event_merchant_occurred",
            "card_event",
            ["merchant_id", "occurred_at"],
            postgresql_include=BRAND_SPEND_COLUMNS,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_card_event_merchant_occurred", table_name="card_event")
        op.create_index(
            "ix_card_event_merchant_occurred", "card_event", ["merchant_id", "occurred_at"]
        )
    op.create_index("ix_card_member_id", "card", ["member_id"])
    op.drop_index("ix_card_member_created", table_name="card")
