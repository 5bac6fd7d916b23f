"""A local SMTP server (aiosmtpd) that keeps every message it receives, with the time it
arrived: the tests, the demo and `clo bench notify` send real SMTP to it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
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
    on_receive: Callable[[ReceivedMail], None] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        mail = ReceivedMail(message, tuple(envelope.rcpt_tos), time.time())
        with self.arrived:
            self.received.append(mail)
            self.arrived.notify_all()
        if self.on_receive is not None:
            self.on_receive(mail)
        return "250 Message accepted for delivery"


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class SmtpSink:
    """`with SmtpSink() as sink:` serves SMTP on 127.0.0.1:`sink.port` until the block ends."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        on_receive: Callable[[ReceivedMail], None] | None = None,
    ) -> None:
        self._handler = _Handler(on_receive=on_receive)
        # The controller connects to its own port to see it is up, so it needs the number
        # up front: port 0 means a free one, asked of the system here.
        self.host = host
        self.port = port or free_port(host)
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


class _Announcer:
    """Prints `<time> <Message-ID>` per message; reads the headers only (cheap)."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        received_at = time.time()
        headers = BytesHeaderParser().parsebytes(envelope.original_content)
        print(f"{received_at:.6f} {headers['Message-ID']}", flush=True)
        return "250 Message accepted for delivery"


def main() -> int:
    """`python -m infra.mail.smtp_sink --port N`: serve until stopped, printing one line per
    message received: `<unix time> <Message-ID>` (the benchmark's SMTP server, in its own
    process so that it measures the sender, not a shared interpreter)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    controller = Controller(_Announcer(), hostname=args.host, port=args.port)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
