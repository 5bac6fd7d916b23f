"""An offer's rules in plain language, in the reader's language:
"5% back on $10.00 or more, up to $5.00, weekdays 7:00 AM to 10:00 AM, new customers only,
until Dec 31, 2026"."""

from __future__ import annotations

import json
from datetime import datetime, time
from decimal import Decimal
from functools import lru_cache
from types import SimpleNamespace
from typing import cast
from zoneinfo import ZoneInfo

from babel.dates import format_time, get_day_names

from service.offers.catalog import aware
from service.tables import Offer
from service.web.i18n import Formatter

WEEKDAYS = frozenset(range(5))
WEEKEND = frozenset({5, 6})
EVERY_DAY = frozenset(range(7))
EN_DASH = "\u2013"  # between the start and end of a time span


def headline(offer: Offer, fmt: Formatter) -> str:
    """The reward in a few words: "5% back", "$5.00 back", "$5.00 every 5th visit"."""
    reward = _reward(offer, fmt)
    if offer.kind == "stamp_card" and offer.stamp_every_n:
        nth = fmt.ordinal(offer.stamp_every_n)
        return fmt.gettext("%(reward)s every %(nth)s visit", reward=reward, nth=nth)
    if offer.kind == "spend_threshold" and offer.threshold_amount:
        return fmt.gettext(
            "%(reward)s when you spend %(goal)s",
            reward=reward,
            goal=fmt.money(offer.threshold_amount, offer.currency),
        )
    return fmt.gettext("%(reward)s back", reward=reward)


def _reward(offer: Offer, fmt: Formatter) -> str:
    if offer.reward_type == "percent":
        return fmt.percent_bps(offer.rate_bps)
    return fmt.money(offer.reward_amount, offer.currency)


def _days(weekdays: frozenset[int], fmt: Formatter) -> str:
    if weekdays == EVERY_DAY:
        return fmt.gettext("every day")
    if weekdays == WEEKDAYS:
        return fmt.gettext("weekdays")
    if weekdays == WEEKEND:
        return fmt.gettext("weekends")
    names = get_day_names("abbreviated", locale=fmt.locale)
    return ", ".join(names[d] for d in sorted(weekdays))


def _clock(minute: int, fmt: Formatter) -> str:
    if minute >= 1440:
        minute = 1439  # "until midnight" reads as 11:59 PM
    return format_time(time(minute // 60, minute % 60), "short", locale=fmt.locale)


def _windows(text: str, fmt: Formatter) -> list[tuple[str, int]]:
    """[("weekdays 7:00 AM to 10:00 AM", multiplier_bps), ...] from stored day parts."""
    try:
        raw = json.loads(text or "[]")
    except ValueError:
        return []
    out = []
    for w in raw if isinstance(raw, list) else []:
        try:
            days = _days(frozenset(int(d) for d in w["weekdays"]), fmt)
            span = (
                f"{_clock(int(w['start_minute']), fmt)}{EN_DASH}{_clock(int(w['end_minute']), fmt)}"
            )
        except (KeyError, TypeError, ValueError):
            continue
        out.append((f"{days} {span}", int(w.get("multiplier_bps") or 10_000)))
    return out


def terms(offer: Offer, fmt: Formatter, *, timezone: str) -> str:
    """Every rule a member needs to know, joined into one sentence."""
    money = fmt.money
    parts: list[str] = []
    if offer.kind == "stamp_card" and offer.stamp_every_n:
        parts.append(
            fmt.gettext(
                "%(reward)s back on every %(nth)s visit",
                reward=_reward(offer, fmt),
                nth=fmt.ordinal(offer.stamp_every_n),
            )
        )
    elif offer.kind == "spend_threshold" and offer.threshold_amount:
        parts.append(
            fmt.gettext(
                "spend %(goal)s in total and get %(reward)s back",
                goal=money(offer.threshold_amount, offer.currency),
                reward=_reward(offer, fmt),
            )
        )
    else:
        parts.append(fmt.gettext("%(reward)s back", reward=_reward(offer, fmt)))
    if offer.min_spend_amount:
        parts[-1] += " " + fmt.gettext(
            "on %(amount)s or more", amount=money(offer.min_spend_amount, offer.currency)
        )
    if offer.max_reward_amount is not None and offer.reward_type == "percent":
        parts.append(
            fmt.gettext("up to %(amount)s", amount=money(offer.max_reward_amount, offer.currency))
        )
    parts.extend(label for label, _ in _windows(offer.dayparts_json, fmt))
    for label, multiplier in _windows(offer.bonus_windows_json, fmt):
        factor = fmt.number(Decimal(multiplier) / 10_000)
        parts.append(fmt.gettext("%(factor)s× cashback %(when)s", factor=factor, when=label))  # noqa: RUF001
    if offer.channel == "online":
        parts.append(fmt.gettext("online only"))
    elif offer.channel == "in_store":
        parts.append(fmt.gettext("in store only"))
    audience = {
        "new": fmt.gettext("new customers only"),
        "existing": fmt.gettext("returning customers only"),
        "lapsed": fmt.gettext(
            "if you have not shopped here for %(days)s days", days=offer.lookback_days
        ),
    }.get(offer.audience)
    if audience:
        parts.append(audience)
    if offer.min_member_tier:
        parts.append(fmt.gettext("members of tier %(tier)s and up", tier=offer.min_member_tier))
    if offer.birthday_bonus_bps:
        parts.append(
            fmt.gettext(
                "%(bonus)s extra in your birthday month",
                bonus=fmt.percent_bps(offer.birthday_bonus_bps),
            )
        )
    if offer.member_max_rewards:
        parts.append(
            fmt.ngettext("once per member", "%(num)s times per member", offer.member_max_rewards)
        )
    ends = aware(offer.ends_at)
    if ends is not None:
        parts.append(fmt.gettext("until %(date)s", date=_local_date(ends, timezone, fmt)))
    text = ", ".join(p for p in parts if p)
    return text[:1].upper() + text[1:]


def _local_date(value: datetime, timezone: str, fmt: Formatter) -> str:
    from babel.dates import format_date

    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return format_date(value.astimezone(zone), "medium", locale=fmt.locale)


# Every field `headline` and `terms` read: with the language and time zone, the whole input.
_TEXT_FIELDS = (
    "kind", "stamp_every_n", "threshold_amount", "reward_type", "rate_bps", "reward_amount",
    "currency", "min_spend_amount", "max_reward_amount", "dayparts_json", "bonus_windows_json",
    "channel", "audience", "lookback_days", "min_member_tier", "birthday_bonus_bps",
    "member_max_rewards", "ends_at",
)  # fmt: skip


def card_texts(offer: Offer, fmt: Formatter, *, timezone: str) -> tuple[str, str]:
    """(headline, terms). They are the same for every member who reads the offer, and the
    offer feed shows hundreds of offers per page: so each is written once per offer's rules,
    language and time zone (keyed by the values themselves, never by id, so an edited offer
    gets new text), not once per member and page."""
    values = tuple(getattr(offer, name) for name in _TEXT_FIELDS)
    return _card_texts(values, fmt.language, str(fmt.timezone), timezone)


@lru_cache(maxsize=4096)
def _card_texts(
    values: tuple, language: str, reader_timezone: str, timezone: str
) -> tuple[str, str]:
    offer = cast(Offer, SimpleNamespace(**dict(zip(_TEXT_FIELDS, values, strict=True))))
    fmt = Formatter(language, reader_timezone)
    return headline(offer, fmt), terms(offer, fmt, timezone=timezone)
