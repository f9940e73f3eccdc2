"""One request/response pair on a downstream connection (Envoy's "active stream").

Two paths per exchange:

* **fast path** — no plugin applies: headers and body bytes are forwarded with hop-by-hop fields
  removed and framing re-derived; a complete upstream response that arrived in one read is
  forwarded with a single write, without the parser's per-field callbacks;
* **chain path** — the exchange feeds ``wasmplugin.chain``'s sans-IO ``HttpStream`` with
  Envoy-style header maps (``:authority``, ``:path``, ``:method``, ``:scheme`` first) and performs
  the events it drains (send upstream, reply downstream, reset).

The downstream side (parsing, pipelining, flow control) is :mod:`wasmplugin.sidecar.proxy`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
)
from wasmplugin.sidecar import http1
from wasmplugin.sidecar.http1 import CRLF, HOP_BY_HOP, HOP_LENGTHS, LAST_CHUNK, LocalReply, encode_chunk
from wasmplugin.sidecar.routing import Cluster
from wasmplugin.sidecar.stats import ClusterStats
from wasmplugin.sidecar.upstream import UpstreamConnection

if TYPE_CHECKING:
    from wasmplugin.sidecar.chains import ChainSet, ChainStream
    from wasmplugin.sidecar.proxy import DownstreamConnection

_HEAD = b"HEAD"
#: Why a downstream connection stopped reading (bits; reading resumes when none is left).
PAUSE_PIPELINE = 1
PAUSE_UPSTREAM = 2
PAUSE_BUFFER = 4
#: Request bytes kept for a replay when a reused keep-alive connection turns out to be closed.
_REPLAY_MAX = 64 * 1024


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


class Exchange:
    """One request/response pair on a downstream connection (Envoy's ActiveStream).

    Immutable defaults live on the class, so creating an exchange (once per request) sets only
    what differs per request."""

    req_length = -1
    #: Request body bytes fed to the chain so far; set to -1 once the end was fed with them.
    req_fed = 0
    req_chunked = False
    req_done = False
    req_trailers: list[tuple[bytes, bytes]] | None = None
    started = False
    done = False
    cluster: Cluster | None = None
    cstats: ClusterStats | None = None
    upstream: UpstreamConnection | None = None
    up_chunked = False
    up_done = False
    pending_bytes = 0
    replay_bytes = 0
    retried = False
    resp_started = False
    resp_chunked = False
    status = 0
    #: When the route timeout fires (loop time; 0 = not armed). The listener's sweeper checks the
    #: active exchange of every connection.
    deadline = 0.0
    t_start = 0.0
    chainset: ChainSet | None = None
    stream: ChainStream | None = None
    #: Body bytes that arrived before this (pipelined) exchange became active.
    _pending_body: list[bytes] | None = None
    authority: bytes | None = None
    #: Bit 1: no x-forwarded-proto, bit 2: no x-request-id (Envoy's connection manager adds them).
    missing_ids = 0
    #: The request has a field that is not forwarded (hop-by-hop or ``expect``).
    req_hop = False
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
        lc = self.lc
        if lc.access_log is not None:
            self.t_start = lc.loop.time()
        state = lc.state()
        if lc.inbound:
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
            chains.active += 1  # pins the set (see ChainSet's lifetime comment)
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
            end = False
            if self.req_length > 0:
                # The declared length complete: feed the end with the last chunk (Envoy's codec
                # does so when they arrive together), saving each plugin an empty body callback.
                fed = self.req_fed + len(body)
                end = fed >= self.req_length
                self.req_fed = -1 if end else fed
            stream.request_data(body, end)
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
            elif self.req_chunked or (self.req_length > 0 and self.req_fed >= 0):
                stream.request_data(b"", True)
            else:
                return  # no body, or its end was fed with its last chunk: nothing new to drain
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
        self.deadline = 0.0
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
        if self.req_hop:
            fields = self.req_headers
            parts += [b"%s: %s\r\n" % f for f in fields if len(f[0]) not in HOP_LENGTHS or not _hop(f[0])]
        else:
            parts += [b"%s: %s\r\n" % hv for hv in self.req_headers]
        missing = self.missing_ids
        if missing & 1:
            parts.append(b"x-forwarded-proto: http\r\n")
        if missing & 2:
            parts.append(b"x-request-id: " + self.lc.request_id() + CRLF)
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
            self.conn.resume(PAUSE_BUFFER)
        if flush:
            conn.flush()
        if self.up_done:
            self.deadline = self.lc.loop.time() + self.lc.limits.upstream_timeout_s

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
            self.conn.pause(PAUSE_BUFFER)

    def _up_finished(self) -> None:
        self.up_done = True
        if self.upstream is not None:
            self.deadline = self.lc.loop.time() + self.lc.limits.upstream_timeout_s

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
            pairs = [(b":status", _STATUS_BYTES.get(status) or b"%d" % status)]
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
        parts.append(self._head_end())
        self.resp_started = True
        self.conn.wbuf.append(b"".join(parts))

    def on_upstream_express(self, status: int, head: bytes, data: bytes, body_start: int) -> None:
        """Fast path, whole response in one read: forward it with one write and finish."""
        self.status = status
        cs = self.cstats
        if cs is not None:
            cs.rq_by_class[min(status // 100, 5)] += 1
        self._release_upstream()
        self.resp_started = True
        wbuf = self.conn.wbuf
        if len(data) - body_start >= 65536:
            wbuf.append(head + self._head_end())
            wbuf.append(data[body_start:])
        elif self.resp_close or not self.http11:
            wbuf.append(head + self._head_end() + data[body_start:])
        else:
            wbuf.append(head + data[body_start - 2 :])  # the blank line and the body, as received
        self._complete()
        self._flush()

    def _release_upstream(self) -> None:
        """The response is in: its connection goes back to the pool, unless the request was not
        fully sent (answered early: not reusable)."""
        up = self.upstream
        self.upstream = None
        self.deadline = 0.0
        if up is not None:
            if self.up_done:
                self.lc.pool.release(up)
            else:
                up.abort()

    def _head_end(self) -> bytes:
        """The end of a response head: the connection line this client needs, the blank line."""
        if self.resp_close:
            return b"connection: close\r\n\r\n"
        if not self.http11:
            return b"connection: keep-alive\r\n\r\n"  # an HTTP/1.0 client asked to keep it
        return CRLF

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

    def on_upstream_end(self, trailers: list[tuple[bytes, bytes]] | None, last: bytes = b"") -> None:
        self._release_upstream()
        stream = self.stream
        if stream is not None:
            if trailers:
                stream.response_trailers(HeaderMap.from_lowered([(k.lower(), v) for k, v in trailers]))
            else:
                stream.response_data(last, True)
            self._drain()
            return
        if last:
            self.conn.wbuf.append(encode_chunk(last) if self.resp_chunked else last)
        if self.resp_chunked:
            self.conn.wbuf.append(http1.encode_trailers(trailers) if trailers else LAST_CHUNK)
        self._complete()

    def on_upstream_error(self, reason: str) -> None:
        up = self.upstream
        self.upstream = None
        self.deadline = 0.0
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

    def on_upstream_backpressure(self, paused: bool) -> None:
        if paused:
            self.conn.pause(PAUSE_UPSTREAM)
        else:
            self.conn.resume(PAUSE_UPSTREAM)

    def on_timeout(self) -> None:
        self.deadline = 0.0
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
        self.deadline = 0.0
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
        self.deadline = 0.0
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
        self.conn.exchange_done(
            self, self.resp_close or (not self.req_done and (self.req_chunked or self.req_length > 0))
        )

    def _flush(self) -> None:
        conn = self.conn
        conn.flush()
        up = self.upstream
        if up is not None:
            up.flush()
        nxt = conn.active
        if nxt is not None and nxt is not self and nxt.upstream is not None:
            nxt.upstream.flush()  # a pipelined exchange started while this one finished

    #: UpstreamHandler: the upstream read batch is over (``_flush`` itself: no frame per read).
    on_upstream_flushed = _flush

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
        conn = self.conn
        info = conn._info  # conn.stream_info(...) when the connection's cached one still applies
        if info is None or conn._info_key != (self.cluster, port, self.http11):
            info = conn.stream_info(self.cluster, port, self.http11)
        info.request_start_ns = time.time_ns()
        self.stream = stream = chain.new_stream(info, self._wakeup)
        # Envoy's HTTP/1 codec: pseudo-headers first, then the fields (lower-case names) minus the
        # connection-scoped ones; ``host`` becomes ``:authority`` (the last one, as parsed).
        pairs: list[tuple[bytes, bytes]] = [
            (b":authority", self.authority or b""),
            (b":path", self.url),
            (b":method", self.method),
            (b":scheme", b"http"),
        ]
        pairs += [
            (lk, v)
            for k, v in self.req_headers
            if (lk := k.lower()) not in _NOT_TO_CHAIN or (lk == b"te" and v.lower() == b"trailers")
        ]
        # Envoy's connection manager adds these before any filter runs.
        missing = self.missing_ids
        if missing:
            if missing & 1:
                pairs.append(_XFP_HTTP)
            if missing & 2:
                pairs.append((b"x-request-id", self.lc.request_id()))
        stream.request_headers(HeaderMap.from_lowered(pairs), not (self.req_chunked or self.req_length > 0))
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
                    cs.active -= 1  # unpins it; the last exchange closes a retired set
                    if cs.retired and cs.active == 0:
                        cs.close()

    def _drain(self) -> None:
        stream = self.stream
        if stream is None:
            return
        events = stream.events()
        if not events or self.done:
            return
        if len(events) == 1:  # the usual case: one input, one output
            ev = events[0]
            handler = _ON_EVENT.get(type(ev)) or _event_handler(ev)
            if handler is not None:
                handler(self, ev, events, 1)
            return
        n = len(events)
        i = 0
        while i < n and not self.done:
            ev = events[i]
            i += 1
            handler = _ON_EVENT.get(type(ev)) or _event_handler(ev)
            if handler is not None:
                handler(self, ev, events, i)

    def _ev_request_data(self, ev: SendRequestData, events: list[Event], i: int) -> None:
        if self.cluster is None or self.up_done:
            return
        data = ev.data
        if data:
            self._up_write(encode_chunk(data) if self.up_chunked else data)
        if ev.end_stream:
            if self.up_chunked:
                self._up_write(LAST_CHUNK)
            self._up_finished()

    def _ev_request_trailers(self, ev: SendRequestTrailers, events: list[Event], i: int) -> None:
        if self.cluster is None or self.up_done:
            return
        if self.up_chunked:
            self._up_write(http1.encode_trailers(ev.trailers.items()))
        self._up_finished()

    def _ev_response_data(self, ev: SendResponseData, events: list[Event], i: int) -> None:
        data = ev.data
        if data:
            self.conn.wbuf.append(encode_chunk(data) if self.resp_chunked else data)
        if ev.end_stream:
            if self.resp_chunked:
                self.conn.wbuf.append(LAST_CHUNK)
            self._complete()

    def _ev_response_trailers(self, ev: SendResponseTrailers, events: list[Event], i: int) -> None:
        if self.resp_chunked:
            self.conn.wbuf.append(http1.encode_trailers(ev.trailers.items()))
        self._complete()

    def _ev_reset(self, ev: ResetStream, events: list[Event], i: int) -> None:
        self.reset(ev.details)

    def _ev_request_headers(self, ev: SendRequestHeaders, events: list[Event], i: int) -> None:
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
            total = -1  # the usual single event: no body follows among ``events``
            if i < len(events):
                total = _complete_body_length(events, i, SendRequestData, SendRequestTrailers)
            if total >= 0:
                parts.append(b"content-length: %d\r\n" % total)
            elif length >= 0 and not self.req_chunked:
                parts.append(b"content-length: %d\r\n" % length)
            else:
                parts.append(b"transfer-encoding: chunked\r\n")
                self.up_chunked = True
        parts.append(CRLF)
        self._up_write(b"".join(parts))
        self._connect()
        if self.up_done and self.upstream is not None:
            self.deadline = lc.loop.time() + lc.limits.upstream_timeout_s

    def _ev_response_headers(self, ev: SendResponseHeaders, events: list[Event], i: int) -> None:
        if ev.local:
            up = self.upstream
            self.upstream = None
            self.deadline = 0.0
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
        parts = [_STATUS_LINE.get(status) or http1.status_line(status), *lines]
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
            total = -1  # the usual single event: no body follows among ``events``
            if i < len(events):
                total = _complete_body_length(events, i, SendResponseData, SendResponseTrailers)
            if total >= 0:
                parts.append(b"content-length: %d\r\n" % total)
            elif length >= 0:
                parts.append(b"content-length: %d\r\n" % length)
            else:
                self._body_framing(parts)
        if not self.req_done and ev.local:
            self.resp_close = True
        parts.append(CRLF if self.http11 and not self.resp_close else self._head_end())
        self.resp_started = True
        self.conn.wbuf.append(b"".join(parts))
        if ev.end_stream:
            self._complete()


_NOT_FORWARDED = HOP_BY_HOP | {b"host", b"content-length"}
_PSEUDO = frozenset({b":authority", b":path", b":method", b":scheme", b":status", b":protocol"})
#: Names ``_split_fields`` never sends as field lines.
_SKIP = frozenset(_NOT_FORWARDED | _PSEUDO)
#: Request fields the chain does not see (``host`` becomes ``:authority``; ``te: trailers`` stays).
_NOT_TO_CHAIN = HOP_BY_HOP | {b"host", b"expect"}
_XFP_HTTP = (b"x-forwarded-proto", b"http")
_STATUS_BYTES = {code: b"%d" % code for code in range(100, 600)}
#: ``http1.status_line`` of every code, looked up without a call per response.
_STATUS_LINE = {code: http1.status_line(code) for code in range(100, 600)}


def _split_fields(headers: HeaderMap) -> tuple[dict[bytes, bytes], list[bytes], int]:
    """One pass over a chain header map: pseudo-headers (first value wins), the field lines to
    send (hop-by-hop, ``host`` and ``content-length`` left out) and the content-length (or -1).
    Ordinary fields take one set lookup (no slicing): the known pseudo-headers are in ``_SKIP``."""
    pseudo: dict[bytes, bytes] = {}
    lines: list[bytes] = []
    length = -1
    for field in headers._entries:  # HeaderMap.__iter__ without its frame
        name = field[0]
        if name in _SKIP:
            if name in _PSEUDO:
                if name not in pseudo:
                    pseudo[name] = field[1]
            elif name == b"content-length":
                value = field[1]
                length = int(value) if value.isdigit() else -1
        elif name[:1] == b":":  # a pseudo-header a plugin made up: never a field line
            if name not in pseudo:
                pseudo[name] = field[1]
        else:
            lines.append(b"%s: %s\r\n" % field)
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
        if isinstance(ev, data_t):
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


_ON_EVENT: dict[type[Event], Callable[[Exchange, Any, list[Event], int], None]] = {
    SendRequestHeaders: Exchange._ev_request_headers,
    SendRequestData: Exchange._ev_request_data,
    SendRequestTrailers: Exchange._ev_request_trailers,
    SendResponseHeaders: Exchange._ev_response_headers,
    SendResponseData: Exchange._ev_response_data,
    SendResponseTrailers: Exchange._ev_response_trailers,
    ResetStream: Exchange._ev_reset,
}


def _event_handler(ev: object) -> Callable[[Exchange, Any, list[Event], int], None] | None:
    """The handler of an event whose exact type is not in ``_ON_EVENT`` (a subclass)."""
    for cls, handler in _ON_EVENT.items():
        if isinstance(ev, cls):
            return handler
    return None
