"""settlement runs, statements, approvals, invoices, payouts, donations, webhook events

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Big = sa.BigInteger()
When = sqlmodel.sql.sqltypes.UTCDateTime()


def _money(name: str) -> sa.Column:
    return sa.Column(name, Big, nullable=False, server_default="0")


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "settlement_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("period_start", When, nullable=False),
        sa.Column("period_end", When, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        _money("total_amount"),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("closed_at", When, nullable=True),
        sa.UniqueConstraint("kind", "period", name="uq_settlement_run_kind_period"),
    )
    op.create_table(
        "settlement_run_step",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), primary_key=True),
        sa.Column("step", sa.String(24), primary_key=True),
        sa.Column("completed_at", When, nullable=False),
        sa.Column("detail", sa.String(500), nullable=False, server_default=""),
    )

    def figures() -> list[sa.Column]:
        return [
            _count("qualified_count"),
            _money("spend_amount"),
            _money("cashback_amount"),
            _money("commission_amount"),
            _count("clawback_count"),
            _money("clawback_cashback_amount"),
            _money("clawback_commission_amount"),
            _money("net_amount"),
        ]

    op.create_table(
        "settlement_statement",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), primary_key=True),
        sa.Column("merchant_id", sa.Integer(), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        *figures(),
        _money("payments_amount"),
        _money("receivable_movement_amount"),
    )
    op.create_table(
        "settlement_statement_line",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), primary_key=True),
        sa.Column("merchant_id", sa.Integer(), primary_key=True),
        sa.Column("offer_id", sa.Integer(), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        *figures(),
        _count("unique_member_count"),
    )
    op.create_table(
        "settlement_approval",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False, server_default=""),
        sa.Column("decided_at", When, nullable=False),
    )
    op.create_index("ix_settlement_approval_run_id", "settlement_approval", ["run_id"])
    op.create_table(
        "merchant_invoice",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), primary_key=True),
        sa.Column("merchant_id", sa.Integer(), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("amount", Big, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("customer_ref", sa.String(64), nullable=True),
        sa.Column("invoice_ref", sa.String(64), nullable=True, unique=True),
        sa.Column("paid_at", When, nullable=True),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_table(
        "merchant_invoice_item",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), primary_key=True),
        sa.Column("merchant_id", sa.Integer(), primary_key=True),
        sa.Column("offer_id", sa.Integer(), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("amount", Big, nullable=False),
        sa.Column("item_ref", sa.String(64), nullable=False),
    )
    op.create_table(
        "member_payout",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", Big, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("transfer_ref", sa.String(64), nullable=True, unique=True),
        sa.Column("failure_reason", sa.String(200), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.UniqueConstraint("run_id", "member_id", "currency", name="uq_member_payout_run_member"),
    )
    op.create_index("ix_member_payout_run_id", "member_payout", ["run_id"])
    op.create_index("ix_member_payout_member_id", "member_payout", ["member_id"])
    op.create_table(
        "settlement_report",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("settlement_run.id"), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("body_json", sa.Text(), nullable=False),
        sa.Column("created_at", When, nullable=False),
    )
    # Statements select what was booked in the period: entries written posted by created_at,
    # pending entries resolved as posted by resolved_at. The status (and the entry id) are in
    # the index so that finding the period's entries never reads the tables themselves.
    op.create_index("ix_ledger_entry_created_at", "ledger_entry", ["created_at", "initial_status"])
    op.create_index(
        "ix_ledger_entry_resolution_resolved_at",
        "ledger_entry_resolution",
        ["resolved_at", "status", "entry_id"],
    )

    op.create_table(
        "merchant_billing_account",
        sa.Column("merchant_id", sa.Integer(), sa.ForeignKey("merchant.id"), primary_key=True),
        sa.Column("stripe_customer_id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", When, nullable=False),
    )
    op.create_table(
        "member_payout_account",
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("member.id"), primary_key=True),
        sa.Column("stripe_account_id", sa.String(64), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_table(
        "charity",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", When, nullable=False),
    )
    op.create_table(
        "donation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("member.id"), nullable=False),
        sa.Column("charity_id", sa.Integer(), sa.ForeignKey("charity.id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", Big, nullable=False),
        sa.Column("request_key", sa.String(80), nullable=False, unique=True),
        sa.Column("entry_id", Big, nullable=False),
        sa.Column("created_at", When, nullable=False),
    )
    op.create_index("ix_donation_member_id", "donation", ["member_id"])
    op.create_table(
        "stripe_webhook_event",
        sa.Column("event_id", sa.String(80), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("received_at", When, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "stripe_webhook_event",
        "donation",
        "charity",
        "member_payout_account",
        "merchant_billing_account",
        "settlement_report",
        "member_payout",
        "merchant_invoice_item",
        "merchant_invoice",
        "settlement_approval",
        "settlement_statement_line",
        "settlement_statement",
        "settlement_run_step",
        "settlement_run",
    ):
        op.drop_table(name)
    op.drop_index("ix_ledger_entry_resolution_resolved_at", "ledger_entry_resolution")
    op.drop_index("ix_ledger_entry_created_at", "ledger_entry")
