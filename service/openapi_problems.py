"""Every operation documents the problem documents it can answer, from what the route is.

Derived once, when the app is built, so the document cannot drift from the routes: a route
that needs a credential can answer 401 (none, unknown, expired or revoked), 403 (a role that
may not do this) and 429 (too many failed authentications); a route with ids in its path 404
(another party's object is not found); a write 409 (a duplicate or a conflicting retry) and
413 (a body past the limit); every route 422 (a bad path, query, header or body, a card
number included). Routes that reach Stripe or Plaid add 502 and 503; signed webhooks add
400 (signature refused).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.problems import PROBLEM_MEDIA_TYPE
from service.routing import needs_principal

REASONS = {
    400: "Refused: a webhook whose signature does not verify, or a malformed request",
    401: "No credential, or an unknown, expired or revoked one",
    403: "The caller's role may not do this",
    404: "Not found: missing, or another party's (never told apart)",
    409: "Conflict: a duplicate, or another request's content under the same key",
    413: "The request body is larger than the limit",
    422: "Invalid input: the first error names the field and the reason",
    429: "Too many failed authentications (or key fetches): see Retry-After",
    502: "The payment provider answered with an error",
    503: "The payment provider is not configured",
}
# For creates that answer a repeat with the first result: 201 the first time, 200 after.
REPEATED_200: dict[int | str, dict[str, Any]] = {
    200: {"description": "A repeat: the first result, unchanged"}
}
PROVIDER_PATHS = ("/setup-intents", "/plaid/")
SCOPING_QUERY_PARAMS = {"member_id", "merchant_id", "offer_id", "external_id"}


_NULLABLE_STRING = {"type": ["string", "null"]}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; errors[0] names the field and the reason.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": _NULLABLE_STRING,
                    "reason": _NULLABLE_STRING,
                    "message": _NULLABLE_STRING,
                },
            },
        },
    },
}


def _body_names_an_object(route: APIRoute) -> bool:
    """A body field such as `publisher_id` or `charity_id`: the object may not be found."""
    if route.body_field is None:
        return False
    annotation = route.body_field.field_info.annotation
    models = [annotation, *getattr(annotation, "__args__", ())]  # X | None too
    return any(
        name.endswith("_id") for m in models for name in (getattr(m, "model_fields", None) or {})
    )


def problem_statuses(route: APIRoute, *, authenticated: bool) -> set[int]:
    statuses = {422}
    methods = route.methods or set()
    writes = bool(methods & {"POST", "PUT", "PATCH", "DELETE"})
    if authenticated:
        statuses |= {401, 403, 429}
    # Ids in the path, or an object named by a query parameter (GET /v1/offers?member_id=).
    named = {p.name for p in route.dependant.query_params} & SCOPING_QUERY_PARAMS
    if route.param_convertors or "{" in route.path or named or _body_names_an_object(route):
        statuses.add(404)
    if writes:
        statuses |= {409, 413}
    if any(p in route.path for p in PROVIDER_PATHS):
        statuses |= {502, 503}
    if not authenticated and route.body_field is None and writes:  # signed webhooks
        statuses |= {400, 401, 429, 503}
    return statuses


def problem_response(description: str) -> dict[str, Any]:
    """A problem response a route documents itself (beyond what `problem_statuses` derives)."""
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, through included routers (which FastAPI keeps nested)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and inner is not route:
            found.extend(_api_routes(list(getattr(inner, "routes", []))))
    return found


def document_problems(app: FastAPI) -> None:
    """Add the problem responses to each route (in place, before the schema is built)."""
    for route in _api_routes(list(app.routes)):
        if not route.include_in_schema:
            continue
        statuses = problem_statuses(route, authenticated=needs_principal(route.dependant))
        responses: dict[int | str, dict[str, Any]] = dict(route.responses)
        for status in sorted(statuses):
            responses.setdefault(
                status,
                {
                    "description": REASONS[status],
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
                },
            )
        route.responses = responses
