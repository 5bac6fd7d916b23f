"""What a browser may do with the publishable key, as Stripe.js does on Stripe itself.

The browser holds only `pk_test_...` and a SetupIntent's client secret. With them it may
create a card PaymentMethod from a test token and confirm (or read) that one SetupIntent;
everything else needs the secret key. Responses carry CORS headers so a page on another
origin can call the stand-in, and `/v3/` serves a small Stripe.js in place of
https://js.stripe.com/v3/ (a card form whose number never leaves the browser: it maps the
test card typed to Stripe's test token).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .routes import Route
    from .standin import StripeStandin

STRIPE_JS = Path(__file__).parent / "static" / "stripe.js"
SCRIPT_PATHS = ("/v3", "/v3/")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, Stripe-Version",
    "Access-Control-Max-Age": "600",
}
_PUBLISHABLE_ENDPOINTS = frozenset(
    {
        "POST /v1/payment_methods",
        "POST /v1/setup_intents/{id}/confirm",
        "GET /v1/setup_intents/{id}",
    }
)


def is_publishable(api_key: str) -> bool:
    return api_key.startswith("pk_")


def act_as(
    standin: StripeStandin, api_key: str, route: Route, args: list[str], params: dict[str, Any]
) -> str:
    """The secret key a publishable-key request acts as, once it is allowed."""
    if api_key != standin.publishable_key:
        raise errors.bad_api_key(api_key)
    endpoint = f"{route.method} {route.template}"
    if endpoint not in _PUBLISHABLE_ENDPOINTS:
        raise errors.StripeError(
            403,
            "This API call cannot be made with a publishable API key. Please use a secret API key.",
            type_="invalid_request_error",
            code="secret_key_required",
        )
    if "setup_intents" in route.template:
        seti = standin.store.get("setup_intent", args[0]) if args else None
        if seti is None or params.get("client_secret") != seti.get("client_secret"):
            raise errors.StripeError(
                400,
                "The client_secret provided does not match the client_secret associated with "
                "the SetupIntent.",
                type_="invalid_request_error",
                code="setup_intent_authentication_failure",
                param="client_secret",
            )
    return standin.api_key


def script() -> bytes:
    return STRIPE_JS.read_bytes()
