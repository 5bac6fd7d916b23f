"""publishers own their members; credentials get an expiry

Revision ID: 0008
Revises: 0006

Before this revision every publisher key reached every member and nothing recorded which key
signed a member up. Existing members and existing publisher keys are therefore put under one
publisher ("publisher before 0008"): nothing they could do before is taken away, and every
publisher key issued from now on is its own publisher that reaches only its own members.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0008"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

When = sqlmodel.sql.sqltypes.UTCDateTime()
LEGACY_PUBLISHER_NAME = "publisher before 0008"


def upgrade() -> None:
    publisher = op.create_table(
        "publisher",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", When, nullable=False),
    )
    # A plain ADD COLUMN with its reference on both databases: no rebuild of the member table
    # (which many tables reference). Alembic cannot say this for SQLite, so it is written out.
    for table in ("member", "api_credential"):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN publisher_id INTEGER REFERENCES publisher (id)"
            )
        else:
            op.add_column(
                table,
                sa.Column(
                    "publisher_id", sa.Integer(), sa.ForeignKey("publisher.id"), nullable=True
                ),
            )
    op.create_index("ix_member_publisher_id", "member", ["publisher_id"])
    op.add_column("api_credential", sa.Column("expires_at", When, nullable=True))

    conn = op.get_bind()
    members = conn.execute(sa.text("SELECT count(*) FROM member")).scalar_one()
    keys = conn.execute(
        sa.text("SELECT count(*) FROM api_credential WHERE role = 'publisher'")
    ).scalar_one()
    if not members and not keys:
        return
    now = datetime.now(UTC)
    legacy_id = conn.execute(
        publisher.insert()
        .values(name=LEGACY_PUBLISHER_NAME, created_at=now)
        .returning(publisher.c.id)
    ).scalar_one()
    conn.execute(sa.text("UPDATE member SET publisher_id = :p"), {"p": legacy_id})
    conn.execute(
        sa.text("UPDATE api_credential SET publisher_id = :p WHERE role = 'publisher'"),
        {"p": legacy_id},
    )


def downgrade() -> None:
    with op.batch_alter_table("api_credential") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("publisher_id")
    op.drop_index("ix_member_publisher_id", table_name="member")
    with op.batch_alter_table("member") as batch:
        batch.drop_column("publisher_id")
    op.drop_table("publisher")
