"""the attribution report reads an offer's rows, not a probe per reward

At ten million events an offer's report spent its time in random reads, one or more per
reward: the event index for its refunds and the member-first brand history for returning
members. Refunds that clawed a reward back are now tallied on the reward (backfilled here
from the events) and read from the offer's covering index; the event's `reward_id` index
had no other reader and goes, one b-tree less per card event. The brand history gets an
index by brand, so a report's probes fall in a few pages. The activation conversions read
indexes alone: an offer's activations with their member, and a member's events with their
brand and kind.

Revision ID: 0026
Revises: 0025
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORTED = (
    "state",
    "member_id",
    "merchant_id",
    "spend_amount",
    "refunded_spend_amount",
    "reward_amount",
    "clawed_reward_amount",
    "commission_amount",
    "clawed_commission_amount",
)
ACTIVATIONS = ["offer_id", "activated_at"]
EVENTS = ["member_id", "occurred_at"]
CLAWBACKS = """FROM card_event AS e WHERE e.reward_id = reward.id
    AND e.kind IN ('refund', 'reversal') AND e.outcome = 'clawback'"""


def upgrade() -> None:
    with op.batch_alter_table("reward") as batch:
        batch.add_column(
            sa.Column("clawback_refund_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("clawback_refund_amount", sa.BigInteger(), nullable=False, server_default="0")
        )
    # Only the rewards some refund clawed back (a few in a hundred) are written.
    op.execute(
        f"""UPDATE reward SET
              clawback_refund_count = (SELECT COUNT(*) {CLAWBACKS}),
              clawback_refund_amount = (SELECT COALESCE(SUM(e.amount), 0) {CLAWBACKS})
            WHERE id IN (SELECT reward_id FROM card_event
                         WHERE outcome = 'clawback' AND reward_id IS NOT NULL)"""
    )
    op.drop_index("ix_reward_offer_booked", table_name="reward")
    op.create_index(
        "ix_reward_offer_booked",
        "reward",
        ["offer_id", "booked_at", *REPORTED, "clawback_refund_count", "clawback_refund_amount"],
    )
    op.drop_index("ix_card_event_reward_id", table_name="card_event")
    op.create_index(
        "ix_member_brand_state_brand",
        "member_brand_state",
        ["merchant_id", "member_id", "first_purchase_at"],
    )
    _replace_index("ix_activation_offer_activated", "activation", [*ACTIVATIONS, "member_id"])
    _replace_index("ix_card_event_member_occurred", "card_event", [*EVENTS, "merchant_id", "kind"])


def _replace_index(name: str, table: str, columns: list[str]) -> None:
    op.drop_index(name, table_name=table)
    op.create_index(name, table, columns)


def downgrade() -> None:
    _replace_index("ix_card_event_member_occurred", "card_event", EVENTS)
    _replace_index("ix_activation_offer_activated", "activation", ACTIVATIONS)
    op.drop_index("ix_member_brand_state_brand", table_name="member_brand_state")
    op.create_index("ix_card_event_reward_id", "card_event", ["reward_id"])
    op.drop_index("ix_reward_offer_booked", table_name="reward")
    op.create_index("ix_reward_offer_booked", "reward", ["offer_id", "booked_at", *REPORTED])
    with op.batch_alter_table("reward") as batch:
        batch.drop_column("clawback_refund_amount")
        batch.drop_column("clawback_refund_count")
