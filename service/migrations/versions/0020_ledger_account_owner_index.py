"""ledger accounts by owner: a member's balance reads their accounts by owner, which was a
scan of every account (two per member) before this index

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_ledger_account_owner", "ledger_account", ["owner_type", "owner_id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_account_owner", table_name="ledger_account")
