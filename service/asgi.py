"""The ASGI application for a production server (`gunicorn service.asgi:app`): JSON logs and
the app built from the environment's settings, once per worker process."""

from __future__ import annotations

from service.config import get_settings
from service.observability.logs import configure_logging

configure_logging(get_settings().log_level)

from service.app import create_app  # noqa: E402  (logging first: the app logs as it builds)

app = create_app()
