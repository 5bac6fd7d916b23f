"""The reward lifecycle with the numbers written out, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from matching.lifecycle import RewardTerms, after_refund
from settlement.ledger.accounts import AccountDirectory
from settlement.ledger.check import check_ledger
from settlement.maturation import expire_stale_auths, mature_due
from settlement.rewards import RewardBook, RewardRecord, RewardState, RewardStateError

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def record(
    *,
    reward_id: int = 1,
    spend: int = 4_000,
    reward: int = 200,
    commission: int = 50,
    state: RewardState = RewardState.AUTHORIZED,
    hold_days: int = 30,
    member_id: int = 7,
    merchant_id: int = 3,
) -> RewardRecord:
    return RewardRecord(
        id=reward_id,
        member_id=member_id,
        offer_id=11,
        merchant_id=merchant_id,
        currency="USD",
        state=state,
        auth_event_id=None,
        clearing_event_id=None,
        spend_amount=spend,
        reward_amount=reward,
        commission_amount=commission,
        occurred_at=T0,
        hold_days=hold_days,
    )


def balances(engine) -> dict[str, tuple[int, int]]:
    with engine.connect() as conn:
        return {
            code: (posted, pending)
            for code, posted, pending in conn.execute(
                text("SELECT code, posted_amount, pending_amount FROM ledger_account")
            )
        }


def run(engine, directory, fn):
    """One unit of work with a fresh book; returns what fn returns."""
    with engine.begin() as conn:
        book = RewardBook(now=T0)
        out = fn(conn, book)
        book.flush(conn, directory)
        return out


def load(conn, book, reward_id=1) -> RewardRecord:
    return book.load(conn, {reward_id})[reward_id]


def assert_balanced(engine) -> None:
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert report.balanced, report.lines()


def test_auth_is_pending_then_clearing_at_same_amount_posts_it(engine):
    d = AccountDirectory()
    run(engine, d, lambda c, b: b.open(record(), event_id=100, auth_expiry_days=7))
    assert balances(engine)["member:7:pending:USD"] == (0, 200)  # not cleared: pending entry
    assert balances(engine)["merchant:3:receivable:USD"] == (0, -250)
    run(
        engine,
        d,
        lambda c, b: b.clear(load(c, b), RewardTerms(4_000, 200, 50), event_id=101, at=T0),
    )
    assert balances(engine) == {
        "merchant:3:receivable:USD": (-250, 0),
        "member:7:pending:USD": (200, 0),
        "platform:revenue:USD": (50, 0),
    }
    assert_balanced(engine)


def test_clearing_with_a_tip_recomputes_on_the_cleared_amount(engine):
    # Auth $40.00 -> 200 at 5%; cleared $46.00 with the tip -> 230, commission 230*2000/8000
    # = 57.5 -> 58 (half-even); the pending entry is voided and a posted one written.
    d = AccountDirectory()
    run(engine, d, lambda c, b: b.open(record(), event_id=100, auth_expiry_days=7))
    delta = run(
        engine,
        d,
        lambda c, b: b.clear(load(c, b), RewardTerms(4_600, 230, 58), event_id=101, at=T0),
    )
    assert delta == 30
    assert balances(engine) == {
        "merchant:3:receivable:USD": (-288, 0),
        "member:7:pending:USD": (230, 0),
        "platform:revenue:USD": (58, 0),
    }
    assert_balanced(engine)


def test_auth_and_clearing_in_the_same_unit_of_work(engine):
    d = AccountDirectory()

    def both(conn, book):
        rec = record()
        book.open(rec, event_id=100, auth_expiry_days=7)
        book.clear(rec, RewardTerms(4_000, 200, 50), event_id=101, at=T0)

    run(engine, d, both)
    assert balances(engine)["member:7:pending:USD"] == (200, 0)
    assert_balanced(engine)


def test_reversal_voids_the_pending_reward(engine):
    d = AccountDirectory()
    run(engine, d, lambda c, b: b.open(record(), event_id=100, auth_expiry_days=7))
    released = run(engine, d, lambda c, b: b.void(load(c, b), reason="reversed", at=T0))
    assert released == 200
    assert set(balances(engine).values()) == {(0, 0)}
    assert_balanced(engine)


def test_auth_never_cleared_expires_after_auth_expiry_days(engine):
    d = AccountDirectory()
    run(engine, d, lambda c, b: b.open(record(), event_id=100, auth_expiry_days=7))
    assert expire_stale_auths(engine, T0 + timedelta(days=6, hours=23)).expired_count == 0
    result = expire_stale_auths(engine, T0 + timedelta(days=7))
    assert (result.expired_count, result.released_amount) == (1, 200)
    assert set(balances(engine).values()) == {(0, 0)}
    assert_balanced(engine)


def test_partial_refund_claws_back_its_share(engine):
    # Cleared $40.00, reward 200, commission 50. Refund $10.00 = 1/4: claw 50 and 12.5 -> 12.
    d = AccountDirectory()
    run(
        engine,
        d,
        lambda c, b: b.open(record(state=RewardState.CLEARED), event_id=100, auth_expiry_days=7),
    )
    claw = run(
        engine, d, lambda c, b: b.refund(load(c, b), refund_amount=1_000, event_id=102, at=T0)
    )
    assert (claw.reward_amount, claw.commission_amount) == (50, 12)
    assert balances(engine) == {
        "merchant:3:receivable:USD": (-188, 0),
        "member:7:pending:USD": (150, 0),
        "platform:revenue:USD": (38, 0),
    }
    assert_balanced(engine)


def test_refunds_never_claw_back_more_than_was_earned():
    # Three refunds of $15.00 on a $40.00 purchase: 45 > 40, so the last one is capped.
    terms = record(state=RewardState.CLEARED).terms
    for refund in (1_500, 1_500, 1_500):
        terms = after_refund(terms, refund)
    assert [terms.refunded_spend_amount, terms.clawed_reward_amount] == [4_000, 200]


@given(
    spend=st.integers(1, 1_000_000),
    reward=st.integers(0, 100_000),
    refunds=st.lists(st.integers(1, 1_000_000), min_size=1, max_size=8),
)
def test_property_clawback_never_exceeds_earned(spend, reward, refunds):
    terms = record(state=RewardState.CLEARED, spend=spend, reward=reward, commission=reward // 4)
    terms = terms.terms
    for refund in refunds:
        before = terms
        terms = after_refund(terms, refund)
        assert terms.clawed_reward_amount >= before.clawed_reward_amount
        assert terms.clawed_commission_amount >= before.clawed_commission_amount
    assert terms.clawed_reward_amount <= reward
    assert terms.clawed_commission_amount <= reward // 4
    if terms.refunded_spend_amount == spend:
        assert terms.clawed_reward_amount == reward  # a full refund takes back all it earned


def test_maturity_moves_pending_to_available_after_hold_days(engine):
    d = AccountDirectory()
    run(
        engine,
        d,
        lambda c, b: b.open(
            record(state=RewardState.CLEARED, hold_days=30), event_id=100, auth_expiry_days=7
        ),
    )
    assert mature_due(engine, T0 + timedelta(days=29)).matured_count == 0
    result = mature_due(engine, T0 + timedelta(days=30))
    assert (result.matured_count, result.matured_amount) == (1, 200)
    assert balances(engine)["member:7:pending:USD"] == (0, 0)
    assert balances(engine)["member:7:available:USD"] == (200, 0)
    assert mature_due(engine, T0 + timedelta(days=31)).matured_count == 0  # once only
    assert_balanced(engine)


def test_refund_after_maturity_takes_from_available_and_records_the_shortfall(engine):
    # 200 matured and the member withdrew 120 of it. A full refund of the $40.00 claws back
    # 200: the 80 still available is taken, the other 120 becomes a recovery balance.
    from settlement.ledger.accounts import AccountKind
    from settlement.ledger.writer import Entry, EntryStatus, Posting, post_entry

    d = AccountDirectory()
    run(
        engine,
        d,
        lambda c, b: b.open(
            record(state=RewardState.CLEARED, hold_days=0), event_id=100, auth_expiry_days=7
        ),
    )
    mature_due(engine, T0)
    with engine.begin() as conn:  # the member withdrew 120 of the 200
        post_entry(
            conn,
            d,
            Entry(
                "payout:1",
                "payout",
                EntryStatus.POSTED,
                "USD",
                (
                    Posting(AccountKind.MEMBER_AVAILABLE, 7, -120),
                    Posting(AccountKind.PLATFORM_PAYOUTS_IN_TRANSIT, None, 120),
                ),
                T0,
            ),
            T0,
        )
    claw = run(
        engine, d, lambda c, b: b.refund(load(c, b), refund_amount=4_000, event_id=103, at=T0)
    )
    assert (claw.reward_amount, claw.commission_amount) == (200, 50)
    b = balances(engine)
    assert b["member:7:available:USD"] == (0, 0)  # 80 taken, never negative
    assert b["member:7:recovery:USD"] == (-120, 0)  # the member owes the other 120
    assert b["merchant:3:receivable:USD"] == (0, 0)
    assert b["platform:revenue:USD"] == (0, 0)
    assert_balanced(engine)


def test_refund_before_clearing_shrinks_the_pending_reward(engine):
    # Auth $40.00 (200 / 50); a $20.00 refund before clearing leaves 100 / 25 pending. The
    # reward keeps the purchase as priced and what was refunded of it, so the clearing can
    # price the purchase net of the refund.
    d = AccountDirectory()
    run(engine, d, lambda c, b: b.open(record(), event_id=100, auth_expiry_days=7))
    run(engine, d, lambda c, b: b.refund(load(c, b), refund_amount=2_000, event_id=104, at=T0))
    assert balances(engine)["member:7:pending:USD"] == (0, 100)
    assert balances(engine)["platform:revenue:USD"] == (0, 25)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT state, spend_amount, refunded_spend_amount, clawed_reward_amount "
                "FROM reward"
            )
        ).one()
    assert tuple(row) == ("authorized", 4_000, 2_000, 100)
    assert_balanced(engine)


ALLOWED_FROM = {
    "clear": {RewardState.AUTHORIZED, RewardState.VOIDED},
    "refund": set(RewardState),
    "void": {RewardState.AUTHORIZED},
    "mature": {RewardState.CLEARED},
}


def transition(conn, book, rec, action, amount, i):
    if action == "clear":
        terms = RewardTerms(amount, amount // 20, amount // 80)
        book.clear(rec, terms, event_id=10_000 + i, at=T0)
    elif action == "void":
        book.void(rec, reason="reversed", at=T0)
    else:
        book.mature(rec, at=T0)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["clear", "refund", "void", "mature"]), st.integers(1, 5_000)),
        max_size=6,
    )
)
def test_property_any_lifecycle_keeps_the_ledger_balanced(engine, steps):
    d = AccountDirectory()
    with engine.connect() as conn:
        next_id = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM reward")).scalar_one() + 1
    run(
        engine,
        d,
        lambda c, b: b.open(record(reward_id=next_id), event_id=next_id, auth_expiry_days=7),
    )
    for i, (action, amount) in enumerate(steps):

        def step(conn, book, action=action, amount=amount, i=i):
            rec = load(conn, book, next_id)
            allowed = ALLOWED_FROM[action]
            if action == "refund":
                book.refund(rec, refund_amount=amount, event_id=next_id * 100 + i, at=T0)
                return
            if rec.state not in allowed:
                # A wrong-state transition is a caller's bug, and says so.
                with pytest.raises(RewardStateError):
                    transition(conn, book, rec, action, amount, i)
                return
            transition(conn, book, rec, action, amount, i)

        run(engine, d, step)
    assert_balanced(engine)
