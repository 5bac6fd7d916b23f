"""A local SMTP server (aiosmtpd) that keeps every message it receives, with the time it
arrived: the tests, the demo and `clo bench notify` send real SMTP to it."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class ReceivedMail:
    message: EmailMessage
    envelope_to: tuple[str, ...]
    received_at: float  # time.time() when the server had the whole message


@dataclass
class _Handler:
    received: list[ReceivedMail] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.arrived:
            self.received.append(ReceivedMail(message, tuple(envelope.rcpt_tos), time.time()))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class SmtpSink:
    """`with SmtpSink() as sink:` serves SMTP on 127.0.0.1:`sink.port` until the block ends."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = _Handler()
        # The controller connects to its own port to see it is up, so it needs the number
        # up front: port 0 means a free one, asked of the system here.
        self.host = host
        self.port = port or _free_port(host)
        self._controller = Controller(self._handler, hostname=host, port=self.port)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def received(self) -> list[ReceivedMail]:
        with self._handler.arrived:
            return list(self._handler.received)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[ReceivedMail]:
        deadline = time.monotonic() + timeout_s
        with self._handler.arrived:
            while len(self._handler.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._handler.arrived.wait(left)
            return list(self._handler.received)
