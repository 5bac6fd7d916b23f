"""Plaid error objects: the typed error the stand-in raises and the body it becomes."""

from __future__ import annotations

from typing import Any

_DOCS = "https://plaid.com/docs/errors/"
_DOC_PAGES = {
    "INVALID_REQUEST": "invalid-request/",
    "INVALID_INPUT": "invalid-input/",
    "ITEM_ERROR": "item/",
    "TRANSACTIONS_ERROR": "transactions/",
    "SANDBOX_ERROR": "sandbox/",
    "API_ERROR": "api/",
    "INSTITUTION_ERROR": "institution/",
    "RATE_LIMIT_EXCEEDED": "rate-limit-exceeded/",
}


class PlaidAPIError(Exception):
    """An error Plaid would answer with: HTTP status plus a Plaid error object."""

    def __init__(
        self,
        status: int,
        error_type: str,
        error_code: str,
        error_message: str,
        *,
        display_message: str | None = None,
        suggested_action: str | None = None,
    ) -> None:
        super().__init__(f"{error_type}/{error_code}: {error_message}")
        self.status = status
        self.error_type = error_type
        self.error_code = error_code
        self.error_message = error_message
        self.display_message = display_message
        self.suggested_action = suggested_action

    def body(self, request_id: str | None, *, in_webhook: bool = False) -> dict[str, Any]:
        """The error object; without a request id it is the form nested in an Item or webhook.

        Plaid fills `status` (the HTTP status the error would have had) only in webhooks.
        """
        body: dict[str, Any] = {
            "error_type": self.error_type,
            "error_code": self.error_code,
            "error_code_reason": None,
            "error_message": self.error_message,
            "display_message": self.display_message,
            "documentation_url": _DOCS + _DOC_PAGES.get(self.error_type, ""),
            "suggested_action": self.suggested_action,
        }
        if in_webhook:
            body["status"] = self.status
        if request_id is not None:
            body["request_id"] = request_id
        return body


class ConnectionDrop(Exception):
    """The server closes the connection without answering (a network failure)."""


def missing_fields(names: list[str]) -> PlaidAPIError:
    return PlaidAPIError(
        400,
        "INVALID_REQUEST",
        "MISSING_FIELDS",
        "the following required fields are missing: " + ", ".join(names),
    )


def unknown_fields(names: list[str]) -> PlaidAPIError:
    return PlaidAPIError(
        400,
        "INVALID_REQUEST",
        "UNKNOWN_FIELDS",
        "the following fields are not recognized by this endpoint: " + ", ".join(names),
    )


def invalid_field(message: str) -> PlaidAPIError:
    return PlaidAPIError(400, "INVALID_REQUEST", "INVALID_FIELD", message)


def invalid_body(message: str = "body could not be parsed as JSON") -> PlaidAPIError:
    return PlaidAPIError(400, "INVALID_REQUEST", "INVALID_BODY", message)


def not_found(path: str) -> PlaidAPIError:
    return PlaidAPIError(404, "INVALID_REQUEST", "NOT_FOUND", f"unrecognized endpoint: {path}")


def invalid_api_keys() -> PlaidAPIError:
    return PlaidAPIError(
        400, "INVALID_INPUT", "INVALID_API_KEYS", "invalid client_id or secret provided"
    )


def invalid_access_token(
    message: str = "could not find matching access token",
) -> PlaidAPIError:
    return PlaidAPIError(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", message)


def invalid_public_token(message: str = "could not find matching public token") -> PlaidAPIError:
    return PlaidAPIError(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN", message)


def item_not_found() -> PlaidAPIError:
    return PlaidAPIError(
        400,
        "ITEM_ERROR",
        "ITEM_NOT_FOUND",
        "the Item you requested cannot be found. This Item does not exist, has been "
        "previously removed via /item/remove, or has had access removed by the user.",
    )


def item_login_required() -> PlaidAPIError:
    return PlaidAPIError(
        400,
        "ITEM_ERROR",
        "ITEM_LOGIN_REQUIRED",
        "the login details of this item have changed (credentials, MFA, or required user "
        "action) and a user login is required to update this information. use Link's "
        "update mode to restore the item to a good state",
        display_message="The provided credentials were not correct. Please try again.",
    )


def sync_mutation_during_pagination() -> PlaidAPIError:
    return PlaidAPIError(
        400,
        "TRANSACTIONS_ERROR",
        "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
        "Underlying transaction data changed since last page was fetched. Please restart "
        "pagination from last update.",
    )


def invalid_webhook_key_id() -> PlaidAPIError:
    return PlaidAPIError(
        400,
        "INVALID_INPUT",
        "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
        "invalid key_id provided. note that key_ids are specific to Plaid environments, and "
        "verification requests must be made to the same environment that the webhook was "
        "sent from",
    )


def invalid_institution(institution_id: str) -> PlaidAPIError:
    return PlaidAPIError(
        400, "INVALID_INPUT", "INVALID_INSTITUTION", f"invalid institution_id: {institution_id}"
    )


def invalid_product(product: str) -> PlaidAPIError:
    return PlaidAPIError(
        400, "INVALID_INPUT", "INVALID_PRODUCT", f"invalid or unsupported product: {product}"
    )


def sandbox_webhook_invalid() -> PlaidAPIError:
    return PlaidAPIError(
        400,
        "SANDBOX_ERROR",
        "SANDBOX_WEBHOOK_INVALID",
        "the webhook for this Item is either not set, or it is invalid",
    )


def internal_error(message: str) -> PlaidAPIError:
    return PlaidAPIError(500, "API_ERROR", "INTERNAL_SERVER_ERROR", message)


def rate_limit_exceeded() -> PlaidAPIError:
    return PlaidAPIError(
        429,
        "RATE_LIMIT_EXCEEDED",
        "TRANSACTIONS_SYNC_LIMIT",
        "rate limit exceeded for attempts to access this item. please try again later",
    )


def institution_down() -> PlaidAPIError:
    return PlaidAPIError(
        400,
        "INSTITUTION_ERROR",
        "INSTITUTION_DOWN",
        "this institution is not currently responding to this request. please try again soon",
        display_message=(
            "This financial institution is not currently responding. Please try again later."
        ),
    )


# What `inject_sync_error` can script: the error the next /transactions/sync calls get.
SYNC_FAULTS = {
    "RATE_LIMIT_EXCEEDED": rate_limit_exceeded,
    "INSTITUTION_DOWN": institution_down,
    "INTERNAL_SERVER_ERROR": lambda: internal_error("an unexpected error occurred"),
    "CONNECTION_RESET": None,  # no answer at all
}


def access_not_granted() -> PlaidAPIError:
    return PlaidAPIError(
        400,
        "ITEM_ERROR",
        "ACCESS_NOT_GRANTED",
        "the user did not grant the necessary permissions for their account",
    )


# What an ITEM ERROR webhook can carry in the stand-in (`fire_item_error`).
ITEM_ERRORS = {
    "ITEM_LOGIN_REQUIRED": item_login_required,
    "ACCESS_NOT_GRANTED": access_not_granted,
    "INSTITUTION_DOWN": institution_down,
    "INTERNAL_SERVER_ERROR": lambda: internal_error("an unexpected error occurred"),
}
