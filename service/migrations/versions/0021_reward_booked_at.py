"""reward.booked_at: when the reward's first accrual was booked as posted, indexed by offer

The attribution report finds an offer's purchases of a period by when their money was first
booked in the ledger; it probed the ledger (entries, resolutions) for every reward of the
offer. The time now lives on the reward, kept by the code that books it, and the report reads
a range of (offer_id, booked_at). Rewards booked before this revision get it from the ledger.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The reward columns the attribution report sums, after the key: the index covers the report.
REWARD_REPORT_COLUMNS = [
    "offer_id",
    "booked_at",
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
# Entry kinds that accrue a reward (settlement.runs.statements.ACCRUAL_KINDS at this revision).
ACCRUAL_KINDS = ("accrual", "manual_accrual")

# The ledger as it stood at this revision, frozen here (a migration imports no application).
_reward = sa.table("reward", sa.column("id"), sa.column("booked_at"))
_entry = sa.table(
    "ledger_entry",
    sa.column("id"),
    sa.column("kind"),
    sa.column("reward_id"),
    sa.column("initial_status"),
    sa.column("created_at"),
)
_resolution = sa.table(
    "ledger_entry_resolution", sa.column("entry_id"), sa.column("status"), sa.column("resolved_at")
)


def backfill_booked_at(conn: sa.Connection) -> None:
    """Each reward's first posted booking of an accrual: the earliest of the accruals written
    posted (created_at) and of those written pending and resolved posted (resolved_at).
    One UPDATE ... FROM a grouped union, the same statement on PostgreSQL and SQLite (3.33+)."""
    accrual = _entry.c.kind.in_(ACCRUAL_KINDS)
    written = sa.select(
        _entry.c.reward_id.label("reward_id"), _entry.c.created_at.label("booked_at")
    ).where(accrual, _entry.c.initial_status == "posted", _entry.c.reward_id.is_not(None))
    resolved = (
        sa.select(_entry.c.reward_id, _resolution.c.resolved_at)
        .select_from(_resolution.join(_entry, _entry.c.id == _resolution.c.entry_id))
        .where(accrual, _resolution.c.status == "posted", _entry.c.reward_id.is_not(None))
    )
    both = sa.union_all(written, resolved).subquery("booked")
    first = (
        sa.select(both.c.reward_id, sa.func.min(both.c.booked_at).label("first_at"))
        .group_by(both.c.reward_id)
        .subquery("first_booked")
    )
    conn.execute(
        sa.update(_reward)
        .where(_reward.c.id == first.c.reward_id)
        .values(booked_at=first.c.first_at)
    )


def upgrade() -> None:
    op.add_column(
        "reward", sa.Column("booked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
    )
    backfill_booked_at(op.get_bind())
    # The attribution report's qualified purchases (service.attribution.repository._qualified):
    # offer_id = ? AND booked_at in the period, a range of this index, which covers the sums.
    op.create_index("ix_reward_offer_booked", "reward", REWARD_REPORT_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_reward_offer_booked", table_name="reward")
    with op.batch_alter_table("reward") as batch:
        batch.drop_column("booked_at")
