"""ledger guards: append-only triggers, and on PostgreSQL a deferred balance check per entry

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

from settlement.ledger.ddl import install_ledger_guards

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    install_ledger_guards(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("the ledger guards are not removed")
