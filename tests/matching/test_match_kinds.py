"""Stamp cards, spend thresholds and stacking (one reward per event)."""

from dataclasses import replace
from datetime import timedelta

from matching.match import Decision, MatchContext, MemberOfferState, Reason, match
from matching.offers import OfferKind, OfferRules, RewardType
from tests.matching.factories import JAN_1, MONDAY_NOON_NY, make_ctx, make_event, make_offer

COFFEE_CARD = make_offer(
    offer_id=1,
    kind=OfferKind.STAMP_CARD,
    stamp_every_n=3,
    reward_type=RewardType.FIXED,
    reward_amount=450,  # every 3rd coffee free: $4.50
)
SPEND_100_GET_10 = make_offer(
    offer_id=1,
    kind=OfferKind.SPEND_THRESHOLD,
    threshold_amount=10_000,
    reward_type=RewardType.FIXED,
    reward_amount=1_000,
)


def apply_counters(state: MemberOfferState, decision: Decision) -> MemberOfferState:
    """What the caller stores after an event, as the ingest pipeline does."""
    return replace(
        state,
        reward_count=state.reward_count + int(decision.qualified),
        reward_amount=state.reward_amount + decision.reward_amount,
        stamp_count=state.stamp_count + int(decision.stamp_counted),
        threshold_spend_amount=state.threshold_spend_amount + decision.threshold_spend_counted,
        threshold_paid=state.threshold_paid
        or (decision.qualified and decision.threshold_spend_counted > 0),
    )


def run_visits(offer: OfferRules, amounts: list[int]) -> list[Decision]:
    state = MemberOfferState()
    decisions = []
    for visit, amount in enumerate(amounts):
        event = make_event(amount=amount, occurred_at=MONDAY_NOON_NY + timedelta(days=visit))
        (decision,) = match(
            event, [offer], make_ctx(offer_states={offer.offer_id: state})
        ).decisions
        decisions.append(decision)
        state = apply_counters(state, decision)
    return decisions


def test_stamp_card_pays_every_3rd_visit() -> None:
    decisions = run_visits(COFFEE_CARD, [500] * 9)
    assert [d.reason for d in decisions] == [
        Reason.STAMP_PROGRESS, Reason.STAMP_PROGRESS, Reason.QUALIFIED,
    ] * 3  # fmt: skip
    assert [d.reward_amount for d in decisions] == [0, 0, 450] * 3
    assert all(d.stamp_counted for d in decisions)
    # 20% of what the merchant pays: 450 x 2,000 / 8,000 = 112.5 -> 112 (half-even)
    assert decisions[2].commission_amount == 112


def test_stamp_card_visit_below_min_spend_earns_no_stamp() -> None:
    offer = replace(COFFEE_CARD, min_spend_amount=300)
    decisions = run_visits(offer, [500, 200, 500, 500])
    assert [d.reason for d in decisions] == [
        Reason.STAMP_PROGRESS, Reason.BELOW_MIN_SPEND, Reason.STAMP_PROGRESS, Reason.QUALIFIED,
    ]  # fmt: skip
    assert [d.stamp_counted for d in decisions] == [True, False, True, True]


def test_spend_threshold_100_dollars_pays_10_dollars_once() -> None:
    # $40 + $40 = $80 (progress), + $30 = $110 >= $100 -> pays $10; after that, never again
    decisions = run_visits(SPEND_100_GET_10, [4_000, 4_000, 3_000, 9_000])
    assert [d.reason for d in decisions] == [
        Reason.THRESHOLD_PROGRESS, Reason.THRESHOLD_PROGRESS, Reason.QUALIFIED,
        Reason.THRESHOLD_ALREADY_PAID,
    ]  # fmt: skip
    assert [d.reward_amount for d in decisions] == [0, 0, 1_000, 0]
    assert [d.threshold_spend_counted for d in decisions] == [4_000, 4_000, 3_000, 0]


def test_spend_threshold_reached_exactly() -> None:
    decisions = run_visits(SPEND_100_GET_10, [6_000, 4_000])
    assert [d.reason for d in decisions] == [Reason.THRESHOLD_PROGRESS, Reason.QUALIFIED]


def test_percent_threshold_pays_on_the_spend_that_reached_it() -> None:
    # 5% once $100 is reached: $40 + $70 = $110 -> 5% of 11,000 = 550
    offer = replace(SPEND_100_GET_10, reward_type=RewardType.PERCENT, rate_bps=500)
    decisions = run_visits(offer, [4_000, 7_000])
    assert decisions[1].reward_amount == 550


def test_highest_reward_wins_and_the_rest_are_outbid() -> None:
    # $40.00: 5% = 200 cents versus a fixed $3.00 = 300 cents
    five_percent = make_offer(offer_id=1)
    three_dollars = make_offer(offer_id=2, reward_type=RewardType.FIXED, reward_amount=300)
    result = match(make_event(), [five_percent, three_dollars], make_ctx())
    assert result.winner is not None
    assert (result.winner.offer_id, result.winner.reward_amount) == (2, 300)
    assert result.winner.commission_amount == 75  # 300 x 2,000 / 8,000: merchant pays 375
    outbid = result.decisions[0]
    assert (outbid.offer_id, outbid.reason, outbid.reward_amount) == (1, Reason.OUTBID, 0)
    assert outbid.commission_amount == 0
    assert [d.offer_id for d in result.decisions] == [1, 2]  # candidate order kept
    assert result.decision_for(2) is result.winner


def test_tie_goes_to_the_newest_offer() -> None:
    older = make_offer(offer_id=7, created_at=JAN_1)
    newer = make_offer(offer_id=3, created_at=JAN_1 + timedelta(days=1))
    for order in ([older, newer], [newer, older]):
        winner = match(make_event(), order, make_ctx()).winner
        assert winner is not None and winner.offer_id == 3


def test_tie_on_created_at_goes_to_the_larger_offer_id() -> None:
    offers = [make_offer(offer_id=4), make_offer(offer_id=9), make_offer(offer_id=6)]
    result = match(make_event(), offers, make_ctx())
    assert result.winner is not None and result.winner.offer_id == 9
    assert [d.reason for d in result.decisions] == [Reason.OUTBID, Reason.QUALIFIED, Reason.OUTBID]


def test_outbid_stamp_card_does_not_take_the_stamp_but_progress_keeps_its_own() -> None:
    # Coffee card on its 3rd visit would pay 450 but a 2,000 cent fixed offer wins: the card
    # keeps 2 stamps so the next visit pays. Another card on its 1st visit still counts.
    big = make_offer(offer_id=5, reward_type=RewardType.FIXED, reward_amount=2_000)
    other_card = replace(COFFEE_CARD, offer_id=2)
    ctx = make_ctx(offer_states={1: MemberOfferState(stamp_count=2)})
    result = match(make_event(), [COFFEE_CARD, other_card, big], ctx)
    card, progress, winner = result.decisions
    assert (card.reason, card.stamp_counted) == (Reason.OUTBID, False)
    assert (progress.reason, progress.stamp_counted) == (Reason.STAMP_PROGRESS, True)
    assert result.winner == winner and winner.offer_id == 5


def test_outbid_threshold_counts_no_spend() -> None:
    big = make_offer(offer_id=5, reward_type=RewardType.FIXED, reward_amount=5_000)
    ctx = make_ctx(offer_states={1: MemberOfferState(threshold_spend_amount=9_000)})
    result = match(make_event(), [SPEND_100_GET_10, big], ctx)
    threshold = result.decisions[0]
    assert (threshold.reason, threshold.threshold_spend_counted) == (Reason.OUTBID, 0)


def test_no_winner_when_nothing_qualifies() -> None:
    result = match(make_event(), [make_offer(currency="EUR"), make_offer(offer_id=2, rate_bps=0)],
                   make_ctx())  # fmt: skip
    assert result.winner is None
    assert [d.reason for d in result.decisions] == [Reason.CURRENCY_MISMATCH, Reason.ZERO_REWARD]


def test_budget_truncation_can_change_the_winner() -> None:
    # 10% = 400 cents but only 100 left in its budget; 5% = 200 cents wins
    ten_percent = make_offer(offer_id=1, rate_bps=1_000, budget_amount=50_000)
    five_percent = make_offer(offer_id=2)
    ctx = make_ctx(budget_remaining={1: 100})
    result = match(make_event(), [ten_percent, five_percent], ctx)
    assert result.winner is not None and result.winner.offer_id == 2
    assert result.winner.reward_amount == 200


def test_match_works_with_a_context_built_positionally() -> None:
    ctx = MatchContext(1, 0, None, {}, None, {}, {}, {})
    assert match(make_event(), [make_offer()], ctx).winner is not None
