"""The HTTP/1.1 proxy data path: one asyncio ``Protocol`` per downstream connection.

Design (why it looks like this): a framework's request/response objects cost ~10x what a proxy can
afford in Python, so the proxy works at the protocol level. httptools parses; parser callbacks drive
an :class:`Exchange` (one request/response pair, Envoy's "active stream") through plain method
calls; output is queued in per-connection write lists and flushed once per ``data_received`` batch
(one ``write`` syscall per direction per batch). No coroutine, task or timer is created per request:
timeouts are checked by one sweeper per listener.

Two paths per exchange:

* **fast path** — no plugin applies: headers and body bytes are forwarded with hop-by-hop fields
  removed and framing re-derived; nothing else is allocated;
* **chain path** — the exchange feeds ``wasmplugin.chain``'s sans-IO ``HttpStream`` with
  Envoy-style header maps (``:authority``, ``:path``, ``:method``, ``:scheme`` first) and performs
  the events it drains (send upstream, reply downstream, reset).

HTTP/1.1 pipelining is served in order: requests parsed while another is active wait in a queue,
and the connection stops reading until the queue drains (bounded buffering). Flow control pauses
reading on one side while the other side's write buffer is above ``Limits.connection_buffer_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import httptools

from wasmplugin.abi.headers import HeaderMap
from wasmplugin.chain.api import (
    Direction,
    Event,
    ResetStream,
    SendRequestData,
    SendRequestHeaders,
    SendRequestTrailers,
    SendResponseData,
    SendResponseHeaders,
    SendResponseTrailers,
    StreamInfo,
)
from wasmplugin.sidecar import http1
from wasmplugin.sidecar.http1 import CRLF, HOP_BY_HOP, HOP_LENGTHS, LAST_CHUNK, LocalReply, encode_chunk
from wasmplugin.sidecar.routing import Cluster
from wasmplugin.sidecar.stats import ClusterStats, ListenerStats
from wasmplugin.sidecar.upstream import UpstreamConnection, UpstreamPool

if TYPE_CHECKING:
    from wasmplugin.sidecar.chains import ChainSet, ChainStream
    from wasmplugin.sidecar.state import ConfigState

_HEAD = b"HEAD"
_PAUSE_PIPELINE = 1
_PAUSE_UPSTREAM = 2
_PAUSE_BUFFER = 4
#: Request bytes kept for a replay when a reused keep-alive connection turns out to be closed.
_REPLAY_MAX = 64 * 1024


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
            self.pause(_PAUSE_PIPELINE)

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
        if self._paused & (_PAUSE_UPSTREAM | _PAUSE_BUFFER):
            self.resume(_PAUSE_UPSTREAM | _PAUSE_BUFFER)  # that exchange's back-pressure is over
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
                self.resume(_PAUSE_PIPELINE)
            nxt.start()
        elif self.eof:
            self.close()


def _hop(name: bytes) -> bool:
    """Connection-scoped (or ``expect``, which the proxy answers itself): not forwarded."""
    lk = name.lower()
    return lk in HOP_BY_HOP or lk == b"expect"


def _strip_lines(head: bytes, names: list[bytes]) -> bytes | None:
    """``head`` without the field lines of ``names`` (exact bytes as received); None if one
    cannot be found (the caller then serializes the fields instead)."""
    for name in names:
        i = head.find(b"\r\n" + name + b":")
        if i < 0:
            return None
        j = head.find(b"\r\n", i + 2)
        head = head[:i] + head[j:]
    return head


def _request_id() -> bytes:
    h = b"%032x" % random.getrandbits(128)
    return b"%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


class Exchange:
    """One request/response pair on a downstream connection (Envoy's ActiveStream).

    Immutable defaults live on the class, so creating an exchange (once per request) sets only
    what differs per request."""

    req_length = -1
    req_chunked = False
    req_done = False
    req_trailers: list[tuple[bytes, bytes]] | None = None
    started = False
    done = False
    cluster: Cluster | None = None
    cstats: ClusterStats | None = None
    upstream: UpstreamConnection | None = None
    up_head = False
    up_chunked = False
    up_done = False
    pending_bytes = 0
    replay_bytes = 0
    retried = False
    resp_started = False
    resp_chunked = False
    status = 0
    deadline = 0.0
    t_start = 0.0
    chainset: ChainSet | None = None
    stream: ChainStream | None = None
    #: Body bytes that arrived before this (pipelined) exchange became active.
    _pending_body: list[bytes] | None = None
    authority: bytes | None = None
    #: Bit 1: no x-forwarded-proto, bit 2: no x-request-id (Envoy's connection manager adds them).
    missing_ids = 0
    #: Envoy's response-code details of a reply the proxy made itself (the access log shows them).
    details = ""

    def __init__(
        self,
        conn: DownstreamConnection,
        method: bytes,
        url: bytes,
        headers: list[tuple[bytes, bytes]],
        http11: bool,
        keep_alive: bool,
    ) -> None:
        self.conn = conn
        self.lc = conn.lc
        self.method = method
        self.url = url
        self.req_headers = headers
        self.http11 = http11
        self.keep_alive = keep_alive
        self.resp_close = not keep_alive
        self.pending: list[bytes] = []
        self.replay: list[bytes] | None = []

    @property
    def has_body(self) -> bool:
        return self.req_chunked or self.req_length > 0

    # -- downstream request input ----------------------------------------------------------------
    def start(self) -> None:
        self.started = True
        self.t_start = self.lc.loop.time()
        lc = self.lc
        state = lc.state()
        if lc.direction is Direction.INBOUND:
            cluster = state.routes.inbound
            port = cluster.port if cluster is not None else 0
        else:
            authority = self.authority
            cluster = state.routes.route_outbound(authority)
            port = cluster.port if cluster is not None else _authority_port(authority)
        self.cluster = cluster
        chains = state.chains
        chain = None if chains.empty else chains.chain_for(lc.direction, port)
        if chain is not None:
            self.chainset = chains
            chains.acquire()
            self._start_chain(chain, port)
        else:
            self._start_fast()
        body = self._pending_body
        if body is not None:
            self._pending_body = None
            for chunk in body:
                self.request_body(chunk)
        if self.req_done and not self.done:
            self.req_done = False
            self.request_end(self.req_trailers)

    def request_body(self, body: bytes) -> None:
        if not self.started:
            if self._pending_body is None:
                self._pending_body = []
            self._pending_body.append(body)
            return
        if self.done:
            return
        stream = self.stream
        if stream is not None:
            stream.request_data(body, False)
            self._drain()
            return
        self._up_write(encode_chunk(body) if self.up_chunked else body)

    def request_end(self, trailers: list[tuple[bytes, bytes]] | None) -> None:
        self.req_trailers = trailers
        self.req_done = True
        if not self.started or self.done:
            return
        stream = self.stream
        if stream is not None:
            if trailers:
                stream.request_trailers(HeaderMap.from_lowered([(k.lower(), v) for k, v in trailers]))
            elif self.has_body:
                stream.request_data(b"", True)
            self._drain()
            return
        if self.up_chunked:
            self._up_write(http1.encode_trailers(trailers) if trailers else LAST_CHUNK)
        self._up_finished()

    def downstream_lost(self) -> None:
        """The client went away: drop the upstream side and end the chain stream."""
        if self.done:
            return
        self.done = True
        self.lc.inflight.discard(self)
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.abort()
        if self.stream is not None:
            self.stream.reset("downstream_remote_disconnect")
        self._end_chain()

    # -- fast path ---------------------------------------------------------------------------------
    def _start_fast(self) -> None:
        cluster = self.cluster
        if cluster is None:
            self.local_reply(http1.NO_ROUTE)
            return
        parts = [b"%s %s HTTP/1.1\r\n" % (self.method, self.url)]
        headers = self.req_headers
        parts += [b"%s: %s\r\n" % hv for hv in headers if len(hv[0]) not in HOP_LENGTHS or not _hop(hv[0])]
        missing = self.missing_ids
        if missing & 1:
            parts.append(b"x-forwarded-proto: http\r\n")
        if missing & 2:
            parts.append(b"x-request-id: " + _request_id() + CRLF)
        if self.req_chunked:
            parts.append(b"transfer-encoding: chunked\r\n")
            self.up_chunked = True
        parts.append(CRLF)
        self._up_write(b"".join(parts))
        self._connect()

    # -- upstream request output -------------------------------------------------------------------
    def _connect(self, fresh: bool = False) -> None:
        cluster = self.cluster
        assert cluster is not None
        if self.cstats is None:
            self.cstats = self.lc.cluster_stats(cluster)
            self.cstats.rq_total += 1
        if not cluster.endpoints:
            self._upstream_failure(http1.NO_HEALTHY_UPSTREAM)
            return
        key = cluster.pick_key()
        conn = None if fresh else self.lc.pool.acquire(key)
        if conn is not None:
            # Synchronous: whoever is feeding input flushes once the batch is processed.
            self._attach(conn, flush=False)
        else:
            self.lc.pool.connect(key, self.cstats, self._attach, self._connect_failed)

    def _attach(self, conn: UpstreamConnection, flush: bool = True) -> None:
        if self.done:
            self.lc.pool.release(conn)
            return
        conn.attach(self, head_request=self.method == _HEAD, express=self.stream is None)
        self.upstream = conn
        if self.pending:
            conn.wbuf.extend(self.pending)
            self.pending = []
            self.pending_bytes = 0
            self.conn.resume(_PAUSE_BUFFER)
        if flush:
            conn.flush()
        if self.up_done:
            self.deadline = self.lc.loop.time() + self.lc.limits.upstream_timeout_s
            self.lc.inflight.add(self)

    def _connect_failed(self, reason: str) -> None:
        if self.done:
            return
        self._upstream_failure(http1.UPSTREAM_CONNECT_FAILURE)
        self._flush()

    def _up_write(self, data: bytes) -> None:
        replay = self.replay
        if replay is not None:
            replay.append(data)
            self.replay_bytes += len(data)
            if self.replay_bytes > _REPLAY_MAX:
                self.replay = None
        up = self.upstream
        if up is not None:
            up.wbuf.append(data)
            return
        self.pending.append(data)
        self.pending_bytes += len(data)
        if self.pending_bytes > self.lc.limits.connection_buffer_bytes:
            self.conn.pause(_PAUSE_BUFFER)

    def _up_finished(self) -> None:
        self.up_done = True
        if self.upstream is not None:
            self.deadline = self.lc.loop.time() + self.lc.limits.upstream_timeout_s
            self.lc.inflight.add(self)

    # -- upstream response input (UpstreamHandler) ----------------------------------------------------
    def on_upstream_headers(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int, chunked: bool
    ) -> None:
        self.status = status
        self.replay = None
        cs = self.cstats
        if cs is not None:
            cs.rq_by_class[min(status // 100, 5)] += 1
        stream = self.stream
        if stream is not None:
            pairs = [(b":status", b"%d" % status)]
            pairs += [(lk, v) for k, v in headers if (lk := k.lower()) not in HOP_BY_HOP]
            stream.response_headers(HeaderMap.from_lowered(pairs), length == 0)
            self._drain()
            return
        up = self.upstream
        raw = up.raw_head if up is not None else None
        if raw is not None and up is not None and up.hop_names is not None:
            raw = _strip_lines(raw, up.hop_names)
        if raw is not None:
            parts = [raw]
        else:
            parts = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
            parts += [b"%s: %s\r\n" % f for f in headers if len(f[0]) not in HOP_LENGTHS or not _hop(f[0])]
        if length < 0:
            self._body_framing(parts)
        if self.resp_close:
            parts.append(b"connection: close\r\n")
        elif not self.http11:
            parts.append(b"connection: keep-alive\r\n")  # an HTTP/1.0 client asked to keep it
        parts.append(CRLF)
        self.resp_started = True
        self.conn.wbuf.append(b"".join(parts))

    def on_upstream_express(self, status: int, head: bytes, data: bytes, body_start: int) -> None:
        """Fast path, whole response in one read: forward it with one write and finish."""
        self.status = status
        cs = self.cstats
        if cs is not None:
            cs.rq_by_class[min(status // 100, 5)] += 1
        up = self.upstream
        self.upstream = None
        self.lc.inflight.discard(self)
        if up is not None:
            if self.up_done:
                self.lc.pool.release(up)
            else:
                up.abort()
        if self.resp_close:
            tail = b"connection: close\r\n\r\n"
        elif not self.http11:
            tail = b"connection: keep-alive\r\n\r\n"
        else:
            tail = CRLF
        self.resp_started = True
        body = data[body_start:]
        self.conn.wbuf.append(head + tail + body if len(body) < 65536 else head + tail)
        if len(body) >= 65536:
            self.conn.wbuf.append(body)
        self._complete()
        self._flush()

    def _body_framing(self, parts: list[bytes]) -> None:
        """A response body of unknown length: chunked to HTTP/1.1 clients, close-delimited else."""
        if self.http11:
            parts.append(b"transfer-encoding: chunked\r\n")
            self.resp_chunked = True
        else:
            self.resp_close = True

    def on_upstream_data(self, data: bytes) -> None:
        if not data:
            return
        stream = self.stream
        if stream is not None:
            stream.response_data(data, False)
            self._drain()
            return
        self.conn.wbuf.append(encode_chunk(data) if self.resp_chunked else data)

    def on_upstream_end(self, trailers: list[tuple[bytes, bytes]] | None) -> None:
        up = self.upstream
        self.upstream = None
        self.lc.inflight.discard(self)
        if up is not None:
            if self.up_done:
                self.lc.pool.release(up)
            else:
                up.abort()  # answered before the request was fully sent: not reusable
        stream = self.stream
        if stream is not None:
            if trailers:
                stream.response_trailers(HeaderMap.from_lowered([(k.lower(), v) for k, v in trailers]))
            else:
                stream.response_data(b"", True)
            self._drain()
            return
        if self.resp_chunked:
            self.conn.wbuf.append(http1.encode_trailers(trailers) if trailers else LAST_CHUNK)
        self._complete()

    def on_upstream_error(self, reason: str) -> None:
        up = self.upstream
        self.upstream = None
        self.lc.inflight.discard(self)
        if self.done:
            return
        if (
            up is not None
            and up.reused
            and not self.resp_started
            and self.status == 0
            and self.replay is not None
            and not self.retried
        ):
            # The keep-alive connection was closed by the upstream before our request reached it:
            # replay on a fresh connection (the request is small and kept).
            self.retried = True
            self.pending = list(self.replay)
            self.pending_bytes = sum(map(len, self.pending))
            self._connect(fresh=True)
            return
        if self.cstats is not None:
            self.cstats.rq_reset += 1
        self._upstream_failure(http1.UPSTREAM_RESET)

    def on_upstream_flushed(self) -> None:
        self._flush()

    def on_upstream_backpressure(self, paused: bool) -> None:
        if paused:
            self.conn.pause(_PAUSE_UPSTREAM)
        else:
            self.conn.resume(_PAUSE_UPSTREAM)

    def on_timeout(self) -> None:
        self.lc.inflight.discard(self)
        if self.done:
            return
        self.lc.stats.rq_timeout += 1
        if self.cstats is not None:
            self.cstats.rq_timeout += 1
        up = self.upstream
        self.upstream = None
        if up is not None:
            up.abort()
        self._upstream_failure(http1.UPSTREAM_TIMEOUT)
        self._flush()

    def _upstream_failure(self, reply: LocalReply) -> None:
        """No usable upstream response: a local reply if nothing was sent yet, else a reset."""
        up = self.upstream
        self.upstream = None
        if up is not None:
            up.abort()
        if self.resp_started:
            self.reset()
            return
        stream = self.stream
        if stream is not None:
            # As in Envoy, the router's local reply passes through the plugins' response callbacks.
            stream.local_reply(reply.status, reply.body, details=reply.details)
            self._drain()
            return
        self.local_reply(reply)

    # -- downstream output -------------------------------------------------------------------------
    def local_reply(self, reply: LocalReply) -> None:
        if self.done:
            return
        if self.resp_started:
            self.reset()
            return
        close = self.resp_close or (not self.req_done and self.has_body)
        self.status = reply.status
        self.details = reply.details
        self.conn.wbuf.append(
            http1.render_local_reply(reply, self.lc.date.get(), close=close, head_only=self.method == _HEAD)
        )
        self.resp_close = close
        self.resp_started = True
        self._complete()

    def reset(self, details: str = "upstream_reset_after_response_started") -> None:
        """Abort both sides (Envoy resets the stream; on HTTP/1.1 that closes the connection)."""
        if self.done:
            return
        if self.stream is not None:
            self.stream.reset(details)
        self.done = True
        self.lc.inflight.discard(self)
        up = self.upstream
        self.upstream = None
        if up is not None:
            up.abort()
        self.lc.stats.rq_active -= 1
        self.conn.active = None
        self.conn.abort()
        self._end_chain()

    def _complete(self) -> None:
        """The whole response is queued downstream."""
        if self.done:
            return
        self.done = True
        lc = self.lc
        lc.inflight.discard(self)
        lc.stats.rq_by_class[min(self.status // 100, 5)] += 1
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.abort()
        if lc.access_log is not None:
            lc.access_log(self._access_line())
        if self.stream is not None:
            self._end_chain()
        # A request body still arriving cannot be skipped cheaply: close instead.
        self.conn.exchange_done(self, self.resp_close or (not self.req_done and self.has_body))

    def _flush(self) -> None:
        conn = self.conn
        conn.flush()
        up = self.upstream
        if up is not None:
            up.flush()
        nxt = conn.active
        if nxt is not None and nxt is not self and nxt.upstream is not None:
            nxt.upstream.flush()  # a pipelined exchange started while this one finished

    def _access_line(self) -> str:
        """Envoy-like: ``[time] "METHOD PATH PROTOCOL" STATUS DETAILS DURATION LISTENER CLUSTER``."""
        ms = int((self.lc.loop.time() - self.t_start) * 1000)
        cluster = self.cluster.name if self.cluster is not None else "-"
        details = getattr(self.stream, "details", "") or self.details or "via_upstream"
        proto = "HTTP/1.1" if self.http11 else "HTTP/1.0"
        return (
            f'[{time.strftime("%Y-%m-%dT%H:%M:%S")}] "{self.method.decode()} {self.url.decode("latin-1")} '
            f'{proto}" {self.status} {details} {ms}ms {self.lc.name} {cluster}'
        )

    # -- chain path --------------------------------------------------------------------------------
    def _start_chain(self, chain: Any, port: int) -> None:
        lc = self.lc
        conn = self.conn
        cluster = self.cluster
        upstream_ep = cluster.endpoints[0] if cluster is not None and cluster.endpoints else None
        info = StreamInfo(
            direction=lc.direction,
            port=port,
            source_address=conn.peer[0],
            source_port=conn.peer[1],
            destination_address=lc.local_address[0],
            destination_port=lc.local_address[1],
            connection_id=conn.connection_id,
            protocol="HTTP/1.1" if self.http11 else "HTTP/1.0",
            request_start_ns=time.time_ns(),
            upstream_address=upstream_ep.address if upstream_ep else None,
            upstream_port=upstream_ep.port if upstream_ep else None,
            cluster_name=cluster.name if cluster is not None else None,
            route_name="default" if cluster is not None else None,
        )
        self.stream = chain.new_stream(info, self._wakeup)
        pairs: list[tuple[bytes, bytes]] = [(b":authority", b""), (b":path", self.url)]
        pairs.append((b":method", self.method))
        pairs.append((b":scheme", b"http"))
        authority = b""
        has_xfp = has_rid = False
        for name, value in self.req_headers:
            lk = name.lower()
            if lk == b"host":
                authority = value
                continue
            if lk in HOP_BY_HOP or lk == b"expect":
                if lk == b"te" and value.lower() == b"trailers":
                    pairs.append((lk, value))
                continue
            if lk == b"x-forwarded-proto":
                has_xfp = True
            elif lk == b"x-request-id":
                has_rid = True
            pairs.append((lk, value))
        pairs[0] = (b":authority", authority)
        # Envoy's connection manager adds these before any filter runs.
        if not has_xfp:
            pairs.append((b"x-forwarded-proto", b"http"))
        if not has_rid:
            pairs.append((b"x-request-id", _request_id()))
        assert self.stream is not None
        self.stream.request_headers(HeaderMap.from_lowered(pairs), not self.has_body)
        self._drain()

    def _wakeup(self) -> None:
        if not self.done:
            self._drain()
            self._flush()

    def _end_chain(self) -> None:
        stream = self.stream
        if stream is not None:
            self.stream = None
            try:
                stream.complete()
            finally:
                cs = self.chainset
                self.chainset = None
                if cs is not None:
                    cs.release()

    def _drain(self) -> None:
        stream = self.stream
        if stream is None:
            return
        events = list(stream.events())
        n = len(events)
        i = 0
        while i < n and not self.done:
            ev = events[i]
            i += 1
            if isinstance(ev, SendRequestHeaders):
                self._chain_request_headers(ev, events, i)
            elif isinstance(ev, SendRequestData):
                if self.cluster is None or self.up_done:
                    continue
                data = ev.data
                if data:
                    self._up_write(encode_chunk(data) if self.up_chunked else data)
                if ev.end_stream:
                    if self.up_chunked:
                        self._up_write(LAST_CHUNK)
                    self._up_finished()
            elif isinstance(ev, SendRequestTrailers):
                if self.cluster is None or self.up_done:
                    continue
                if self.up_chunked:
                    self._up_write(http1.encode_trailers(ev.trailers.items()))
                self._up_finished()
            elif isinstance(ev, SendResponseHeaders):
                self._chain_response_headers(ev, events, i)
            elif isinstance(ev, SendResponseData):
                if ev.data:
                    self.conn.wbuf.append(encode_chunk(ev.data) if self.resp_chunked else ev.data)
                if ev.end_stream:
                    if self.resp_chunked:
                        self.conn.wbuf.append(LAST_CHUNK)
                    self._complete()
            elif isinstance(ev, SendResponseTrailers):
                if self.resp_chunked:
                    self.conn.wbuf.append(http1.encode_trailers(ev.trailers.items()))
                self._complete()
            elif isinstance(ev, ResetStream):
                self.reset(ev.details)

    def _chain_request_headers(self, ev: SendRequestHeaders, events: list[Event], i: int) -> None:
        headers = ev.headers
        lc = self.lc
        if lc.direction is Direction.OUTBOUND:
            # A plugin may have changed :authority: route again, as Envoy clears its route cache.
            cluster = lc.state().routes.route_outbound(_pseudo(headers, b":authority"))
            if cluster is not None:
                self.cluster = cluster
        if self.cluster is None:
            self._upstream_failure(http1.NO_ROUTE)
            return
        pseudo, lines, length = _split_fields(headers)
        method = pseudo.get(b":method") or self.method
        parts = [b"%s %s HTTP/1.1\r\n" % (method, pseudo.get(b":path") or self.url)]
        authority = pseudo.get(b":authority")
        if authority:
            parts.append(b"host: " + authority + CRLF)
        parts += lines
        if ev.end_stream:
            if length > 0 or method in (b"POST", b"PUT", b"PATCH"):
                parts.append(b"content-length: 0\r\n")
            self.up_done = True
        else:
            total = _complete_body_length(events, i, SendRequestData, SendRequestTrailers)
            if total >= 0:
                parts.append(b"content-length: %d\r\n" % total)
            elif length >= 0 and not self.req_chunked:
                parts.append(b"content-length: %d\r\n" % length)
            else:
                parts.append(b"transfer-encoding: chunked\r\n")
                self.up_chunked = True
        parts.append(CRLF)
        self.up_head = True
        self._up_write(b"".join(parts))
        self._connect()
        if self.up_done and self.upstream is not None:
            self.deadline = lc.loop.time() + lc.limits.upstream_timeout_s
            lc.inflight.add(self)

    def _chain_response_headers(self, ev: SendResponseHeaders, events: list[Event], i: int) -> None:
        if ev.local:
            up = self.upstream
            self.upstream = None
            self.lc.inflight.discard(self)
            if up is not None:
                up.abort()
            self.up_done = True
        if self.resp_started:
            self.reset()
            return
        pseudo, lines, length = _split_fields(ev.headers)
        status_b = pseudo.get(b":status") or b"200"
        status = int(status_b) if status_b.isdigit() else 500
        self.status = status
        parts = [http1.status_line(status), *lines]
        no_body = self.method == _HEAD or status in (204, 304) or 100 <= status < 200
        if ev.end_stream:
            if not no_body:
                parts.append(b"content-length: 0\r\n")
            elif length >= 0 and self.method == _HEAD:
                parts.append(b"content-length: %d\r\n" % length)
        elif no_body:
            if length >= 0 and self.method == _HEAD:
                parts.append(b"content-length: %d\r\n" % length)
        else:
            total = _complete_body_length(events, i, SendResponseData, SendResponseTrailers)
            if total >= 0:
                parts.append(b"content-length: %d\r\n" % total)
            elif length >= 0:
                parts.append(b"content-length: %d\r\n" % length)
            else:
                self._body_framing(parts)
        if not self.req_done and ev.local:
            self.resp_close = True
        if self.resp_close:
            parts.append(b"connection: close\r\n")
        elif not self.http11:
            parts.append(b"connection: keep-alive\r\n")  # an HTTP/1.0 client asked to keep it
        parts.append(CRLF)
        self.resp_started = True
        self.conn.wbuf.append(b"".join(parts))
        if ev.end_stream:
            self._complete()


_NOT_FORWARDED = HOP_BY_HOP | {b"host", b"content-length"}


def _split_fields(headers: HeaderMap) -> tuple[dict[bytes, bytes], list[bytes], int]:
    """One pass over a chain header map: pseudo-headers (first value wins), the field lines to
    send (hop-by-hop, ``host`` and ``content-length`` left out) and the content-length (or -1)."""
    pseudo: dict[bytes, bytes] = {}
    lines: list[bytes] = []
    length = -1
    for name, value in headers:
        if name[:1] == b":":
            if name not in pseudo:
                pseudo[name] = value
        elif name in _NOT_FORWARDED:
            if name == b"content-length":
                length = int(value) if value.isdigit() else -1
        else:
            lines.append(b"%s: %s\r\n" % (name, value))
    return pseudo, lines, length


def _pseudo(headers: HeaderMap, name: bytes) -> bytes | None:
    for k, v in headers:
        if k == name:
            return v
        if k[:1] != b":":
            return None
    return None


def _complete_body_length(
    events: list[Event],
    i: int,
    data_t: type[SendRequestData] | type[SendResponseData],
    trailers_t: type[SendRequestTrailers] | type[SendResponseTrailers],
) -> int:
    """When the rest of a body (up to end_stream) is already among ``events``, its total length;
    else -1. Lets a body a plugin rewrote go out with a correct content-length."""
    total = 0
    for ev in events[i:]:
        if isinstance(ev, (SendRequestData, SendResponseData)) and isinstance(ev, data_t):
            total += len(ev.data)
            if ev.end_stream:
                return total
        elif isinstance(ev, trailers_t):
            return -1
    return -1


def _authority_port(authority: bytes | None) -> int:
    if authority:
        _, sep, port = authority.rpartition(b":")
        if sep and port.isdigit():
            return int(port)
    return 80
