"""What each notification says, in the reader's language (the web front ends' catalogs).

A message is rendered from a notification's kind and facts when it is shown or sent, so the
in-app list follows the language the member reads in now. Money is written by Babel's
`format_currency` in the member's locale ("$2.00", "2,00 USD"). A message names the merchant
and the amount, never a card number and never the member's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from service.web.i18n import N_, Formatter


class Kind(StrEnum):
    CASHBACK_EARNED = "cashback_earned"
    CASHBACK_AVAILABLE = "cashback_available"
    PAYOUT_PAID = "payout_paid"
    OFFER_EXPIRING = "offer_expiring"
    STAMP_CARD_NEAR = "stamp_card_near"


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    # Where the notification leads in the member app.
    path: str


_TITLES = {
    Kind.CASHBACK_EARNED: N_("You earned %(amount)s at %(merchant)s"),
    Kind.CASHBACK_AVAILABLE: N_("%(amount)s cashback from %(merchant)s is now available"),
    Kind.PAYOUT_PAID: N_("%(amount)s is on its way to your bank account"),
    Kind.OFFER_EXPIRING: N_("Your offer at %(merchant)s ends soon"),
    Kind.STAMP_CARD_NEAR: N_("One more visit to %(merchant)s earns your reward"),
}
_BODIES = {
    Kind.CASHBACK_EARNED: N_(
        "It becomes available once the purchase has cleared and its hold has passed."
    ),
    Kind.CASHBACK_AVAILABLE: N_("You can cash it out or donate it from your wallet."),
    Kind.PAYOUT_PAID: N_("Banks usually take one to three business days."),
    Kind.OFFER_EXPIRING: N_("Shop there before %(ends)s to earn cashback."),
    Kind.STAMP_CARD_NEAR: N_("Your next purchase there completes the stamp card."),
}
_PATHS = {
    Kind.CASHBACK_EARNED: "/app/activity",
    Kind.CASHBACK_AVAILABLE: "/app/wallet",
    Kind.PAYOUT_PAID: "/app/wallet",
    Kind.OFFER_EXPIRING: "/app/offers",
    Kind.STAMP_CARD_NEAR: "/app/offers",
}


class Told(Protocol):
    """What a message is rendered from: a `Notification`, or a row of its table."""

    kind: str
    amount_minor: int | None
    currency: str | None
    data: str | None


def facts_of(notification: Told) -> dict[str, str]:
    return json.loads(notification.data) if notification.data else {}


def render(notification: Told, fmt: Formatter) -> Message:
    """The notification's title and body in `fmt`'s language and money format."""
    kind = Kind(notification.kind)
    facts = facts_of(notification)
    values: dict[str, object] = {"merchant": facts.get("merchant", "")}
    if notification.amount_minor is not None and notification.currency:
        values["amount"] = fmt.money(notification.amount_minor, notification.currency)
    if "ends_at" in facts:
        values["ends"] = fmt.date(datetime.fromisoformat(facts["ends_at"]), "long")
    title = fmt.gettext(_TITLES[kind], **values)
    body = fmt.gettext(_BODIES[kind], **values)
    return Message(title=title, body=body, path=_PATHS[kind])


def email_footer(fmt: Formatter, unsubscribe_url: str) -> str:
    return fmt.gettext(
        "You get these emails because cashback notifications are on. Stop them: %(url)s",
        url=unsubscribe_url,
    )
