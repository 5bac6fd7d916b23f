"""An offer's holdout population, counted by the daily job and carried forward by a read
(`attribution.population`), is the one the per-member definition gives: every member whose
first card was linked before the end, in control when `matching.offers.in_holdout` says so;
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, update

from matching.offers import in_holdout
from service.attribution.population import (
    Split,
    count_populations,
    last_settled_midnight,
    population_split,
)
from service.synthetic import seed_world
from service.tables import Card, HoldoutPopulation, Member, Offer

SEEDED = datetime(2026, 9, 20, 12, tzinfo=UTC)  # the world's first cards
OFFER, PLAIN, DRAFT = 1, 2, 3
HOLDOUT_BPS = 3_000
MONDAY_12 = datetime(2026, 10, 12, tzinfo=UTC)


def _day(d: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 10, d, hour, minute, tzinfo=UTC)


def _link(conn, card_id: int, member_id: int, at: datetime) -> None:
    conn.execute(
        insert(Card.__table__).values(
            id=card_id,
            member_id=member_id,
            provider="publisher",
            provider_token=f"late-{card_id}",
            fingerprint=f"late-{card_id}",
            brand="visa",
            last4="4242",
            status="active",
            created_at=at,
        )
    )


@pytest.fixture
def world(engine):
    """60 members with a card from the start; ten more link a first card on each of four
    days (one just before a midnight); and ten of the first ones link a second card later,
    which must not count them twice."""
    seed_world(engine, seed=3, now=SEEDED, merchants=2, offers=3, members=60, variety=False)
    o, c = Offer.__table__.c, Card.__table__.c
    with engine.begin() as conn:
        first_linked = {
            m: at.replace(tzinfo=UTC)
            for m, at in conn.execute(
                select(c.member_id, func.min(c.created_at)).group_by(c.member_id)
            )
        }
        assert sorted(first_linked) == list(range(1, 61))
        assert max(first_linked.values()) < _day(1)
        conn.execute(update(Offer.__table__).values(holdout_bps=0, status="live", ends_at=None))
        conn.execute(update(Offer.__table__).where(o.id == OFFER).values(holdout_bps=HOLDOUT_BPS))
        conn.execute(
            update(Offer.__table__).where(o.id == DRAFT).values(holdout_bps=2_000, status="draft")
        )
        card = 1_000
        for k, at in enumerate([_day(5, 9), _day(12, 10), _day(14, 23, 59), _day(16, 8)]):
            for m in range(61 + 10 * k, 71 + 10 * k):
                conn.execute(
                    insert(Member.__table__).values(id=m, display_name=f"m{m}", created_at=at)
                )
                card += 1
                _link(conn, card, m, at)
                first_linked[m] = at
        for m in range(1, 11):  # second cards
            card += 1
            _link(conn, card, m, _day(13, 7))
    return first_linked


def _expected(first_linked: dict[int, datetime], end: datetime) -> Split:
    members = [m for m, at in first_linked.items() if at < end]
    control = [m for m in members if in_holdout(OFFER, m, HOLDOUT_BPS)]
    return Split(len(members), len(control))


ENDS = [
    SEEDED,
    _day(1),
    _day(5, 9),
    _day(6),
    MONDAY_12,
    _day(13),
    _day(14, 23, 59),
    _day(15),
    _day(16),
    _day(17),
    _day(31),
]


def _all_splits(engine) -> dict[datetime, Split]:
    with engine.connect() as conn:
        return {end: population_split(conn, OFFER, HOLDOUT_BPS, end) for end in ENDS}


def _counted(engine) -> list[tuple[int, datetime]]:
    k = HoldoutPopulation.__table__.c
    with engine.connect() as conn:
        rows = conn.execute(select(k.offer_id, k.counted_before).order_by(k.counted_before))
        return [(offer_id, at.replace(tzinfo=UTC)) for offer_id, at in rows]


def test_a_read_counts_the_population_the_definition_gives_before_and_after_the_daily_counts(
    engine, world
):
    expected = {end: _expected(world, end) for end in ENDS}
    assert expected[_day(1)].members == 60
    assert expected[_day(17)].members == 100  # 60, then 10 on each of four days
    assert 0 < expected[_day(17)].control_members < 100
    assert _all_splits(engine) == expected  # nothing counted yet: every member hashed

    # 00:30 on the 13th: the 12th is not settled yet (a card stamped 23:59 may still commit),
    # so the count stops at the midnight that began the 12th, a Monday.
    with engine.begin() as conn:
        assert last_settled_midnight(_day(13, 0, 30)) == MONDAY_12
        assert count_populations(conn, _day(13, 0, 30)) == 1  # the holdout offer only
        assert count_populations(conn, _day(13, 0, 30)) == 0  # counted already
    assert _counted(engine) == [(OFFER, MONDAY_12)]
    assert _all_splits(engine) == expected

    with engine.begin() as conn:
        assert count_populations(conn, _day(15, 2)) == 1
    assert _counted(engine) == [(OFFER, MONDAY_12), (OFFER, _day(15))]
    assert _all_splits(engine) == expected

    # A newer count supersedes the Thursday one; the Monday one stays for older periods.
    with engine.begin() as conn:
        assert count_populations(conn, _day(17, 1)) == 1
    assert _counted(engine) == [(OFFER, MONDAY_12), (OFFER, _day(17))]
    assert _all_splits(engine) == expected


def test_a_count_is_read_as_it_was_stored(engine, world):
    """The read starts from the stored count: a count that disagreed would show (here a
    planted one), so the read does not quietly recount."""
    with engine.begin() as conn:
        count_populations(conn, _day(13, 2))
        conn.execute(update(HoldoutPopulation.__table__).values(members=1_000, control_members=300))
    added = _expected(world, _day(16))
    since = _expected(world, _day(13))
    with engine.connect() as conn:
        assert population_split(conn, OFFER, HOLDOUT_BPS, _day(13)) == Split(1_000, 300)
        assert population_split(conn, OFFER, HOLDOUT_BPS, _day(16)) == Split(
            1_000 + added.members - since.members,
            300 + added.control_members - since.control_members,
        )
        # Before the first count: every member hashed, the planted count unused.
        assert population_split(conn, OFFER, HOLDOUT_BPS, _day(6)) == _expected(world, _day(6))


def test_offers_that_ended_long_ago_are_not_counted_again(engine, world):
    with engine.begin() as conn:
        conn.execute(
            update(Offer.__table__)
            .where(Offer.__table__.c.id == OFFER)
            .values(status="ended", ends_at=_day(1))
        )
        assert count_populations(conn, _day(13, 2)) == 0
        conn.execute(
            update(Offer.__table__).where(Offer.__table__.c.id == OFFER).values(ends_at=_day(8))
        )
        assert count_populations(conn, _day(13, 2)) == 1
