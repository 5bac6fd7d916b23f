"""The shapes of the Stripe objects our webhooks read, per API version.

Stripe renders each event in the API version its webhook endpoint is pinned to, so a field can
be where one version put it and absent in another. What changed for what we read:

- 2025-03-31.basil (invoices take several partial payments): the Invoice lost `paid`,
  `paid_out_of_band`, `charge` and `payment_intent`; whether it is paid is `status == "paid"`,
  and its payments are InvoicePayment objects. Before it, `paid: true` said so.
- Transfers (`id`, `amount`, `amount_reversed`) and SetupIntents (`id`, `payment_method`) read
  the same in every version we accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from service.problems import InvalidInput

# The first version in which an invoice's payment state is only its status.
INVOICE_PARTIAL_PAYMENTS = date(2025, 3, 31)
_VERSION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:\.[a-z]+)?$")


def version_date(api_version: str) -> date:
    """The date of a Stripe API version: "2024-06-20" or "2025-03-31.basil"."""
    found = _VERSION.match(api_version)
    if found is None:
        raise InvalidInput(
            f"{api_version[:40]!r} is not a Stripe API version",
            field="api_version",
            reason="invalid_api_version",
        )
    try:
        return date(*(int(part) for part in found.groups()))
    except ValueError:
        raise InvalidInput(
            f"{api_version[:40]!r} is not a Stripe API version",
            field="api_version",
            reason="invalid_api_version",
        ) from None


@dataclass(frozen=True, slots=True)
class PaidInvoice:
    invoice_ref: str
    amount_paid: int  # minor units
    paid_at_unix: int | None


def paid_invoice(obj: dict[str, Any], api_version: str) -> PaidInvoice | None:
    """The payment an `invoice.paid` event reports, read in its API version's shape; None
    for an invoice that is not paid (or not one of ours to read)."""
    if version_date(api_version) < INVOICE_PARTIAL_PAYMENTS:
        paid = obj.get("paid") is True
    else:
        paid = obj.get("status") == "paid"
    amount = obj.get("amount_paid")
    invoice_ref = obj.get("id")
    if not paid or not isinstance(invoice_ref, str) or not isinstance(amount, int):
        return None
    if isinstance(amount, bool) or amount <= 0:
        return None
    paid_at = (obj.get("status_transitions") or {}).get("paid_at")
    return PaidInvoice(invoice_ref, amount, paid_at if isinstance(paid_at, int) else None)
