"""Money as integer minor units plus an ISO 4217 currency code.

Every rounding in the engine goes through `round_half_even`, so an amount computed in matching,
in accrual or in settlement is rounded the same way everywhere.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        (
            "USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK",
            "MXN", "BRL", "INR", "SGD", "HKD", "ZAR", "CNY", "ILS", "AED", "SAR", "THB", "MYR",
            "PHP", "TRY", "RON", "HUF", "IDR", "TWD",
        ),
        2,
    ),
    **dict.fromkeys(("JPY", "KRW", "ISK", "CLP", "VND", "PYG", "UGX", "XAF", "XOF"), 0),
    **dict.fromkeys(("BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"), 3),
}  # fmt: skip

# Beyond this many digits a value is a garbled feed, not money; refusing it early also keeps
# a hostile exponent such as "1e999999999" from building an enormous integer.
_MAX_MINOR_DIGITS = 30


def currency_exponent(currency: str) -> int:
    """Number of minor-unit digits of `currency` (2 for USD, 0 for JPY, 3 for KWD)."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise ValueError(f"unknown currency code {currency!r}") from None


def round_half_even(numerator: int, denominator: int) -> int:
    """`numerator / denominator` rounded to the nearest integer, ties to the even neighbour.

    Exact for any size of integer. Half-even rather than half-up so that rounding many
    amounts does not drift systematically in one direction.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    # Floor division keeps the remainder in [0, denominator) for negative numerators too,
    # so one comparison decides the direction for both signs.
    quotient, remainder = divmod(numerator, denominator)
    twice = remainder * 2
    if twice > denominator or (twice == denominator and quotient & 1):
        return quotient + 1
    return quotient


def apply_bps(amount: int, bps: int) -> int:
    """`amount` times `bps` basis points (10,000 bps = 100%), rounded half-even."""
    return round_half_even(amount * bps, 10_000)


def prorate(amount: int, part: int, whole: int) -> int:
    """The share `part / whole` of `amount`, rounded half-even (refund clawbacks)."""
    return round_half_even(amount * part, whole)


def decimal_to_minor(value: Decimal | str | int, currency: str) -> int:
    """Convert a major-unit value ("12.50") to minor units (1250) without any rounding.

    Raises ValueError when the value is not a finite number or cannot be expressed exactly
    in the currency's minor units ("12.345" USD, "1.5" JPY). Trailing zeros are fine
    ("12.500" USD is 1250) because the value is still exact.
    """
    exponent = currency_exponent(currency)
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        # Floats are refused outright: by the time a value is a float it may already be off.
        raise TypeError(f"expected Decimal, str or int, got {type(value).__name__}")
    if isinstance(value, int):
        number: int = value * 10**exponent  # int ** int is Any to the checker
        if len(str(abs(number))) > _MAX_MINOR_DIGITS:
            raise ValueError(f"amount {value!r} is too large")
        return number
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    # Work on the digit tuple rather than Decimal arithmetic: the decimal context's precision
    # would silently round long values.
    sign, digits, digit_exponent = value.as_tuple()
    assert isinstance(digit_exponent, int)
    if not any(digits):
        return 0
    coefficient = int("".join(map(str, digits)))
    shift = digit_exponent + exponent
    if len(digits) + shift > _MAX_MINOR_DIGITS:
        raise ValueError(f"amount {value} is too large")
    minor: int
    if shift >= 0:
        minor = coefficient * 10**shift
    elif -shift > len(digits) or coefficient % 10**-shift:
        # The first test spares building 10**-shift for an absurd exponent: a nonzero
        # coefficient with fewer digits than the shift cannot come out whole.
        raise ValueError(f"{value} has more decimal places than {currency} allows ({exponent})")
    else:
        minor = coefficient // 10**-shift
    return -minor if sign else minor
