"""Tables of card linking: Stripe customers, Plaid Items and their transactions, merchant
names and Plaid entity ids that no brand claims yet (for review)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field

from settlement.tables import TableModel


class StripeCustomer(TableModel, table=True):
    """The Stripe customer created once per member for SetupIntents."""

    __tablename__ = "stripe_customer"
    member_id: int = Field(foreign_key="member.id", primary_key=True)
    customer_ref: str = Field(max_length=64, unique=True)
    created_at: datetime


class PlaidItem(TableModel, table=True):
    """A linked Plaid Item; the access token only ever stored encrypted."""

    __tablename__ = "plaid_item"
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    item_ref: str = Field(max_length=128, unique=True)  # Plaid's item_id
    access_token_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    institution_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="active", max_length=24)  # active | relink_required
    error_code: str | None = Field(default=None, max_length=64)
    # The HTTP status Plaid gave the error (an ITEM ERROR webhook's `error.status`).
    error_status: int | None = None
    # Plaid's `transactions_update_status` at the last sync: NOT_READY, then
    # INITIAL_UPDATE_COMPLETE (30 days pulled), then HISTORICAL_UPDATE_COMPLETE.
    transactions_update_status: str | None = Field(default=None, max_length=40)
    # The position after the last fully ingested /transactions/sync loop ("" = from the start).
    sync_cursor: str = Field(default="", sa_column=Column(Text, nullable=False))
    last_synced_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class PlaidAccount(TableModel, table=True):
    """A Plaid account of an Item that became a card."""

    __tablename__ = "plaid_account"
    account_ref: str = Field(max_length=128, primary_key=True)  # Plaid's account_id
    item_id: int = Field(foreign_key="plaid_item.id", index=True)
    card_id: int = Field(foreign_key="card.id")


class PlaidTransaction(TableModel, table=True):
    """What the engine last made of each Plaid transaction: the card event standing for it."""

    __tablename__ = "plaid_transaction"
    transaction_ref: str = Field(max_length=128, primary_key=True)  # Plaid's transaction_id
    item_id: int = Field(foreign_key="plaid_item.id", index=True)
    card_id: int = Field(foreign_key="card.id")
    event_external_id: str | None = Field(default=None, max_length=128)
    kind: str | None = Field(default=None, max_length=16)  # auth | clearing | refund
    amount: int = Field(default=0, sa_type=BigInteger)  # minor units, signed as Plaid's
    currency: str | None = Field(default=None, max_length=3)
    pending: bool = False
    merchant_key: str | None = Field(default=None, max_length=255)
    version: int = 0
    removed: bool = False
    occurred_at: datetime | None = None
    # A pending transaction: the posted transaction that settled it (once linked).
    posted_as: str | None = Field(default=None, max_length=128)
    # A clearing: the auth event it settles (a raised posted amount clears more of it).
    auth_external_id: str | None = Field(default=None, max_length=128)
    updated_at: datetime


class UnresolvedMerchant(TableModel, table=True):
    """A merchant name or Plaid merchant_entity_id seen on events no brand resolved."""

    __tablename__ = "unresolved_merchant"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_unresolved_merchant_kind_value"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # entity_id | name
    value: str = Field(max_length=255)
    example_name: str | None = Field(default=None, max_length=255)
    event_count: int = 0
    first_seen_at: datetime
    last_seen_at: datetime
    status: str = Field(default="open", max_length=16)  # open | mapped
    merchant_id: int | None = Field(default=None, foreign_key="merchant.id")
    mapped_at: datetime | None = None
