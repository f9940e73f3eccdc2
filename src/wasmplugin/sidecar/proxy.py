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
        #: ``x-request-id`` for requests that lack one.
        self.request_id = RequestIds().next
        self.inflight: set[Exchange] = set()
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
        for ex in [e for e in self.inflight if 0 < e.deadline <= now]:
            ex.on_timeout()
        idle = self.limits.downstream_idle_timeout_s
        for conn in [c for c in self.connections if c.active is None and now - c.last_active > idle]:
            conn.close()
        self._sweeper = self.loop.call_later(self.sweep_interval(), self._sweep)


class DownstreamConnection(asyncio.Protocol):
    """One client connection: parses requests, queues pipelined ones, writes responses in order."""

    __slots__ = (
        "_chunked",
        "_clen",
        "_expect",
        "_has_rid",
        "_has_xfp",
        "_header_bytes",
        "_headers",
        "_host",
        "_in_trailers",
        "_info",
        "_info_key",
        "_paused",
        "_trailers",
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
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._trailers: list[tuple[bytes, bytes]] | None = None
        self._in_trailers = False
        self._header_bytes = 0
        self._clen = -1
        self._chunked = False
        self._expect = False
        self._host: bytes | None = None
        self._has_xfp = False
        self._has_rid = False
        self._info: StreamInfo | None = None
        self._info_key: tuple[Cluster | None, int, bool] | None = None

    def stream_info(self, cluster: Cluster | None, port: int, http11: bool) -> StreamInfo:
        """The connection's facts for a chain stream (properties ``source.*``, ``upstream.*`` ...).
        Streams of one connection run one after the other, so they share one object while the
        route stays the same; the exchange sets ``request_start_ns`` for each."""
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
        self.last_active = lc.loop.time()
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
        self.last_active = self.lc.loop.time()
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
        self.flush()
        ex = self.active
        if ex is not None and ex.upstream is not None:
            ex.upstream.flush()

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
        self._trailers = None
        self._in_trailers = False
        self._header_bytes = 0
        self._clen = -1
        self._chunked = False
        self._expect = False
        self._host = None
        self._has_xfp = False
        self._has_rid = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > self.lc.limits.max_request_headers_bytes:
            raise HeaderLimitExceeded()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._in_trailers:
            if self._trailers is None:
                self._trailers = []
            self._trailers.append((name, value))
            if self._header_bytes > self.lc.limits.max_request_headers_bytes:
                raise HeaderLimitExceeded()
            return
        headers = self._headers
        headers.append((name, value))
        limits = self.lc.limits
        if len(headers) > limits.max_headers_count or self._header_bytes > limits.max_request_headers_bytes:
            raise HeaderLimitExceeded()
        n = len(name)
        if n == 14:
            if name.lower() == b"content-length":
                self._clen = int(value) if value.isdigit() else -1
        elif n == 4:
            if name.lower() == b"host":
                self._host = value
        elif n == 17:
            lk = name.lower()
            if lk == b"transfer-encoding":
                self._chunked = b"chunked" in value.lower()
            elif lk == b"x-forwarded-proto":
                self._has_xfp = True
        elif n == 12:
            if name.lower() == b"x-request-id":
                self._has_rid = True
        elif n == 6 and name.lower() == b"expect":
            self._expect = value.lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        parser = self.parser
        self._in_trailers = True
        if parser.should_upgrade():
            return  # feed_data raises HttpParserUpgrade next: answered 501 (not supported)
        http11 = parser.get_http_version() == "1.1"
        ex = Exchange(self, parser.get_method(), self._url, self._headers, http11, parser.should_keep_alive())
        ex.authority = self._host
        ex.missing_ids = (not self._has_xfp) | ((not self._has_rid) << 1)
        if self._chunked:
            ex.req_chunked = True
        elif self._clen >= 0:
            ex.req_length = self._clen
        if self._expect and http11:
            # Envoy answers 100-continue itself and does not forward the expectation.
            self.wbuf.append(http1.CONTINUE_100)
        self.parsing = ex
        self.lc.stats.rq_total += 1
        self.lc.stats.rq_active += 1
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
            ex.request_end(self._trailers)

    # -- exchange bookkeeping ------------------------------------------------------------------------
    def exchange_done(self, ex: Exchange, close: bool) -> None:
        self.lc.stats.rq_active -= 1
        if ex is not self.active:  # pragma: no cover - defensive
            return
        self.active = None
        self.last_active = self.lc.loop.time()
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
