"""``HttpStream``: one HTTP stream through the filter chain (Envoy's filter manager, sans I/O).

Request data flows through the plugins in chain order, response data in reverse. Each plugin has an
``ActiveFilter`` per stream (Envoy's ActiveStreamFilter) that is also the plugin's
:class:`~wasmplugin.host.api.StreamHost`, and one ``_Leg`` per direction holding its iteration
state (a small enum), the data it holds and what it has queued.

Semantics, each from Envoy (``source/common/http/filter_manager.cc``, ``extensions/common/wasm/context.cc``);
``docs/filter-chain.md`` explains them:

* headers Pause = StopAllIterationAndWatermark: nothing more reaches the plugin until it resumes;
  data and trailers queue in front of it and are then delivered *to it* (``iterate_from_current_filter``).
  With ``allow_on_headers_stop_iteration`` a headers Pause is a plain StopIteration: the headers
  wait, body callbacks run, and the first body Continue releases headers and data.
* body Pause = StopIterationAndBuffer: the chunk is kept; the next call gets the accumulated body;
  Continue forwards it all. Over ``Limits.body_buffer_bytes``: 413 (request) / 500 (response).
* continue_stream / close_stream / send_local_response are deferred until the callback returns,
  or run through the scheduler when they come from an asynchronous delivery.
* one entry point for local replies (:meth:`HttpStream.local_reply`): the rest of the request
  chain is skipped; the reply runs through the response callbacks of the plugins that have a
  stream context (Envoy's wasm encoder returns Continue when ``!in_vm_context_created_``);
  once the response is in the chain it goes straight to the client, once sent the stream resets.
* at completion every plugin gets on_log (a context is created just for it if the request never
  reached the plugin, as Envoy's ``Context::log`` does), then on_done and on_delete per plugin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from wasmplugin.abi.buffers import BodyBuffer
from wasmplugin.abi.enums import WasmResult
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.abi.pairs import Pair
from wasmplugin.abi.values import PropertyValue
from wasmplugin.chain.api import (
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
from wasmplugin.chain.local_reply import (
    DETAILS_RBAC_DENIED,
    DETAILS_REQUEST_TOO_LARGE,
    DETAILS_RESPONSE_TOO_LARGE,
    DETAILS_VIA_UPSTREAM,
    DETAILS_WASM_CLOSE_STREAM,
    DETAILS_WASM_FAIL_STREAM,
    GRPC_MAX,
    GRPC_UNAVAILABLE,
    RBAC_DENIED_BODY,
    LocalReply,
    build_local_reply,
    normalize_details,
)
from wasmplugin.chain.properties import GETTERS, resolve_property
from wasmplugin.chain.runtime import FailStrategy, PluginRuntime, PluginStats, RuntimeState, StreamContextLike
from wasmplugin.errors import PluginRuntimeError

if TYPE_CHECKING:
    from wasmplugin.chain.chain import FilterChain

_perf_ns = time.perf_counter_ns
_GETTER = GETTERS.get
_READY = RuntimeState.READY

# --- per-filter, per-direction iteration state (Envoy IterationState, spelled out) ---------------
IDLE = 0  # headers have not reached this filter
STREAMING = 1  # headers passed; data and trailers reach the filter as they come
STOP_ALL = 2  # paused in a headers callback: everything queues in front of the filter
BUFFERING = 3  # paused in a body callback: the filter holds the accumulated body
STOP_TRAILERS = 4  # paused in a trailers callback
DONE = 5  # end of stream passed this filter

# --- which callback a leg is in (or paused in): decides map/buffer availability ---------------------
PH_NONE = 0
PH_HEADERS = 1
PH_BODY = 2
PH_TRAILERS = 3

# --- _call results besides the raw i32 ---------------------------------------------------------
ENDED = -1  # the stream ended in the callback (local reply, reset, fail-close)

# --- deferred actions --------------------------------------------------------------------------
_ACT_CONTINUE = 0
_ACT_LOCAL_REPLY = 1
_ACT_CLOSE = 2

REQUEST = 0
RESPONSE = 1


# Per-stream objects use __slots__ with every field set in __init__: CPython 3.11 specialises
# slot reads, while reading a class-level default through an instance takes the slow generic path
# (this alone was a quarter of the chain's cost per request).


class _Leg:
    """One plugin's state in one direction. Defaults live on the class, so creating one costs no
    ``__init__`` call; the common path writes ``state`` and ``phase`` before reading them."""

    state = IDLE
    phase = PH_NONE
    #: The chunk of the body callback running now; its ``BodyBuffer`` is built only when the plugin
    #: asks for buffer 0/1 (most plugins never look at the body).
    chunk: bytes | None = None
    #: Body visible to the plugin: the chunk in a body callback, or the accumulated body while paused.
    buf: BodyBuffer | None = None
    #: end_of_stream passed with ``buf``.
    eos = False
    #: allow_on_headers_stop_iteration: headers stopped here, not yet forwarded.
    held = False
    #: Data queued in front of the filter while it is paused in headers (not yet seen by it).
    q: bytearray | None = None
    q_eos = False
    q_trailers = False


class _Path:
    """One direction of a stream: the filters in iteration order and what is flowing."""

    __slots__ = (
        "aborted",
        "d",
        "done",
        "emitted",
        "headers",
        "headers_eos",
        "local",
        "order",
        "started",
        "trailers",
        "trailers_by",
    )

    def __init__(self, d: int, order: list[ActiveFilter]) -> None:
        self.d = d
        self.order = order
        self.headers: HeaderMap | None = None
        self.headers_eos = False
        self.trailers: HeaderMap | None = None
        #: The filter that created trailers from a body callback at end of stream.
        self.trailers_by: ActiveFilter | None = None
        self.started = False  # headers entered the path
        self.emitted = False  # headers left the last filter (sent on)
        self.done = False  # end of stream sent on
        self.aborted = False  # nothing more flows (local reply, reset)
        self.local = False  # carries a locally generated reply


class ActiveFilter:
    """One plugin in one stream; the plugin's ``StreamHost`` for host calls on this stream."""

    __slots__ = ("ctx", "entered", "generation", "index", "legs", "runtime", "stream")

    def __init__(self, stream: HttpStream, index: int, runtime: PluginRuntime) -> None:
        self.stream = stream
        self.index = index
        self.runtime = runtime
        self.legs = (_Leg(), _Leg())
        #: The plugin's stream context; ``None`` = the plugin is transparent for this stream
        #: (not created, bypassed by FAIL_OPEN, failed, or denied).
        self.ctx: StreamContextLike | None = None
        self.entered = False  # request headers reached this filter
        self.generation = 0

    # -- StreamHost: maps and buffers --------------------------------------------------------------
    def header_map(self, map_type: int) -> HeaderMap | None:
        s = self.stream
        if map_type == 0 or map_type == 2:  # the headers, in their own callback (the common case)
            d = map_type >> 1
            if self.legs[d].phase == PH_HEADERS and not s._logging:
                return s._paths[d].headers
        if s._logging:
            if map_type == 0:
                return s.req_headers
            if map_type == 1:
                return s.req_trailers
            if map_type == 2:
                return s.resp_headers
            if map_type == 3:
                return s.resp_trailers
            return None
        if map_type != 1 and map_type != 3:
            return None
        leg = self.legs[map_type >> 1]
        path = s._paths[map_type >> 1]
        if leg.phase == PH_TRAILERS:
            return path.trailers
        if leg.phase == PH_BODY and leg.eos and path.trailers is None and not path.aborted:
            # Envoy (PR #15831): a body callback at end of stream may add trailers.
            trailers = HeaderMap()
            path.trailers = trailers
            path.trailers_by = self
            if map_type == 1:
                s.req_trailers = trailers
            else:
                s.resp_trailers = trailers
            return trailers
        return None

    def buffer(self, buffer_type: int) -> BodyBuffer | None:
        if buffer_type == 0 or buffer_type == 1:
            leg = self.legs[buffer_type]
            if leg.phase == PH_BODY and not self.stream._logging:
                buf = leg.buf
                if buf is None and leg.chunk is not None:
                    leg.buf = buf = BodyBuffer(leg.chunk)
                return buf
        return None

    # -- StreamHost: stream control (deferred, as Envoy) ------------------------------------------
    def send_local_response(
        self, status: int, details: str, body: bytes, headers: list[Pair], grpc_status: int
    ) -> WasmResult:
        s = self.stream
        if s._completed or s._reset:
            return WasmResult.BAD_ARGUMENT
        grpc = grpc_status if 0 <= grpc_status <= GRPC_MAX else None
        reply = LocalReply(status, bytes(body), normalize_details(details), tuple(headers), grpc)
        s._defer(self, _ACT_LOCAL_REPLY, reply)
        return WasmResult.OK

    def continue_stream(self, stream_type: int) -> WasmResult:
        if stream_type == 0 or stream_type == 1:
            self.stream._defer(self, _ACT_CONTINUE, stream_type)
            return WasmResult.OK
        if stream_type == 2:  # DOWNSTREAM on an HTTP context: no network filter callbacks
            return WasmResult.OK
        if stream_type == 3:
            return WasmResult.UNIMPLEMENTED
        return WasmResult.BAD_ARGUMENT

    def close_stream(self, stream_type: int) -> WasmResult:
        if stream_type == 0 or stream_type == 1:
            self.stream._defer(self, _ACT_CLOSE, stream_type)
            return WasmResult.OK
        if stream_type == 2 or stream_type == 3:
            return WasmResult.OK
        return WasmResult.BAD_ARGUMENT

    # -- StreamHost: properties -----------------------------------------------------------------------
    def stream_property(self, path: tuple[str, ...]) -> PropertyValue | None:
        get = _GETTER(path)  # the common two-segment attributes: one getter, no string compares
        if get is not None:
            return get(self.stream)
        return resolve_property(self.stream, path)

    def set_property(self, path: tuple[str, ...], value: bytes) -> WasmResult:
        s = self.stream
        if s.filter_state is None:
            s.filter_state = {}
        s.filter_state["wasm." + "\0".join(path)] = bytes(value)
        return WasmResult.OK

    def __repr__(self) -> str:
        return f"ActiveFilter({self.runtime.name!r}, ctx={self.ctx is not None})"


class HttpStream:
    """One request/response exchange. Inputs are methods; outputs are drained with :meth:`events`.

    Attributes a transport or tool may read: ``req_headers``/``resp_headers`` (and trailers) as they
    are now, ``details`` (Envoy response code details), ``local_reply_sent`` (the first local reply,
    as asked for), ``error`` (the first plugin runtime failure)."""

    __slots__ = (
        "_completed",
        "_deferred_scheduled",
        "_events",
        "_filters",
        "_in_cb",
        "_logging",
        "_paths",
        "_pending",
        "_reset",
        "_terminal",
        "_wakeup",
        "chain",
        "completed_ns",
        "details",
        "error",
        "filter_state",
        "info",
        "local_reply_sent",
        "req_headers",
        "req_trailers",
        "request_body_bytes",
        "resp_headers",
        "resp_trailers",
        "response_body_bytes",
        "start_mono_ns",
    )

    def __init__(
        self, chain: FilterChain, info: StreamInfo, wakeup: Callable[[], None] | None = None
    ) -> None:
        self.chain = chain
        self.info = info
        self._wakeup = wakeup
        self._events: list[Event] = []
        self.req_headers: HeaderMap | None = None
        self.req_trailers: HeaderMap | None = None
        self.resp_headers: HeaderMap | None = None
        self.resp_trailers: HeaderMap | None = None
        self.request_body_bytes = 0
        self.response_body_bytes = 0
        self.details = ""
        self.local_reply_sent: LocalReply | None = None
        self.error: PluginRuntimeError | None = None
        self.filter_state: dict[str, bytes] | None = None
        self.start_mono_ns = 0
        self.completed_ns = 0
        self._in_cb = False
        self._logging = False
        self._pending: list[tuple[ActiveFilter, int, object]] | None = None
        self._terminal = False
        self._deferred_scheduled = False
        self._completed = False
        self._reset = False
        runtimes = chain.plugins
        if len(runtimes) == 1:
            filters = [ActiveFilter(self, 0, runtimes[0])]
            self._filters = filters
            self._paths = (_Path(REQUEST, filters), _Path(RESPONSE, filters))
        elif runtimes:
            filters = [ActiveFilter(self, i, rt) for i, rt in enumerate(runtimes)]
            self._filters = filters
            self._paths = (_Path(REQUEST, filters), _Path(RESPONSE, filters[::-1]))
        else:
            self._filters = filters = []
            self._paths = (_Path(REQUEST, filters), _Path(RESPONSE, filters))

    # ============================================================================================
    # inputs
    # ============================================================================================
    def request_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        if self._completed or self._reset:
            return
        rq = self._paths[REQUEST]
        if rq.started:
            raise RuntimeError("request headers already received")
        rq.started = True
        rq.headers = headers
        rq.headers_eos = end_stream
        self.req_headers = headers
        if not self._filters:
            rq.emitted = True
            rq.done = end_stream
            self._events.append(SendRequestHeaders(headers, end_stream))
            return
        self.start_mono_ns = self.chain.clock.monotonic_ns()
        self._headers_from(rq, 0)

    def request_data(self, data: bytes, end_stream: bool) -> None:
        if self._completed or self._reset:
            return
        rq = self._paths[REQUEST]
        if rq.aborted or rq.done or not rq.started:
            return
        self.request_body_bytes += len(data)
        if not self._filters:
            rq.done = end_stream
            if data or end_stream:
                self._events.append(SendRequestData(data, end_stream))
            return
        self._data_at(rq, 0, data, end_stream)

    def request_trailers(self, trailers: HeaderMap) -> None:
        if self._completed or self._reset:
            return
        rq = self._paths[REQUEST]
        if rq.aborted or rq.done or not rq.started:
            return
        rq.trailers = trailers
        self.req_trailers = trailers
        if not self._filters:
            rq.done = True
            self._events.append(SendRequestTrailers(trailers))
            return
        self._trailers_at(rq, 0)

    def response_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        if self._completed or self._reset:
            return
        rs = self._paths[RESPONSE]
        if rs.started:  # a local reply owns the response already: the upstream one is dropped
            return
        rs.started = True
        rs.headers = headers
        rs.headers_eos = end_stream
        self.resp_headers = headers
        if not self.details:
            self.details = DETAILS_VIA_UPSTREAM
        if not self._filters:
            rs.emitted = True
            rs.done = end_stream
            self._events.append(SendResponseHeaders(headers, end_stream))
            return
        self._headers_from(rs, 0)

    def response_data(self, data: bytes, end_stream: bool) -> None:
        if self._completed or self._reset:
            return
        rs = self._paths[RESPONSE]
        if rs.aborted or rs.done or rs.local or not rs.started:
            return
        self.response_body_bytes += len(data)
        if not self._filters:
            rs.done = end_stream
            if data or end_stream:
                self._events.append(SendResponseData(data, end_stream))
            return
        self._data_at(rs, 0, data, end_stream)

    def response_trailers(self, trailers: HeaderMap) -> None:
        if self._completed or self._reset:
            return
        rs = self._paths[RESPONSE]
        if rs.aborted or rs.done or rs.local or not rs.started:
            return
        rs.trailers = trailers
        self.resp_trailers = trailers
        if not self._filters:
            rs.done = True
            self._events.append(SendResponseTrailers(trailers))
            return
        self._trailers_at(rs, 0)

    def local_reply(
        self,
        status: int,
        body: bytes = b"",
        *,
        details: str,
        headers: tuple[Pair, ...] = (),
        grpc_status: int | None = None,
    ) -> None:
        """The one entry point for locally generated replies (also for transports: e.g. 503 when
        the upstream cannot be reached, as Envoy's router does). See the module docstring."""
        self._local_reply(LocalReply(status, body, normalize_details(details), headers, grpc_status))

    def reset(self, details: str = "downstream_remote_disconnect") -> None:
        """The transport lost the stream (client gone, upstream reset after headers were sent)."""
        if self._completed or self._reset:
            return
        self._reset = True
        if not self.details:
            self.details = details
        for p in self._paths:
            p.aborted = True

    def complete(self) -> None:
        """The stream is over: on_log for every plugin, then on_done and on_delete per plugin."""
        if self._completed:
            return
        self._completed = True
        rq, rs = self._paths
        rq.aborted = rs.aborted = True
        filters = self._filters
        if not filters:
            return
        self.completed_ns = self.chain.clock.monotonic_ns()
        for m in (self.req_headers, self.req_trailers, self.resp_headers, self.resp_trailers):
            if m is not None:
                m.frozen = True  # m.freeze(), without a call per map
        self._logging = True
        self._pending = None
        if len(filters) == 1 and filters[0].ctx is not None:
            self._finish_one(filters[0])
        else:
            self._finish_all(filters)
        # Break the stream <-> filter cycles so refcounting frees a finished stream at once
        # (leaving it to the cyclic GC costs several µs per request).
        self._logging = False
        rs.order = []
        filters.clear()

    def _finish_all(self, filters: list[ActiveFilter]) -> None:
        """on_log for every plugin in chain order, then on_done and on_delete per plugin."""
        for af in filters:
            ctx = af.ctx
            if ctx is None:
                rt = af.runtime
                if af.entered or rt.state is not _READY or rt.vm is None:
                    continue
                # Envoy Context::log: a request rejected before the filter ran still gets on_log.
                af.generation = rt.generation
                try:
                    ctx = rt.vm.create_stream(af)
                except PluginRuntimeError as err:
                    self._note_failure(af, err)
                    continue
                af.ctx = ctx
                rt.stats.log_only += 1
            self._call_final(af, ctx, True)
        for af in filters:
            ctx = af.ctx
            if ctx is not None:
                ok = self._call_final(af, ctx, False)
                af.ctx = None
                af.runtime.detach(af, ok=ok and self.error is None)

    def _finish_one(self, af: ActiveFilter) -> None:
        """``_finish_all`` for a chain of one plugin with a context: the same calls and counters,
        timed as one block."""
        ctx = af.ctx
        assert ctx is not None
        stats = af.runtime.stats
        t0 = _perf_ns()
        try:
            ctx.on_log()
        except PluginRuntimeError as err:
            stats.callbacks += 1
            stats.callback_ns += _perf_ns() - t0
            self._note_failure(af, err)
            af.ctx = None
            return
        ok = True
        try:
            ctx.on_done()
            ctx.on_delete()
        except PluginRuntimeError as err:
            self._note_failure(af, err)
            ok = False
        stats.callbacks += 3
        stats.callback_ns += _perf_ns() - t0
        af.ctx = None
        # rt.detach(af, ok=...), inlined
        rt = af.runtime
        rt._active.discard(af)
        if ok and self.error is None and af.generation == rt.generation:
            rt._consecutive_failures = 0

    def events(self) -> list[Event]:
        """Drain the outputs produced since the last call."""
        ev = self._events
        if ev:
            self._events = []
        return ev

    # -- state the transport may look at ----------------------------------------------------------
    @property
    def request_complete(self) -> bool:
        """End of request sent upstream (or the request was answered locally)."""
        rq = self._paths[REQUEST]
        return rq.done or rq.aborted

    @property
    def response_complete(self) -> bool:
        """End of response sent downstream, or the stream was reset."""
        return self._paths[RESPONSE].done or self._reset

    @property
    def is_reset(self) -> bool:
        return self._reset

    @property
    def grpc(self) -> bool:
        """The request is gRPC (content-type application/grpc*): local replies are gRPC replies."""
        h = self.req_headers
        if h is None:
            return False
        ct = h.get(b"content-type")
        return ct is not None and ct.startswith(b"application/grpc")

    # ============================================================================================
    # iteration
    # ============================================================================================
    def _headers_from(self, p: _Path, k: int) -> None:
        order = p.order
        n = len(order)
        d = p.d
        headers = p.headers
        assert headers is not None
        eos = p.headers_eos
        while k < n:
            af = order[k]
            k += 1
            if not af.entered and d == REQUEST and not self._enter(af):
                return
            ctx = af.ctx
            if ctx is None:
                continue
            leg = af.legs[d]
            leg.state = STREAMING
            leg.phase = PH_HEADERS
            # as _call_trailers, inlined: this runs for every plugin on every request
            self._in_cb = True
            t0 = _perf_ns()
            try:
                n_headers = len(headers._entries)  # HeaderMap.__len__ without its frame
                rc = (
                    ctx.on_request_headers(n_headers, eos)
                    if d == REQUEST
                    else ctx.on_response_headers(n_headers, eos)
                )
            except PluginRuntimeError as err:
                rc = self._call_failed(af, err, t0)
            else:
                dt = _perf_ns() - t0
                self._in_cb = False
                stats = af.runtime.stats
                stats.callbacks += 1
                stats.callback_ns += dt
                if dt > stats.max_callback_ns:
                    stats.max_callback_ns = dt
                if self._terminal:  # a local reply or close: the return value is forced to stop
                    self._drain()
                    return
            if rc == ENDED or p.aborted:
                return
            if rc == 0 or rc == 2 or af.ctx is None:  # 2 = ContinueAndEndStream, treated as Continue
                leg.phase = PH_NONE
                if eos:
                    leg.state = DONE
                if self._pending is not None:
                    self._drain()
                    if p.aborted:
                        return
                continue
            if rc == 1 and self.chain.options.allow_on_headers_stop_iteration and not eos:
                leg.held = True  # StopIteration: body callbacks still run
            else:
                leg.state = STOP_ALL
            if self._pending is not None:
                self._drain()
            return
        # The end of the chain: the headers leave.
        p.emitted = True
        if eos:
            p.done = True
        if d == REQUEST:
            self._events.append(SendRequestHeaders(headers, eos))
        else:
            self._events.append(SendResponseHeaders(headers, eos, p.local))

    def _data_at(self, p: _Path, k: int, chunk: bytes, eos: bool) -> None:
        order = p.order
        n = len(order)
        d = p.d
        while k < n:
            af = order[k]
            ctx = af.ctx
            if ctx is None:
                k += 1
                continue
            leg = af.legs[d]
            st = leg.state
            if st in (STREAMING, BUFFERING):
                if st == BUFFERING:
                    buf = leg.buf
                    assert buf is not None
                    buf.append(chunk)
                    size = len(buf)
                    if size > self.chain.limits.body_buffer_bytes:
                        self._overflow(p)
                        return
                else:
                    leg.chunk = chunk  # buffer() builds leg.buf from it if the plugin asks
                    size = len(chunk)
                leg.eos = eos
                leg.phase = PH_BODY
                # as _call_trailers, inlined
                self._in_cb = True
                t0 = _perf_ns()
                try:
                    rc = ctx.on_request_body(size, eos) if d == REQUEST else ctx.on_response_body(size, eos)
                except PluginRuntimeError as err:
                    rc = self._call_failed(af, err, t0)
                else:
                    dt = _perf_ns() - t0
                    self._in_cb = False
                    stats = af.runtime.stats
                    stats.callbacks += 1
                    stats.callback_ns += dt
                    if dt > stats.max_callback_ns:
                        stats.max_callback_ns = dt
                    if self._terminal:
                        self._drain()
                        rc = ENDED
                leg.chunk = None
                if rc == ENDED or p.aborted:
                    return
                if rc == 0 or af.ctx is None:
                    leg.phase = PH_NONE
                    buf = leg.buf
                    if buf is not None:
                        leg.buf = None
                        chunk = buf.bytes()
                    leg.state = DONE if eos else STREAMING
                    added = eos and p.trailers_by is af
                    if self._pending is not None:
                        self._drain()
                        if p.aborted:
                            return
                    if leg.held:
                        leg.held = False
                        self._headers_from(p, k + 1)
                        if p.aborted:
                            return
                    if added:
                        self._data_at(p, k + 1, chunk, False)
                        if not p.aborted:
                            self._trailers_at(p, k + 1)
                        return
                    k += 1
                    continue
                leg.state = BUFFERING
                buf = leg.buf
                if buf is None:
                    leg.buf = buf = BodyBuffer(chunk)
                if rc != 1 and rc != 2:  # StopIterationNoBuffer: the chunk is not kept
                    buf.clear()
                elif len(buf) > self.chain.limits.body_buffer_bytes:
                    self._overflow(p)
                    return
                if self._pending is not None:
                    self._drain()
                return
            if st in (STOP_ALL, IDLE):
                q = leg.q
                if q is None:
                    leg.q = q = bytearray()
                q += chunk
                leg.q_eos = eos
                if len(q) > self.chain.limits.body_buffer_bytes:
                    self._overflow(p)
                return
            # DONE / STOP_TRAILERS: nothing may follow end of stream
            return
        # The end of the chain: the data leaves.
        if eos:
            p.done = True
        elif not chunk:
            return
        if d == REQUEST:
            self._events.append(SendRequestData(chunk, eos))
        else:
            self._events.append(SendResponseData(chunk, eos))

    def _trailers_at(self, p: _Path, k: int) -> None:
        order = p.order
        n = len(order)
        d = p.d
        trailers = p.trailers
        assert trailers is not None
        while k < n:
            af = order[k]
            ctx = af.ctx
            if ctx is None:
                k += 1
                continue
            leg = af.legs[d]
            st = leg.state
            if st in (STOP_ALL, IDLE):
                leg.q_trailers = True
                return
            if st != STREAMING and st != BUFFERING:
                return
            leg.phase = PH_TRAILERS
            on_trailers = ctx.on_request_trailers if d == REQUEST else ctx.on_response_trailers
            rc = self._call_trailers(af, on_trailers, len(trailers))
            if rc == ENDED or p.aborted:
                return
            if rc == 0 or af.ctx is None:
                leg.phase = PH_NONE
                leg.state = DONE
                if self._pending is not None:
                    self._drain()
                    if p.aborted:
                        return
                if not self._flush_held(p, k, leg):
                    return
                k += 1
                continue
            leg.state = STOP_TRAILERS
            if self._pending is not None:
                self._drain()
            return
        self._sink_trailers(p)

    def _flush_held(self, p: _Path, k: int, leg: _Leg) -> bool:
        """Forward what a filter still holds in front of its trailers; False if the path ended."""
        if leg.held:
            leg.held = False
            self._headers_from(p, k + 1)
            if p.aborted:
                return False
        buf = leg.buf
        if buf is not None:
            leg.buf = None
            if len(buf):
                self._data_at(p, k + 1, buf.bytes(), False)
                if p.aborted:
                    return False
        return True

    def _resume(self, af: ActiveFilter, d: int) -> None:
        """continue_stream(d) from plugin ``af``, applied after its callback returned."""
        p = self._paths[d]
        if p.aborted:
            return
        leg = af.legs[d]
        k = af.index if d == REQUEST else len(self._filters) - 1 - af.index
        st = leg.state
        if st == STOP_ALL:
            leg.phase = PH_NONE
            leg.state = DONE if p.headers_eos else STREAMING
            self._headers_from(p, k + 1)
            if p.aborted:
                return
            q = leg.q
            if q is not None:
                leg.q = None
                self._data_at(p, k, bytes(q), leg.q_eos)
                if p.aborted:
                    return
            if leg.q_trailers:
                leg.q_trailers = False
                self._trailers_at(p, k)
        elif st == BUFFERING:
            buf = leg.buf
            assert buf is not None
            leg.phase = PH_NONE
            leg.buf = None
            eos = leg.eos
            added = eos and p.trailers_by is af
            leg.state = DONE if eos else STREAMING
            if leg.held:
                leg.held = False
                self._headers_from(p, k + 1)
                if p.aborted:
                    return
            self._data_at(p, k + 1, buf.bytes(), eos and not added)
            if added and not p.aborted:
                self._trailers_at(p, k + 1)
        elif st == STOP_TRAILERS:
            leg.phase = PH_NONE
            leg.state = DONE
            if self._flush_held(p, k, leg):
                self._trailers_at(p, k + 1)
        elif leg.held:
            leg.phase = PH_NONE
            leg.held = False
            self._headers_from(p, k + 1)

    # -- the end of the chain (headers: at the end of _headers_from) -------------------------------
    def _sink_trailers(self, p: _Path) -> None:
        trailers = p.trailers
        assert trailers is not None
        p.done = True
        if p.d == REQUEST:
            self._events.append(SendRequestTrailers(trailers))
        else:
            self._events.append(SendResponseTrailers(trailers))

    # ============================================================================================
    # calling plugins
    # ============================================================================================
    def _enter(self, af: ActiveFilter) -> bool:
        """Request headers reach ``af``: create its context lazily, or apply failStrategy.
        Returns False when the stream ended here (deny / fail-close)."""
        af.entered = True
        rt = af.runtime
        stats = rt.stats
        stats.requests += 1
        vm = rt.vm if rt.state is _READY else rt.vm_for_new_stream()
        if vm is not None:
            af.generation = rt.generation
            try:
                af.ctx = vm.create_stream(af)
            except PluginRuntimeError as err:
                return self._callback_failed(af, err) != ENDED
            rt._active.add(af)  # the runtime tracks it (its failure may have to end this stream)
            return True
        if rt.strategy is FailStrategy.FAIL_OPEN:
            stats.bypassed += 1
            return True
        stats.denied += 1
        if rt.state is RuntimeState.LOAD_FAILED:
            self._local_reply(LocalReply(403, RBAC_DENIED_BODY, DETAILS_RBAC_DENIED))
        else:
            if self.error is None:
                self.error = rt.failure
            self._local_reply(LocalReply(503, b"", DETAILS_WASM_FAIL_STREAM, (), GRPC_UNAVAILABLE))
        return False

    def _call_trailers(self, af: ActiveFilter, callback: Callable[[int], int], count: int) -> int:
        """Run a trailers callback of ``af`` (a bound method of its context), timed for its stats;
        returns the raw result, or ENDED when the stream ended in it. (The headers and body
        callbacks do the same inline.)"""
        self._in_cb = True
        t0 = _perf_ns()
        try:
            rc = callback(count)
        except PluginRuntimeError as err:
            return self._call_failed(af, err, t0)
        self._in_cb = False
        _account(af.runtime.stats, _perf_ns() - t0)
        if self._terminal:  # a local reply or close: the return value is forced to stop
            self._drain()
            return ENDED
        return rc

    def _call_failed(self, af: ActiveFilter, err: PluginRuntimeError, t0: int) -> int:
        self._in_cb = False
        af.runtime.stats.callback_ns += _perf_ns() - t0
        return self._callback_failed(af, err)

    def _call_final(self, af: ActiveFilter, ctx: StreamContextLike, log: bool) -> bool:
        """on_log, or on_done + on_delete; False when the plugin failed."""
        t0 = _perf_ns()
        try:
            if log:
                ctx.on_log()
            else:
                ctx.on_done()
                ctx.on_delete()
        except PluginRuntimeError as err:
            self._note_failure(af, err)
            af.ctx = None
            return False
        finally:
            stats = af.runtime.stats
            stats.callback_ns += _perf_ns() - t0
            stats.callbacks += 1 if log else 2
        return True

    def _note_failure(self, af: ActiveFilter, err: PluginRuntimeError) -> None:
        if self.error is None:
            self.error = err
        rt = af.runtime
        rt.detach(af, ok=False)
        if af.generation == rt.generation:
            rt.failed(err, origin=af)

    def _callback_failed(self, af: ActiveFilter, err: PluginRuntimeError) -> int:
        """A stream callback (or context creation) of ``af`` failed: apply failStrategy."""
        self._note_failure(af, err)
        af.ctx = None
        self._drop_pending(af)
        rt = af.runtime
        if rt.strategy is FailStrategy.FAIL_OPEN:
            rt.stats.bypassed += 1
            return 0
        rt.stats.denied += 1
        self._local_reply(LocalReply(503, b"", DETAILS_WASM_FAIL_STREAM, (), GRPC_UNAVAILABLE))
        return ENDED

    def _plugin_failed_async(self, af: ActiveFilter, err: PluginRuntimeError) -> None:
        """The plugin's VM failed outside this stream's callbacks (another stream, on_tick,
        on_http_call_response): a stream it had paused fails now; others fail at their next call."""
        if self._completed or self._reset or af.ctx is None:
            return
        paused = [d for d in (REQUEST, RESPONSE) if _is_paused(af.legs[d])]
        if not paused:
            return  # not waiting on the plugin: its next callback raises PluginFailed
        af.ctx = None
        if self.error is None:
            self.error = err
        self._drop_pending(af)
        rt = af.runtime
        if rt.strategy is FailStrategy.FAIL_OPEN:
            rt.stats.bypassed += 1
            for d in paused:
                self._resume(af, d)
        else:
            rt.stats.denied += 1
            self._local_reply(LocalReply(503, b"", DETAILS_WASM_FAIL_STREAM, (), GRPC_UNAVAILABLE))
        self._wake()

    # -- deferred actions ---------------------------------------------------------------------------
    def _defer(self, af: ActiveFilter, action: int, arg: object) -> None:
        pending = self._pending
        if pending is None:
            self._pending = [(af, action, arg)]
        else:
            pending.append((af, action, arg))
        if action != _ACT_CONTINUE:
            self._terminal = True
        if not self._in_cb and not self._deferred_scheduled:
            # From an asynchronous delivery (on_http_call_response, on_tick, on_queue_ready):
            # apply once that VM call has returned, through the scheduler.
            self._deferred_scheduled = True
            self.chain.scheduler_call_soon(self._run_deferred)

    def _run_deferred(self) -> None:
        self._deferred_scheduled = False
        if self._pending is not None and not self._completed:
            self._drain()
            self._wake()

    def _drop_pending(self, af: ActiveFilter) -> None:
        if self._pending is not None:
            rest = [item for item in self._pending if item[0] is not af]
            self._pending = rest or None
            self._terminal = any(item[1] != _ACT_CONTINUE for item in rest)

    def _drain(self) -> None:
        while self._pending is not None:
            pending = self._pending
            self._pending = None
            self._terminal = False
            for af, action, arg in pending:
                if self._reset or self._completed:
                    return
                if action == _ACT_CONTINUE:
                    if af.ctx is not None:
                        assert isinstance(arg, int)
                        self._resume(af, arg)
                elif action == _ACT_LOCAL_REPLY:
                    assert isinstance(arg, LocalReply)
                    af.runtime.stats.local_replies += 1
                    self._local_reply(arg)
                else:
                    self._do_reset(DETAILS_WASM_CLOSE_STREAM)

    def _wake(self) -> None:
        if self._wakeup is not None and self._events:
            self._wakeup()

    # -- local replies and resets ---------------------------------------------------------------------
    def _local_reply(self, reply: LocalReply) -> None:
        if self._completed or self._reset or self.local_reply_sent is not None:
            return  # the first local reply of a stream wins
        self.local_reply_sent = reply
        self.details = reply.details
        rq, rs = self._paths
        rq.aborted = True
        headers, body = build_local_reply(reply, grpc=self.grpc)
        if not rs.started:
            rs.started = True
            rs.local = True
            rs.headers = headers
            rs.headers_eos = not body
            self.resp_headers = headers
            self._headers_from(rs, 0)
            if body and not rs.aborted:
                self._data_at(rs, 0, body, True)
        elif not rs.emitted:
            # Envoy sendDirectLocalReply: the response is already inside the filter chain.
            rs.aborted = True
            rs.local = True
            self.resp_headers = headers
            self._events.append(SendResponseHeaders(headers, not body, True))
            if body:
                self._events.append(SendResponseData(body, True))
            rs.emitted = True
            rs.done = True
        else:
            self._do_reset(reply.details)

    def _do_reset(self, details: str) -> None:
        if self._reset or self._completed:
            return
        self._reset = True
        if not self.details or self.details == DETAILS_VIA_UPSTREAM:
            self.details = details
        for p in self._paths:
            p.aborted = True
        self._events.append(ResetStream(details))

    def _overflow(self, p: _Path) -> None:
        if p.d == REQUEST:
            self._local_reply(LocalReply(413, b"Payload Too Large", DETAILS_REQUEST_TOO_LARGE))
        else:
            self._local_reply(LocalReply(500, b"Internal Server Error", DETAILS_RESPONSE_TOO_LARGE))


def _account(stats: PluginStats, dt: int) -> None:
    """One stream callback that took ``dt`` ns, in the plugin's counters."""
    stats.callbacks += 1
    stats.callback_ns += dt
    if dt > stats.max_callback_ns:
        stats.max_callback_ns = dt


def _is_paused(leg: _Leg) -> bool:
    st = leg.state
    return st in (STOP_ALL, BUFFERING, STOP_TRAILERS) or leg.held
