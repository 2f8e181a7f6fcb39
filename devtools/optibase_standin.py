"""A real HTTP server on loopback that plays Optibase's conversion endpoint.

It records every request exactly as received, and answers from a script of planned replies
(a status, a delay, or a dropped connection) so tests can play Optibase's failures.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

PATH = "/api/script/conversionEvent"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    delay: float = 0.0
    drop: bool = False  # close the connection without answering
    body: bytes = b'{"ok":true}'


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is a case under test, not a server fault


@dataclass
class OptibaseStandIn:
    """Use as a context manager; `url` is the conversion endpoint to configure."""

    on_request: Callable[[Received], None] | None = None
    received: list[Received] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)  # consumed in order; then 200s

    def __post_init__(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    "POST",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with standin._lock:
                    standin.received.append(request)
                    reply = standin.replies.pop(0) if standin.replies else Reply()
                if standin.on_request:
                    standin.on_request(request)
                time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the owner prints what it wants; keep test output clean

        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}{PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "OptibaseStandIn":
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def conversions(self) -> list[Any]:
        with self._lock:
            return [request.json() for request in self.received]
