"""Request bodies are refused by size as they stream in, before anything reads them whole.

A declared Content-Length over the limit is answered 413 before a byte of the body is read;
a body without one (chunked) is counted as it arrives and refused as soon as it passes the
limit, so no handler, guard or signature check ever holds more than the limit in memory.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import PayloadTooLarge, problem_response


class BodySizeLimit:
    def __init__(
        self, app: ASGIApp, *, default_bytes: int, by_path_prefix: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_bytes = default_bytes
        # Longest prefix first, so a more specific route wins.
        self.by_prefix = sorted((by_path_prefix or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.by_prefix:
            if path.startswith(prefix):
                return limit
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the handler's read: the problem handler answers 413.
                    raise _too_large_error(limit)
            return message

        await self.app(scope, counted, send)


def _too_large_error(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds {limit} bytes", field="body", reason="too_large")


def _too_large(limit: int):
    err = _too_large_error(limit)
    return problem_response(
        err.status, err.title, err.detail, err.type_slug, [{"field": "body", "reason": err.reason}]
    )
