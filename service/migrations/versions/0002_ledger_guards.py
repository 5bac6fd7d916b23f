"""ledger guards: append-only triggers, and on PostgreSQL a deferred balance check per entry

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The guards as installed at this revision, frozen here (migrations never import the
# application).
_PG = [
    """
    CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'ledger rows are append-only: %% on %% refused', TG_OP, TG_TABLE_NAME;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger AS $$
    DECLARE bad record;
    BEGIN
        SELECT currency, SUM(amount) AS total, COUNT(*) AS n INTO bad
        FROM ledger_posting WHERE entry_id = NEW.id
        GROUP BY currency HAVING SUM(amount) <> 0 OR COUNT(*) < 2 LIMIT 1;
        IF FOUND OR NOT EXISTS (SELECT 1 FROM ledger_posting WHERE entry_id = NEW.id) THEN
            RAISE EXCEPTION 'ledger entry %% does not balance', NEW.id;
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_entry",
    """CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry
       FOR EACH ROW EXECUTE FUNCTION ledger_append_only()""",
    "DROP TRIGGER IF EXISTS ledger_posting_append_only ON ledger_posting",
    """CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON ledger_posting
       FOR EACH ROW EXECUTE FUNCTION ledger_append_only()""",
    "DROP TRIGGER IF EXISTS ledger_resolution_append_only ON ledger_entry_resolution",
    """CREATE TRIGGER ledger_resolution_append_only
       BEFORE UPDATE OR DELETE ON ledger_entry_resolution
       FOR EACH ROW EXECUTE FUNCTION ledger_append_only()""",
    "DROP TRIGGER IF EXISTS ledger_entry_balanced ON ledger_entry",
    # Deferred to commit, when all of the entry's postings are in.
    """CREATE CONSTRAINT TRIGGER ledger_entry_balanced AFTER INSERT ON ledger_entry
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()""",
]

_SQLITE = [
    f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op_name.lower()} BEFORE {op_name} ON {table}
        BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END"""
    for table in ("ledger_entry", "ledger_posting", "ledger_entry_resolution")
    for op_name in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    conn = op.get_bind()
    for sql in _PG if conn.dialect.name == "postgresql" else _SQLITE:
        conn.exec_driver_sql(sql)


def downgrade() -> None:
    raise NotImplementedError("the ledger guards are not removed")
