"""The holdout comparison the database sums (`repository.holdout_moments`) is the one the
per-member definition gives: on a random population of 400 members, some linking their card
only after the period, buying, refunding and reversing at the offer's brand, another brand and
in another currency, in the period, the pre-period and outside both; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, insert

from matching.offers import in_holdout
from service.attribution import repository as repo
from service.tables import Card, CardEventRow, Member
from settlement.attribution import OfferFacts
from settlement.lift import GroupMoments

OFFER = OfferFacts(
    offer_id=30,
    merchant_id=2,
    title="offer 30",
    currency="USD",
    holdout_bps=3_000,
    starts_at=datetime(2026, 10, 1, tzinfo=UTC),
)
START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
PRE_START, PRE_END = datetime(2026, 8, 31, tzinfo=UTC), START
MEMBERS = 400


def _world(rng: random.Random):
    """Members, cards and events as rows, and the events as (member, kind, merchant,
    currency, amount, at, reverses_a_clearing)."""
    members, cards, events, facts = [], [], [], []
    for m in range(1, MEMBERS + 1):
        linked = END + timedelta(days=2) if rng.random() < 0.1 else START - timedelta(days=90)
        members.append({"id": m, "display_name": f"m{m}", "created_at": linked})
        cards.append(
            {
                "id": m,
                "member_id": m,
                "provider": "publisher",
                "provider_token": f"tok{m}",
                "fingerprint": f"fp{m}",
                "brand": "visa",
                "last4": "4242",
                "status": "active",
                "created_at": linked,
            }
        )
    next_id = 1
    for m in range(1, MEMBERS + 1):
        for _ in range(rng.choice([0, 0, 1, 2, 4])):
            at = PRE_START - timedelta(days=5) + timedelta(hours=rng.randrange(0, 24 * 70))
            merchant = 2 if rng.random() < 0.8 else 1
            currency = "USD" if rng.random() < 0.9 else "EUR"
            amount = rng.randrange(100, 20_000)
            clearing_id = next_id
            kinds: list[tuple[str, int, int | None]] = [("clearing", amount, None)]
            if rng.random() < 0.2:
                kinds.append(("refund", rng.randrange(1, amount + 1), clearing_id))
            elif rng.random() < 0.1:
                kinds.append(("reversal", amount, clearing_id))  # of a clearing: counts
            if rng.random() < 0.2:
                kinds = [("auth", amount, None), ("reversal", amount, clearing_id)]  # does not
            for kind, value, linked_to in kinds:
                when = at if linked_to is None else at + timedelta(days=rng.randrange(0, 4))
                events.append(
                    {
                        "id": next_id,
                        "source": "network",
                        "external_id": f"e{next_id}",
                        "kind": kind,
                        "card_id": m,
                        "member_id": m,
                        "merchant_id": merchant,
                        "amount": value,
                        "currency": currency,
                        "occurred_at": when,
                        "channel": "in_store",
                        "linked_event_id": linked_to,
                        "outcome": "no_offer",
                        "decisions_json": "[]",
                        "ingested_at": when,
                    }
                )
                reverses_clearing = kind == "reversal" and kinds[0][0] == "clearing"
                facts.append((m, kind, merchant, currency, value, when, reverses_clearing))
                next_id += 1
    return members, cards, events, facts


def _expected(members: list[dict], facts) -> tuple[GroupMoments, GroupMoments]:
    """The per-member definition, in Python: spend at the brand in the currency, cleared
    less refunds and reversals of clearings, per period; every member linked before the end,
    split by `in_holdout`."""

    def spend(member_id: int, start: datetime, end: datetime) -> int:
        total = 0
        for m, kind, merchant, currency, amount, at, reverses_clearing in facts:
            if m != member_id or merchant != 2 or currency != "USD" or not start <= at < end:
                continue
            if kind == "clearing":
                total += amount
            elif kind == "refund" or reverses_clearing:
                total -= amount
        return total

    groups: dict[bool, tuple[list[int], list[int]]] = {True: ([], []), False: ([], [])}
    for member in members:
        if member["created_at"] >= END:
            continue
        ys, xs = groups[in_holdout(OFFER.offer_id, member["id"], OFFER.holdout_bps)]
        ys.append(spend(member["id"], START, END))
        xs.append(spend(member["id"], PRE_START, PRE_END))
    return GroupMoments.of(*groups[False]), GroupMoments.of(*groups[True])


def test_the_database_sums_what_the_per_member_definition_gives(engine) -> None:
    members, cards, events, facts = _world(random.Random(2026))
    with engine.begin() as conn:
        conn.execute(insert(Member.__table__), members)
        conn.execute(insert(Card.__table__), cards)
        conn.execute(insert(CardEventRow.__table__), events)
    with engine.connect() as conn:
        got = repo.holdout_moments(
            conn, OFFER, start=START, end=END, pre_start=PRE_START, pre_end=PRE_END
        )
    treatment, control = _expected(members, facts)
    assert got == (treatment, control)
    # the world is not degenerate: both groups, spenders and members who spent nothing
    assert control.n > 50 and treatment.n > 200 and treatment.n + control.n < MEMBERS
    assert treatment.sum_y > 0 and control.sum_x > 0


def _plan_nodes(plan: dict) -> list[dict]:
    return [plan, *(n for child in plan.get("Plans", ()) for n in _plan_nodes(child))]


def test_the_sums_read_the_brand_and_card_indexes_not_rows(engine) -> None:
    """At ten million events a row read is a random page read: the brand's events in both
    periods and each spender's "linked before the end" are answered by indexes alone (on
    SQLite the card probe; SQLite has no INCLUDE, so its brand range reads rows)."""
    members, cards, events, _ = _world(random.Random(7))
    with engine.begin() as conn:
        conn.execute(insert(Member.__table__), members)
        conn.execute(insert(Card.__table__), cards)
        conn.execute(insert(CardEventRow.__table__), events)
    if engine.dialect.name == "postgresql":  # the visibility map that index-only scans need
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    sums: list[tuple[str, object]] = []

    def capture(_conn, _cursor, sql, parameters, _context, _many) -> None:
        if "card_event" in sql:
            sums.append((sql, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as conn:
            repo.holdout_moments(
                conn, OFFER, start=START, end=END, pre_start=PRE_START, pre_end=PRE_END
            )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(sql, parameters)] = sums
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            # 400 members fit a page or two, where a bitmap or a scan is as good as any
            # plan: ask what the indexes can answer alone, as at ten million events.
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute("SET LOCAL enable_bitmapscan = off")
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, parameters)
            nodes = _plan_nodes(cur.fetchall()[0][0][0]["Plan"])
            reads = {(n["Node Type"], n.get("Index Name")) for n in nodes if "Index Name" in n}
            fetched = sum(n.get("Heap Fetches", 0) for n in nodes)
            assert ("Index Only Scan", "ix_card_event_merchant_occurred") in reads, reads
            assert ("Index Only Scan", "ix_card_member_created") in reads, reads
            assert not any(n["Node Type"] == "Seq Scan" for n in nodes)
            assert fetched == 0
        else:
            plan = "\n".join(r[-1] for r in cur.execute("EXPLAIN QUERY PLAN " + sql, parameters))
            assert "SEARCH card USING COVERING INDEX ix_card_member_created" in plan, plan
            assert "SEARCH card_event USING INDEX ix_card_event_merchant_occurred" in plan, plan
    finally:
        raw.rollback()
        raw.close()
