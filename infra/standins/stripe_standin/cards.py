"""Stripe's test cards, by the magic ids Stripe accepts in test mode (`pm_card_*`, `tok_*`).

Only brand, last4, expiry, funding and country exist here: no full card number is ever
accepted, stored or logged. Fingerprints are deterministic per test card, so the same card
linked twice (or on another stand-in run) has the same fingerprint, as on a real account.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass

EXP_MONTH = 12
EXP_YEAR = 2034
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class MagicCard:
    name: str
    brand: str
    last4: str
    funding: str = "credit"
    country: str = "US"
    declines: bool = False  # a charge or a setup with this card fails with card_declined

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"stripe-standin:{self.brand}:{self.last4}:{self.name}".encode())
        number = int.from_bytes(digest.digest()[:12], "big")
        chars = []
        for _ in range(16):
            number, rem = divmod(number, len(_ALPHABET))
            chars.append(_ALPHABET[rem])
        return "".join(chars)


_CARDS = [
    MagicCard("visa", "visa", "4242"),
    MagicCard("visa_debit", "visa", "5556", funding="debit"),
    MagicCard("mastercard", "mastercard", "4444"),
    MagicCard("mastercard_debit", "mastercard", "8210", funding="debit"),
    MagicCard("mastercard_prepaid", "mastercard", "5100", funding="prepaid"),
    MagicCard("amex", "amex", "8431"),
    MagicCard("discover", "discover", "1117"),
    MagicCard("diners", "diners", "0004"),
    MagicCard("jcb", "jcb", "0505", country="JP"),
    MagicCard("unionpay", "unionpay", "0005", country="CN"),
    MagicCard("gb", "visa", "0003", country="GB"),
    MagicCard("chargeDeclined", "visa", "0002", declines=True),
]

CARDS_BY_NAME = {card.name: card for card in _CARDS}


def lookup(magic: str) -> MagicCard | None:
    """`pm_card_visa`, `tok_visa`, `tok_visa_debit`, ... → the test card, else None."""
    for prefix in ("pm_card_", "tok_"):
        if magic.startswith(prefix):
            return CARDS_BY_NAME.get(magic[len(prefix) :])
    return None


def card_details(card: MagicCard) -> dict[str, object]:
    """The `card` hash of a PaymentMethod for this test card."""
    return {
        "brand": card.brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": card.country,
        "display_brand": card.brand.replace("amex", "american_express"),
        "exp_month": EXP_MONTH,
        "exp_year": EXP_YEAR,
        "fingerprint": card.fingerprint,
        "funding": card.funding,
        "generated_from": None,
        "last4": card.last4,
        "networks": {"available": [card.brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def card_of(payment_method: dict[str, object]) -> MagicCard | None:
    card = payment_method.get("card")
    if not isinstance(card, dict):
        return None
    for candidate in _CARDS:
        if candidate.fingerprint == card.get("fingerprint"):
            return candidate
    return None
