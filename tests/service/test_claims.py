"""Missing-cashback claims, worked through on SQLite and PostgreSQL.

The numbers: a $40.00 purchase at Blue Bottle on a 5% offer with 20% commission on the
reward, never seen by the feed. Its claim, accepted, books cashback 200 (4000 x 5%), commission
50 (200 x 2000 / (10000 - 2000)), so the member's pending cashback is +200 and the merchant
owes 250; the week's statement line shows the 250 as a manual adjustment. The real auth for
the purchase arriving two days later earns nothing (no_reward, claimed): balances unchanged.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from service.attribution.repository import reward_totals
from service.auth import Principal, Role
from service.claims import service
from service.claims.limits import ClaimLimiter
from service.claims.schemas import ClaimCreate, ClaimDecision
from service.claims.tables import Claim
from service.problems import Conflict, InvalidInput, NotFound, TooManyRequests
from service.tables import CardEventRow
from settlement.outbox import OutboxEvent
from settlement.runs.periods import iso_week
from settlement.runs.ports import Ports
from settlement.runs.runner import RunSettings, SettlementRunner
from settlement.runs.statements import line_kinds
from settlement.runs.tables import SettlementStatementLine
from tests.service.pipeline_world import T0, PipelineWorld
from tests.settlement.test_booking_time import Billing, Payouts

DAY = timedelta(days=1)
SHOWN = ("qualified_count", "spend_amount", "cashback_amount", "commission_amount", "net_amount")
MEMBER_1 = Principal(101, Role.MEMBER, member_id=1)
MEMBER_2 = Principal(102, Role.MEMBER, member_id=2)
MERCHANT_1 = Principal(201, Role.MERCHANT, merchant_id=1)
MERCHANT_2 = Principal(202, Role.MERCHANT, merchant_id=2)
ADMIN = Principal(1, Role.ADMIN)
MEMBER_PENDING = "member:1:pending:USD"
RECEIVABLE = "merchant:1:receivable:USD"
REVENUE = "platform:revenue:USD"


def claim_body(**fields) -> ClaimCreate:
    body = {
        "merchant_id": 1,
        "purchase_date": T0.date().isoformat(),
        "amount": 4_000,
        "currency": "USD",
        "card_last4": "4242",
        **fields,
    }
    return ClaimCreate.model_validate(body)


def file(world, principal=MEMBER_1, member_id=1, key="k1", limiter=None, **fields) -> Claim:
    with Session(world.engine) as session:
        filed = service.file_claim(
            session,
            principal,
            member_id,
            claim_body(**fields),
            key,
            limiter=limiter or ClaimLimiter("100/hour"),
            now=T0 + DAY,
        )
        session.commit()
        session.refresh(filed.claim)
        return filed.claim


def decide(world, claim_id: int, decision="accept", principal=MERCHANT_1, reason="", at=T0 + DAY):
    with Session(world.engine) as session:
        claim, changed = service.decide_claim(
            session,
            principal,
            claim_id,
            ClaimDecision(decision=decision, reason=reason),
            actor="staff:1",
            now=at,
        )
        session.commit()
        session.refresh(claim)
        return claim, changed


def outbox_claims(world) -> list[tuple]:
    t = OutboxEvent.__table__
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(t.c.type, t.c.member_id, t.c.merchant_id, t.c.amount_minor, t.c.data).where(
                t.c.type == "claim.decided"
            )
        ).all()
    return [tuple(r) for r in rows]


@pytest.fixture
def world(engine) -> PipelineWorld:
    w = PipelineWorld(engine)
    w.member(member_id=1)
    w.member(member_id=2)
    w.offer(offer_id=10)  # 5% cashback, 20% commission on the reward
    return w


def test_accepted_claim_books_200_pending_250_owed_and_the_real_auth_pays_nothing(world):
    claim = file(world)
    assert (claim.status, claim.spend_amount) == ("submitted", 4_000)

    accepted, changed = decide(world, claim.id)
    assert changed and (accepted.status, accepted.reason) == ("accepted", "accepted")
    assert (accepted.offer_id, accepted.reward_amount) == (10, 200)
    balances = world.balances()
    assert balances[MEMBER_PENDING] == (200, 0)
    assert balances[RECEIVABLE] == (-250, 0)  # the merchant owes 2.50
    assert balances[REVENUE] == (50, 0)
    assert outbox_claims(world) == [
        (
            "claim.decided",
            1,
            1,
            200,
            f'{{"claim_id":{claim.id},"reason":"accepted","status":"accepted"}}',
        )
    ]

    # The real auth for the same purchase, two days later and $1.50 more (a tip): no reward.
    outcome = world.ingest(world.event(card=1, amount=4_150, ext="a1", at=T0 + 2 * DAY))
    assert (outcome[0].outcome, outcome[0].reason) == ("no_reward", "claimed")
    # ... and its clearing neither.
    cleared = world.ingest(
        world.event("clearing", card=1, amount=4_150, ext="c1", original="a1", at=T0 + 3 * DAY)
    )
    assert cleared[0].outcome == "no_reward"
    assert world.balances() == balances
    world.assert_balanced()
    with world.engine.connect() as conn:
        event_id = conn.execute(
            select(CardEventRow.__table__.c.id).where(CardEventRow.__table__.c.external_id == "a1")
        ).scalar_one()
        matched = conn.execute(
            select(Claim.__table__.c.matched_event_id).where(Claim.__table__.c.id == claim.id)
        ).scalar_one()
    assert matched == event_id

    # A second purchase of the same amount is a new purchase: it earns as usual.
    again = world.ingest(world.event(card=1, amount=4_000, ext="a2", at=T0 + 3 * DAY))
    assert (again[0].outcome, again[0].reward_amount) == ("rewarded", 200)


def test_the_statement_shows_the_claim_as_a_manual_adjustment(world):
    claim = file(world)
    decide(world, claim.id)
    world.ingest(world.event("clearing", card=2, amount=2_000, ext="c2", at=T0))  # 100 + 25
    runner = SettlementRunner(world.engine, Ports(Billing(), Payouts()), RunSettings())
    outcome = runner.settle(iso_week("2026-W41"), T0 + 8 * DAY)
    assert outcome.status == "closed"
    lines = SettlementStatementLine.__table__
    with world.engine.connect() as conn:
        line = conn.execute(select(lines).where(lines.c.run_id == outcome.run_id)).one()
    assert (line.qualified_count, line.spend_amount) == (2, 6_000)
    assert (line.cashback_amount, line.commission_amount, line.net_amount) == (300, 75, 375)
    assert (
        line.manual_count,
        line.manual_spend_amount,
        line.manual_cashback_amount,
        line.manual_commission_amount,
    ) == (1, 4_000, 200, 50)
    # Shown as two kinds of line that add up to it: the feed's purchase, the claim's 250.
    kinds = {kind: figures for kind, figures in line_kinds(line._mapping)}
    assert list(kinds) == ["purchases", "manual_adjustment"]
    assert [kinds["purchases"][k] for k in SHOWN] == [1, 2_000, 100, 25, 125]
    assert [kinds["manual_adjustment"][k] for k in SHOWN] == [1, 4_000, 200, 50, 250]
    # Attribution flags the claim's reward as a manual adjustment among the qualified events.
    week = iso_week("2026-W41")
    with world.engine.connect() as conn:
        totals = reward_totals(conn, [10], week.start, week.end)[10]
    assert (totals.qualified_events, totals.manual_events) == (2, 1)


def test_accepting_twice_books_once(world):
    claim = file(world)
    decide(world, claim.id)
    again, changed = decide(world, claim.id, principal=ADMIN)
    assert not changed and again.status == "accepted"
    assert world.balances()[MEMBER_PENDING] == (200, 0)
    assert len(outbox_claims(world)) == 1
    with pytest.raises(Conflict) as refused:
        decide(world, claim.id, "decline", reason="no receipt")
    assert (refused.value.field, refused.value.reason) == ("decision", "already_decided")


def test_claim_against_an_exhausted_budget_is_declined_with_the_reason(world):
    world.offer(offer_id=11, merchant_id=2, budget_amount=200)
    # Member 2's $40.00 purchase takes the whole budget of 200.
    world.ingest(world.event(card=2, amount=4_000, ext="b1", mid="MID-OT-1"))
    claim = file(world, merchant_id=2)
    declined, _ = decide(world, claim.id, principal=MERCHANT_2)
    assert (declined.status, declined.reason, declined.reward_id) == (
        "declined",
        "budget_exhausted",
        None,
    )
    assert MEMBER_PENDING not in world.balances()
    assert outbox_claims(world)[0][4].endswith('"reason":"budget_exhausted","status":"declined"}')


def test_claim_over_the_member_cap_is_declined_with_the_reason(world):
    world.offer(offer_id=11, merchant_id=2, member_max_rewards=1)
    world.ingest(world.event(card=1, amount=4_000, ext="b1", mid="MID-OT-1", at=T0 - DAY))
    claim = file(world, merchant_id=2)
    declined, _ = decide(world, claim.id, principal=MERCHANT_2)
    assert (declined.status, declined.reason) == ("declined", "member_cap_reached")


def test_declining_needs_a_reason_the_member_sees(world):
    claim = file(world)
    with pytest.raises(InvalidInput) as missing:
        decide(world, claim.id, "decline")
    assert (missing.value.field, missing.value.reason) == ("reason", "required")
    declined, _ = decide(world, claim.id, "decline", reason="The receipt is from another shop")
    assert (declined.status, declined.decision_note) == (
        "declined",
        "The receipt is from another shop",
    )
    assert MEMBER_PENDING not in world.balances()


def test_purchase_outside_every_offer_window_is_refused_and_kept(world):
    claim = file(world, purchase_date=(T0 - 40 * DAY).date().isoformat())  # offer from T0-30
    assert (claim.status, claim.reason) == ("refused", "no_offer_in_window")
    # An offer that needs activation counts only when activated by the purchase day.
    world.offer(offer_id=11, merchant_id=2, activation_required=True)
    assert file(world, key="k2", merchant_id=2).reason == "no_offer_in_window"
    world.activate(1, 11, T0 - DAY)
    assert file(world, key="k3", merchant_id=2).status == "submitted"


def test_the_same_key_returns_the_first_claim_and_another_body_is_a_conflict(world):
    first = file(world)
    assert file(world).id == first.id
    with pytest.raises(Conflict) as reused:
        file(world, amount=5_000)
    assert reused.value.field == "Idempotency-Key"


def test_claims_are_rate_limited_per_member(world):
    limiter = ClaimLimiter("2/hour")
    file(world, key="k1", limiter=limiter)
    file(world, key="k2", limiter=limiter, amount=1_000)
    with pytest.raises(TooManyRequests) as limited:
        file(world, key="k3", limiter=limiter, amount=2_000)
    assert limited.value.reason == "too_many_claims"
    file(world, principal=MEMBER_2, member_id=2, key="k1", limiter=limiter)  # another member


def test_tenants_are_walls(world):
    claim = file(world)
    # Only the member's own cards: member 2's card also ends in 4242, but it is not member 1's.
    with pytest.raises(InvalidInput) as card:
        file(world, key="k2", card_last4="1111")
    assert (card.value.field, card.value.reason) == ("card_last4", "card_not_found")
    # Another member cannot file for member 1, nor read its claim.
    with pytest.raises(NotFound):
        file(world, principal=MEMBER_2, member_id=1, key="x")
    with Session(world.engine) as session:
        with pytest.raises(NotFound):
            service.claim_in_scope(session, MEMBER_2, claim.id)
        with pytest.raises(NotFound):
            service.claim_in_scope(session, MERCHANT_2, claim.id)
    # Another merchant cannot decide it; a member cannot decide its own.
    for principal in (MERCHANT_2, MEMBER_1):
        with pytest.raises(NotFound):
            decide(world, claim.id, principal=principal)
    assert MEMBER_PENDING not in world.balances()
