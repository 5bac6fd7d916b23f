"""the ledger's balance check at commit finds an entry's postings by index, always

PL/pgSQL keeps its plans for the life of a session and may settle on a generic one made while
`ledger_posting` was small, a sequential scan; a long-lived connection then read every posting
for each entry it committed. With sequential scans off inside the guard, its only plan is the
index on `entry_id`, whatever the table's size or statistics.

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION ledger_entry_balanced() SET enable_seqscan = off")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION ledger_entry_balanced() RESET enable_seqscan")
