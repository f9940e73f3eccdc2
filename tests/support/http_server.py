"""A scripted HTTP(S) server on 127.0.0.1 for fetcher tests: each path answers a list of responses
in turn (the last one repeats), and every request is recorded before it is answered."""

from __future__ import annotations

import http.server
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Close the connection without answering (a network error for the client).
    drop: bool = False
    #: Send this many body bytes, then close (a truncated response).
    truncate_at: int | None = None


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]


class ScriptedServer:
    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.hits.append(Hit(self.command, self.path, dict(self.headers.items())))
                    replies = server.routes.get(self.path.split("?", 1)[0])
                    if not replies:
                        reply = Reply(404, b"not found")
                    elif len(replies) > 1:
                        reply = replies.pop(0)
                    else:
                        reply = replies[0]
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.truncate_at is not None:
                    self.wfile.write(reply.body[: reply.truncate_at])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.close()
                    return
                self.wfile.write(reply.body)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="scripted-http", daemon=True
        )
        self._thread.start()

    def route(self, path: str, *replies: Reply) -> str:
        """Script ``path`` and return its full URL."""
        with self._lock:
            self.routes[path] = list(replies)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for h in self.hits if h.path.split("?", 1)[0] == path)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
