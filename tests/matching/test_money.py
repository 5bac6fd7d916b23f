from decimal import Decimal

import pytest

from matching.money import (
    CURRENCY_EXPONENTS,
    apply_bps,
    currency_exponent,
    decimal_to_minor,
    prorate,
    round_half_even,
)


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("USD", 2), ("EUR", 2), ("GBP", 2), ("ZAR", 2), ("JPY", 0), ("KRW", 0), ("VND", 0),
     ("BHD", 3), ("KWD", 3), ("TND", 3)],
)  # fmt: skip
def test_currency_exponents(currency: str, exponent: int) -> None:
    assert currency_exponent(currency) == exponent
    assert CURRENCY_EXPONENTS[currency] == exponent


@pytest.mark.parametrize("code", ["usd", "XXX", "US", "", "USDD", None])
def test_unknown_or_malformed_currency_is_a_value_error(code: object) -> None:
    with pytest.raises(ValueError, match="unknown currency"):
        currency_exponent(code)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (5, 2, 2),  # 2.5 -> 2 (ties go to the even neighbour)
        (7, 2, 4),  # 3.5 -> 4
        (-5, 2, -2),  # -2.5 -> -2
        (-7, 2, -4),  # -3.5 -> -4
        (3, 2, 2),  # 1.5 -> 2
        (1, 2, 0),  # 0.5 -> 0
        (-1, 2, 0),  # -0.5 -> 0
        (1, 3, 0),  # 0.333 -> 0
        (2, 3, 1),  # 0.667 -> 1
        (-2, 3, -1),  # -0.667 -> -1
        (-1, 3, 0),  # -0.333 -> 0
        (10, 5, 2),  # exact
        (0, 7, 0),
        (10**40 + 5, 10, 10**39),  # big integers stay exact: ...0.5 -> ...0
    ],
)
def test_round_half_even(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_even(numerator, denominator) == expected


@pytest.mark.parametrize("denominator", [0, -1])
def test_round_half_even_needs_a_positive_denominator(denominator: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        round_half_even(1, denominator)


def test_1234_cents_at_333_bps_is_41_cents() -> None:
    # 1234 x 333 / 10,000 = 41.0922 -> 41
    assert apply_bps(1_234, 333) == 41


def test_40_dollars_at_5_percent_is_200_cents() -> None:
    reward_amount = apply_bps(4_000, 500)
    assert reward_amount == 200
    assert apply_bps(reward_amount, 2_000) == 40


@pytest.mark.parametrize(
    ("amount", "bps", "expected"),
    [
        (1, 5_000, 0),  # 0.5 -> 0
        (3, 5_000, 2),  # 1.5 -> 2
        (5, 5_000, 2),  # 2.5 -> 2
        (-5, 5_000, -2),  # -2.5 -> -2
        (1_999, 250, 50),  # 49.975 -> 50
        (10_000, 0, 0),
        (10_000, 10_000, 10_000),
    ],
)
def test_apply_bps(amount: int, bps: int, expected: int) -> None:
    assert apply_bps(amount, bps) == expected


def test_prorate_a_quarter_refund_of_a_200_cent_reward_is_50() -> None:
    # $10.00 refunded of a $40.00 purchase: 200 x 1000 / 4000 = 50
    assert prorate(200, 1_000, 4_000) == 50


def test_prorate_rounds_half_even() -> None:
    assert prorate(333, 1, 2) == 166  # 166.5 -> 166
    assert prorate(335, 1, 2) == 168  # 167.5 -> 168


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("12.50", "USD", 1_250),
        ("12.5", "USD", 1_250),
        ("12", "USD", 1_200),
        ("12.500", "USD", 1_250),  # trailing zeros: still exact
        (" 0.01 ", "USD", 1),
        (Decimal("0.01"), "USD", 1),
        (12, "USD", 1_200),
        ("-3.10", "USD", -310),  # Plaid refunds are negative
        ("0", "USD", 0),
        ("1500", "JPY", 1_500),
        (1500, "JPY", 1_500),
        ("1.5E3", "JPY", 1_500),
        ("12.345", "KWD", 12_345),
        ("0.001", "BHD", 1),
        ("0E+999999999", "USD", 0),
        ("12345678901234567890123456.78", "USD", 1234567890123456789012345678),
    ],
)
def test_decimal_to_minor(value: Decimal | str | int, currency: str, expected: int) -> None:
    assert decimal_to_minor(value, currency) == expected


@pytest.mark.parametrize(
    ("value", "currency", "message"),
    [
        ("12.345", "USD", "decimal places"),
        ("1.5", "JPY", "decimal places"),
        ("12.3456", "KWD", "decimal places"),
        ("1E-999999999", "USD", "decimal places"),
        ("1E+999999999", "USD", "too large"),
        ("NaN", "USD", "finite"),
        ("Infinity", "USD", "finite"),
        (Decimal("-Infinity"), "USD", "finite"),
        ("twelve", "USD", "not a number"),
        ("", "USD", "not a number"),
        ("12.50", "XXX", "unknown currency"),
    ],
)
def test_decimal_to_minor_rejects(value: Decimal | str, currency: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decimal_to_minor(value, currency)


@pytest.mark.parametrize("value", [12.5, True, None])
def test_decimal_to_minor_refuses_floats_and_other_types(value: object) -> None:
    with pytest.raises(TypeError):
        decimal_to_minor(value, "USD")  # type: ignore[arg-type]
