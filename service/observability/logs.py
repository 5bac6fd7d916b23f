"""Structured logs: one JSON object per line, from the API, the scheduler and `clo` alike.

Every line has `timestamp` (UTC, ISO 8601), `level`, `logger`, `process` (the pid: which
worker) and `event` (the message).
A line written while serving a request also has `request_id` (the client's X-Request-ID when
it is a plain token, else one made here; echoed in the response), `route` (the route
template, never the raw path), `actor_kind` and `actor_id` (the credential's role and id,
never the credential). The access log adds `method`, `status` and `duration_ms`.

Nothing secret reaches a line: messages and string fields have card numbers masked and
bearer credentials cut out before they are written, whatever a caller logged.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter
from starlette.types import Scope

from service.security.card_numbers import mask_card_numbers

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(secret|password|token|api_key|authorization)(\"?\s*[:=]\s*\"?)[^\s\"',;]+"
)
_OUR_HANDLER = "clo-json"


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    scope: Scope  # read when a line is written: routing and authentication fill it in later


CURRENT_REQUEST: ContextVar[RequestContext | None] = ContextVar("clo_request", default=None)


def accepted_request_id(offered: str | None) -> str | None:
    """The client's request id if it is a plain token of 8-128 characters and no card
    number; else None (a fresh one is made)."""
    if not offered or not _REQUEST_ID.fullmatch(offered):
        return None
    return offered if mask_card_numbers(offered) == offered else None


def redact(text: str) -> str:
    """Card numbers masked, bearer credentials and `secret=...` values cut out."""
    text = _BEARER.sub(r"\1 [redacted]", text)
    text = _SECRET_ASSIGNMENT.sub(r"\1\2[redacted]", text)
    return mask_card_numbers(text)


def route_of(scope: Scope) -> str | None:
    """The matched route's template under its routers' prefixes, or None when none matched."""
    from service.security.access_log import logged_path

    if getattr(scope.get("route"), "path_format", None) is None:
        return None
    return logged_path(scope)


def actor_of(scope: Scope) -> tuple[str, int | None]:
    """Who is calling: the authenticated credential's role and id, else anonymous."""
    principal = (scope.get("state") or {}).get("principal")
    if principal is None:
        return "anonymous", None
    return str(principal.role.value), int(principal.credential_id)


class RequestFields(logging.Filter):
    """Adds the request's fields to each line and redacts what must never be written."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, redact(value))
        context = CURRENT_REQUEST.get()
        if context is not None:
            kind, actor_id = actor_of(context.scope)
            fields: dict[str, Any] = {
                "request_id": context.request_id,
                "route": route_of(context.scope),
                "actor_kind": kind,
                "actor_id": actor_id,
            }
            for key, value in fields.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def json_formatter() -> JsonFormatter:
    return JsonFormatter(
        "{levelname}{name}{process}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger", "message": "event"},
        timestamp=True,
    )


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written (a test may have swapped it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: int | str = logging.INFO, stream: IO[str] | None = None) -> None:
    """JSON lines on stderr (or `stream`) for the whole process; calling again replaces the
    handler rather than adding a second one."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _OUR_HANDLER:
            root.removeHandler(existing)
    handler: logging.StreamHandler[Any] = logging.StreamHandler(stream or _CurrentStderr())
    handler.set_name(_OUR_HANDLER)
    handler.addFilter(RequestFields())
    handler.setFormatter(json_formatter())
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's and gunicorn's own loggers write through ours (uvicorn's access log is off:
    # it prints raw paths and query strings; clo.access names the route).
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # Libraries that narrate every step at INFO (each migration, each Stripe request, each
    # SMTP command) drown the service's own lines: their warnings and errors still show.
    for name in CHATTY_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


CHATTY_LIBRARY_LOGGERS = ("alembic", "stripe", "mail.log", "httpx", "httpcore", "apscheduler")
