"""A local stand-in for the Stripe API, driven by the real `stripe` SDK.

See `standin.py` for the Python API, `server.py` for the wire format, `control.py` for the
`/_standin/` control endpoints and `webhooks.py` for signed webhook delivery.

Implemented: customers (create, retrieve, update, delete, list by email, search), invoice
items, invoices (draft → open → paid | void, finalize/send/pay/void, lines, search),
transfers and reversals, connected accounts, SetupIntents, PaymentMethods from test cards,
events, idempotency keys, signed webhooks.

Deliberate omissions: prices/products/subscriptions, taxes, discounts, credit notes,
PaymentIntents and charges (an invoice "payment" is a state change, not a charge), the
platform balance (transfers never fail for lack of funds), `Stripe-Account` scoping (all
objects live in one account), automatic advancement of `auto_advance` drafts, invoice PDFs,
search's indexing delay (results are immediate), concurrent-request 409s (requests are
serialised), and raw card numbers (never accepted: use `pm_card_*` or `tok_*`).
"""

from __future__ import annotations

from .cards import CARDS_BY_NAME, MagicCard
from .errors import StripeError
from .standin import StripeStandin
from .webhooks import DeliveryAttempt, WebhookEndpoint, sign

__all__ = [
    "CARDS_BY_NAME",
    "DeliveryAttempt",
    "MagicCard",
    "StripeError",
    "StripeStandin",
    "WebhookEndpoint",
    "sign",
]
