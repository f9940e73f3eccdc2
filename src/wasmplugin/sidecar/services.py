"""asyncio implementations of the host's capability interfaces (``wasmplugin.host.api``).

* :class:`LoopScheduler` / :class:`LoopClock` — deferred work and time on the sidecar's event loop;
* :class:`HttpCallClient` — ``proxy_http_call`` over the sidecar's upstream pool, to clusters by
  Istio's names (``outbound|PORT||HOST``), ServiceEntry hosts or ``host:port``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from wasmplugin.abi.enums import WasmResult
from wasmplugin.abi.pairs import Pair
from wasmplugin.host.api import HttpCallDispatcher, HttpCallRequest, HttpCallResponse, TimerHandle
from wasmplugin.limits import Limits
from wasmplugin.sidecar import http1
from wasmplugin.sidecar.http1 import CRLF, HOP_BY_HOP, LocalReply
from wasmplugin.sidecar.routing import Cluster, RouteTable
from wasmplugin.sidecar.stats import ClusterStats
from wasmplugin.sidecar.upstream import UpstreamConnection, UpstreamPool


class LoopClock:
    """Wall and monotonic time in nanoseconds."""

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()


class _ThreadsafeTimer:
    def __init__(self) -> None:
        self.handle: asyncio.TimerHandle | None = None
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        if self.handle is not None:
            self.handle.cancel()


class LoopScheduler:
    """The Scheduler on an asyncio loop. Safe to call from another thread (a reload builds VMs in a
    worker thread; their start-up calls may schedule timers), in which case work is handed over
    with ``call_soon_threadsafe``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._loop_thread = threading.get_ident()

    def _on_loop(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def call_soon(self, fn: Callable[[], None]) -> None:
        if self._on_loop():
            self.loop.call_soon(fn)
        else:
            self.loop.call_soon_threadsafe(fn)

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> TimerHandle:
        if self._on_loop():
            return self.loop.call_later(max(0.0, delay_s), fn)
        timer = _ThreadsafeTimer()

        def arm() -> None:
            if not timer.cancelled:
                timer.handle = self.loop.call_later(max(0.0, delay_s), fn)

        self.loop.call_soon_threadsafe(arm)
        return timer


def _reply_response(reply: LocalReply) -> HttpCallResponse:
    headers: list[Pair] = [(b":status", b"%d" % reply.status)]
    if reply.body:
        headers.append((b"content-type", b"text/plain"))
    headers.append((b"content-length", b"%d" % len(reply.body)))
    return HttpCallResponse(headers=tuple(headers), body=reply.body)


class _Call:
    """One http_call in flight: an UpstreamHandler that collects the whole response."""

    def __init__(
        self,
        client: HttpCallClient,
        call: HttpCallRequest,
        cluster: Cluster,
        on_done: Callable[[HttpCallResponse | None], None],
    ) -> None:
        self.client = client
        self.call = call
        self.cluster = cluster
        self.on_done = on_done
        self.conn: UpstreamConnection | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.finished = False
        self.status = 0
        self.headers: list[Pair] = []
        self.body = bytearray()
        self.trailers: list[Pair] = []
        self.stats: ClusterStats = client.cluster_stats(cluster)

    def request_bytes(self) -> bytes:
        method = b"GET"
        path = b"/"
        authority = b""
        fields: list[bytes] = []
        for k, v in self.call.headers:
            lk = k.lower()
            if lk == b":method":
                method = v
            elif lk == b":path":
                path = v
            elif lk == b":authority":
                authority = v
            elif lk.startswith(b":") or lk in HOP_BY_HOP or lk in (b"host", b"content-length"):
                continue
            else:
                fields.append(lk + b": " + v + CRLF)
        head = [method, b" ", path, b" HTTP/1.1\r\n", b"host: ", authority, CRLF, *fields]
        body = self.call.body
        if self.call.trailers:
            head.append(b"transfer-encoding: chunked\r\n\r\n")
            if body:
                head.append(http1.encode_chunk(body))
            head.append(http1.encode_trailers(list(self.call.trailers)))
        else:
            if body or method in (b"POST", b"PUT", b"PATCH"):
                head.append(b"content-length: %d\r\n" % len(body))
            head.append(CRLF)
            head.append(body)
        return b"".join(head)

    def start(self) -> None:
        loop = self.client.pool.loop
        self.stats.rq_total += 1
        if self.call.timeout_ms > 0:
            self.timer = loop.call_later(self.call.timeout_ms / 1000, self._timeout)
        key = self.cluster.pick_key()
        conn = self.client.pool.acquire(key)
        if conn is not None:
            self._attach(conn)
        else:
            self.client.pool.connect(key, self.stats, self._attach, self._connect_failed)

    def _attach(self, conn: UpstreamConnection) -> None:
        if self.finished:
            self.client.pool.release(conn)
            return
        self.conn = conn
        method = next((v for k, v in self.call.headers if k == b":method"), b"GET")
        conn.attach(self, head_request=method == b"HEAD")
        conn.wbuf.append(self.request_bytes())
        conn.flush()

    def _connect_failed(self, reason: str) -> None:
        self._done(_reply_response(http1.UPSTREAM_CONNECT_FAILURE))

    def _timeout(self) -> None:
        self.timer = None
        self.stats.rq_timeout += 1
        conn = self.conn
        self.conn = None
        if conn is not None:
            conn.abort()
        self._done(_reply_response(http1.UPSTREAM_TIMEOUT))

    def _done(self, response: HttpCallResponse | None) -> None:
        if self.finished:
            return
        self.finished = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.client.inflight.discard(self)
        # Never inside dispatch(): deliver through the loop.
        self.client.pool.loop.call_soon(self.on_done, response)

    # -- UpstreamHandler -----------------------------------------------------------------------------
    def on_upstream_headers(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int, chunked: bool
    ) -> None:
        self.status = status
        self.stats.rq_by_class[min(status // 100, 5)] += 1
        self.headers = [(b":status", b"%d" % status)]
        self.headers.extend((k.lower(), v) for k, v in headers if k.lower() not in HOP_BY_HOP)
        if length > self.client.limits.http_call_response_max_bytes:
            self._overflow()

    def on_upstream_data(self, data: bytes) -> None:
        if self.finished:
            return
        self.body += data
        if len(self.body) > self.client.limits.http_call_response_max_bytes:
            self._overflow()

    def _overflow(self) -> None:
        conn = self.conn
        self.conn = None
        if conn is not None:
            conn.abort()
        self._done(None)

    def on_upstream_end(self, trailers: list[tuple[bytes, bytes]] | None, last: bytes = b"") -> None:
        if last:
            self.on_upstream_data(last)
            if self.finished:
                return
        conn = self.conn
        self.conn = None
        if conn is not None:
            self.client.pool.release(conn)
        if trailers:
            self.trailers = [(k.lower(), v) for k, v in trailers]
        self._done(HttpCallResponse(tuple(self.headers), bytes(self.body), tuple(self.trailers)))

    def on_upstream_error(self, reason: str) -> None:
        self.conn = None
        self.stats.rq_reset += 1
        if self.status:
            self._done(None)  # reset after the response started
        else:
            self._done(_reply_response(http1.UPSTREAM_RESET))

    def on_upstream_flushed(self) -> None:
        pass

    def on_upstream_backpressure(self, paused: bool) -> None:
        pass

    def on_upstream_express(self, status: int, head: bytes, data: bytes, body_start: int) -> None:
        raise AssertionError("http_call attaches without express")  # pragma: no cover


class HttpCallClient(HttpCallDispatcher):
    """``proxy_http_call`` over the sidecar's upstream pool and current route table."""

    def __init__(
        self,
        pool: UpstreamPool,
        routes: Callable[[], RouteTable],
        cluster_stats: Callable[[Cluster], ClusterStats],
        limits: Limits,
    ) -> None:
        self.pool = pool
        self.routes = routes
        self.cluster_stats = cluster_stats
        self.limits = limits
        self.inflight: set[_Call] = set()

    def dispatch(
        self, call: HttpCallRequest, on_done: Callable[[HttpCallResponse | None], None]
    ) -> WasmResult:
        cluster = self.routes().cluster(call.cluster)
        if cluster is None:
            return WasmResult.BAD_ARGUMENT
        if not cluster.endpoints:
            # A known cluster with nothing behind it: Envoy answers the call itself.
            self.pool.loop.call_soon_threadsafe(on_done, _reply_response(http1.NO_HEALTHY_UPSTREAM))
            return WasmResult.OK
        c = _Call(self, call, cluster, on_done)
        self.inflight.add(c)
        try:
            if _on_loop(self.pool.loop):
                c.start()
            else:
                self.pool.loop.call_soon_threadsafe(c.start)
        except Exception:  # pragma: no cover - defensive: never raise across the ABI
            self.inflight.discard(c)
            return WasmResult.INTERNAL_FAILURE
        return WasmResult.OK


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
