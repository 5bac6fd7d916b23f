"""The access log: one line per request naming the route template, never the raw path.

A raw path or query string can carry whatever a client typed, card numbers included, so the
log names the matched route (`/v1/members/{member_id}`) and, for requests no route matched,
the path with every card number masked; query strings are never logged.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            client = scope.get("client") or ("-", 0)
            logger.info(
                '%s "%s %s" %d %.1f ms',
                client[0],
                scope.get("method", "-"),
                logged_path(scope),
                status,
                (time.perf_counter() - started) * 1000,
            )
