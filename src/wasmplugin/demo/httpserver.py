"""A small HTTP/1.1 server on asyncio + httptools for the demo's local services.

Each service is a plain function from :class:`Request` to :class:`Response`; the server handles
framing (content-length requests, keep-alive) and nothing else. It is deliberately tiny: the demo's
services answer a handful of requests, they are not on the measured data path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

import httptools


@dataclass(frozen=True)
class Request:
    method: str
    #: The request target as received (path and query).
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(
        cls, status: int, value: Any, headers: tuple[tuple[str, str], ...] = (), *, pretty: bool = False
    ) -> Response:
        body = (
            json.dumps(value, indent=2) + "\n" if pretty else json.dumps(value, separators=(",", ":"))
        ).encode()
        return cls(status, body, (("content-type", "application/json"), *headers))

    def encode(self, keep_alive: bool) -> bytes:
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines.extend(f"{k}: {v}" for k, v in self.headers)
        lines.append(f"content-length: {len(self.body)}")
        if not keep_alive:
            lines.append("connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


Handler = Callable[[Request], Response]


class _Connection(asyncio.Protocol):
    """One client connection: parse requests with httptools, answer each with the handler."""

    def __init__(self, service: HttpService) -> None:
        self.service = service
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self._target = b""
        self._headers: list[tuple[str, str]] = []
        self._body = bytearray()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport
        self.service.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.service.connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(Response(400, b"bad request\n").encode(keep_alive=False))
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._target = b""
        self._headers = []
        self._body = bytearray()

    def on_url(self, url: bytes) -> None:
        self._target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        request = Request(
            method=self.parser.get_method().decode("ascii"),
            target=self._target.decode("latin-1"),
            headers=tuple(self._headers),
            body=bytes(self._body),
        )
        self.service.requests += 1
        try:
            response = self.service.handler(request)
        except Exception as exc:  # a bug in a demo service: answer 500, keep serving
            response = Response.json(500, {"error": f"{type(exc).__name__}: {exc}"})
        keep_alive = bool(self.parser.should_keep_alive())
        if self.transport is not None:
            self.transport.write(response.encode(keep_alive))
            if not keep_alive:
                self.transport.close()


@dataclass
class HttpService:
    """One named service listening on ``host:port`` (0 = an ephemeral port)."""

    name: str
    handler: Handler
    host: str = "127.0.0.1"
    port: int = 0
    #: Requests answered so far.
    requests: int = 0
    connections: set[_Connection] = field(default_factory=set)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self.host, self.port)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        """Stop listening and drop open connections (a service that is "down")."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)
