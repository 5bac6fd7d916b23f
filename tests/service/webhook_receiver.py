"""A partner's webhook receiver for tests: a real HTTP server on 127.0.0.1 in a thread.

It checks every signature with the same helper the inbound feed uses, drops event ids it
has seen (at-least-once delivery means duplicates), and keeps what arrived in order. It can
be stopped and started again on the same port (a receiver that went down mid-stream).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.feeds.signing import verify
from service.problems import Unauthorized


@dataclass
class Received:
    key_id: str
    event_id: str
    sequence: int
    body: dict[str, Any]
    signatures: str


@dataclass
class Receiver:
    secrets: dict[str, str]  # key id -> secret, as the partner configured it
    clock: Callable[[], int]  # the receiver's "now", Unix seconds
    port: int = 0
    arrivals: list[Received] = field(default_factory=list)  # every accepted request
    refused: list[str] = field(default_factory=list)  # why a request was refused
    answer_status: int = 200
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def events(self, key_id: str | None = None) -> list[str]:
        """Event ids accepted, duplicates dropped, in arrival order."""
        seen: list[str] = []
        for arrival in self.arrivals:
            if (key_id is None or arrival.key_id == key_id) and arrival.event_id not in seen:
                seen.append(arrival.event_id)
        return seen

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    verify(
                        receiver.secrets,
                        key_id=self.headers.get("X-CLO-Key-Id"),
                        timestamp=self.headers.get("X-CLO-Timestamp"),
                        signature=self.headers.get("X-CLO-Signature"),
                        body=body,
                        now_unix=receiver.clock(),
                        window_seconds=300,
                    )
                except Unauthorized as exc:
                    receiver.refused.append(str(exc.reason))
                    self.send_response(401)
                    self.end_headers()
                    return
                # Kept even when the answer is an error: the partner processed it, and the
                # answer is what got lost (so the same event comes again).
                parsed = json.loads(body)
                receiver.arrivals.append(
                    Received(
                        key_id=self.headers["X-CLO-Key-Id"],
                        event_id=parsed["id"],
                        sequence=int(self.headers["X-CLO-Delivery-Sequence"]),
                        body=parsed,
                        signatures=self.headers["X-CLO-Signature"],
                    )
                )
                self.send_response(receiver.answer_status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None
