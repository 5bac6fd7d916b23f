"""ledger accounts by owner and activations by offer: a member's balance reads their
accounts by owner, and an offer's attribution its activations in a period; each was a scan of
the whole table (two accounts per member; every offer's activations) before these indexes

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
    op.create_index("ix_activation_offer_activated", "activation", ["offer_id", "activated_at"])


def downgrade() -> None:
    op.drop_index("ix_activation_offer_activated", table_name="activation")
    op.drop_index("ix_ledger_account_owner", table_name="ledger_account")
