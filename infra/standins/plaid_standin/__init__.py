"""A stand-in for Plaid: a small stateful HTTP server speaking Plaid's wire format.

    with PlaidStandin(strict=True) as plaid_server:
        configuration = plaid.Configuration(
            host=plaid_server.url,
            api_key={"clientId": plaid_server.client_id, "secret": plaid_server.secret},
        )
        client = PlaidApi(plaid.ApiClient(configuration))

Run it on its own with `python -m infra.standins.plaid_standin --port 12112`.
"""

from .errors import PlaidAPIError
from .jwt import KeyRing, SigningKey, b64url, sign_plaid_jwt
from .schema import SpecViolationError, load_spec, validate_response, validate_webhook
from .standin import LinkedItem, PlaidStandin, RecordedResponse, Violation
from .webhooks import WebhookDelivery, webhook_body_bytes

__all__ = [
    "KeyRing",
    "LinkedItem",
    "PlaidAPIError",
    "PlaidStandin",
    "RecordedResponse",
    "SigningKey",
    "SpecViolationError",
    "Violation",
    "WebhookDelivery",
    "b64url",
    "load_spec",
    "sign_plaid_jwt",
    "validate_response",
    "validate_webhook",
    "webhook_body_bytes",
]
