"""card events by the event they follow: only rows that follow one are indexed

Most events (purchases, auths, refunds whose original is not here yet) follow no event, so a
plain index on `linked_event_id` held one NULL entry per event: paid on every insert, and a
trap for SQLite, whose planner took `linked_event_id IS NULL` (the waiting-events lookup) as
an equality on that index and walked nearly every stored event once per batch instead of the
partial index `ix_card_event_waiting`. Every reader asks for an equality on a known id, which
implies `IS NOT NULL`, so the partial index serves them all.

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLLOWS = "linked_event_id IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_card_event_linked", table_name="card_event")
    op.create_index(
        "ix_card_event_linked",
        "card_event",
        ["linked_event_id"],
        sqlite_where=sa.text(FOLLOWS),
        postgresql_where=sa.text(FOLLOWS),
    )


def downgrade() -> None:
    op.drop_index("ix_card_event_linked", table_name="card_event")
    op.create_index("ix_card_event_linked", "card_event", ["linked_event_id"])
