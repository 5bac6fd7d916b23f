"""web: staff accounts for the merchant portal and the finance console; who started or
edited a settlement run (maker-checker)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("side", sa.String(16), nullable=False),
        sa.Column("merchant_id", sa.Integer(), sa.ForeignKey("merchant.id"), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("invite_token_sha256", sa.String(64), nullable=True, unique=True),
        sa.Column("invite_expires_at", sa.DateTime(), nullable=True),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_staff_user_merchant_id", "staff_user", ["merchant_id"])
    op.create_table(
        "finance_run_action",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_finance_run_action_run", "finance_run_action", ["run_id", "staff_user_id"])


def downgrade() -> None:
    op.drop_index("ix_finance_run_action_run", table_name="finance_run_action")
    op.drop_table("finance_run_action")
    op.drop_index("ix_staff_user_merchant_id", table_name="staff_user")
    op.drop_table("staff_user")
