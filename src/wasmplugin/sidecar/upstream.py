"""Upstream HTTP/1.1 connections and the keep-alive pool.

An :class:`UpstreamConnection` is an asyncio ``Protocol`` with an httptools response parser. It
serves one exchange at a time and reports the response to its :class:`UpstreamHandler` through
plain method calls (no coroutines on the request path). The :class:`UpstreamPool` hands out idle
connections synchronously and opens new ones in a task, calling back when connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Callable
from typing import Protocol, cast

import httptools

from wasmplugin.limits import Limits
from wasmplugin.sidecar.http1 import HOP_BY_HOP
from wasmplugin.sidecar.stats import ClusterStats

#: Lengths of the field names the response parser looks at (content-length, hop-by-hop).
_WATCHED_LENGTHS = frozenset({14} | {len(n) for n in HOP_BY_HOP})


class UpstreamHandler(Protocol):
    """What an upstream connection reports to the exchange it currently serves."""

    def on_upstream_headers(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int, chunked: bool
    ) -> None: ...

    def on_upstream_data(self, data: bytes) -> None: ...

    def on_upstream_end(self, trailers: list[tuple[bytes, bytes]] | None, last: bytes = b"") -> None:
        """The response is over. ``last`` is its final body chunk when that chunk completed a
        body of declared length (one call instead of data then an empty end, as Envoy's codec
        does when a body and its end arrive together)."""
        ...

    def on_upstream_error(self, reason: str) -> None: ...

    def on_upstream_flushed(self) -> None:
        """The upstream data_received batch is over: flush what was queued downstream."""
        ...

    def on_upstream_backpressure(self, paused: bool) -> None: ...

    def on_upstream_express(self, status: int, head: bytes, data: bytes, body_start: int) -> None:
        """A whole response at once (only for handlers that attached with ``express=True``):
        ``head`` is the status line and fields without hop-by-hop lines, each line ending in
        CRLF, without the blank line; the body is ``data[body_start:]``. The connection is
        already detached."""
        ...


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to an endpoint."""

    __slots__ = (
        "_between",
        "_chunk",
        "_chunked",
        "_close_delimited",
        "_fresh",
        "_head_chunk",
        "_headers",
        "_in_trailers",
        "_length",
        "_remaining",
        "_status_reason",
        "endpoint",
        "express",
        "handler",
        "head_request",
        "hop_names",
        "keep_alive",
        "parser",
        "pool",
        "raw_head",
        "raw_wanted",
        "response_started",
        "reused",
        "stats",
        "transport",
        "usable",
        "wbuf",
    )

    def __init__(self, pool: UpstreamPool, key: PoolKey, stats: ClusterStats) -> None:
        self.pool = pool
        self.endpoint = key
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.handler: UpstreamHandler | None = None
        self.usable = False
        self.reused = False
        self.head_request = False
        self.keep_alive = True
        self.response_started = False
        self.wbuf: list[bytes] = []
        #: The fields of the response head, then (once the head is handed over) its trailers.
        self._headers: list[tuple[bytes, bytes]] = []
        self._in_trailers = False
        self._status_reason = b""
        self._close_delimited = False
        self._length = -1
        #: Body bytes still expected of a response framed by content-length (0: none or unknown).
        self._remaining = 0
        self._chunked = False
        self._chunk = b""
        self._head_chunk: bytes | None = None
        self._fresh = False
        self._between = True
        #: Raw response head (status line and fields, without the final blank line) when the
        #: read that completed it held all of it; else None.
        self.raw_head: bytes | None = None
        #: The handler takes complete simple responses through ``on_upstream_express``.
        self.express = False
        #: The handler forwards the head as received when it can (``raw_head``).
        self.raw_wanted = False
        #: Names (as received) of hop-by-hop fields in the current response head.
        self.hop_names: list[bytes] | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        limit = self.pool.limits.connection_buffer_bytes
        transport.set_write_buffer_limits(high=limit, low=limit // 4)
        self.usable = True
        self.stats.cx_total += 1
        self.stats.cx_active += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self.stats.cx_active -= 1
        h = self.handler
        if h is None:
            return
        self.handler = None
        if self.response_started and self._close_delimited:
            h.on_upstream_end(None)  # a body without length or chunking ends at EOF
        else:
            h.on_upstream_error("connection_termination")
        h.on_upstream_flushed()

    def data_received(self, data: bytes) -> None:
        h = self.handler
        if h is not None and self.express and self._between and _express(self, h, data):
            return
        self._chunk = data
        self._fresh = self._between  # a message starting in this read starts at offset 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.usable = False
            cur = self.handler
            self.handler = None
            if self.transport is not None:
                self.transport.close()
            if cur is not None:
                cur.on_upstream_error("protocol_error")
        if h is not None:
            h.on_upstream_flushed()

    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.on_upstream_backpressure(True)

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.on_upstream_backpressure(False)

    # -- request side ---------------------------------------------------------------------------
    def attach(self, handler: UpstreamHandler, *, head_request: bool, express: bool = False) -> None:
        self.handler = handler
        self.head_request = head_request
        self.raw_wanted = express
        self.express = express and not head_request
        self.response_started = False
        self._headers = []
        self._in_trailers = False

    def flush(self) -> None:
        if self.wbuf and self.transport is not None:
            buf = self.wbuf
            self.wbuf = []
            self.transport.write(buf[0] if len(buf) == 1 else b"".join(buf))

    def abort(self) -> None:
        """Drop this connection (the exchange failed or was cancelled mid-flight)."""
        self.handler = None
        self.usable = False
        if self.transport is not None:
            self.transport.abort()

    # -- httptools callbacks --------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._headers = []
        self._in_trailers = False
        self._length = -1
        self._chunked = False
        self.hop_names = None
        self._between = False
        self._head_chunk = self._chunk if self._fresh else None
        self._fresh = False

    def on_status(self, status: bytes) -> None:
        self._status_reason = status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        if len(name) in _WATCHED_LENGTHS and not self._in_trailers:
            lk = name.lower()
            if lk == b"content-length":
                self._length = int(value)
            elif lk in HOP_BY_HOP:
                if lk == b"transfer-encoding":
                    self._chunked = b"chunked" in value.lower()
                if self.hop_names is None:
                    self.hop_names = []
                self.hop_names.append(name)

    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if 100 <= status < 200:
            return  # interim response (100 Continue ...): the final one follows
        self.keep_alive = parser.should_keep_alive()
        length = self._length
        chunked = self._chunked
        headers = self._headers
        self._headers = []  # trailers, if any
        self._in_trailers = True
        self.response_started = True
        if self.head_request or status == 204 or status == 304:
            length = 0 if length < 0 or self.head_request else length
        self._close_delimited = length < 0 and not chunked
        self._remaining = length if length > 0 and not chunked else 0
        h = self.handler
        if h is None:
            return
        raw = None
        if self.raw_wanted:
            # The head exactly as received, when this read holds all of it: the proxy's fast
            # path forwards it (minus hop-by-hop lines) instead of serializing every field again.
            chunk = self._head_chunk
            if chunk is not None and chunk is self._chunk and chunk.startswith(b"HTTP/1.1 "):
                end = chunk.find(b"\r\n\r\n")
                if end > 0:
                    raw = chunk[: end + 2]
        self.raw_head = raw
        h.on_upstream_headers(status, self._status_reason, headers, length, chunked)
        if self.head_request:
            # httptools cannot skip a HEAD response's declared body: finish here and retire the
            # connection instead of reusing it.
            self.keep_alive = False
            self._finish(None)

    def on_body(self, body: bytes) -> None:
        h = self.handler
        if h is None:
            return
        remaining = self._remaining
        if remaining:
            remaining -= len(body)
            self._remaining = remaining
            if remaining <= 0:
                # The declared length is complete: end the response with its last chunk now
                # (on_message_complete follows and finds no handler).
                self.handler = None
                self.response_started = False
                h.on_upstream_end(None, body)
                return
        h.on_upstream_data(body)

    def on_message_complete(self) -> None:
        self._between = True
        if not self.response_started:
            return  # end of an interim 1xx response
        self._finish(self._headers or None)

    def _finish(self, trailers: list[tuple[bytes, bytes]] | None) -> None:
        h = self.handler
        if h is None:
            return
        self.handler = None
        self.response_started = False
        h.on_upstream_end(trailers)


# Matched against the lower-cased head (one ``lower()`` is cheaper than case-insensitive regexes).
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)[ \t]*\r\n")
_HOP_LINE = re.compile(rb"\r\n(?:connection|keep-alive|proxy-connection|te|upgrade):[^\r\n]*")
_CLOSE = re.compile(rb"\r\nconnection:[^\r\n]*close")


def _express(conn: UpstreamConnection, h: UpstreamHandler, data: bytes) -> bool:
    """The common case without the parser's per-field callbacks: one read holding exactly one
    complete ``HTTP/1.1`` response framed by a single content-length. Anything else (chunked,
    partial, 1xx/204/304, several lengths) returns False and goes through httptools."""
    if not data.startswith(b"HTTP/1.1 "):
        return False
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    block = data[: end + 2]  # status line and fields, each line ending in CRLF
    low = block.lower()  # same length: offsets in ``low`` are offsets in ``block``
    lengths = _CONTENT_LENGTH.findall(low)
    code = block[9:12]
    if len(lengths) != 1 or not code.isdigit() or b"\r\ntransfer-encoding:" in low:
        return False
    status = int(code)
    if status < 200 or status == 204 or status == 304 or len(data) != end + 4 + int(lengths[0]):
        return False
    keep_alive = True
    hop = _HOP_LINE.search(low)
    if hop is not None:
        keep_alive = _CLOSE.search(low) is None
        kept = []
        start = 0
        for m in _HOP_LINE.finditer(low, hop.start()):
            kept.append(block[start : m.start()])
            start = m.end()
        kept.append(block[start:])
        block = b"".join(kept)
    conn.keep_alive = keep_alive
    conn.handler = None
    h.on_upstream_express(status, block, data, end + 4)
    return True


#: Connections are pooled per cluster and endpoint, as Envoy's connection pools are per cluster:
#: (cluster name, address, port) — plain values so the key hashes in C.
PoolKey = tuple[str, str, int]


class UpstreamPool:
    """Keep-alive connections per endpoint, LIFO (the warmest connection first)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limits: Limits) -> None:
        self.loop = loop
        self.limits = limits
        self._idle: dict[PoolKey, list[UpstreamConnection]] = {}
        self._closed = False

    def acquire(self, key: PoolKey) -> UpstreamConnection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable and conn.transport is not None and not conn.transport.is_closing():
                conn.reused = True
                return conn
        return None

    def connect(
        self,
        key: PoolKey,
        stats: ClusterStats,
        on_ready: Callable[[UpstreamConnection], None],
        on_error: Callable[[str], None],
    ) -> asyncio.Task[None]:
        return self.loop.create_task(self._connect(key, stats, on_ready, on_error))

    async def _connect(
        self,
        key: PoolKey,
        stats: ClusterStats,
        on_ready: Callable[[UpstreamConnection], None],
        on_error: Callable[[str], None],
    ) -> None:
        conn = UpstreamConnection(self, key, stats)
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: conn, key[1], key[2]),
                self.limits.upstream_connect_timeout_s,
            )
        except (TimeoutError, OSError) as exc:
            stats.cx_connect_fail += 1
            on_error("connection_timeout" if isinstance(exc, TimeoutError) else "connection_failure")
            return
        except asyncio.CancelledError:
            if conn.transport is not None:
                conn.transport.abort()
            raise
        except Exception:  # e.g. a host name IDNA cannot encode: fail the request, never hang it
            if conn.transport is not None:
                conn.transport.abort()
            stats.cx_connect_fail += 1
            on_error("connection_failure")
            return
        on_ready(conn)

    def release(self, conn: UpstreamConnection) -> None:
        """Return a connection whose exchange completed cleanly."""
        if not conn.usable or not conn.keep_alive or self._closed or conn.transport is None:
            if conn.transport is not None:
                conn.transport.close()
            return
        idle = self._idle.setdefault(conn.endpoint, [])
        if len(idle) >= self.limits.upstream_max_idle_per_endpoint:
            conn.transport.close()
            return
        idle.append(conn)

    def idle_count(self, key: PoolKey) -> int:
        return sum(1 for c in self._idle.get(key, ()) if c.usable)

    def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                if conn.transport is not None:
                    conn.transport.close()
        self._idle.clear()
