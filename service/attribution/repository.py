"""Every query of the attribution report: aggregates computed in the database (GROUP BY).

A purchase belongs to the period in which its reward's money was first booked as posted in the
ledger (`BOOKED_BY`), as in the statements: an auth pending over a period end and cleared
after it counts in the period of the clearing, in both, and never in two reports.

The holdout comparison too is summed by the database: per group of the offer's split, the
group's size and the moments of its members' spend (`holdout_moments`); the statistics on
them are `settlement.lift`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)

from service.attribution.holdout_sql import with_holdout_bucket
from service.attribution.population import population_split
from service.claims.tables import Claim
from service.tables import Activation, Card, CardEventRow, MemberBrandState, Offer
from settlement.attribution import ActivationTotals, OfferFacts, RefundTotals, RewardTotals
from settlement.ledger.bulk import one_of
from settlement.lift import GroupMoments
from settlement.tables import Reward

_offers = Offer.__table__
_activations = Activation.__table__
_events = CardEventRow.__table__
_cards = Card.__table__
_rewards = Reward.__table__
_claims = Claim.__table__
_brand_state = MemberBrandState.__table__

# What the report says it counts purchases by (a field of the API response and the CSV).
BOOKED_BY: Final = "booking_time"

PURCHASE_KINDS = ("auth", "clearing")
VOIDED = "voided"


def offers_for_period(
    conn: Connection,
    *,
    period_start: datetime,
    period_end: datetime,
    offer_ids: Sequence[int] | None = None,
    merchant_id: int | None = None,
    limit: int = 1000,
) -> list[OfferFacts]:
    """The offers asked for, else every non-draft offer whose window overlaps the period.

    At most `limit + 1` rows, so a caller can tell that there were more.
    """
    o = _offers.c
    query = select(o.id, o.merchant_id, o.title, o.currency, o.holdout_bps, o.starts_at)
    if offer_ids is not None:
        query = query.where(one_of(conn, o.id, list(offer_ids)))
    else:
        query = query.where(
            o.status != "draft",
            o.starts_at < period_end,
            or_(o.ends_at.is_(None), o.ends_at > period_start),
        )
    if merchant_id is not None:
        query = query.where(o.merchant_id == merchant_id)
    rows = conn.execute(query.order_by(o.id).limit(limit + 1))
    return [OfferFacts(*row) for row in rows]


def _qualified(conn: Connection, offer_ids: Sequence[int], start: datetime, end: datetime):
    """The offers' rewards first booked in the period: their first accrual booked as posted
    in it (a repricing or an incremental clearing books again, later, and does not move the
    purchase). `reward.booked_at` is that first booking, kept by the booking code; per offer
    it is a range of `ix_reward_offer_booked`, which also covers the report's sums."""
    r = _rewards.c
    return and_(
        one_of(conn, r.offer_id, list(offer_ids)),
        r.booked_at >= start,
        r.booked_at < end,
        r.state != VOIDED,
    )


def _purchased_at_brand(member_id, merchant_id, *conditions):
    e = _events.c
    return (
        exists()
        .where(
            e.member_id == member_id,
            e.merchant_id == merchant_id,
            e.kind.in_(PURCHASE_KINDS),
            *conditions,
        )
        .correlate_except(_events)
    )


def reward_totals(
    conn: Connection, offer_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, RewardTotals]:
    """Per offer: qualified events, money sums, unique and returning members.

    One pass over each offer's range of `ix_reward_offer_booked`, which holds every column
    read here, so the rows themselves are never visited. Whether a member is returning is a
    probe of their history at the brand (`member_brand_state`, kept by the feed for every
    purchase it ingests) by its brand-first index: one report's probes fall in the brand's
    few pages of it."""
    if not offer_ids:
        return {}
    r, b = _rewards.c, _brand_state.c
    # Returning members: bought at the brand before the period. A probe per reward: a set of
    # every pair with such a history was a scan of the whole table (every member at every
    # brand; 0.9 s of 1.4 s at ten million events).
    returned = exists().where(
        b.merchant_id == r.merchant_id, b.member_id == r.member_id, b.first_purchase_at < start
    )
    returning_member = case((returned, r.member_id), else_=None)
    rows = conn.execute(
        select(
            r.offer_id,
            func.count(func.distinct(r.member_id)),
            func.count(func.distinct(returning_member)),
            func.count(),
            func.sum(r.spend_amount),
            func.sum(r.refunded_spend_amount),
            func.sum(r.reward_amount),
            func.sum(r.clawed_reward_amount),
            func.sum(r.commission_amount),
            func.sum(r.clawed_commission_amount),
        )
        .where(_qualified(conn, offer_ids, start, end))
        .group_by(r.offer_id)
    ).all()
    manual = _claimed_events(conn, offer_ids, start, end)
    out: dict[int, RewardTotals] = {}
    for offer_id, unique_members, returning_members, *sums in rows:
        events, spend, refunded, reward, clawed, commission, clawed_commission = (
            int(v or 0) for v in sums
        )
        out[offer_id] = RewardTotals(
            qualified_events=events,
            spend_amount=spend,
            refunded_spend_amount=refunded,
            reward_amount=reward,
            clawed_reward_amount=clawed,
            commission_amount=commission,
            clawed_commission_amount=clawed_commission,
            unique_members=int(unique_members),
            returning_members=int(returning_members),
            manual_events=manual.get(offer_id, 0),
        )
    return out


def _claimed_events(
    conn: Connection, offer_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, int]:
    """Per offer: qualified events booked by accepted missing-cashback claims (flagged as
    manual adjustments). From the claims, few, by their merchant: asked of every reward, the
    reward's id would send the report from its covering index to each row."""
    c, r, o = _claims.c, _rewards.c, _offers.c
    merchants = select(o.merchant_id).where(one_of(conn, o.id, list(offer_ids)))
    rows = conn.execute(
        select(r.offer_id, func.count())
        .select_from(_claims.join(_rewards, r.id == c.reward_id))
        .where(
            c.merchant_id.in_(merchants),
            c.status == "accepted",
            _qualified(conn, offer_ids, start, end),
        )
        .group_by(r.offer_id)
    )
    return {offer_id: int(n) for offer_id, n in rows}


def activation_totals(
    conn: Connection, offer_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, ActivationTotals]:
    """Per offer: activations in the period and how many of those members then purchased."""
    if not offer_ids:
        return {}
    a, o = _activations.c, _offers.c
    converted = _purchased_at_brand(
        a.member_id,
        o.merchant_id,
        _events.c.occurred_at >= a.activated_at,
        _events.c.occurred_at < end,
    )
    rows = conn.execute(
        select(a.offer_id, func.count(), func.sum(case((converted, 1), else_=0)))
        .select_from(_activations.join(_offers, o.id == a.offer_id))
        .where(
            one_of(conn, a.offer_id, list(offer_ids)),
            a.activated_at >= start,
            a.activated_at < end,
        )
        .group_by(a.offer_id)
    )
    return {offer_id: ActivationTotals(n, int(c or 0)) for offer_id, n, c in rows}


def refund_totals(
    conn: Connection, offer_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, RefundTotals]:
    """Per offer: refund events that clawed back the reward of a purchase in the period, as
    the feed tallied them on each reward (the same index range as `reward_totals`)."""
    if not offer_ids:
        return {}
    r = _rewards.c
    rows = conn.execute(
        select(r.offer_id, func.sum(r.clawback_refund_count), func.sum(r.clawback_refund_amount))
        .where(_qualified(conn, offer_ids, start, end), r.clawback_refund_count > 0)
        .group_by(r.offer_id)
    )
    return {offer_id: RefundTotals(int(n), int(amount)) for offer_id, n, amount in rows}


def _brand_spend(merchant_id: int, currency: str, start: datetime, end: datetime):
    """(member_id, amount) of each card event that counts in a member's spend at the brand in
    [start, end): cleared spend, less refunds.

    A refund, or a reversal of a clearing (a full refund), subtracts; reversals of auths do
    not, since auths are not counted."""
    e = _events.c
    original = _events.alias("original")
    reversed_clearing = and_(
        e.kind == "reversal",
        exists()
        .where(original.c.id == e.linked_event_id, original.c.kind == "clearing")
        .correlate(_events),
    )
    signed = case((e.kind == "clearing", e.amount), else_=-e.amount)
    return select(e.member_id, signed.label("amount")).where(
        e.merchant_id == merchant_id,
        e.currency == currency,
        e.occurred_at >= start,
        e.occurred_at < end,
        or_(e.kind.in_(("clearing", "refund")), reversed_clearing),
    )


def holdout_moments(
    conn: Connection,
    offer: OfferFacts,
    *,
    start: datetime,
    end: datetime,
    pre_start: datetime,
    pre_end: datetime,
) -> tuple[GroupMoments, GroupMoments]:
    """(treatment, control): per group of the offer's holdout split of the population, the
    moments of member spend at the brand in the period (y) and in the pre-period (x).

    All in the database: the split by each member's holdout bucket (`holdout_sql`), the
    group sizes from the population (`population.population_split`: the daily count, plus the
    members linked since), and the sums from the members who spent (a member who did not
    adds nothing to any sum)."""
    dialect = conn.dialect.name
    population = population_split(conn, offer.offer_id, offer.holdout_bps, end)
    members, control_members = population.members, population.control_members

    period = _brand_spend(offer.merchant_id, offer.currency, start, end).subquery("period")
    pre = _brand_spend(offer.merchant_id, offer.currency, pre_start, pre_end).subquery("pre")
    zero = literal(0, BigInteger)
    both = union_all(
        select(period.c.member_id, period.c.amount.label("y"), zero.label("x")),
        select(pre.c.member_id, zero, pre.c.amount),
    ).subquery("spend")
    # In the population: a card linked before the end. Asked once per spender, by the card's
    # member index, in HAVING: a semi-join in WHERE let PostgreSQL hash every card instead.
    # Naming a column of that index (not EXISTS (SELECT *)) lets SQLite answer from it too.
    card = _cards.c
    linked = (
        select(card.member_id)
        .where(card.member_id == both.c.member_id, card.created_at < end)
        .exists()
    )
    per_member = (
        select(both.c.member_id, func.sum(both.c.y).label("y"), func.sum(both.c.x).label("x"))
        .group_by(both.c.member_id)
        .having(linked)
        .subquery("per_member")
    )
    spenders = with_holdout_bucket(dialect, per_member, offer.offer_id)
    # The group as a column of a subquery: grouped by an expression with bind parameters,
    # PostgreSQL would not see the SELECT's expression in the GROUP BY's.
    flagged = select(
        spenders.c.y, spenders.c.x, (spenders.c.bucket < offer.holdout_bps).label("control")
    ).subquery("flagged")
    y, x, control = flagged.c.y, flagged.c.x, flagged.c.control
    sums = {
        bool(row[0]): [int(v or 0) for v in row[1:]]
        for row in conn.execute(
            select(
                control,
                func.sum(y),
                func.sum(y * y),
                func.sum(x),
                func.sum(x * x),
                func.sum(x * y),
            ).group_by(control)
        )
    }
    no_spend = [0, 0, 0, 0, 0]
    return (
        GroupMoments(int(members) - int(control_members), *sums.get(False, no_spend)),
        GroupMoments(int(control_members), *sums.get(True, no_spend)),
    )
