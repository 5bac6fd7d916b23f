"""card events waiting for their original: a partial index the ingest batch looks them up by

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "linked_event_id IS NULL AND original_external_id IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_card_event_waiting",
        "card_event",
        ["source", "original_external_id"],
        sqlite_where=sa.text(WAITING),
        postgresql_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_card_event_waiting", table_name="card_event")
