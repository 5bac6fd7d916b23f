"""Languages: gettext catalogs (Babel) and locale-aware money, number and date formatting.

The member picks a language (stored with the account, and in a cookie before sign-in); the
first visit follows the browser's Accept-Language. Catalogs are the `.po` files under
`locale/`, compiled in memory at start-up. Money is formatted from integer minor units by
Babel, never by hand.
"""

from __future__ import annotations

import gettext
from datetime import date as Day
from datetime import datetime, tzinfo
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

from matching.money import currency_exponent

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"en": "English", "nb": "Norsk bokmål"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "clo_lang"


@cache
def translations(language: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def N_(message: str) -> str:
    """Marks a message for the catalog where it is translated later (at render time)."""
    return message


def negotiate(accept_language: str | None) -> str:
    """The first supported language in an Accept-Language header, else English."""
    if accept_language:
        ranked = []
        for index, part in enumerate(accept_language.split(",")[:20]):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            ranked.append((-quality, index, tag.strip()))
        for quality, _, tag in sorted(ranked):
            if quality >= 0:
                continue  # q=0: "not this one"
            primary = tag.lower().replace("_", "-").split("-")[0]
            if primary in ("no", "nn"):
                primary = "nb"  # Norwegian: we write Bokmål
            if primary in LANGUAGES:
                return primary
    return DEFAULT_LANGUAGE


def supported(language: str | None) -> str | None:
    return language if language in LANGUAGES else None


# Per language, the ending of an ordinal number by its CLDR ordinal plural form.
ORDINAL_SUFFIXES = {
    "en": {"one": "st", "two": "nd", "few": "rd", "other": "th"},
    "nb": {"other": "."},
}


class Formatter:
    """Everything a page shows in the reader's language: text, money, numbers, dates."""

    def __init__(self, language: str, timezone: tzinfo | str = "UTC") -> None:
        self.language = language
        try:
            self.locale = Locale.parse(language)
        except (UnknownLocaleError, ValueError):
            self.locale = Locale.parse(DEFAULT_LANGUAGE)
        self.timezone = timezone
        self._t = translations(language)

    def gettext(self, message: str, **values: object) -> str:
        text = self._t.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = self._t.ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def ordinal(self, n: int) -> str:
        """n as an ordinal before a noun: "1st", "2nd", "3rd", "11th" in English, "3." in
        Norwegian. Which form a number takes is the locale's ordinal plural rule (CLDR)."""
        suffixes = ORDINAL_SUFFIXES.get(self.locale.language, ORDINAL_SUFFIXES["en"])
        return f"{self.number(n)}{suffixes.get(self.locale.ordinal_form(n), suffixes['other'])}"

    def money(self, amount: int, currency: str) -> str:
        """Integer minor units → the locale's way of writing the amount (exact)."""
        value = Decimal(amount).scaleb(-currency_exponent(currency))
        return format_currency(value, currency, locale=self.locale)

    def number(self, value: int | Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def percent_bps(self, bps: int) -> str:
        # The locale's own pattern ("7.5%", "7,5 %"), keeping the decimals a rate has.
        return format_percent(Decimal(bps) / 10000, locale=self.locale, decimal_quantization=False)

    def date(self, value: datetime | Day, form: str = "medium") -> str:
        if not isinstance(value, datetime):  # a calendar day (a claim's purchase) has no zone
            return format_date(value, form, locale=self.locale)
        return format_date(value.astimezone(_zone(self.timezone)), form, locale=self.locale)

    def day_month(self, value: datetime) -> str:
        return format_date(value.astimezone(_zone(self.timezone)), "d MMM", locale=self.locale)

    def time(self, value: datetime) -> str:
        return format_time(value, "short", tzinfo=_zone(self.timezone), locale=self.locale)

    # Last: inside the class body its name hides the datetime type for what follows.
    def datetime(self, value: datetime, form: str = "medium") -> str:
        return format_datetime(value, form, tzinfo=_zone(self.timezone), locale=self.locale)


def _zone(value: tzinfo | str) -> tzinfo:
    if isinstance(value, str):
        from zoneinfo import ZoneInfo

        return ZoneInfo(value)
    return value
