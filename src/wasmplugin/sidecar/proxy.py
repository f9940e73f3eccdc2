"""The HTTP/1.1 proxy data path: one asyncio ``Protocol`` per downstream connection.

Design (why it looks like this): a framework's request/response objects cost ~10x what a proxy can
afford in Python, so the proxy works at the protocol level. httptools parses; parser callbacks drive
an :class:`~wasmplugin.sidecar.exchange.Exchange` (one request/response pair) through plain method
calls; output is queued in per-connection write lists and flushed once per ``data_received`` batch
(one ``write`` syscall per direction per batch). No coroutine, task or timer is created per request:
timeouts are checked by one sweeper per listener.

HTTP/1.1 pipelining is served in order: requests parsed while another is active wait in a queue,
and the connection stops reading until the queue drains (bounded buffering). Flow control pauses
reading on one side while the other side's write buffer is above ``Limits.connection_buffer_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import httptools

from wasmplugin.chain.api import Direction, StreamInfo
from wasmplugin.sidecar import http1
from wasmplugin.sidecar.exchange import PAUSE_BUFFER, PAUSE_PIPELINE, PAUSE_UPSTREAM, Exchange
from wasmplugin.sidecar.http1 import LocalReply
from wasmplugin.sidecar.ids import RequestIds
from wasmplugin.sidecar.routing import Cluster
from wasmplugin.sidecar.stats import ClusterStats, ListenerStats
from wasmplugin.sidecar.upstream import UpstreamPool

if TYPE_CHECKING:
    from wasmplugin.sidecar.state import ConfigState


# -- request fields the proxy looks at (``on_header``) --------------------------------------------
_HOST = 1
_CONTENT_LENGTH = 2
_TRANSFER_ENCODING = 3
_XFP = 4
_RID = 5
_EXPECT = 6
_HOP = 7
_WATCHED: dict[bytes, int] = {
    b"host": _HOST,
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"x-forwarded-proto": _XFP,
    b"x-request-id": _RID,
    b"expect": _EXPECT,
    **dict.fromkeys(http1.HOP_BY_HOP - {b"transfer-encoding"}, _HOP),
}
#: Most field names are skipped on their length alone, without ``lower()``.
_WATCHED_LENGTHS = frozenset(len(name) for name in _WATCHED)
# Bits of ``DownstreamConnection._flags``; the first two are Exchange.missing_ids' bits inverted.
_F_XFP = 1
_F_RID = 2
_MISSING_IDS = _F_XFP | _F_RID
_F_CHUNKED = 4
_F_EXPECT = 8
#: A field the proxy does not forward (hop-by-hop, or ``expect``) is present.
_F_HOP = 16
_NO_LIMIT = 1 << 62


def _watch(flags: int, kind: int, value: bytes) -> int:
    """``flags`` updated for a request field of ``kind`` (a later field of a name wins)."""
    if kind == _XFP:
        return flags | _F_XFP
    if kind == _RID:
        return flags | _F_RID
    if kind == _TRANSFER_ENCODING:
        flags |= _F_HOP
        return flags | _F_CHUNKED if b"chunked" in value.lower() else flags & ~_F_CHUNKED
    if kind == _EXPECT:
        flags |= _F_HOP
        return flags | _F_EXPECT if value.lower() == b"100-continue" else flags & ~_F_EXPECT
    return flags | _F_HOP


class HeaderLimitExceeded(Exception):
    """Raised inside a parser callback; turned into a 431 reply."""


class ListenerContext:
    """What every connection of one listener shares."""

    def __init__(
        self,
        *,
        name: str,
        direction: Direction,
        loop: asyncio.AbstractEventLoop,
        pool: UpstreamPool,
        state: Callable[[], ConfigState],
        cluster_stats: Callable[[Cluster], ClusterStats],
        access_log: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.direction = direction
        self.loop = loop
        self.pool = pool
        self.limits = pool.limits
        self.state = state
        self.cluster_stats = cluster_stats
        self.stats = ListenerStats(name)
        self.date = http1.DateCache()
        self.access_log = access_log
        self.inbound = direction is Direction.INBOUND
        #: ``x-request-id`` for requests that lack one.
        self.request_id = RequestIds().next
        self.connections: set[DownstreamConnection] = set()
        self.local_address = ("127.0.0.1", 0)
        self._next_cx_id = 0
        self._sweeper: asyncio.TimerHandle | None = None

    def next_connection_id(self) -> int:
        self._next_cx_id += 1
        return self._next_cx_id

    # -- timeouts: one sweep instead of one timer per request ---------------------------------------
    def sweep_interval(self) -> float:
        return max(0.01, min(1.0, self.limits.upstream_timeout_s / 20))

    def start_sweeper(self) -> None:
        self._sweeper = self.loop.call_later(self.sweep_interval(), self._sweep)

    def stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def _sweep(self) -> None:
        now = self.loop.time()
        due = [c.active for c in self.connections if c.active is not None and 0 < c.active.deadline <= now]
        for ex in due:
            ex.on_timeout()
        idle = self.limits.downstream_idle_timeout_s
        for conn in [c for c in self.connections if c.active is None and now - c.last_active > idle]:
            conn.close()
        self._sweeper = self.loop.call_later(self.sweep_interval(), self._sweep)


class DownstreamConnection(asyncio.Protocol):
    """One client connection: parses requests, queues pipelined ones, writes responses in order."""

    __slots__ = (
        "_clen",
        "_count_limit",
        "_flags",
        "_header_bytes",
        "_headers",
        "_host",
        "_info",
        "_info_key",
        "_max_bytes",
        "_max_count",
        "_now",
        "_paused",
        "_url",
        "active",
        "closed",
        "connection_id",
        "eof",
        "last_active",
        "lc",
        "parser",
        "parsing",
        "peer",
        "pending",
        "transport",
        "wbuf",
    )

    def __init__(self, lc: ListenerContext) -> None:
        self.lc = lc
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.active: Exchange | None = None
        self.parsing: Exchange | None = None
        self.pending: deque[Exchange] = deque()
        self.wbuf: list[bytes] = []
        self.closed = False
        self.eof = False
        self.peer: tuple[str, int] = ("127.0.0.1", 0)
        self.connection_id = 0
        self.last_active = 0.0
        self._paused = 0
        self._now = lc.loop.time
        limits = lc.limits
        self._max_bytes = limits.max_request_headers_bytes
        self._max_count = limits.max_headers_count
        # Per message (reset in on_message_begin): request line and fields as parsed, their size,
        # the field count limit (none for trailers), what the proxy looks at in them.
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._count_limit = self._max_count
        self._clen = -1
        self._host: bytes | None = None
        self._flags = 0
        self._info: StreamInfo | None = None
        self._info_key: tuple[Cluster | None, int, bool] | None = None

    def stream_info(self, cluster: Cluster | None, port: int, http11: bool) -> StreamInfo:
        """The connection's facts for a chain stream (properties ``source.*``, ``upstream.*`` ...).
        Streams of one connection run one after the other, so they share one object while the
        route stays the same; the exchange sets ``request_start_ns`` for each (and checks
        ``_info``/``_info_key`` itself before calling this: keep them in sync)."""
        key = (cluster, port, http11)
        info = self._info
        if info is not None and self._info_key == key:
            return info
        lc = self.lc
        upstream_ep = cluster.endpoints[0] if cluster is not None and cluster.endpoints else None
        info = StreamInfo(
            direction=lc.direction,
            port=port,
            source_address=self.peer[0],
            source_port=self.peer[1],
            destination_address=lc.local_address[0],
            destination_port=lc.local_address[1],
            connection_id=self.connection_id,
            protocol="HTTP/1.1" if http11 else "HTTP/1.0",
            upstream_address=upstream_ep.address if upstream_ep else None,
            upstream_port=upstream_ep.port if upstream_ep else None,
            cluster_name=cluster.name if cluster is not None else None,
            route_name="default" if cluster is not None else None,
        )
        self._info = info
        self._info_key = key
        return info

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        lc = self.lc
        lc.connections.add(self)
        lc.stats.cx_total += 1
        lc.stats.cx_active += 1
        self.connection_id = lc.next_connection_id()
        self.last_active = self._now()
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.peer = (str(peer[0]), int(peer[1]))
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        limit = lc.limits.connection_buffer_bytes
        transport.set_write_buffer_limits(high=limit, low=limit // 4)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        lc = self.lc
        lc.connections.discard(self)
        lc.stats.cx_active -= 1
        if self.active is not None:
            self.active.downstream_lost()
        for ex in self.pending:
            ex.downstream_lost()
        self.pending.clear()
        self.active = None

    def data_received(self, data: bytes) -> None:
        self.last_active = self._now()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as err:
            cause = err.__context__
            if isinstance(cause, HeaderLimitExceeded):
                self._protocol_error(http1.HEADERS_TOO_LARGE)
            elif cause is not None:
                raise cause from None
            else:  # pragma: no cover
                self._protocol_error(http1.BAD_REQUEST)
        except httptools.HttpParserUpgrade:
            self._protocol_error(http1.NOT_IMPLEMENTED)
        except httptools.HttpParserError:
            self._protocol_error(http1.BAD_REQUEST)
        if self.wbuf:
            self.flush()
        ex = self.active
        if ex is not None:
            up = ex.upstream
            if up is not None and up.wbuf:
                up.flush()

    def eof_received(self) -> bool | None:
        # A half-closed client still gets its responses; close once they are written.
        if self.active is None and not self.pending:
            return None
        self.eof = True
        return True

    def pause_writing(self) -> None:
        ex = self.active
        if ex is not None and ex.upstream is not None and ex.upstream.transport is not None:
            ex.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        ex = self.active
        if ex is not None and ex.upstream is not None and ex.upstream.transport is not None:
            ex.upstream.transport.resume_reading()

    # -- output ---------------------------------------------------------------------------------
    def flush(self) -> None:
        if self.wbuf and self.transport is not None and not self.closed:
            buf = self.wbuf
            self.wbuf = []
            self.transport.write(buf[0] if len(buf) == 1 else b"".join(buf))

    def close(self) -> None:
        self.flush()
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True

    def abort(self) -> None:
        self.wbuf = []
        if self.transport is not None and not self.closed:
            self.transport.abort()
        self.closed = True

    def pause(self, reason: int) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self._paused |= reason

    def resume(self, reason: int) -> None:
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def _protocol_error(self, reply: LocalReply) -> None:
        """A request we cannot parse: answer it (if nothing is in flight) and close."""
        if self.active is None:
            self.wbuf.append(http1.render_local_reply(reply, self.lc.date.get(), close=True))
            self.lc.stats.rq_total += 1
            self.lc.stats.rq_by_class[reply.status // 100] += 1
        self.close()

    # -- httptools callbacks ---------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        self._count_limit = self._max_count
        self._clen = -1
        self._host = None
        self._flags = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > self._max_bytes:
            raise HeaderLimitExceeded()

    def on_header(self, name: bytes, value: bytes) -> None:
        # After the head, fields are trailers: on_headers_complete handed the list over and
        # lifted the count limit (Envoy counts trailer bytes, not trailers).
        headers = self._headers
        headers.append((name, value))
        size = self._header_bytes = self._header_bytes + len(name) + len(value)
        if size > self._max_bytes or len(headers) > self._count_limit:
            raise HeaderLimitExceeded()
        if len(name) in _WATCHED_LENGTHS:
            kind = _WATCHED.get(name.lower())
            if kind is not None:
                if kind == _HOST:
                    self._host = value
                elif kind == _CONTENT_LENGTH:
                    self._clen = int(value) if value.isdigit() else -1
                else:
                    self._flags = _watch(self._flags, kind, value)

    def on_headers_complete(self) -> None:
        parser = self.parser
        headers = self._headers
        self._headers = []  # what follows the head is trailers
        self._count_limit = _NO_LIMIT
        if parser.should_upgrade():
            return  # feed_data raises HttpParserUpgrade next: answered 501 (not supported)
        http11 = parser.get_http_version() == "1.1"
        ex = Exchange(self, parser.get_method(), self._url, headers, http11, parser.should_keep_alive())
        flags = self._flags
        ex.authority = self._host
        ex.missing_ids = _MISSING_IDS & ~flags
        if flags & _F_HOP:
            ex.req_hop = True
        if flags & _F_CHUNKED:
            ex.req_chunked = True
        elif self._clen >= 0:
            ex.req_length = self._clen
        if flags & _F_EXPECT and http11:
            # Envoy answers 100-continue itself and does not forward the expectation.
            self.wbuf.append(http1.CONTINUE_100)
        self.parsing = ex
        stats = self.lc.stats
        stats.rq_total += 1
        stats.rq_active += 1
        if self.active is None:
            self.active = ex
            ex.start()
        else:
            self.pending.append(ex)
            self.pause(PAUSE_PIPELINE)

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        if ex is not None:
            ex.request_body(body)

    def on_message_complete(self) -> None:
        ex = self.parsing
        self.parsing = None
        if ex is not None:
            ex.request_end(self._headers or None)

    # -- exchange bookkeeping ------------------------------------------------------------------------
    def exchange_done(self, ex: Exchange, close: bool) -> None:
        self.lc.stats.rq_active -= 1
        if ex is not self.active:  # pragma: no cover - defensive
            return
        self.active = None
        self.last_active = self._now()
        if self._paused & (PAUSE_UPSTREAM | PAUSE_BUFFER):
            self.resume(PAUSE_UPSTREAM | PAUSE_BUFFER)  # that exchange's back-pressure is over
        if close or self.closed:
            for p in self.pending:
                p.downstream_lost()
            self.pending.clear()
            self.close()
            return
        if self.pending:
            nxt = self.pending.popleft()
            self.active = nxt
            if not self.pending:
                self.resume(PAUSE_PIPELINE)
            nxt.start()
        elif self.eof:
            self.close()
