"""holdout populations counted up to a midnight, and cards by when they were linked

An offer's holdout report needs its population split (members linked before the period's
end, in control or not); counting it hashed every member on every read. The daily job keeps
a count per offer up to a midnight, and a read hashes only the members who linked since:
found by `ix_card_created_at`.

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

When = sqlmodel.sql.sqltypes.UTCDateTime()


def upgrade() -> None:
    op.create_index("ix_card_created_at", "card", ["created_at"])
    op.create_table(
        "holdout_population",
        sa.Column("offer_id", sa.Integer(), sa.ForeignKey("offer.id"), primary_key=True),
        sa.Column("counted_before", When, primary_key=True),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("control_members", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("holdout_population")
    op.drop_index("ix_card_created_at", table_name="card")
