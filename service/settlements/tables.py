"""Application-side tables of settlement: provider ids per party, charities, donations,
and the Stripe webhook events already handled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field

from settlement.tables import TableModel


class MerchantBillingAccount(TableModel, table=True):
    __tablename__ = "merchant_billing_account"
    merchant_id: int = Field(foreign_key="merchant.id", primary_key=True)
    stripe_customer_id: str = Field(max_length=64, unique=True)
    created_at: datetime


class MemberPayoutAccount(TableModel, table=True):
    """The member's Stripe Connect account that payouts go to."""

    __tablename__ = "member_payout_account"
    member_id: int = Field(foreign_key="member.id", primary_key=True)
    stripe_account_id: str = Field(max_length=64)
    created_at: datetime
    updated_at: datetime


class Charity(TableModel, table=True):
    __tablename__ = "charity"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    # The charity's Connect account: settlement transfers what members donated to it.
    stripe_account_id: str | None = Field(default=None, max_length=64)
    created_at: datetime


class Donation(TableModel, table=True):
    __tablename__ = "donation"
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    charity_id: int = Field(foreign_key="charity.id")
    currency: str = Field(max_length=3)
    amount: int = Field(sa_type=BigInteger)
    request_key: str = Field(max_length=80, unique=True)  # member + Idempotency-Key
    entry_id: int = Field(sa_type=BigInteger)
    created_at: datetime


class StripeWebhookEvent(TableModel, table=True):
    __tablename__ = "stripe_webhook_event"
    event_id: str = Field(max_length=80, primary_key=True)
    type: str = Field(max_length=64)
    received_at: datetime
