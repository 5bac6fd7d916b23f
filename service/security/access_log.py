"""The access log: one JSON line per request naming the route template, never the raw path.

A raw path or query string can carry whatever a client typed, card numbers included, so the
log names the matched route (`/v1/members/{member_id}`) and, for requests no route matched,
the path with every card number masked; query strings are never logged.
"""

from __future__ import annotations

import logging
import time
import uuid
from urllib.parse import unquote

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.logs import (
    CURRENT_REQUEST,
    REQUEST_ID_HEADER,
    RequestContext,
    accepted_request_id,
    route_of,
)
from service.observability.metrics import HTTP_REQUEST_SECONDS
from service.security.card_numbers import mask_card_numbers

logger = logging.getLogger("clo.access")
MAX_LOGGED_PATH_CHARS = 200


def logged_path(scope: Scope) -> str:
    """The matched route's template under its routers' static prefixes (`/v1`), else the
    path with card numbers masked."""
    raw = scope.get("path", "")
    template = getattr(scope.get("route"), "path_format", None)
    if isinstance(template, str):
        raw_segments, own = raw.split("/"), template.split("/")[1:]
        if len(raw_segments) >= len(own):
            return "/".join(raw_segments[: len(raw_segments) - len(own)] + own)
    return mask_card_numbers(unquote(raw)[:MAX_LOGGED_PATH_CHARS])


class AccessLog:
    """Gives each request its id (echoed as X-Request-ID), writes one access line when it
    ends and times it for /metrics by route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        offered = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = accepted_request_id(offered) or uuid.uuid4().hex
        token = CURRENT_REQUEST.set(RequestContext(request_id, scope))

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            elapsed_s = time.perf_counter() - started
            method = scope.get("method", "-")
            client = scope.get("client") or ("-", 0)
            logger.info(
                "request",
                extra={
                    "method": method,
                    "path": logged_path(scope),
                    "status": status,
                    "duration_ms": round(elapsed_s * 1000, 1),
                    "client": client[0],
                },
            )
            HTTP_REQUEST_SECONDS.labels(method, route_of(scope) or "unmatched", status).observe(
                elapsed_s
            )
            CURRENT_REQUEST.reset(token)
