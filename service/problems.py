"""Expected failures as typed errors, rendered as RFC 9457 problem documents in one place."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An expected failure with an HTTP status, a machine-readable type and the field at fault."""

    status = 400
    type_slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        reason: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.reason = reason or self.type_slug
        if status is not None:
            self.status = status
        self.headers = headers
        self.extra = extra


class NotFound(Problem):
    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(Problem):
    status = 409
    type_slug = "conflict"
    title = "Conflict"


class Unauthorized(Problem):
    status = 401
    type_slug = "unauthorized"
    title = "Unauthorized"


class Forbidden(Problem):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class TooManyRequests(Problem):
    status = 429
    type_slug = "too-many-requests"
    title = "Too many requests"


class InvalidInput(Problem):
    status = 422
    type_slug = "invalid-input"
    title = "Invalid input"


class PayloadTooLarge(Problem):
    status = 413
    type_slug = "payload-too-large"
    title = "Payload too large"


def problem_response(
    status: int,
    title: str,
    detail: str,
    type_slug: str,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://clo.example/problems/{type_slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


# PostgreSQL states that mean "busy, try again": a lock or statement timeout, too many clients.
_BUSY_SQLSTATES = frozenset({"55P03", "57014", "53300"})
RETRY_BUSY_AFTER_S = 1


def database_busy(exc: Exception) -> bool:
    """The database could not take this request in time (overload), not a fault in it: no
    pooled connection came free, SQLite's write lock stayed taken past the busy timeout, or a
    PostgreSQL lock or statement timeout or connection limit was hit."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    return "database is locked" in str(orig) or "database table is locked" in str(orig)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _busy(_request: Request, exc: Exception) -> JSONResponse:
        # Overload is the client's cue to send again later (every input is keyed, so a retry
        # is safe); anything else is a fault and stays a 500.
        if not database_busy(exc):
            raise exc
        return problem_response(
            503,
            "Database busy",
            "The database could not take this request in time; send it again shortly.",
            "database-busy",
            headers={"Retry-After": str(RETRY_BUSY_AFTER_S)},
        )

    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> JSONResponse:
        errors = [{"field": exc.field, "reason": exc.reason}] if exc.field else None
        return problem_response(
            exc.status, exc.title, exc.detail, exc.type_slug, errors, exc.extra or None, exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            # Never echo input back: it might hold a card number.
            errors.append(
                {
                    "field": _field_path(err.get("loc", ())),
                    "reason": err.get("type"),
                    "message": err.get("msg"),
                }
            )
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        return problem_response(422, "Invalid input", detail, "invalid-input", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(exc.status_code, str(exc.detail), str(exc.detail), slug)
