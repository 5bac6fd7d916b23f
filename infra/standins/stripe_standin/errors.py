"""Stripe's error envelope: `{"error": {"type", "message", "code"?, "param"?, ...}}`.

The SDK picks its exception class from the HTTP status and `error.type`
(400/404 → `InvalidRequestError` or `IdempotencyError`, 401 → `AuthenticationError`,
402 → `CardError`, 429 → `RateLimitError`, 5xx → `APIError`).
"""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """A Stripe API error; raise it from a handler and the server renders the envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        store_for_idempotency: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        # Stripe saves an idempotent result only once the endpoint started executing:
        # validation failures (400/401/404) are not saved, so a retry can still succeed.
        if store_for_idempotency is None:
            store_for_idempotency = status not in (400, 401, 404, 409, 429)
        self.store_for_idempotency = store_for_idempotency
        # The `Stripe-Should-Retry` header Stripe sends with some errors (a lock timeout:
        # true); the SDK follows it.
        self.should_retry: bool | None = None

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = DOCS + self.code.replace("_", "-")
        if self.param:
            err["param"] = self.param
        if self.decline_code:
            err["decline_code"] = self.decline_code
        if request_id:
            err["request_log_url"] = (
                f"https://dashboard.stripe.com/test/logs/{request_id}?t=standin"
            )
        err.update(self.extra)
        return {"error": err}


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def unknown_param(param: str) -> StripeError:
    return StripeError(
        400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def no_such(kind: str, obj_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """`resource_missing`: 404 for an id in the path, 400 for an id passed as a parameter."""
    return StripeError(status, f"No such {kind}: '{obj_id}'", code="resource_missing", param=param)


def state_error(message: str, *, code: str | None = None) -> StripeError:
    # A state conflict is detected while executing, so its result is kept for replay.
    return StripeError(400, message, code=code, store_for_idempotency=True)


def no_api_key() -> StripeError:
    return StripeError(
        401,
        "You did not provide an API key. You need to provide your API key in the "
        "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
        "See https://stripe.com/docs/api#authentication for details, or we can help at "
        "https://support.stripe.com/.",
    )


def bad_api_key(key: str) -> StripeError:
    shown = key[:8] + "*" * 12 + key[-4:] if len(key) > 12 else "*" * len(key)
    return StripeError(401, f"Invalid API Key provided: {shown}")


def idempotency_mismatch(key: str) -> StripeError:
    return StripeError(
        400,
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
        type_="idempotency_error",
        store_for_idempotency=False,
    )


def idempotency_other_endpoint(key: str, first: str, now: str) -> StripeError:
    return StripeError(
        400,
        "Keys for idempotent requests can only be used for the same endpoint they were first "
        f"used for ('{first}' vs '{now}'). Try using a key other than '{key}' if you meant to "
        "execute a different request.",
        type_="idempotency_error",
        store_for_idempotency=False,
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or "
        "we can help at https://support.stripe.com/.",
    )


def card_declined(
    message: str = "Your card was declined.",
    *,
    decline_code: str = "generic_decline",
    extra: dict[str, Any] | None = None,
) -> StripeError:
    return StripeError(
        402,
        message,
        type_="card_error",
        code="card_declined",
        decline_code=decline_code,
        extra=extra,
    )
