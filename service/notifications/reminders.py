"""Scheduled reminders: an activated offer that ends within three days (once per
activation) and a stamp card one visit from its reward (once per stamp count).

A visit that earns nothing changes only the member's stamp counter (no outbox row), so the
stamp card is found by a scan of the counters of live stamp-card offers, run by the
notifier every minute; both scans make notifications through the same idempotent path as
the outbox, keyed so that running a scan again tells nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, select

from service.notifications.messages import Kind
from service.notifications.notifier import NewNotification, record_notifications
from service.tables import Activation, MemberOfferState, Merchant, Offer

EXPIRY_NOTICE = timedelta(days=3)

_activations = Activation.__table__
_offers = Offer.__table__
_merchants = Merchant.__table__
_states = MemberOfferState.__table__


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite keeps UTC, naive


def remind_expiring_offers(engine: Engine, now: datetime) -> int:
    """Members who activated a live offer that ends within three days of `now`."""
    with engine.begin() as conn:
        rows = conn.execute(
            select(
                _activations.c.member_id,
                _activations.c.activated_at,
                _offers.c.id,
                _offers.c.ends_at,
                _merchants.c.id,
                _merchants.c.brand_name,
            )
            .join(_offers, _offers.c.id == _activations.c.offer_id)
            .join(_merchants, _merchants.c.id == _offers.c.merchant_id)
            .where(
                _offers.c.status == "live",
                _offers.c.ends_at > now,
                _offers.c.ends_at <= now + EXPIRY_NOTICE,
                _activations.c.activated_at <= now,
            )
        ).all()
        wanted = [
            NewNotification(
                member_id=member_id,
                kind=Kind.OFFER_EXPIRING,
                source_key=f"expiring:{offer_id}:{int(_utc(activated_at).timestamp())}",
                created_at=now,
                merchant_id=merchant_id,
                offer_id=offer_id,
                facts={"merchant": brand, "ends_at": _utc(ends_at).isoformat()},
            )
            for member_id, activated_at, offer_id, ends_at, merchant_id, brand in rows
        ]
        return record_notifications(conn, wanted, now)


def remind_stamp_cards(engine: Engine, now: datetime) -> int:
    """Members whose next qualifying visit to a live stamp card earns its reward."""
    every_n = _offers.c.stamp_every_n
    with engine.begin() as conn:
        rows = conn.execute(
            select(
                _states.c.member_id,
                _states.c.stamp_count,
                _offers.c.id,
                _merchants.c.id,
                _merchants.c.brand_name,
            )
            .join(_offers, _offers.c.id == _states.c.offer_id)
            .join(_merchants, _merchants.c.id == _offers.c.merchant_id)
            .where(
                _offers.c.kind == "stamp_card",
                _offers.c.status == "live",
                every_n > 1,
                and_(_states.c.stamp_count > 0, _states.c.stamp_count % every_n == every_n - 1),
            )
        ).all()
        wanted = [
            NewNotification(
                member_id=member_id,
                kind=Kind.STAMP_CARD_NEAR,
                source_key=f"stamp:{offer_id}:{stamp_count}",
                created_at=now,
                merchant_id=merchant_id,
                offer_id=offer_id,
                facts={"merchant": brand},
            )
            for member_id, stamp_count, offer_id, merchant_id, brand in rows
        ]
        return record_notifications(conn, wanted, now)
