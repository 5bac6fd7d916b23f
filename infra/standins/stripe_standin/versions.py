"""Events rendered in another API version, as Stripe renders them for an endpoint pinned to it.

The stand-in's objects have the current shape (`stripe-fixtures3.json`). An endpoint pinned to
a version before 2025-03-31.basil gets invoices in the shape before invoice partial payments:
`paid`, `paid_out_of_band`, `charge` and `payment_intent` present, `amount_overpaid` absent.
"""

from __future__ import annotations

import copy
from typing import Any

INVOICE_PARTIAL_PAYMENTS = "2025-03-31"
_BASIL_ONLY_INVOICE_FIELDS = ("amount_overpaid",)


def render_event(event: dict[str, Any], api_version: str) -> dict[str, Any]:
    """A copy of `event` as an endpoint pinned to `api_version` receives it."""
    rendered = copy.deepcopy(event)
    rendered["api_version"] = api_version
    obj = rendered.get("data", {}).get("object")
    if (
        isinstance(obj, dict)
        and obj.get("object") == "invoice"
        and api_version[:10] < INVOICE_PARTIAL_PAYMENTS
    ):
        for name in _BASIL_ONLY_INVOICE_FIELDS:
            obj.pop(name, None)
        obj["paid"] = obj.get("status") == "paid"
        obj["paid_out_of_band"] = False
        obj.setdefault("charge", None)
        obj.setdefault("payment_intent", None)
    return rendered
