"""money paths: merchants' billing email (Stripe's send_invoice needs one); the offer
catalog's version row, bumped by triggers on every table the catalog is built from;
settlement runs as numbered attempts (a rejected run re-opened as the next attempt);
merchant credits for periods whose refunds exceed their charges; charity payouts

Revision ID: 0011
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CATALOG_TABLES = ("offer", "offer_location", "location", "brand_alias", "merchant")
OPERATIONS = ("INSERT", "UPDATE", "DELETE")
BUMP = "UPDATE offer_catalog_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    with op.batch_alter_table("merchant") as batch:
        batch.add_column(sa.Column("billing_email", sa.String(254), nullable=True))
    with op.batch_alter_table("settlement_run") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column(
                "previous_run_id",
                sa.Integer(),
                sa.ForeignKey("settlement_run.id", name="fk_settlement_run_previous"),
                nullable=True,
            )
        )
        batch.drop_constraint("uq_settlement_run_kind_period", type_="unique")
        batch.create_unique_constraint(
            "uq_settlement_run_kind_period_attempt", ["kind", "period", "attempt"]
        )
    with op.batch_alter_table("settlement_statement") as batch:
        batch.add_column(
            sa.Column("credit_amount", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "merchant_credit",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), primary_key=True),
        sa.Column("merchant_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("customer_ref", sa.String(64), nullable=True),
        sa.Column("balance_transaction_ref", sa.String(64), nullable=True, unique=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("charity") as batch:
        batch.add_column(sa.Column("stripe_account_id", sa.String(64), nullable=True))
    op.create_table(
        "charity_payout",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), nullable=False),
        sa.Column("charity_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("transfer_ref", sa.String(64), nullable=True, unique=True),
        sa.Column("failure_reason", sa.String(200), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "run_id", "charity_id", "currency", name="uq_charity_payout_run_charity"
        ),
    )
    op.create_index("ix_charity_payout_run_id", "charity_payout", ["run_id"])
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
    op.drop_table("merchant_credit")
    op.drop_index("ix_charity_payout_run_id", table_name="charity_payout")
    op.drop_table("charity_payout")
    with op.batch_alter_table("charity") as batch:
        batch.drop_column("stripe_account_id")
    with op.batch_alter_table("settlement_statement") as batch:
        batch.drop_column("credit_amount")
    with op.batch_alter_table("settlement_run") as batch:
        batch.drop_constraint("uq_settlement_run_kind_period_attempt", type_="unique")
        batch.create_unique_constraint("uq_settlement_run_kind_period", ["kind", "period"])
        batch.drop_constraint("fk_settlement_run_previous", type_="foreignkey")
        batch.drop_column("previous_run_id")
        batch.drop_column("attempt")
    with op.batch_alter_table("merchant") as batch:
        batch.drop_column("billing_email")
