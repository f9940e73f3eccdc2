"""A real HTTP/1.1 upstream for sidecar tests, run in its own thread with its own event loop.

It answers every request with a JSON document describing what it received (method, path, headers,
body length and sha256, trailers), unless the path asks for something else:

* ``/status/N``       → status N, empty body
* ``/bytes/N``        → N bytes of body, content-length framing
* ``/chunked/N``      → N bytes of body in chunks of 1000, chunked framing, with a trailer
* ``/close/N``        → N bytes, no length, connection closed to end the body
* ``/delay/MS``       → answer after MS milliseconds
* ``/hang``           → never answer
* ``/hop``            → a response carrying hop-by-hop fields the proxy must drop
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from typing import Any, cast

import httptools

_PATTERN = bytes(range(251))


def pattern(n: int) -> bytes:
    """``bytes(i % 251 for i in range(n))``, fast."""
    return (_PATTERN * (n // 251 + 1))[:n]


class _EchoProtocol(asyncio.Protocol):
    def __init__(self, server: EchoUpstream) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.headers: list[tuple[str, str]] = []
        self.trailers: list[tuple[str, str]] = []
        self.in_trailers = False
        self.url = b""
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        self.server.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.headers, self.trailers, self.in_trailers = [], [], False
        self.url, self.body = b"", bytearray()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        pair = (name.decode("latin-1"), value.decode("latin-1"))
        (self.trailers if self.in_trailers else self.headers).append(pair)

    def on_headers_complete(self) -> None:
        self.in_trailers = True

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.server.requests += 1
        method = self.parser.get_method().decode()
        path = self.url.decode("latin-1")
        keep = self.parser.should_keep_alive()
        info: dict[str, Any] = {
            "method": method,
            "path": path,
            "headers": self.headers,
            "trailers": self.trailers,
            "body_length": len(self.body),
            "body_sha256": hashlib.sha256(self.body).hexdigest(),
            "body": self.body[:256].decode("latin-1"),
        }
        self.server.seen.append(info)
        loop = asyncio.get_running_loop()
        if path.startswith("/delay/"):
            loop.call_later(
                int(path.split("?")[0].split("/")[2]) / 1000, self._respond, method, path, info, keep
            )
        elif path.startswith("/hang"):
            return
        else:
            self._respond(method, path, info, keep)

    def _respond(self, method: str, path: str, info: dict[str, Any], keep: bool) -> None:
        path = path.split("?")[0]
        t = self.transport
        if t is None or t.is_closing():
            return
        conn = b"" if keep else b"connection: close\r\n"
        if path.startswith("/status/"):
            code = int(path.split("/")[2])
            t.write(b"HTTP/1.1 %d X\r\ncontent-length: 0\r\n%s\r\n" % (code, conn))
        elif path.startswith("/bytes/"):
            n = int(path.split("/")[2])
            body = pattern(n)
            t.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n" % (n, conn))
            if method != "HEAD":
                t.write(body)
        elif path.startswith("/chunked/"):
            n = int(path.split("/")[2])
            body = pattern(n)
            t.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n%s\r\n" % conn)
            for i in range(0, n, 1000):
                part = body[i : i + 1000]
                t.write(b"%x\r\n%s\r\n" % (len(part), part))
            t.write(b"0\r\nx-checksum: %s\r\n\r\n" % hashlib.sha256(body).hexdigest().encode())
        elif path == "/hop":
            t.write(
                b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nX-Before: 1\r\nConnection:  keep-alive\r\n"
                b"Proxy-Connection: x\r\nX-After: 2\r\nContent-Length: 2\r\n\r\nok"
            )
        elif path.startswith("/close/"):
            n = int(path.split("/")[2])
            t.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + b"z" * n)
            t.close()
            return
        else:
            payload = json.dumps(info).encode()
            t.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-upstream: echo\r\n"
                b"content-length: %d\r\n%s\r\n%s" % (len(payload), conn, payload if method != "HEAD" else b"")
            )
        if not keep:
            t.close()


class EchoUpstream:
    """Start with ``with EchoUpstream() as up: up.port``."""

    def __init__(self) -> None:
        self.port = 0
        self.requests = 0
        self.connections = 0
        self.seen: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    def __enter__(self) -> EchoUpstream:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("echo upstream did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await self._loop.create_server(lambda: _EchoProtocol(self), "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.close()
