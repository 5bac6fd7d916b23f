"""money paths: merchants' billing email (Stripe's send_invoice needs one)

Revision ID: 0011
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("merchant") as batch:
        batch.add_column(sa.Column("billing_email", sa.String(254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("merchant") as batch:
        batch.drop_column("billing_email")
