"""The route class every router uses: body size limit and the card-number guard."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from service.problems import InvalidInput, PayloadTooLarge
from service.security.card_numbers import find_card_number_field

# Fields declared to hold merchant or event identifiers (or integers): digits there are not
# card numbers. Card tokens, fingerprints and member references are not exempt: a full
# number sent as a "token" is still a card number and must never be stored.
IDENTIFIER_FIELDS = frozenset(
    {
        "mid",
        "acquirer_id",
        "external_id",
        "original_external_id",
        "card_id",
        "amount",
        "postal_code",
        "mcc",
    }
)
MAX_BODY_BYTES = 2_000_000
MAX_JSON_DEPTH = 32  # request bodies nest a few levels; deeper is refused before any walk


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than `limit` objects and arrays (walked iteratively)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return False


def too_deep() -> InvalidInput:
    return InvalidInput(
        f"request body nests deeper than {MAX_JSON_DEPTH} levels", field="body", reason="too_deep"
    )


class GuardedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH"):
                body = await request.body()
                if len(body) > MAX_BODY_BYTES:
                    raise PayloadTooLarge(
                        f"request body exceeds {MAX_BODY_BYTES} bytes",
                        field="body",
                        reason="too_large",
                    )
                if body and "json" in request.headers.get("content-type", "json"):
                    try:
                        parsed = json.loads(body)
                    except (ValueError, UnicodeDecodeError):
                        raise InvalidInput(
                            "request body is not valid JSON", field="body", reason="invalid_json"
                        ) from None
                    except RecursionError:
                        raise too_deep() from None
                    if json_depth_exceeds(parsed):
                        raise too_deep()
                    path = find_card_number_field(parsed, IDENTIFIER_FIELDS)
                    if path is not None:
                        raise InvalidInput(
                            f"{path} holds what looks like a full card number; send a provider "
                            "token and the last four digits instead",
                            field=path,
                            reason="card_number_not_allowed",
                        )
            for key, value in request.query_params.items():
                if key not in IDENTIFIER_FIELDS and find_card_number_field(value) is not None:
                    raise InvalidInput(
                        f"query parameter {key} holds what looks like a card number",
                        field=key,
                        reason="card_number_not_allowed",
                    )
            return await handler(request)

        return guarded


def make_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes all pass the guard (route classes do not inherit)."""
    return APIRouter(route_class=GuardedRoute, **kwargs)
