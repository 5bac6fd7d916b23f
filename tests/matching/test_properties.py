"""Property tests: rounding against an independent oracle, and the stacking rule."""

from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from matching.events import EventRejected, Source, parse_event
from matching.match import Reason, match
from matching.money import CURRENCY_EXPONENTS, apply_bps, decimal_to_minor, round_half_even
from matching.offers import OfferRules, RewardType
from tests.matching.factories import JAN_1, make_ctx, make_event, make_offer

BIG = 10**30


@given(st.integers(-BIG, BIG), st.integers(1, BIG))
def test_round_half_even_matches_decimal(numerator: int, denominator: int) -> None:
    # 200 digits are exact enough: a quotient of these sizes that is not a tie differs from
    # the nearest half-integer by at least 1 / (2 x 10^30).
    with localcontext() as ctx:
        ctx.prec = 200
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_EVEN
        )
    assert round_half_even(numerator, denominator) == int(expected)


@given(st.integers(-(10**15), 10**15), st.integers(0, 100_000))
def test_apply_bps_is_within_half_a_unit_of_the_exact_value(amount: int, bps: int) -> None:
    exact = Fraction(amount * bps, 10_000)
    assert abs(apply_bps(amount, bps) - exact) <= Fraction(1, 2)


@given(st.integers(-(10**18), 10**18), st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_decimal_to_minor_round_trips(minor: int, currency: str) -> None:
    major = Decimal(minor).scaleb(-CURRENCY_EXPONENTS[currency])
    assert decimal_to_minor(major, currency) == minor
    assert decimal_to_minor(str(major), currency) == minor


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "external_id",
                "kind",
                "card_id",
                "amount",
                "currency",
                "occurred_at",
                "mid",
                "channel",
                "original_external_id",
                "brand_hint",
                "other",
            ]
        ),
        st.one_of(st.none(), st.text(max_size=30), st.integers(), st.floats(), st.booleans()),
    )
)
@settings(max_examples=300)
def test_parse_event_either_parses_or_rejects(raw: dict[str, object]) -> None:  # fmt: skip
    try:
        event = parse_event(raw, Source.NETWORK)
    except EventRejected as error:
        assert error.field and error.reason and error.detail
    else:
        assert event.amount > 0 and event.occurred_at.utcoffset() == timedelta(0)


offer_strategy = st.builds(
    lambda offer_id, percent, rate_bps, fixed_amount, age_days, cap: make_offer(
        offer_id=offer_id,
        reward_type=RewardType.PERCENT if percent else RewardType.FIXED,
        rate_bps=rate_bps,
        reward_amount=fixed_amount,
        max_reward_amount=cap,
        created_at=JAN_1 - timedelta(days=age_days),
    ),
    offer_id=st.integers(1, 10**6),
    percent=st.booleans(),
    rate_bps=st.integers(0, 3_000),
    fixed_amount=st.integers(0, 2_000),
    age_days=st.integers(0, 3),
    cap=st.none() | st.integers(0, 1_500),
)


@given(
    st.lists(offer_strategy, min_size=1, max_size=8, unique_by=lambda o: o.offer_id),
    st.integers(1, 100_000),
)
def test_winner_has_the_highest_qualifying_reward(offers: list[OfferRules], amount: int) -> None:
    event = make_event(amount=amount)
    alone = {o.offer_id: match(event, [o], make_ctx()).decisions[0] for o in offers}
    qualifying = [o for o in offers if alone[o.offer_id].qualified]
    result = match(event, offers, make_ctx())
    if not qualifying:
        assert result.winner is None
        return
    best = max(alone[o.offer_id].reward_amount for o in qualifying)
    assert result.winner is not None
    assert result.winner.reward_amount == best
    tied = [o for o in qualifying if alone[o.offer_id].reward_amount == best]
    newest = max(tied, key=lambda o: (o.created_at, o.offer_id))
    assert result.winner.offer_id == newest.offer_id
    reasons = [d.reason for d in result.decisions]
    assert reasons.count(Reason.QUALIFIED) == 1
    assert reasons.count(Reason.OUTBID) == len(qualifying) - 1
    paid = sum(d.reward_amount for d in result.decisions)
    assert paid == result.winner.reward_amount
