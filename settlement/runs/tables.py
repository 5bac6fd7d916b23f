"""Tables of settlement runs: the run and its recorded steps, statements, approvals,
merchant invoices and member payouts, and the attribution report.

External object ids (Stripe customer, invoice item, invoice, transfer) are stored as soon as
they exist, so a resumed run never bills or pays twice, even after the provider has
forgotten an idempotency key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field

from settlement.tables import TableModel


class SettlementRun(TableModel, table=True):
    """One attempt at settling (kind, period). A rejected attempt can be re-opened by
    finance as the next attempt; each keeps its own steps, decisions and statements."""

    __tablename__ = "settlement_run"
    __table_args__ = (
        UniqueConstraint("kind", "period", "attempt", name="uq_settlement_run_kind_period_attempt"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # weekly
    period: str = Field(max_length=16)  # 2026-W46
    attempt: int = 1  # 1, then 2, ... for each re-opening after a rejection
    previous_run_id: int | None = Field(default=None, foreign_key="settlement_run.id")
    period_start: datetime
    period_end: datetime
    # open -> matured -> statements -> awaiting_approval | approved | rejected -> billed
    # -> paid -> reported -> closed
    status: str = Field(max_length=24)
    total_amount: int = Field(default=0, sa_type=BigInteger)  # net due over all statements
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None


class SettlementRunStep(TableModel, table=True):
    """A recovery point: the step finished, in the transaction that did its work."""

    __tablename__ = "settlement_run_step"
    run_id: int = Field(foreign_key="settlement_run.id", primary_key=True)
    step: str = Field(max_length=24, primary_key=True)
    completed_at: datetime
    detail: str = Field(default="", max_length=500)


class SettlementStatement(TableModel, table=True):
    """One merchant's statement in one currency; reconciles to its receivable account."""

    __tablename__ = "settlement_statement"
    run_id: int = Field(foreign_key="settlement_run.id", primary_key=True)
    merchant_id: int = Field(primary_key=True)
    currency: str = Field(max_length=3, primary_key=True)
    qualified_count: int = 0
    spend_amount: int = Field(default=0, sa_type=BigInteger)
    cashback_amount: int = Field(default=0, sa_type=BigInteger)
    commission_amount: int = Field(default=0, sa_type=BigInteger)
    clawback_count: int = 0
    clawback_cashback_amount: int = Field(default=0, sa_type=BigInteger)
    clawback_commission_amount: int = Field(default=0, sa_type=BigInteger)
    net_amount: int = Field(default=0, sa_type=BigInteger)  # charges less clawbacks: billed
    payments_amount: int = Field(default=0, sa_type=BigInteger)  # cash received in the period
    receivable_movement_amount: int = Field(default=0, sa_type=BigInteger)  # ledger, signed
    # A negative net (refunds beyond charges) is the merchant's credit: granted on its
    # Stripe customer balance and taken off its next invoice (see MerchantCredit).
    credit_amount: int = Field(default=0, sa_type=BigInteger)


class SettlementStatementLine(TableModel, table=True):
    """One offer's line on a merchant statement."""

    __tablename__ = "settlement_statement_line"
    run_id: int = Field(foreign_key="settlement_run.id", primary_key=True)
    merchant_id: int = Field(primary_key=True)
    offer_id: int = Field(primary_key=True)
    currency: str = Field(max_length=3, primary_key=True)
    qualified_count: int = 0
    spend_amount: int = Field(default=0, sa_type=BigInteger)
    cashback_amount: int = Field(default=0, sa_type=BigInteger)
    commission_amount: int = Field(default=0, sa_type=BigInteger)
    clawback_count: int = 0
    clawback_cashback_amount: int = Field(default=0, sa_type=BigInteger)
    clawback_commission_amount: int = Field(default=0, sa_type=BigInteger)
    net_amount: int = Field(default=0, sa_type=BigInteger)
    unique_member_count: int = 0  # members whose purchases count in the line
    # Of the figures above, what accepted missing-cashback claims booked (entry kind
    # `manual_accrual`): a manual adjustment, shown as its own kind of line.
    manual_count: int = 0
    manual_spend_amount: int = Field(default=0, sa_type=BigInteger)
    manual_cashback_amount: int = Field(default=0, sa_type=BigInteger)
    manual_commission_amount: int = Field(default=0, sa_type=BigInteger)


class SettlementApproval(TableModel, table=True):
    """The audit trail of approval decisions: who, when, what, why."""

    __tablename__ = "settlement_approval"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="settlement_run.id", index=True)
    decision: str = Field(max_length=16)  # approved | rejected
    actor: str = Field(max_length=64)  # credential:{id} or system:auto
    reason: str = Field(default="", max_length=500)
    decided_at: datetime


class MerchantInvoice(TableModel, table=True):
    __tablename__ = "merchant_invoice"
    run_id: int = Field(foreign_key="settlement_run.id", primary_key=True)
    merchant_id: int = Field(primary_key=True)
    currency: str = Field(max_length=3, primary_key=True)
    amount: int = Field(sa_type=BigInteger)
    status: str = Field(max_length=16)  # planned | draft | sent | paid
    customer_ref: str | None = Field(default=None, max_length=64)
    invoice_ref: str | None = Field(default=None, max_length=64, unique=True)
    paid_at: datetime | None = None
    updated_at: datetime


class MerchantCredit(TableModel, table=True):
    """A period whose refunds exceeded its charges: the merchant's credit, granted as a
    Stripe customer balance credit that Stripe takes off the next invoice. The ledger
    already holds it: the merchant's receivable stands above zero by this amount until the
    next invoice, billed in full and paid less the credit, brings it back."""

    __tablename__ = "merchant_credit"
    run_id: int = Field(foreign_key="settlement_run.id", primary_key=True)
    merchant_id: int = Field(primary_key=True)
    currency: str = Field(max_length=3, primary_key=True)
    amount: int = Field(sa_type=BigInteger)  # > 0: what the platform owes the merchant
    status: str = Field(max_length=16)  # planned | granted
    customer_ref: str | None = Field(default=None, max_length=64)
    balance_transaction_ref: str | None = Field(default=None, max_length=64, unique=True)
    updated_at: datetime


class MerchantInvoiceItem(TableModel, table=True):
    __tablename__ = "merchant_invoice_item"
    run_id: int = Field(foreign_key="settlement_run.id", primary_key=True)
    merchant_id: int = Field(primary_key=True)
    offer_id: int = Field(primary_key=True)
    currency: str = Field(max_length=3, primary_key=True)
    amount: int = Field(sa_type=BigInteger)
    item_ref: str = Field(max_length=64)


class MemberPayout(TableModel, table=True):
    __tablename__ = "member_payout"
    __table_args__ = (
        UniqueConstraint("run_id", "member_id", "currency", name="uq_member_payout_run_member"),
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="settlement_run.id", index=True)
    member_id: int = Field(index=True)
    currency: str = Field(max_length=3)
    amount: int = Field(sa_type=BigInteger)
    # in_transit | paid | failed (refused or reversed) | deferred (platform balance short:
    # the money is back in available and the next run pays it) | returned
    status: str = Field(max_length=16)
    transfer_ref: str | None = Field(default=None, max_length=64, unique=True)
    failure_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime
    updated_at: datetime


class CharityPayout(TableModel, table=True):
    """What members donated to a charity, transferred to its connected account by a run."""

    __tablename__ = "charity_payout"
    __table_args__ = (
        UniqueConstraint("run_id", "charity_id", "currency", name="uq_charity_payout_run_charity"),
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="settlement_run.id", index=True)
    charity_id: int
    currency: str = Field(max_length=3)
    amount: int = Field(sa_type=BigInteger)
    status: str = Field(max_length=16)  # in_transit | paid | deferred | failed
    transfer_ref: str | None = Field(default=None, max_length=64, unique=True)
    failure_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime
    updated_at: datetime


class SettlementReport(TableModel, table=True):
    __tablename__ = "settlement_report"
    run_id: int = Field(foreign_key="settlement_run.id", primary_key=True)
    source: str = Field(max_length=64)  # service.attribution | settlement.fallback
    body_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
