"""A tiny hand-built world for pipeline tests: one merchant, its locations, offers, members."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import Engine, insert

from matching.events import Source
from service.config import Settings
from service.feeds.integrity import refund_tally_mismatches
from service.feeds.pipeline import IngestOutcome, IngestPipeline
from service.feeds.records import RawRecord
from service.tables import Activation, Card, Location, Member, Merchant, Offer, OfferLocation
from settlement.budget import ensure_budget
from settlement.ledger.check import check_ledger
from tests.balances import balances

T0 = datetime(2026, 10, 5, 15, 0, tzinfo=UTC)  # a Monday, 11:00 in New York


@dataclass
class PipelineWorld:
    engine: Engine
    merchant_id: int = 1
    pipeline: IngestPipeline = field(init=False)
    _ids: count = field(default_factory=lambda: count(1))

    def __post_init__(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(Merchant.__table__),
                [
                    {
                        "id": 1,
                        "brand_name": "Blue Bottle",
                        "timezone": "America/New_York",
                        "currency": "USD",
                        "default_commission_bps": 2000,
                        "created_at": T0,
                    },
                    {
                        "id": 2,
                        "brand_name": "Other Shop",
                        "timezone": "America/New_York",
                        "currency": "USD",
                        "default_commission_bps": 2000,
                        "created_at": T0,
                    },
                ],
            )
            conn.execute(
                insert(Location.__table__),
                [
                    {
                        "id": 1,
                        "merchant_id": 1,
                        "name": "Blue Bottle Soho",
                        "mid": "MID-BB-1",
                        "created_at": T0,
                    },
                    {
                        "id": 2,
                        "merchant_id": 1,
                        "name": "Blue Bottle Airport",
                        "mid": "MID-BB-2",
                        "created_at": T0,
                    },
                    {
                        "id": 3,
                        "merchant_id": 2,
                        "name": "Other",
                        "mid": "MID-OT-1",
                        "created_at": T0,
                    },
                ],
            )
        self.pipeline = IngestPipeline(self.engine, Settings(auth_expiry_days=7), batch_events=100)

    def member(self, *, member_id: int, tier: int = 0, birth_month: int | None = None) -> int:
        with self.engine.begin() as conn:
            conn.execute(
                insert(Member.__table__).values(
                    id=member_id,
                    display_name=f"m{member_id}",
                    tier=tier,
                    birth_month=birth_month,
                    created_at=T0 - timedelta(days=400),
                )
            )
            conn.execute(
                insert(Card.__table__).values(
                    id=member_id,
                    member_id=member_id,
                    provider="publisher",
                    provider_token=f"tok{member_id}",
                    fingerprint=f"fp{member_id}",
                    brand="visa",
                    last4="4242",
                    status="active",
                    created_at=T0 - timedelta(days=400),
                )
            )
        return member_id

    def offer(
        self,
        *,
        offer_id: int,
        merchant_id: int = 1,
        location_ids: tuple[int, ...] = (),
        created_at: datetime | None = None,
        dayparts=(),
        bonus_windows=(),
        **rules,
    ) -> int:
        row: dict[str, Any] = {
            "id": offer_id,
            "merchant_id": merchant_id,
            "title": f"offer {offer_id}",
            "status": "live",
            "kind": "cashback",
            "reward_type": "percent",
            "currency": "USD",
            "rate_bps": 500,
            "reward_amount": 0,
            "min_spend_amount": 0,
            "brand_wide": not location_ids,
            "starts_at": T0 - timedelta(days=30),
            "ends_at": None,
            "dayparts_json": json.dumps(list(dayparts)),
            "bonus_windows_json": json.dumps(list(bonus_windows)),
            "audience": "everyone",
            "lookback_days": 0,
            "activation_required": False,
            "hold_days": 30,
            "commission_bps": 2000,
            "commission_base": "reward",
            "holdout_bps": 0,
            "created_at": created_at or T0 - timedelta(days=30) + timedelta(seconds=offer_id),
            "updated_at": T0 + timedelta(seconds=offer_id),
        }
        row.update(rules)
        with self.engine.begin() as conn:
            conn.execute(insert(Offer.__table__).values(**row))
            for loc in location_ids:
                conn.execute(
                    insert(OfferLocation.__table__).values(offer_id=offer_id, location_id=loc)
                )
            ensure_budget(
                conn,
                offer_id=offer_id,
                currency="USD",
                budget_amount=row.get("budget_amount"),
                max_redemptions=row.get("max_redemptions"),
            )
        return offer_id

    def activate(self, member_id: int, offer_id: int, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(Activation.__table__).values(
                    member_id=member_id, offer_id=offer_id, activated_at=at
                )
            )

    def event(
        self,
        kind: str = "auth",
        *,
        card: int,
        amount: int,
        at: datetime = T0,
        mid: str | None = "MID-BB-1",
        ext: str | None = None,
        original: str | None = None,
        **extra,
    ) -> dict:
        ev = {
            "external_id": ext or f"ev-{next(self._ids)}",
            "kind": kind,
            "card_id": card,
            "amount": amount,
            "currency": "USD",
            "occurred_at": at.isoformat(),
            "mid": mid,
            "original_external_id": original,
        }
        ev.update(extra)
        return ev

    def ingest(
        self, *events: dict, now: datetime = T0, source: Source = Source.NETWORK
    ) -> list[IngestOutcome]:
        records = [RawRecord(e, json.dumps(e), i) for i, e in enumerate(events)]
        return self.pipeline.ingest_batch(records, source, now)

    def balances(self) -> dict[str, tuple[int, int]]:
        return balances(self.engine)

    def assert_balanced(self) -> None:
        with self.engine.connect() as conn:
            report = check_ledger(conn)
            tallies = refund_tally_mismatches(conn)
        assert report.balanced, report.lines()
        assert not tallies, tallies  # each reward's clawback refunds, as its events say
