"""The admin endpoint (Envoy's, on port 15000): stats, config dump, logging, readiness, clusters.

The HTTP side is a small httptools protocol; what it shows comes from an :class:`AdminBackend` —
the single-process sidecar, or the parent of ``--concurrency N`` workers, which aggregates what
its workers report.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, urlsplit

import httptools

from wasmplugin.abi.enums import LogLevel
from wasmplugin.sidecar import http1
from wasmplugin.sidecar.stats import ProcessStats, filter_text

HELP = """admin commands are:
  /: this help
  /clusters: upstream cluster status
  /config_dump: dump current configuration (listeners, clusters, ECDS Wasm filters, chain plan)
  /logging: query/change logging levels (POST /logging?wasm=debug, POST /logging?level=info)
  /quitquitquit: exit the server (POST)
  /ready: print server state, return 200 if LIVE, otherwise 503
  /server_info: print server version/status information
  /stats: print server stats (?filter=REGEX, ?usedonly, ?format=json)
  /stats/prometheus: print server stats in prometheus format
"""


class AdminBackend(Protocol):
    def is_ready(self) -> bool: ...
    async def stats(self) -> ProcessStats: ...
    async def config_dump(self) -> dict[str, Any]: ...
    async def clusters_text(self) -> str: ...
    async def server_info(self) -> dict[str, Any]: ...
    async def set_log_level(self, logger: str | None, level: LogLevel) -> None: ...
    def log_levels(self) -> dict[str, str]: ...
    def quit(self) -> None: ...


Response = tuple[int, str, bytes]


def _text(status: int, body: str, ctype: str = "text/plain; charset=UTF-8") -> Response:
    return status, ctype, body.encode()


async def handle(backend: AdminBackend, method: str, target: str) -> Response:
    parts = urlsplit(target)
    path = parts.path.rstrip("/") or "/"
    query = parse_qsl(parts.query, keep_blank_values=True)
    q = dict(query)
    if path == "/":
        return _text(200, HELP)
    if path == "/ready":
        return _text(200, "LIVE\n") if backend.is_ready() else _text(503, "PRE_INITIALIZING\n")
    if path == "/stats":
        snap = await backend.stats()
        if q.get("format") == "prometheus":
            return 200, "text/plain; version=0.0.4", snap.prometheus.encode()
        text = filter_text(snap.text, q.get("filter"), "usedonly" in q)
        if q.get("format") == "json":
            items = []
            for line in text.splitlines():
                name, _, value = line.partition(": ")
                items.append({"name": name, "value": int(value) if value.isdigit() else value})
            return 200, "application/json", json.dumps({"stats": items}, indent=1).encode()
        return _text(200, text)
    if path == "/stats/prometheus":
        snap = await backend.stats()
        return 200, "text/plain; version=0.0.4; charset=utf-8", snap.prometheus.encode()
    if path == "/config_dump":
        dump = await backend.config_dump()
        return 200, "application/json", (json.dumps(dump, indent=2, sort_keys=False) + "\n").encode()
    if path == "/clusters":
        return _text(200, await backend.clusters_text())
    if path == "/server_info":
        return 200, "application/json", (json.dumps(await backend.server_info(), indent=2) + "\n").encode()
    if path == "/logging":
        if method == "POST" and query:
            for name, value in query:
                try:
                    level = LogLevel.parse(value)
                except KeyError:
                    return _text(400, f"error: unknown log level {value!r}\n")
                try:
                    await backend.set_log_level(None if name == "level" else name, level)
                except KeyError:
                    return _text(404, f"error: unknown logger {name!r}\n" + _levels(backend))
        elif method != "POST" and query:
            return _text(405, "error: use POST to change log levels\n")
        return _text(200, _levels(backend))
    if path == "/quitquitquit":
        if method != "POST":
            return _text(405, "error: use POST\n")
        asyncio.get_running_loop().call_soon(backend.quit)
        return _text(200, "OK\n")
    return _text(404, "invalid path. " + HELP)


def _levels(backend: AdminBackend) -> str:
    lines = ["active loggers:"] + [f"  {k}: {v}" for k, v in sorted(backend.log_levels().items())]
    return "\n".join(lines) + "\n"


class AdminProtocol(asyncio.Protocol):
    """One admin connection: requests answered in order, one at a time."""

    def __init__(self, backend: AdminBackend) -> None:
        self.backend = backend
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.queue: asyncio.Queue[tuple[str, str, bool] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.date = http1.DateCache()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(http1.render_local_reply(http1.BAD_REQUEST, self.date.get(), close=True))
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        self.queue.put_nowait(
            (self.parser.get_method().decode(), self.url.decode("latin-1"), self.parser.should_keep_alive())
        )

    async def _serve(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            method, target, keep = item
            try:
                status, ctype, body = await handle(self.backend, method, target)
            except Exception as exc:  # an admin bug must not kill the sidecar
                status, ctype, body = 500, "text/plain", f"error: {exc}\n".encode()
            t = self.transport
            if t is None or t.is_closing():
                return
            head = http1.status_line(status) + (
                b"content-type: %s\r\ncontent-length: %d\r\ndate: %s\r\n"
                b"cache-control: no-cache, max-age=0\r\nx-content-type-options: nosniff\r\n%s\r\n"
                % (ctype.encode(), len(body), self.date.get(), b"" if keep else b"connection: close\r\n")
            )
            t.write(head + (b"" if method == "HEAD" else body))
            if not keep:
                t.close()
                return
