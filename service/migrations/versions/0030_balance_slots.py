"""balance slots: the feed's writers add to rows of their own for shared accounts

Every feed batch moves the platform's revenue and its merchants' receivables, and adds to
their daily bookings. Kept on one row each, concurrent batches queued on those row locks from
their first balance write to their commit. Each feed writer now adds to its own slot's rows:
`ledger_balance_slot` for cached balances, and a `slot` column in the daily bookings' key. A
balance or a booking is the sum of its rows.

Revision ID: 0030
Revises: 0029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BOOKING = "ledger_daily_booking"
KEY = ["booked_on", "account_id", "kind", "offer_id"]


def _booking_table(key: list[str]) -> sa.Table:
    """The bookings table as it is with `key` as its primary key (a `slot` column with it)."""
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("ledger_account.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("postings", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=True),
    ]
    if "slot" in key:
        columns.append(sa.Column("slot", sa.SmallInteger(), nullable=False, server_default="0"))
    return sa.Table(BOOKING, sa.MetaData(), *columns, sa.PrimaryKeyConstraint(*key))


def _booking_key(key: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(f"{BOOKING}_pkey", BOOKING, type_="primary")
        op.create_primary_key(f"{BOOKING}_pkey", BOOKING, key)
        if "slot" not in key:
            op.drop_column(BOOKING, "slot")
        return
    # SQLite cannot change a key in place: the batch copies the table into one built as
    # `_booking_table` says, with the columns that table has.
    with op.batch_alter_table(BOOKING, copy_from=_booking_table(key), recreate="always"):
        pass


def upgrade() -> None:
    op.create_table(
        "ledger_balance_slot",
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("ledger_account.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("slot", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("posted_amount", sa.BigInteger(), nullable=False),
        sa.Column("pending_amount", sa.BigInteger(), nullable=False),
    )
    # Rows written before slots belong to slot 0, every writer's but the feed's.
    op.add_column(BOOKING, sa.Column("slot", sa.SmallInteger(), nullable=False, server_default="0"))
    _booking_key([*KEY, "slot"])


def downgrade() -> None:
    # Slot rows are folded into the rows they share (and the account rows) before they go.
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE ledger_account SET "
            "posted_amount = posted_amount + (SELECT coalesce(sum(posted_amount), 0) "
            "FROM ledger_balance_slot s WHERE s.account_id = ledger_account.id), "
            "pending_amount = pending_amount + (SELECT coalesce(sum(pending_amount), 0) "
            "FROM ledger_balance_slot s WHERE s.account_id = ledger_account.id)"
        )
    )
    op.drop_table("ledger_balance_slot")
    bind.execute(
        sa.text(
            f"UPDATE {BOOKING} SET "
            f"postings = (SELECT sum(postings) FROM {BOOKING} o WHERE {_same('o')}), "
            f"amount = (SELECT sum(amount) FROM {BOOKING} o WHERE {_same('o')}) "
            "WHERE slot = (SELECT min(slot) FROM "
            f"{BOOKING} o WHERE {_same('o')})"
        )
    )
    bind.execute(
        sa.text(
            f"DELETE FROM {BOOKING} WHERE slot <> (SELECT min(slot) FROM {BOOKING} o "
            f"WHERE {_same('o')})"
        )
    )
    _booking_key(KEY)


def _same(alias: str) -> str:
    return " AND ".join(f"{alias}.{c} = {BOOKING}.{c}" for c in KEY)
