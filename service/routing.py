"""The route class every router uses: authentication first, then the card-number guard.

Order matters: the body has already been size-limited as it streamed in (`BodySizeLimit`);
a route that needs a credential authenticates the caller before its body is read, parsed or
scanned, so an anonymous client cannot make the server do either; parsing and scanning run
off the event loop. The guard looks at every place a card number could enter: the path, the
query string, the headers the service stores, and the body whatever its content type says.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from service.auth import authenticate_request, current_principal
from service.problems import InvalidInput
from service.security.card_numbers import find_card_number, find_card_number_field

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
# Request headers the service stores or logs: a card number there is refused like in a body.
STORED_HEADERS = ("idempotency-key", "user-agent")
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


def card_number_refused(field: str, where: str) -> InvalidInput:
    return InvalidInput(
        f"{where} holds what looks like a full card number; send a provider token and the "
        "last four digits instead",
        field=field,
        reason="card_number_not_allowed",
    )


def parsed_as_json(content_type: str | None) -> bool:
    """Whether FastAPI decodes a body of this Content-Type as JSON: none given, or
    application/json or application/*+json, in any case and with any parameters."""
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def scan_body(body: bytes, content_type: str | None) -> None:
    """Refuse a body holding a card number outside the identifier fields.

    A body FastAPI will decode as JSON is decoded here the same way first (so escapes such as
    \\u0034 are seen decoded, and invalid JSON is a clear 422); any other body, or JSON sent
    under another content type, is scanned too. Blocking: runs in a worker thread.
    """
    try:
        parsed = json.loads(body)
    except RecursionError:
        raise too_deep() from None
    except (ValueError, UnicodeDecodeError):
        if find_card_number(body.decode("utf-8", errors="replace")) is not None:
            raise card_number_refused("body", "the body") from None
        if parsed_as_json(content_type):
            raise InvalidInput(
                "request body is not valid JSON", field="body", reason="invalid_json"
            ) from None
        return
    if json_depth_exceeds(parsed):
        raise too_deep()
    path = find_card_number_field(parsed, IDENTIFIER_FIELDS)
    if path is not None:
        raise card_number_refused(path, path)


def scan_request_line_and_headers(request: Request) -> None:
    """Path segments, every query key and value (repeated ones too), and stored headers."""
    if find_card_number(request.url.path) is not None:
        raise card_number_refused("path", "the path")
    for key, value in request.query_params.multi_items():
        if find_card_number(key) is not None:
            raise card_number_refused("query", "a query parameter name")
        if key not in IDENTIFIER_FIELDS and find_card_number(value) is not None:
            raise card_number_refused(key, f"query parameter {key}")
    for name in STORED_HEADERS:
        for value in request.headers.getlist(name):
            if find_card_number(value) is not None:
                raise card_number_refused(name.title(), f"the {name.title()} header")


def needs_principal(dependant: Dependant) -> bool:
    """Whether a route (or any of its dependencies) needs an authenticated caller."""
    return any(d.call is current_principal or needs_principal(d) for d in dependant.dependencies)


class GuardedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        authenticated = needs_principal(self.dependant)
        # Routes that take the raw request (signed webhooks) check their signature over the
        # raw bytes first and handle their own content; FastAPI parses no body for them.
        parses_body = self.body_field is not None

        async def guarded(request: Request) -> Response:
            scan_request_line_and_headers(request)
            if authenticated:
                request.state.principal = await run_in_threadpool(authenticate_request, request)
            if parses_body and request.method in ("POST", "PUT", "PATCH"):
                body = await request.body()  # size-limited as it streamed in
                if body:
                    await run_in_threadpool(scan_body, body, request.headers.get("content-type"))
            return await handler(request)

        return guarded


def make_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes all pass the guard (route classes do not inherit)."""
    return APIRouter(route_class=GuardedRoute, **kwargs)
