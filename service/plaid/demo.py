"""`clo demo`: one member links a card through Plaid Link (the stand-in), and a pending
purchase, its posting with a tip, and a second purchase arrive by /transactions/sync."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from sqlalchemy import Engine
from sqlmodel import col, select

from service.config import Settings
from service.db import unit_of_work
from service.linking_tables import PlaidItem
from service.plaid.client import plaid_client
from service.plaid.service import exchange_public_token
from service.plaid.sync import sync_item
from service.tables import BrandAlias, Member, Offer


def _demo_brand(engine: Engine, now: datetime) -> int | None:
    """A brand with a live, automatic, brand-wide USD offer open a day before `now`."""
    with unit_of_work(engine) as session:
        offer = session.exec(
            select(Offer)
            .where(
                Offer.status == "live",
                Offer.brand_wide,
                Offer.currency == "USD",
                ~col(Offer.activation_required),
                Offer.holdout_bps == 0,
                Offer.audience == "everyone",
                col(Offer.starts_at) <= now - timedelta(days=1),
                Offer.dayparts_json == "[]",
                col(Offer.min_spend_amount) <= 1000,
            )
            .order_by(col(Offer.id))
        ).first()
        return offer.merchant_id if offer is not None else None


def link_demo_item(
    engine: Engine, now: datetime, member_id: int, base_settings: Settings
) -> list[str]:
    from infra.standins.plaid_standin import PlaidStandin

    brand = _demo_brand(engine, now)
    entity = f"ent-demo-{brand}"
    with PlaidStandin() as standin:
        settings = base_settings.model_copy(
            update={
                "plaid_client_id": standin.client_id,
                "plaid_secret": standin.secret,
                "plaid_host": standin.url,
            }
        )
        client = plaid_client(settings)
        public_token = client.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(
                institution_id="ins_109508", initial_products=[Products("transactions")]
            )
        ).public_token
        with unit_of_work(engine) as session:
            if (
                brand is not None
                and session.exec(select(BrandAlias).where(BrandAlias.alias == entity)).first()
                is None
            ):
                session.add(BrandAlias(alias=entity, merchant_id=brand))
            member = session.get(Member, member_id)
            assert member is not None
            linked, _ = exchange_public_token(
                session, client, settings, member, public_token, now=now
            )
            item = session.get(PlaidItem, linked.item.id)
            assert item is not None
            item_ref = item.item_ref
        at = now - timedelta(days=1)
        pending = standin.add_pending_transaction(
            item_ref, amount=25.00, merchant_name="Demo Brand", merchant_entity_id=entity,
            authorized_datetime=at,
        )  # fmt: skip
        first = sync_item(engine, client, linked.item.id, now, settings=settings)
        standin.post_pending_transaction(item_ref, pending["transaction_id"], amount=28.75)
        standin.add_posted_transaction(
            item_ref, amount=12.40, merchant_name="Demo Brand", merchant_entity_id=entity,
            authorized_datetime=at + timedelta(hours=2),
        )  # fmt: skip
        second = sync_item(engine, client, linked.item.id, now, settings=settings)
        again = sync_item(engine, client, linked.item.id, now, settings=settings)
        client.api_client.close()
    cards = ", ".join(f"****{c.last4}" for c in sorted(linked.cards, key=lambda c: c.last4))
    outcomes = Counter(first.summary.outcomes) + Counter(second.summary.outcomes)
    return [
        f"plaid: linked 1 item through Plaid Link (cards {cards}); access token encrypted",
        f"plaid: synced {first.changes + second.changes} changes -> "
        f"{first.summary.accepted + second.summary.accepted} events "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
        f"plaid: synced again: {again.changes} changes, {again.summary.accepted} new events",
    ]
