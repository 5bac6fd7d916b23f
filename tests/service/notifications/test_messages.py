"""Every message in every language: the worked numbers, and never a card number or a name."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from service.notifications.email import OutgoingEmail, build_message
from service.notifications.messages import Kind, email_footer, render
from service.notifications.tables import Notification
from service.web.i18n import Formatter
from tests.service.notifications.world import notify_settings

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# What the world knows about the member and the card, none of which a message may show.
SECRETS = ("Kari", "Nordmann", "4242424242424242", "4242")
DIGIT_RUN = re.compile(r"\d[\d \-.\xa0]{11,}\d")


def sample(kind: Kind) -> Notification:
    facts = {"merchant": "Blue Bottle"}
    if kind is Kind.OFFER_EXPIRING:
        facts["ends_at"] = "2026-12-03T23:00:00+00:00"
    return Notification(
        id=1, member_id=1, kind=kind.value, source_key="x", amount_minor=200, currency="USD",
        data=json.dumps(facts), created_at=AT,
    )  # fmt: skip


EXPECTED = {
    ("en", Kind.CASHBACK_EARNED): "You earned $2.00 at Blue Bottle",
    ("nb", Kind.CASHBACK_EARNED): "Du fikk 2,00\xa0USD i bonus hos Blue Bottle",
    ("en", Kind.CASHBACK_AVAILABLE): "$2.00 cashback from Blue Bottle is now available",
    ("nb", Kind.CASHBACK_AVAILABLE): "2,00\xa0USD i bonus fra Blue Bottle er nå tilgjengelig",
    ("en", Kind.PAYOUT_PAID): "$2.00 is on its way to your bank account",
    ("nb", Kind.PAYOUT_PAID): "2,00\xa0USD er på vei til bankkontoen din",
    ("en", Kind.OFFER_EXPIRING): "Your offer at Blue Bottle ends soon",
    ("nb", Kind.OFFER_EXPIRING): "Tilbudet ditt hos Blue Bottle slutter snart",
    ("en", Kind.STAMP_CARD_NEAR): "One more visit to Blue Bottle earns your reward",
    ("nb", Kind.STAMP_CARD_NEAR): "Ett besøk til hos Blue Bottle gir deg belønningen",
}


@pytest.mark.parametrize(("language", "kind"), sorted(EXPECTED))
def test_each_message_in_each_language(language, kind):
    message = render(sample(kind), Formatter(language, "Europe/Oslo"))
    assert message.title == EXPECTED[(language, kind)]
    assert message.body and "%(" not in message.body
    if kind is Kind.OFFER_EXPIRING:
        # 23:00 UTC on Dec 3 is midnight in Oslo: the offer runs to the start of Dec 4.
        assert ("4. desember 2026" if language == "nb" else "December 4, 2026") in message.body


@pytest.mark.parametrize(("language", "kind"), sorted(EXPECTED))
def test_no_message_shows_a_card_number_or_a_name(language, kind):
    fmt = Formatter(language)
    message = render(sample(kind), fmt)
    link = "https://cash.example/app/unsubscribe/eyJtIjoxLCJjIjoiZW1haWwifQ.abc"
    mail = build_message(
        notify_settings(),
        OutgoingEmail(
            delivery_id=1, to="m1@example.com", subject=message.title,
            text=f"{message.body}\n\n{email_footer(fmt, link)}", unsubscribe_url=link,
            message_id="<notification-1@clo.example>",
        ),
    )  # fmt: skip
    text = mail.as_string()
    for shown in (message.title, message.body, text):
        assert not any(secret in shown for secret in SECRETS), shown
        assert DIGIT_RUN.search(shown) is None, shown
