"""missing-cashback claims, their receipts, and manual adjustments on statement lines

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

When = sqlmodel.sql.sqltypes.UTCDateTime()
Big = sa.BigInteger()
OPEN_CLAIM = "status = 'accepted' AND matched_event_id IS NULL"
MANUAL_FIGURES = (
    "manual_count",
    "manual_spend_amount",
    "manual_cashback_amount",
    "manual_commission_amount",
)


def upgrade() -> None:
    op.create_table(
        "claim",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("member.id"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), sa.ForeignKey("merchant.id"), nullable=False),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("card.id"), nullable=False),
        sa.Column("card_event_id", Big, nullable=True),
        sa.Column("purchase_date", sa.Date(), nullable=False),
        sa.Column("spend_amount", Big, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("decision_note", sa.String(500), nullable=False, server_default=""),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", When, nullable=True),
        sa.Column("offer_id", sa.Integer(), sa.ForeignKey("offer.id"), nullable=True),
        sa.Column("reward_id", Big, nullable=True),
        sa.Column("reward_amount", Big, nullable=False, server_default="0"),
        sa.Column("matched_event_id", Big, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.UniqueConstraint("member_id", "idempotency_key", name="uq_claim_member_idempotency_key"),
    )
    op.create_index("ix_claim_member_status", "claim", ["member_id", "status"])
    op.create_index("ix_claim_merchant_status", "claim", ["merchant_id", "status"])
    op.create_index(
        "ix_claim_open_member",
        "claim",
        ["member_id"],
        sqlite_where=sa.text(OPEN_CLAIM),
        postgresql_where=sa.text(OPEN_CLAIM),
    )
    op.create_table(
        "claim_receipt",
        sa.Column("claim_id", sa.Integer(), sa.ForeignKey("claim.id"), primary_key=True),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", When, nullable=False),
    )
    with op.batch_alter_table("settlement_statement_line") as batch:
        batch.add_column(
            sa.Column("manual_count", sa.Integer(), nullable=False, server_default="0")
        )
        for name in MANUAL_FIGURES[1:]:
            batch.add_column(sa.Column(name, Big, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("settlement_statement_line") as batch:
        for name in MANUAL_FIGURES:
            batch.drop_column(name)
    op.drop_table("claim_receipt")
    op.drop_index("ix_claim_open_member", "claim")
    op.drop_index("ix_claim_merchant_status", "claim")
    op.drop_index("ix_claim_member_status", "claim")
    op.drop_table("claim")
