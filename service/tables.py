"""Database tables of the application shell: merchants, offers, members, cards, card events.

SQLModel tables do not validate on construction; input is validated by the request models in
each domain's `schemas.py` first. Money columns are integer minor units named `*_amount`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field

from settlement.tables import BigId, TableModel


class Publisher(TableModel, table=True):
    """A publisher or issuer: it signs up members and reaches only the members it created.

    A party, not a key: its keys can be rotated and revoked while its members stay its own.
    """

    __tablename__ = "publisher"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=200)
    created_at: datetime


class ApiCredential(TableModel, table=True):
    """An API key (admin, merchant, publisher, finance) or a member token; secrets stored hashed."""

    __tablename__ = "api_credential"
    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=32, unique=True)
    secret_sha256: str = Field(max_length=64)
    role: str = Field(max_length=16)  # admin | merchant | publisher | finance | member
    merchant_id: int | None = Field(default=None, foreign_key="merchant.id")
    member_id: int | None = Field(default=None, foreign_key="member.id")
    publisher_id: int | None = Field(default=None, foreign_key="publisher.id")
    name: str = Field(default="", max_length=200)
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class Merchant(TableModel, table=True):
    """A merchant brand: one brand, one time zone, one settlement currency."""

    __tablename__ = "merchant"
    id: int | None = Field(default=None, primary_key=True)
    brand_name: str = Field(max_length=200, index=True)
    timezone: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    default_commission_bps: int = 0
    # What members filter offers by (dining, groceries, ...); see merchants.schemas.Category.
    category: str = Field(default="other", max_length=32)
    # Where Stripe sends the merchant's invoices (collection by `send_invoice` needs one);
    # required before an offer is published.
    billing_email: str | None = Field(default=None, max_length=254)
    created_at: datetime


class OfferCatalogVersion(TableModel, table=True):
    """One row whose version goes up with every write to what the offer catalog is built
    from (offers, their locations, locations, brand aliases, merchants): database triggers
    bump it, so every writer does, and a process's catalog checks one row per batch."""

    __tablename__ = "offer_catalog_version"
    id: int = Field(primary_key=True)
    version: int = Field(default=0, sa_type=BigInteger)


class Location(TableModel, table=True):
    __tablename__ = "location"
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    name: str = Field(max_length=200)
    mid: str = Field(max_length=64, unique=True)
    acquirer_id: str | None = Field(default=None, max_length=64)
    postal_code: str | None = Field(default=None, max_length=16)
    country: str | None = Field(default=None, max_length=2)
    created_at: datetime


class BrandAlias(TableModel, table=True):
    """Normalized merchant names and provider entity ids that identify a brand without a MID."""

    __tablename__ = "brand_alias"
    id: int | None = Field(default=None, primary_key=True)
    alias: str = Field(max_length=255, unique=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)


class Offer(TableModel, table=True):
    __tablename__ = "offer"
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    title: str = Field(max_length=200)
    status: str = Field(max_length=16, index=True)  # draft|scheduled|live|paused|ended
    kind: str = Field(max_length=16)
    reward_type: str = Field(max_length=16)
    currency: str = Field(max_length=3)
    rate_bps: int = 0
    reward_amount: int = Field(default=0, sa_type=BigInteger)
    max_reward_amount: int | None = Field(default=None, sa_type=BigInteger)
    min_spend_amount: int = Field(default=0, sa_type=BigInteger)
    brand_wide: bool = True
    starts_at: datetime
    # Indexed for the member's "Expiring soon": the open offers that end first (0027).
    ends_at: datetime | None = Field(default=None, index=True)
    dayparts_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    bonus_windows_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    channel: str | None = Field(default=None, max_length=16)
    audience: str = Field(default="everyone", max_length=16)
    lookback_days: int = 0
    min_member_tier: int = 0
    birthday_bonus_bps: int = 0
    activation_required: bool = False
    member_max_rewards: int | None = None
    member_max_reward_amount: int | None = Field(default=None, sa_type=BigInteger)
    budget_amount: int | None = Field(default=None, sa_type=BigInteger)
    max_redemptions: int | None = None
    stamp_every_n: int | None = None
    threshold_amount: int | None = Field(default=None, sa_type=BigInteger)
    hold_days: int = 30
    commission_bps: int = 0
    commission_base: str = Field(default="reward", max_length=16)
    holdout_bps: int = 0
    created_at: datetime
    updated_at: datetime


class OfferLocation(TableModel, table=True):
    __tablename__ = "offer_location"
    offer_id: int = Field(foreign_key="offer.id", primary_key=True)
    location_id: int = Field(foreign_key="location.id", primary_key=True)


class Member(TableModel, table=True):
    __tablename__ = "member"
    id: int | None = Field(default=None, primary_key=True)
    # The publisher that signed the member up; a member without one is reachable by no
    # publisher (only by itself, finance and admins).
    publisher_id: int | None = Field(default=None, foreign_key="publisher.id", index=True)
    external_ref: str | None = Field(default=None, max_length=128, unique=True)
    display_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=254)
    tier: int = 0
    birth_month: int | None = None
    created_at: datetime


class Card(TableModel, table=True):
    __tablename__ = "card"
    __table_args__ = (
        # Members who linked their first card in a span of days (attribution.population).
        Index("ix_card_created_at", "created_at"),
        # A member's cards; with the time, "linked before the end" of a holdout report is
        # one probe of this index per spender, not a row read each (migration 0028).
        Index("ix_card_member_created", "member_id", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id")
    provider: str = Field(max_length=32)  # publisher | stripe | plaid
    provider_token: str = Field(max_length=255, unique=True)
    fingerprint: str = Field(max_length=128, unique=True)
    brand: str = Field(max_length=32)
    last4: str = Field(max_length=4)
    exp_month: int | None = None
    exp_year: int | None = None
    status: str = Field(default="active", max_length=16)  # active | unlinked
    created_at: datetime
    unlinked_at: datetime | None = None


class Activation(TableModel, table=True):
    __tablename__ = "activation"
    # An offer's activations in a period (attribution.activation_totals; migration 0020): the
    # key leads with the member, so without this the report read every offer's activations.
    # With the member (migration 0026), the report reads the index alone, not each row.
    __table_args__ = (
        Index("ix_activation_offer_activated", "offer_id", "activated_at", "member_id"),
    )
    member_id: int = Field(foreign_key="member.id", primary_key=True)
    offer_id: int = Field(foreign_key="offer.id", primary_key=True)
    activated_at: datetime


# What a brand's spend reads of each event beyond its index key (attribution.repository).
BRAND_SPEND_COLUMNS = ["member_id", "kind", "currency", "amount", "linked_event_id"]


class CardEventRow(TableModel, table=True):
    """A recorded card event. Written by the batch pipeline with Core statements."""

    __tablename__ = "card_event"
    __table_args__ = (
        # Every index here is paid on each of the feed's inserts; each names its reader.
        # Duplicate check and look-ups by the feed's own id (feeds.originals, /v1/card-events).
        UniqueConstraint("source", "external_id", name="uq_card_event_source_external_id"),
        # Open auths of a card that a clearing may link to (feeds.originals.load_open_auths).
        Index("ix_card_event_card_occurred", "card_id", "occurred_at"),
        # A member's activity (members.repository) and purchases at a brand (attribution).
        # The brand and kind ride along (migration 0026) so that the report's "purchased
        # after activating" probe reads the index alone, not one row per activation.
        Index("ix_card_event_member_occurred", "member_id", "occurred_at", "merchant_id", "kind"),
        # A brand's spend in a period (attribution.repository._brand_spend): by brand alone,
        # a planner sure that a period lies beyond its statistics walked another index. On
        # PostgreSQL the sum's columns ride in the leaves, so a holdout report reads the
        # brand's range of the index, not a row per event (migration 0028).
        Index(
            "ix_card_event_merchant_occurred",
            "merchant_id",
            "occurred_at",
            postgresql_include=BRAND_SPEND_COLUMNS,
        ),
        # What refers to an event (feeds.originals: reversals of a clearing; plaid.rematch).
        # Partial: most events follow none, and SQLite would take `IS NULL` (the waiting
        # lookup below) as an equality on a full index and walk every such event.
        Index(
            "ix_card_event_linked",
            "linked_event_id",
            sqlite_where=text("linked_event_id IS NOT NULL"),
            postgresql_where=text("linked_event_id IS NOT NULL"),
        ),
        # Events that name an original not linked yet (waiting refunds, early clearings): few
        # rows, so a partial index, found by the batch that brings their original.
        Index(
            "ix_card_event_waiting",
            "source",
            "original_external_id",
            sqlite_where=text("linked_event_id IS NULL AND original_external_id IS NOT NULL"),
            postgresql_where=text("linked_event_id IS NULL AND original_external_id IS NOT NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    source: str = Field(max_length=16)  # network | plaid | file
    external_id: str = Field(max_length=128)
    kind: str = Field(max_length=16)  # auth | clearing | refund | reversal
    # No foreign keys (migration 0019): the feed writes only ids it has just looked up (the
    # card and its member from `card`, the merchant from the offer catalog), and
    # `clo ledger check` reports any event whose card, member or merchant is missing.
    card_id: int
    member_id: int
    merchant_id: int | None = None  # indexed with occurred_at, above
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    occurred_at: datetime
    mid: str | None = Field(default=None, max_length=64)
    acquirer_id: str | None = Field(default=None, max_length=64)
    descriptor: str | None = Field(default=None, max_length=255)
    merchant_name: str | None = Field(default=None, max_length=255)
    mcc: str | None = Field(default=None, max_length=8)
    country: str | None = Field(default=None, max_length=3)
    postal_code: str | None = Field(default=None, max_length=16)
    brand_hint: str | None = Field(default=None, max_length=255)
    channel: str = Field(max_length=16)
    original_external_id: str | None = Field(default=None, max_length=128)
    linked_event_id: int | None = Field(default=None, sa_type=BigInteger)
    # What happened to the event: rewarded, no_reward, no_offer, linked, unlinked_refund, ...
    outcome: str = Field(max_length=32)
    reason: str | None = Field(default=None, max_length=64)
    # Not indexed (migration 0026): every reader comes from the event; the attribution
    # report counts refunds from the reward's own tally (`Reward.clawback_refund_count`).
    reward_id: int | None = Field(default=None, sa_type=BigInteger)
    # Compact per-candidate decisions: [[offer_id, reason, reward_amount], ...]
    decisions_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    ingested_at: datetime


class RejectedEvent(TableModel, table=True):
    """Every input that could not be accepted, with its reason; raw text has card numbers masked."""

    __tablename__ = "rejected_event"
    __table_args__ = (UniqueConstraint("source", "raw_sha256", name="uq_rejected_source_raw"),)
    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    source: str = Field(max_length=16)
    external_id: str | None = Field(default=None, max_length=128)
    field: str = Field(max_length=64)
    reason: str = Field(max_length=64)
    detail: str = Field(default="", max_length=500)
    raw_sha256: str = Field(max_length=64)
    raw_redacted: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime


class MemberBrandState(TableModel, table=True):
    """A member's purchase history at a brand, for new / lapsed / existing audiences."""

    __tablename__ = "member_brand_state"
    # The attribution report's returning members: for each member an offer rewarded in a
    # period, "bought at the brand before it". By brand first, the probes of one report fall
    # in the brand's few pages of this index, read alone, instead of each in another part of
    # the key's (member-first) b-tree.
    __table_args__ = (
        Index("ix_member_brand_state_brand", "merchant_id", "member_id", "first_purchase_at"),
    )
    member_id: int = Field(foreign_key="member.id", primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", primary_key=True)
    first_purchase_at: datetime
    last_purchase_at: datetime
    purchase_count: int = 0


class MemberOfferState(TableModel, table=True):
    """Per member and offer counters: caps, stamps, spend thresholds."""

    __tablename__ = "member_offer_state"
    member_id: int = Field(foreign_key="member.id", primary_key=True)
    offer_id: int = Field(foreign_key="offer.id", primary_key=True)
    reward_count: int = 0
    reward_amount: int = Field(default=0, sa_type=BigInteger)
    stamp_count: int = 0
    threshold_spend_amount: int = Field(default=0, sa_type=BigInteger)
    threshold_paid: bool = False


class HoldoutPopulation(TableModel, table=True):
    """An offer's holdout population counted up to a midnight (UTC): the members whose first
    card was linked before it, and how many of them the offer's split puts in control.

    Written by the daily job (`attribution.population.count_populations`) once the day can no
    longer change; a report counts only the members who linked since the snapshot before its
    end. Kept: the latest per offer and those at the start of an ISO week (settlement periods).
    """

    __tablename__ = "holdout_population"
    offer_id: int = Field(foreign_key="offer.id", primary_key=True)
    counted_before: datetime = Field(primary_key=True)
    members: int = Field(sa_type=BigInteger)
    control_members: int = Field(sa_type=BigInteger)
