"""money paths: merchants' billing email (Stripe's send_invoice needs one); the offer
catalog's version row, bumped by triggers on every table the catalog is built from

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


CATALOG_TABLES = ("offer", "offer_location", "location", "brand_alias", "merchant")
OPERATIONS = ("INSERT", "UPDATE", "DELETE")
BUMP = "UPDATE offer_catalog_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    with op.batch_alter_table("merchant") as batch:
        batch.add_column(sa.Column("billing_email", sa.String(254), nullable=True))
    op.create_table(
        "offer_catalog_version",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO offer_catalog_version (id, version) VALUES (1, 0)")
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        # Once per statement: a bulk write of many offers bumps the version once.
        op.execute(
            "CREATE FUNCTION offer_catalog_bump() RETURNS trigger AS $$ BEGIN "
            f"{BUMP}; RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        for table in CATALOG_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_catalog_version AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION offer_catalog_bump()"
            )
        return
    for table in CATALOG_TABLES:  # SQLite has row triggers only
        for operation in OPERATIONS:
            op.execute(
                f"CREATE TRIGGER {table}_catalog_version_{operation.lower()} AFTER {operation} "
                f"ON {table} BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for table in CATALOG_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_catalog_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS offer_catalog_bump()")
    else:
        for table in CATALOG_TABLES:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_catalog_version_{operation.lower()}")
    op.drop_table("offer_catalog_version")
    with op.batch_alter_table("merchant") as batch:
        batch.drop_column("billing_email")
