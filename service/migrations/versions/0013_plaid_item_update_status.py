"""Plaid: how far Plaid's pull of an Item's history got, the HTTP status of its error, and the
posted transaction that settled each pending one, and the auth each clearing settles

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plaid_item") as batch:
        batch.add_column(
            sa.Column("transactions_update_status", sa.String(length=40), nullable=True)
        )
        batch.add_column(sa.Column("error_status", sa.Integer(), nullable=True))
    with op.batch_alter_table("plaid_transaction") as batch:
        batch.add_column(sa.Column("posted_as", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("auth_external_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plaid_transaction") as batch:
        batch.drop_column("auth_external_id")
        batch.drop_column("posted_as")
    with op.batch_alter_table("plaid_item") as batch:
        batch.drop_column("error_status")
        batch.drop_column("transactions_update_status")
