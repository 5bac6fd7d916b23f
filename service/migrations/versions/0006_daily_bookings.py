"""ledger: daily booking rollup for statements; reward report index covers its figures

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REWARD_REPORT_COLUMNS = [
    "offer_id",
    "occurred_at",
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


# The ledger as it stood at this revision, frozen here: a migration must not import the
# application, whose tables and rules move on after it (settlement.ledger.bookings).
_entry = sa.table(
    "ledger_entry",
    sa.column("id"),
    sa.column("kind"),
    sa.column("offer_id"),
    sa.column("merchant_id"),
    sa.column("initial_status"),
    sa.column("created_at"),
)
_resolution = sa.table(
    "ledger_entry_resolution", sa.column("entry_id"), sa.column("status"), sa.column("resolved_at")
)
_posting = sa.table(
    "ledger_posting", sa.column("entry_id"), sa.column("account_id"), sa.column("amount")
)
_account = sa.table("ledger_account", sa.column("id"), sa.column("owner_type"))
_booking = sa.table(
    "ledger_daily_booking",
    *(sa.column(c) for c in ("booked_on", "account_id", "kind", "offer_id")),
    sa.column("postings"),
    sa.column("amount"),
    sa.column("merchant_id"),
)
NO_OFFER = 0
KEY = ("booked_on", "account_id", "kind", "offer_id")


def _day_of(conn: sa.Connection, column: sa.ColumnElement[object]) -> sa.ColumnElement[object]:
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.timezone(sa.literal_column("'UTC'"), column), sa.Date)
    return sa.func.date(column, type_=sa.Date)


def rebuild_daily_bookings(conn: sa.Connection) -> None:
    """Every posting to a non-member account, summed per UTC day of its entry's booking
    (written posted, or resolved as posted), account, entry kind and offer."""
    ways = (
        (_entry, _entry.c.created_at, _entry.c.initial_status == "posted"),
        (
            _resolution.join(_entry, _entry.c.id == _resolution.c.entry_id),
            _resolution.c.resolved_at,
            _resolution.c.status == "posted",
        ),
    )
    members = sa.select(_account.c.id).where(_account.c.owner_type == "member")
    branches = [
        sa.select(
            _day_of(conn, day).label("booked_on"),
            _posting.c.account_id,
            _entry.c.kind,
            sa.func.coalesce(_entry.c.offer_id, NO_OFFER).label("offer_id"),
            sa.func.count().label("postings"),
            sa.func.sum(_posting.c.amount).label("amount"),
            sa.func.max(_entry.c.merchant_id)
            .filter(_entry.c.offer_id.is_not(None))
            .label("merchant_id"),
        )
        .select_from(source.join(_posting, _posting.c.entry_id == _entry.c.id))
        .where(booked, _posting.c.account_id.not_in(members))
        .group_by(_day_of(conn, day), _posting.c.account_id, _entry.c.kind, _entry.c.offer_id)
        for source, day, booked in ways
    ]
    both = sa.union_all(*branches).subquery("booked")
    keys = [both.c[k] for k in KEY]
    query = (
        sa.select(
            *keys,
            sa.func.sum(both.c.postings).label("postings"),
            sa.func.sum(both.c.amount).label("amount"),
            sa.func.max(both.c.merchant_id).label("merchant_id"),
        )
        .group_by(*keys)
        .subquery()
    )
    columns = [*KEY, "postings", "amount", "merchant_id"]
    conn.execute(sa.delete(_booking))
    conn.execute(
        sa.insert(_booking).from_select(columns, sa.select(*(query.c[c] for c in columns)))
    )


def upgrade() -> None:
    op.create_table(
        "ledger_daily_booking",
        sa.Column("booked_on", sa.Date(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("ledger_account.id"), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("offer_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("postings", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=True),
    )
    # Ledgers written before the rollup existed get it from their postings.
    rebuild_daily_bookings(op.get_bind())
    op.drop_index("ix_reward_offer_occurred", table_name="reward")
    op.create_index("ix_reward_offer_occurred", "reward", REWARD_REPORT_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_reward_offer_occurred", table_name="reward")
    op.create_index("ix_reward_offer_occurred", "reward", ["offer_id", "occurred_at"])
    op.drop_table("ledger_daily_booking")
