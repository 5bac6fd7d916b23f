"""Structured logs: a JSON object per line with the request's fields, and nothing secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from service.observability.logs import accepted_request_id, configure_logging, redact
from tests.service.api_client import PAN, Api, api_for


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    buffer = io.StringIO()
    configure_logging(logging.INFO, stream=buffer)
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def api(engine: Engine) -> Iterator[Api]:
    with api_for(engine) as a:
        yield a


def lines_of(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_a_request_logs_its_fields_and_no_secret(api: Api, log_lines: io.StringIO) -> None:
    token = api.admin["Authorization"].removeprefix("Bearer ")
    api.client.get(f"/v1/members/{PAN}", headers=api.admin)  # refused: never logged in full
    resp = api.client.get(
        "/v1/members/987654", headers={**api.admin, "X-Request-ID": "req-0123456789"}
    )
    assert resp.headers["X-Request-ID"] == "req-0123456789"
    logging.getLogger("clo.test").info("card %s with Bearer %s", PAN, token)

    text = log_lines.getvalue()
    assert token not in text and token.partition(".")[2] not in text
    assert PAN not in text
    access = [line for line in lines_of(log_lines) if line["logger"] == "clo.access"]
    assert len(access) == 2
    line = access[1]
    assert line["event"] == "request"
    assert line["level"] == "INFO"
    assert line["timestamp"].startswith("20")
    assert line["request_id"] == "req-0123456789"
    assert line["route"] == "/v1/members/{member_id}"
    assert (line["method"], line["status"]) == ("GET", resp.status_code)
    assert line["actor_kind"] == "admin" and isinstance(line["actor_id"], int)
    assert isinstance(line["duration_ms"], float)
    (ours,) = [line for line in lines_of(log_lines) if line["logger"] == "clo.test"]
    assert ours["event"] == "card ************4242 with Bearer [redacted]"


def test_a_request_without_a_usable_id_gets_one(api: Api, log_lines: io.StringIO) -> None:
    for offered in (None, "short", "x" * 300, f"req-{PAN}", "has space in it"):
        headers = {"X-Request-ID": offered} if offered else {}
        resp = api.client.get("/healthz", headers=headers)
        made = resp.headers["X-Request-ID"]
        assert made != offered and len(made) == 32
    access = [line for line in lines_of(log_lines) if line["logger"] == "clo.access"]
    assert len({line["request_id"] for line in access}) == 5
    assert all(line["actor_kind"] == "anonymous" for line in access)
    assert PAN not in log_lines.getvalue()


def test_redaction_and_request_id_rules() -> None:
    assert accepted_request_id("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0") is not None
    assert accepted_request_id("4111 1111 1111 1111") is None
    assert redact('{"secret": "abc123", "token"="zz"}') == (
        '{"secret": "[redacted]", "token"="[redacted]"}'
    )
    assert "s3cr3t" not in redact("authorization: Bearer ck_1.s3cr3t")


def test_chatty_libraries_log_only_warnings_and_errors():
    import io
    import logging

    from service.observability.logs import CHATTY_LIBRARY_LOGGERS, configure_logging

    out = io.StringIO()
    configure_logging(logging.INFO, stream=out)
    try:
        logging.getLogger("alembic.runtime.migration").info("Running upgrade 0001 -> 0002")
        logging.getLogger("stripe").info("Request to Stripe api")
        logging.getLogger("stripe").warning("Stripe retried a request")
        logging.getLogger("clo.demo").info("our own line")
    finally:
        configure_logging(logging.INFO)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "Stripe retried a request" in lines[0] and "our own line" in lines[1]
    assert {"alembic", "stripe", "mail.log"} <= set(CHATTY_LIBRARY_LOGGERS)
