"""Full card numbers are found wherever they hide, and identifiers are left alone."""

from __future__ import annotations

import pytest

from service.security.card_numbers import (
    find_card_number,
    find_card_number_field,
    mask_card_numbers,
)


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424242",  # Visa test number
        "4111 1111 1111 1111",  # grouped by spaces
        "5555-5555-5555-4444",  # Mastercard, dashes
        "2223003122003222",  # Mastercard 2-series
        "378282246310005",  # Amex, 15 digits
        "6011111111111117",  # Discover
        "3530111333300000",  # JCB
        "card 4000056655665556 declined",  # inside free text
    ],
)
def test_card_numbers_are_found(text):
    assert find_card_number(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # fails Luhn
        "1234567890123452",  # Luhn-valid, no network prefix
        "42424242",  # too short
        "42424242424242424242",  # 20 digits: too long
        "order 20261122000001",
        "",
        # A UUID whose first three groups are all digits and spell a Luhn-valid Visa number:
        # a provider token (Plaid's public tokens) or an idempotency key, about one in a
        # few thousand random ones; refusing it failed a member's bank link now and then.
        "public-sandbox-41111111-1111-1111-aaaa-bbbbbbbbbbbb",
        "41111111-1111-1111-1111-111111111111",
    ],
)
def test_other_numbers_are_not_card_numbers(text):
    assert find_card_number(text) is None


def test_masking_keeps_only_the_last_four():
    assert mask_card_numbers("paid with 4242 4242 4242 4242 ok") == "paid with ************4242 ok"
    assert mask_card_numbers("ref 1234567890123452") == "ref 1234567890123452"


def test_field_path_names_the_nested_field_and_skips_identifier_fields():
    body = {
        "name": "x",
        "items": [{"note": "ok"}, {"note": "4111111111111111"}],
        "mid": "4111111111111111",
    }
    assert find_card_number_field(body, {"mid"}) == "items.1.note"
    assert find_card_number_field({"mid": "4111111111111111"}, {"mid"}) is None
    assert find_card_number_field({"n": 4111111111111111}) == "n"
