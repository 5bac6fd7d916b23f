"""card events without foreign keys: the feed's look-ups and `clo ledger check` keep the
references instead, so an insert does not pay three key look-ups (three trigger calls on
PostgreSQL) per event

Revision ID: 0019
Revises: 0017
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERENCES = (("card_id", "card"), ("member_id", "member"), ("merchant_id", "merchant"))
# SQLite keeps the unnamed keys of migration 0001 unnamed: name them as reflected, to drop them.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column, _ in REFERENCES:
            op.drop_constraint(f"card_event_{column}_fkey", "card_event", type_="foreignkey")
        return
    with op.batch_alter_table("card_event", naming_convention=NAMING) as batch_op:
        for column, table in REFERENCES:
            batch_op.drop_constraint(f"fk_card_event_{column}_{table}", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column, table in REFERENCES:
            op.create_foreign_key(
                f"card_event_{column}_fkey", "card_event", table, [column], ["id"]
            )
        return
    with op.batch_alter_table("card_event", naming_convention=NAMING) as batch_op:
        for column, table in REFERENCES:
            batch_op.create_foreign_key(f"fk_card_event_{column}_{table}", table, [column], ["id"])
