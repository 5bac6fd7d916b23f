"""Detect full card numbers (PANs) in input so they are refused and never stored or logged."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# 13-19 digits, optionally grouped by single spaces or dashes, not inside a longer digit run.
_CANDIDATE = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")
_SEPARATORS = str.maketrans("", "", " -")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _network_prefix(digits: str) -> bool:
    """Issuer prefixes of Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro."""
    n = len(digits)
    p2, p4, p6 = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p4 == 6011 or p2 == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= p6 <= 622925:
        return 16 <= n <= 19
    if 3528 <= p4 <= 3589:
        return 16 <= n <= 19
    if p2 in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19
    if p2 == 62:
        return 16 <= n <= 19
    if p2 in (50, 56, 57, 58, 67) or p2 == 63:
        return 12 <= n <= 19
    return False


def looks_like_card_number(text: str) -> bool:
    return find_card_number(text) is not None


def find_card_number(text: str) -> tuple[int, int] | None:
    """The span of the first Luhn-valid number with a card network's prefix, if any."""
    if len(text) < 13:
        return None
    for m in _CANDIDATE.finditer(text):
        digits = m.group().translate(_SEPARATORS)
        if 13 <= len(digits) <= 19 and _network_prefix(digits) and _luhn_valid(digits):
            return m.span()
    return None


def mask_card_numbers(text: str) -> str:
    """Replace every card number in text by its last four digits behind asterisks."""

    def _mask(m: re.Match[str]) -> str:
        digits = m.group().translate(_SEPARATORS)
        if 13 <= len(digits) <= 19 and _network_prefix(digits) and _luhn_valid(digits):
            return "*" * (len(digits) - 4) + digits[-4:]
        return m.group()

    return _CANDIDATE.sub(_mask, text)


def find_card_number_field(
    value: Any, allowed_fields: Iterable[str] = (), _path: str = ""
) -> str | None:
    """Path of the first field (dotted, list indexes numeric) that holds a card number.

    Fields named in `allowed_fields` (by their last name, e.g. "mid" or "external_id") are
    declared to hold merchant or event identifiers and are not inspected.
    """
    allowed = allowed_fields if isinstance(allowed_fields, frozenset) else frozenset(allowed_fields)
    if isinstance(value, dict):
        for key, item in value.items():
            if key in allowed:
                continue
            path = f"{_path}.{key}" if _path else str(key)
            found = find_card_number_field(item, allowed, path)
            if found:
                return found
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = find_card_number_field(item, allowed, f"{_path}.{i}" if _path else str(i))
            if found:
                return found
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str) and find_card_number(str(value)) is not None:
        return _path or "body"
    return None
