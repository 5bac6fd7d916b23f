"""A seeded synthetic world (merchants, locations, offers of every kind, members, cards) and a
feed of card events against it, for the demo and the benchmarks. Same seed, same world.

The world is written with Core bulk inserts so that 100,000 offers take seconds, and the feed
is a generator, so a million events never sit in memory at once.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert

from service.tables import Card, Location, Member, Merchant, Offer, OfferLocation
from settlement.tables import OfferBudget

FEED_FIELDS = [
    "external_id",
    "kind",
    "card_id",
    "amount",
    "currency",
    "occurred_at",
    "mid",
    "merchant_name",
    "mcc",
    "channel",
    "original_external_id",
]

_TIMEZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London"]
_WORDS = [
    "Blue",
    "Bottle",
    "Corner",
    "Harbor",
    "Maple",
    "Golden",
    "Urban",
    "Little",
    "North",
    "Copper",
    "Green",
    "Bright",
    "Cedar",
    "Velvet",
    "Summit",
    "River",
]
_TRADES = [
    ("Coffee", "5814"),
    ("Books", "5942"),
    ("Grocer", "5411"),
    ("Bistro", "5812"),
    ("Outfitters", "5651"),
    ("Pharmacy", "5912"),
    ("Cinema", "7832"),
    ("Fuel", "5541"),
]
# The category members filter by, per trade.
_CATEGORIES = {
    "Coffee": "dining",
    "Books": "shopping",
    "Grocer": "groceries",
    "Bistro": "dining",
    "Outfitters": "shopping",
    "Pharmacy": "health",
    "Cinema": "entertainment",
    "Fuel": "fuel",
}


@dataclass
class World:
    """What the feed generator needs to know about the seeded database."""

    card_ids: list[int] = field(default_factory=list)
    member_ids: list[int] = field(default_factory=list)
    offer_mids: list[tuple[str, str, str]] = field(default_factory=list)  # mid, name, mcc
    other_mids: list[tuple[str, str, str]] = field(default_factory=list)
    offers: int = 0
    merchants: int = 0


def _offer_row(rng: random.Random, merchant_id: int, n: int, now: datetime, variety: bool) -> dict:
    """An offer; with `variety` the rule kinds cycle so every kind is represented."""
    base = {
        "merchant_id": merchant_id,
        "title": "",
        "status": "live",
        "kind": "cashback",
        "reward_type": "percent",
        "currency": "USD",
        "rate_bps": rng.choice([300, 500, 750, 1000]),
        "reward_amount": 0,
        "max_reward_amount": 2_500,
        "min_spend_amount": 0,
        "brand_wide": True,
        "starts_at": now - timedelta(days=60),
        "ends_at": None,
        "dayparts_json": "[]",
        "bonus_windows_json": "[]",
        "channel": None,
        "audience": "everyone",
        "lookback_days": 0,
        "min_member_tier": 0,
        "birthday_bonus_bps": 0,
        "activation_required": False,
        "member_max_rewards": None,
        "member_max_reward_amount": None,
        "budget_amount": None,
        "max_redemptions": None,
        "stamp_every_n": None,
        "threshold_amount": None,
        "hold_days": rng.choice([0, 14, 30]),
        "commission_bps": 2000,
        "commission_base": "reward",
        "holdout_bps": 0,
        "created_at": now - timedelta(days=60, minutes=n),
        "updated_at": now,
    }
    kind = n % 14 if variety else 0
    title = "Cashback"
    if kind == 1:
        base.update(reward_type="fixed", reward_amount=500, min_spend_amount=2_000)
        title = "$5 off $20"
    elif kind == 2:
        base.update(audience="new", lookback_days=180, rate_bps=1500)
        title = "New customers 15%"
    elif kind == 3:
        base.update(activation_required=True, rate_bps=1200)
        title = "Activate for 12%"
    elif kind == 4:
        base.update(
            dayparts_json=json.dumps(
                [{"weekdays": [0, 1, 2, 3, 4], "start_minute": 14 * 60, "end_minute": 17 * 60}]
            )
        )
        title = "Weekday afternoons"
    elif kind == 5:
        base.update(kind="stamp_card", reward_type="fixed", reward_amount=400, stamp_every_n=3)
        title = "Every 3rd visit $4"
    elif kind == 6:
        base.update(
            kind="spend_threshold",
            reward_type="fixed",
            reward_amount=1_000,
            threshold_amount=10_000,
        )
        title = "Spend $100, get $10"
    elif kind == 7:
        base.update(budget_amount=20_000, rate_bps=2000)
        title = "20% while budget lasts"
    elif kind == 8:
        base.update(member_max_rewards=2)
        title = "Twice per member"
    elif kind == 9:
        base.update(holdout_bps=2000, rate_bps=800)
        title = "8% (with 20% holdout)"
    elif kind == 10:
        base.update(audience="lapsed", lookback_days=30, rate_bps=1500)
        title = "Come back 15%"
    elif kind == 11:
        base.update(
            channel="online",
            bonus_windows_json=json.dumps(
                [
                    {
                        "weekdays": [5, 6],
                        "start_minute": 0,
                        "end_minute": 1440,
                        "multiplier_bps": 20_000,
                    }
                ]
            ),
        )
        title = "Online, double at weekends"
    elif kind == 12:
        base.update(status="ended", ends_at=now - timedelta(days=1))
        title = "Ended offer"
    elif kind == 13:
        base.update(commission_base="spend", commission_bps=100, member_max_reward_amount=3_000)
        title = "Capped $30 per member"
    base["title"] = title
    return base


def seed_world(
    engine: Engine,
    *,
    seed: int,
    now: datetime,
    merchants: int,
    offers: int,
    members: int,
    cards_per_member: int = 1,
    locations_per_merchant: int = 2,
    variety: bool = True,
) -> World:
    """Write a world. Half the merchants carry the offers; the rest have none."""
    rng = random.Random(seed)
    world = World(merchants=merchants, offers=offers)
    offer_merchants = max(1, merchants // 2)
    merchant_rows, location_rows, offer_rows = [], [], []
    for m in range(1, merchants + 1):
        word, (trade, mcc) = rng.choice(_WORDS), rng.choice(_TRADES)
        name = f"{word} {trade} {m}"
        merchant_rows.append(
            {
                "id": m,
                "brand_name": name,
                "timezone": rng.choice(_TIMEZONES),
                "currency": "USD",
                "default_commission_bps": 2000,
                "category": _CATEGORIES[trade],
                "billing_email": f"billing@merchant{m}.example",
                "created_at": now - timedelta(days=90),
            }
        )
        for loc in range(locations_per_merchant):
            mid = f"MID{m:07d}{loc:02d}"
            location_rows.append(
                {
                    "id": (m - 1) * locations_per_merchant + loc + 1,
                    "merchant_id": m,
                    "name": f"{name} #{loc + 1}",
                    "mid": mid,
                    "acquirer_id": "ACQ1",
                    "postal_code": "10001",
                    "country": "US",
                    "created_at": now - timedelta(days=90),
                }
            )
            target = world.offer_mids if m <= offer_merchants else world.other_mids
            target.append((mid, name, mcc))
    for n in range(offers):
        row = _offer_row(rng, (n % offer_merchants) + 1, n, now, variety)
        row["id"] = n + 1
        offer_rows.append(row)
    member_rows = [
        {
            "id": i,
            "external_ref": f"member-{i}",
            "display_name": f"Member {i}",
            "email": f"member{i}@example.com",
            "tier": i % 3,
            "birth_month": (i % 12) + 1,
            "created_at": now - timedelta(days=120),
        }
        for i in range(1, members + 1)
    ]
    card_rows = []
    brands = ["visa", "mastercard", "amex", "discover"]
    for i in range(1, members + 1):
        for c in range(cards_per_member):
            cid = (i - 1) * cards_per_member + c + 1
            card_rows.append(
                {
                    "id": cid,
                    "member_id": i,
                    "provider": "publisher",
                    "provider_token": f"tok_{seed}_{cid}",
                    "fingerprint": f"fp_{seed}_{cid}",
                    "brand": brands[cid % 4],
                    "last4": f"{cid % 10_000:04d}",
                    "exp_month": 12,
                    "exp_year": now.year + 3,
                    "status": "active",
                    "created_at": now - timedelta(days=100),
                }
            )
            world.card_ids.append(cid)
    world.member_ids = list(range(1, members + 1))
    budget_rows = [
        {
            "offer_id": o["id"],
            "currency": "USD",
            "budget_amount": o["budget_amount"],
            "max_redemptions": o["max_redemptions"],
            "reserved_amount": 0,
            "redemption_count": 0,
        }
        for o in offer_rows
    ]
    # Location-specific offers: every 5th offer applies only at the merchant's first location.
    offer_location_rows = []
    for o in offer_rows:
        if o["id"] % 5 == 0 and variety:
            o["brand_wide"] = False
            offer_location_rows.append(
                {
                    "offer_id": o["id"],
                    "location_id": (o["merchant_id"] - 1) * locations_per_merchant + 1,
                }
            )
    with engine.begin() as conn:
        for table, rows in (
            (Merchant, merchant_rows),
            (Location, location_rows),
            (Offer, offer_rows),
            (OfferLocation, offer_location_rows),
            (OfferBudget, budget_rows),
            (Member, member_rows),
            (Card, card_rows),
        ):
            _insert_rows(conn, table.__table__, rows)
        _sync_sequences(conn)
    return world


def _insert_rows(conn, table, rows: list[dict]) -> None:
    """Rows in chunks. On PostgreSQL each chunk is one multi-row INSERT: an executemany runs
    one statement per row, and the catalog-version trigger then updates its one row once per
    offer, which grew quadratic (100,000 offers took 13 minutes)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        size = 30_000 // len(rows[0])  # bind parameters per statement stay under 65,535
        for start in range(0, len(rows), size):
            conn.execute(insert(table).values(rows[start : start + size]))
        return
    for start in range(0, len(rows), 5000):
        conn.execute(insert(table), rows[start : start + 5000])


def _sync_sequences(conn) -> None:
    """Explicit ids were written; move PostgreSQL's sequences past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in ("merchant", "location", "offer", "member", "card"):
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )


def generate_events(
    world: World,
    *,
    seed: int,
    count: int,
    start: datetime,
    offer_share: float = 0.6,
    duplicate_share: float = 0.01,
    malformed_share: float = 0.002,
) -> Iterator[dict[str, object]]:
    """Auths followed by clearings (some with changed amounts, some unlinked by id), partial
    and full refunds, reversals, duplicates and malformed lines; in time order."""
    rng = random.Random(seed + 1)
    t = start
    step_s = max(1, int(30 * 24 * 3600 / max(count, 1)))
    open_auths: list[dict] = []
    clearings: list[dict] = []
    emitted = 0
    n = 0
    while emitted < count:
        n += 1
        t += timedelta(seconds=rng.randint(1, 2 * step_s))
        roll = rng.random()
        if open_auths and roll < 0.42:
            auth = open_auths.pop(rng.randrange(len(open_auths)))
            amount = auth["amount"]
            if rng.random() < 0.15:  # a tip or a changed basket
                amount = amount + rng.randint(1, max(1, amount // 5))
            ev = {
                **auth,
                "external_id": f"clr-{n}",
                "kind": "clearing",
                "amount": amount,
                "occurred_at": t,
                "original_external_id": auth["external_id"],
            }
            if rng.random() < 0.1:
                ev["original_external_id"] = ""  # linked by card, brand and amount instead
            clearings.append(ev)
            if len(clearings) > 5000:
                clearings.pop(0)
        elif clearings and roll < 0.47:
            clr = clearings[rng.randrange(len(clearings))]
            part = clr["amount"] if rng.random() < 0.4 else rng.randint(1, clr["amount"])
            ev = {
                **clr,
                "external_id": f"rfd-{n}",
                "kind": "refund",
                "amount": part,
                "occurred_at": t,
                "original_external_id": clr["external_id"],
            }
        elif open_auths and roll < 0.49:
            auth = open_auths.pop(rng.randrange(len(open_auths)))
            ev = {
                **auth,
                "external_id": f"rev-{n}",
                "kind": "reversal",
                "occurred_at": t,
                "original_external_id": auth["external_id"],
            }
        else:
            pool = world.offer_mids if rng.random() < offer_share else world.other_mids
            mid, name, mcc = pool[rng.randrange(len(pool))]
            ev = {
                "external_id": f"auth-{n}",
                "kind": "auth",
                "card_id": world.card_ids[rng.randrange(len(world.card_ids))],
                "amount": rng.choice([rng.randint(300, 2_500), rng.randint(2_500, 15_000)]),
                "currency": "USD",
                "occurred_at": t,
                "mid": mid,
                "merchant_name": name,
                "mcc": mcc,
                "channel": "online" if rng.random() < 0.2 else "in_store",
                "original_external_id": "",
            }
            open_auths.append(ev)
            if len(open_auths) > 20_000:
                open_auths.pop(0)
        out = {k: ev.get(k, "") for k in FEED_FIELDS}
        out["occurred_at"] = ev["occurred_at"].isoformat()
        r = rng.random()
        if r < malformed_share:
            out = _malformed(rng, out)
        yield out
        emitted += 1
        if r > 1 - duplicate_share and emitted < count:
            yield dict(out)
            emitted += 1


def _malformed(rng: random.Random, ev: dict) -> dict:
    bad = dict(ev)
    choice = rng.randrange(5)
    if choice == 0:
        bad["amount"] = "12.50"
    elif choice == 1:
        bad["occurred_at"] = "yesterday"
    elif choice == 2:
        bad["currency"] = "XYZ"
    elif choice == 3:
        bad["kind"] = "chargeback"
    else:
        bad["card_id"] = "not-a-card"
    bad["external_id"] = f"bad-{ev['external_id']}"
    return bad


def write_csv(path: Path, events: Iterator[dict[str, object]]) -> int:
    count = 0
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FEED_FIELDS)
        writer.writeheader()
        for ev in events:
            writer.writerow(ev)
            count += 1
    return count
