"""A real SMTP server (aiosmtpd) per test, and settings that send email to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.mail.smtp_sink import SmtpSink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink
