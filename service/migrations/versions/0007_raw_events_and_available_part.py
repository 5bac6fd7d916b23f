"""card events keep every field that arrived; rewards know what of them is available

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("card_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acquirer_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("country", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("postal_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("brand_hint", sa.String(length=255), nullable=True))
    with op.batch_alter_table("reward", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "available_reward_amount", sa.BigInteger(), nullable=False, server_default="0"
            )
        )
    # A matured reward moved all of its net to available; clawbacks since took from there.
    op.execute(
        "UPDATE reward SET available_reward_amount = reward_amount - clawed_reward_amount "
        "WHERE state = 'matured'"
    )


def downgrade() -> None:
    with op.batch_alter_table("reward", schema=None) as batch_op:
        batch_op.drop_column("available_reward_amount")
    with op.batch_alter_table("card_event", schema=None) as batch_op:
        batch_op.drop_column("brand_hint")
        batch_op.drop_column("postal_code")
        batch_op.drop_column("country")
        batch_op.drop_column("acquirer_id")
