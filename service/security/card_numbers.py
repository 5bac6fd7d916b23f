"""Detect full card numbers (PANs) in input so they are refused and never stored or logged."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import accumulate
from typing import Any

# A card number may be written in groups split by any run of separators: spaces of every kind
# (\s covers the non-breaking and ideographic spaces), dots, slashes and dashes, ASCII or
# full-width. Digits are any Unicode decimal digits (full-width U+FF10-FF19 included). Chains of
# digit groups are found in one linear pass (possessive: no backtracking on long runs); the
# candidates are whole groups adding up to 13-19 digits, so a longer unbroken run of digits
# (an order number) is not a card number.
_SEPARATOR = r"[\s.\-/\u2010-\u2015\u2212\ufe58\ufe63\uff0d\uff0e\uff0f]"
_CHAIN = re.compile(rf"\d++(?:{_SEPARATOR}++\d++)*+")
_GROUP = re.compile(r"\d+")
# A UUID (8-4-4-4-12 hex digits) is an identifier: provider tokens and idempotency keys carry
# random ones, and about one in a few thousand has all-digit leading groups that spell a
# Luhn-valid number. Its 32 digits are never a card number's 13-19, so digits inside one
# are not looked at.
_UUID = re.compile(
    r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}(?![0-9A-Za-z])"
)
MIN_DIGITS, MAX_DIGITS = 13, 19
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a Luhn-doubled digit's contribution


def _ascii_digits(group: str) -> str:
    if group.isascii():
        return group
    return "".join(str(unicodedata.decimal(ch)) for ch in group)


def _parity_sums(values: list[int]) -> tuple[list[int], list[int]]:
    """Running sums of `values` over even and over odd indexes (index k: sums below k)."""
    even, odd = values.copy(), values.copy()
    even[1::2] = [0] * len(even[1::2])
    odd[0::2] = [0] * len(odd[0::2])
    return list(accumulate(even, initial=0)), list(accumulate(odd, initial=0))


def _card_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, digits) of every card number in text, left to right, not overlapping.

    The cost is linear in the text with a small bound per digit group: chains are found by
    one regular expression, Luhn sums come from running totals per index parity (O(1) per
    candidate), and from each group only the lengths its issuer prefix allows are tried.
    """
    uuids: list[tuple[int, int]] | None = None  # found once a chain is long enough to ask
    for chain in _CHAIN.finditer(text):
        chain_text = chain.group()
        if len(chain_text) < MIN_DIGITS:
            continue
        if uuids is None:
            uuids = [m.span() for m in _UUID.finditer(text)]
        if any(a <= chain.start() and chain.end() <= b for a, b in uuids):
            continue
        run: list[tuple[int, int]] = []
        for m in _GROUP.finditer(chain_text):
            if m.end() - m.start() <= MAX_DIGITS:
                run.append((chain.start() + m.start(), chain.start() + m.end()))
                continue
            # A group longer than any card number splits the chain: nothing spans it.
            yield from _spans_in_run(text, run)
            run = []
        yield from _spans_in_run(text, run)


def _spans_in_run(text: str, places: list[tuple[int, int]]) -> Iterator[tuple[int, int, str]]:
    """Card numbers made of whole consecutive groups (text ranges) of one chain."""
    joined = _ascii_digits("".join(text[a:b] for a, b in places))
    if len(joined) < MIN_DIGITS:
        return
    starts, is_end, at = [], bytearray(len(joined) + 1), 0
    group_of_end = {}
    for index, (a, b) in enumerate(places):
        starts.append(at)
        at += b - a
        is_end[at] = 1
        group_of_end[at] = index
    digits = [c - 48 for c in joined.encode()]
    plain = _parity_sums(digits)
    doubled = _parity_sums([_DOUBLED[d] for d in digits])
    i = 0
    while i < len(starts):
        a = starts[i]
        found = None
        for n in _network_lengths(joined[a : a + 6]):
            e = a + n
            if e >= len(is_end) or not is_end[e]:
                continue
            keep = (e - 1) % 2  # the rightmost digit and every second one left of it
            total = plain[keep][e] - plain[keep][a] + doubled[1 - keep][e] - doubled[1 - keep][a]
            if total % 10 == 0 and (found is None or e > found):
                found = e  # the longest valid run from this group wins
        if found is None:
            i += 1
            continue
        last = group_of_end[found]
        yield places[i][0], places[last][1], joined[a:found]
        i = last + 1


@lru_cache(maxsize=4096)
def _network_lengths(prefix: str) -> tuple[int, ...]:
    """Card lengths the issuer prefix allows (Visa, Mastercard, Amex, Discover, JCB, Diners,
    UnionPay, Maestro); empty when the digits start no card number."""
    if len(prefix) < 6:
        return ()
    p2, p3, p4, p6 = int(prefix[:2]), int(prefix[:3]), int(prefix[:4]), int(prefix)
    if prefix[0] == "4":
        return (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return (16,)
    if p2 in (34, 37):
        return (15,)
    if p4 == 6011 or p2 == 65 or 644 <= p3 <= 649 or 622126 <= p6 <= 622925:
        return tuple(range(16, 20))
    if 3528 <= p4 <= 3589:
        return tuple(range(16, 20))
    if p2 in (36, 38, 39) or 300 <= p3 <= 305:
        return tuple(range(14, 20))
    if p2 == 62:
        return tuple(range(16, 20))
    if p2 in (50, 56, 57, 58, 67) or p2 == 63:
        return tuple(range(12, 20))
    return ()


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
    return len(digits) in _network_lengths(digits[:6])


def looks_like_card_number(text: str) -> bool:
    return find_card_number(text) is not None


def find_card_number(text: str) -> tuple[int, int] | None:
    """The span of the first Luhn-valid number with a card network's prefix, if any."""
    if len(text) < MIN_DIGITS:
        return None
    for start, end, _digits in _card_spans(text):
        return start, end
    return None


def mask_card_numbers(text: str) -> str:
    """Replace every card number in text by its last four digits behind asterisks."""
    if len(text) < MIN_DIGITS:
        return text
    out, last = [], 0
    for start, end, digits in _card_spans(text):
        out.append(text[last:start])
        out.append("*" * (len(digits) - 4) + digits[-4:])
        last = end
    out.append(text[last:])
    return "".join(out)


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
