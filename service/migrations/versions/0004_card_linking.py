"""card linking: Stripe customers, Plaid items, accounts and transactions, unresolved merchants

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

When = sqlmodel.sql.sqltypes.UTCDateTime()


def _str(name: str, length: int, nullable: bool = False, **kw) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=nullable, **kw)


def upgrade() -> None:
    op.create_table(
        "stripe_customer",
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("member.id"), primary_key=True),
        _str("customer_ref", 64, unique=True),
        sa.Column("created_at", When, nullable=False),
    )
    op.create_table(
        "plaid_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("member.id"), nullable=False),
        _str("item_ref", 128, unique=True),
        sa.Column("access_token_encrypted", sa.Text(), nullable=False),
        _str("institution_id", 64, nullable=True),
        _str("status", 24, server_default="active"),
        _str("error_code", 64, nullable=True),
        sa.Column("sync_cursor", sa.Text(), nullable=False, server_default=""),
        sa.Column("last_synced_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_index("ix_plaid_item_member_id", "plaid_item", ["member_id"])
    op.create_table(
        "plaid_account",
        _str("account_ref", 128, primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("plaid_item.id"), nullable=False),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("card.id"), nullable=False),
    )
    op.create_index("ix_plaid_account_item_id", "plaid_account", ["item_id"])
    op.create_table(
        "plaid_transaction",
        _str("transaction_ref", 128, primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("plaid_item.id"), nullable=False),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("card.id"), nullable=False),
        _str("event_external_id", 128, nullable=True),
        _str("kind", 16, nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False, server_default="0"),
        _str("currency", 3, nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false()),
        _str("merchant_key", 255, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("removed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("occurred_at", When, nullable=True),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_index("ix_plaid_transaction_item_id", "plaid_transaction", ["item_id"])
    op.create_table(
        "unresolved_merchant",
        sa.Column("id", sa.Integer(), primary_key=True),
        _str("kind", 16),
        _str("value", 255),
        _str("example_name", 255, nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("first_seen_at", When, nullable=False),
        sa.Column("last_seen_at", When, nullable=False),
        _str("status", 16, server_default="open"),
        sa.Column("merchant_id", sa.Integer(), sa.ForeignKey("merchant.id"), nullable=True),
        sa.Column("mapped_at", When, nullable=True),
        sa.UniqueConstraint("kind", "value", name="uq_unresolved_merchant_kind_value"),
    )


def downgrade() -> None:
    for name in (
        "unresolved_merchant",
        "plaid_transaction",
        "plaid_account",
        "plaid_item",
        "stripe_customer",
    ):
        op.drop_table(name)
