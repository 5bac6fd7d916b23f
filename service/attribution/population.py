"""An offer's holdout population, counted once and carried forward.

The population of a holdout report is every member with a card linked before the period's
end, split by the offer's holdout bucket (`holdout_sql`). Counting it from the cards hashes
every member, a second per million members, on every read. The daily job
(`count_populations`) stores each holdout offer's split up to the last midnight that can no
longer change; a read (`population_split`) starts from the latest count at or before its end
and hashes only the members who linked their first card since.

Kept per offer: the latest count and those at the start of an ISO week (a settlement period
ends on one), so an older period counts at most a week of new members too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Connection, and_, case, delete, exists, func, insert, select

from service.attribution.holdout_sql import with_holdout_bucket
from service.offers.catalog import aware
from service.tables import Card, HoldoutPopulation, Offer

_cards = Card.__table__
_counts = HoldoutPopulation.__table__
_offers = Offer.__table__
# A card is stamped with its link time by the process that links it; one committed a little
# after midnight may still carry a time before it. A day is counted this long after it ended.
SETTLING = timedelta(hours=1)
MONDAY = 0


@dataclass(frozen=True, slots=True)
class Split:
    members: int
    control_members: int

    def __add__(self, other: Split) -> Split:
        return Split(self.members + other.members, self.control_members + other.control_members)


def _first_linked(start: datetime | None, end: datetime):
    """Members whose first card was linked in [start, end); every member linked before `end`
    when `start` is None."""
    c = _cards.c
    if start is None:
        return select(c.member_id).where(c.created_at < end).distinct()
    earlier = _cards.alias("earlier")
    return (
        select(c.member_id)
        .where(
            c.created_at >= start,
            c.created_at < end,
            ~exists().where(earlier.c.member_id == c.member_id, earlier.c.created_at < start),
        )
        .distinct()
    )


def _count_linked(
    conn: Connection, offer_id: int, holdout_bps: int, start: datetime | None, end: datetime
) -> Split:
    """The split of the members who first linked in [start, end), hashed by the database."""
    members = with_holdout_bucket(
        conn.dialect.name, _first_linked(start, end).subquery("linked"), offer_id
    )
    in_control = case((members.c.bucket < holdout_bps, 1), else_=0)
    n, control = conn.execute(
        select(func.count(), func.coalesce(func.sum(in_control), 0)).select_from(members)
    ).one()
    return Split(int(n), int(control))


def _latest_count(
    conn: Connection, offer_id: int, at_or_before: datetime
) -> tuple[datetime | None, Split]:
    k = _counts.c
    row = conn.execute(
        select(k.counted_before, k.members, k.control_members)
        .where(k.offer_id == offer_id, k.counted_before <= at_or_before)
        .order_by(k.counted_before.desc())
        .limit(1)
    ).first()
    if row is None:
        return None, Split(0, 0)
    return aware(row.counted_before), Split(int(row.members), int(row.control_members))


def population_split(conn: Connection, offer_id: int, holdout_bps: int, end: datetime) -> Split:
    """The members with a card linked before `end`, and how many the offer holds out."""
    counted_before, counted = _latest_count(conn, offer_id, end)
    if counted_before == end:
        return counted
    return counted + _count_linked(conn, offer_id, holdout_bps, counted_before, end)


def last_settled_midnight(now: datetime) -> datetime:
    """The latest midnight (UTC) whose day no card can still be stamped with."""
    return datetime.combine((now - SETTLING).astimezone(UTC).date(), time(0), tzinfo=UTC)


def count_populations(
    conn: Connection, now: datetime, *, offer_ids: Sequence[int] | None = None
) -> int:
    """Bring every holdout offer's count (or only those of `offer_ids`) up to the last settled
    midnight; returns how many offers were counted. Offers that ended more than a week before
    it are left as they are.

    Each offer's first count hashes every member once (about 1.8 s per million members on
    PostgreSQL); later ones only the members linked since."""
    midnight = last_settled_midnight(now)
    o = _offers.c
    query = select(o.id, o.holdout_bps).where(
        o.holdout_bps > 0,
        o.status != "draft",
        (o.ends_at.is_(None)) | (o.ends_at > midnight - timedelta(days=7)),
    )
    if offer_ids is not None:
        query = query.where(o.id.in_(list(offer_ids)))
    offers = conn.execute(query.order_by(o.id)).all()
    counted = 0
    for offer_id, holdout_bps in offers:
        before, split = _latest_count(conn, offer_id, midnight)
        if before == midnight:
            continue
        split += _count_linked(conn, offer_id, holdout_bps, before, midnight)
        conn.execute(
            insert(_counts).values(
                offer_id=offer_id,
                counted_before=midnight,
                members=split.members,
                control_members=split.control_members,
            )
        )
        if before is not None and before.weekday() != MONDAY:
            # Superseded: a read that would have started from it starts from the Monday
            # before it instead, a few days more to count.
            k = _counts.c
            conn.execute(
                delete(_counts).where(and_(k.offer_id == offer_id, k.counted_before == before))
            )
        counted += 1
    return counted
