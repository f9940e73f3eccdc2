"""``SimpleStreamHost`` and ``make_services``: drive a PluginVM without a filter chain.

For tests, benchmarks and tools: an in-memory stream (four header maps, two bodies, properties)
that records what the plugin asked for (local reply, continue, close) instead of acting on it,
and a ``HostServices`` with sensible defaults (virtual time, collected logs, no upstreams).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from wasmplugin.abi.buffers import BodyBuffer
from wasmplugin.abi.enums import LogLevel, WasmResult
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.abi.pairs import Pair
from wasmplugin.abi.values import PropertyValue
from wasmplugin.host.api import (
    Clock,
    ForeignFunction,
    HostCallTracer,
    HostServices,
    HttpCallDispatcher,
    HttpCallRequest,
    HttpCallResponse,
    LogSink,
    NodeInfo,
    Scheduler,
)
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.metrics import MetricsRegistry
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.shared import SharedData, SharedQueues
from wasmplugin.limits import DEFAULT_LIMITS, Limits


@dataclass
class LocalReply:
    status: int
    details: str
    body: bytes
    headers: list[Pair]
    grpc_status: int


@dataclass
class SimpleStreamHost:
    """An in-memory stream. Every map and body is available unless set to ``None``."""

    request_headers: HeaderMap | None = field(default_factory=HeaderMap)
    request_trailers: HeaderMap | None = field(default_factory=HeaderMap)
    response_headers: HeaderMap | None = field(default_factory=HeaderMap)
    response_trailers: HeaderMap | None = field(default_factory=HeaderMap)
    request_body: BodyBuffer | None = field(default_factory=BodyBuffer)
    response_body: BodyBuffer | None = field(default_factory=BodyBuffer)
    properties: dict[tuple[str, ...], PropertyValue] = field(default_factory=dict)
    local_replies: list[LocalReply] = field(default_factory=list)
    continued: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)

    def header_map(self, map_type: int) -> HeaderMap | None:
        if map_type == 0:
            return self.request_headers
        if map_type == 1:
            return self.request_trailers
        if map_type == 2:
            return self.response_headers
        if map_type == 3:
            return self.response_trailers
        return None

    def buffer(self, buffer_type: int) -> BodyBuffer | None:
        if buffer_type == 0:
            return self.request_body
        if buffer_type == 1:
            return self.response_body
        return None

    def send_local_response(
        self, status: int, details: str, body: bytes, headers: list[Pair], grpc_status: int
    ) -> WasmResult:
        self.local_replies.append(LocalReply(status, details, body, headers, grpc_status))
        return WasmResult.OK

    def continue_stream(self, stream_type: int) -> WasmResult:
        self.continued.append(stream_type)
        return WasmResult.OK

    def close_stream(self, stream_type: int) -> WasmResult:
        self.closed.append(stream_type)
        return WasmResult.OK

    def stream_property(self, path: tuple[str, ...]) -> PropertyValue | None:
        """``properties`` by exact path (values set by the plugin included)."""
        return self.properties.get(path)

    def set_property(self, path: tuple[str, ...], value: bytes) -> WasmResult:
        self.properties[path] = value
        return WasmResult.OK


class NoUpstreams:
    """An http_call dispatcher with no clusters: every call answers BAD_ARGUMENT (Envoy, unknown
    cluster)."""

    def dispatch(
        self, call: HttpCallRequest, on_done: Callable[[HttpCallResponse | None], None]
    ) -> WasmResult:
        return WasmResult.BAD_ARGUMENT


class ScriptedUpstreams:
    """An http_call dispatcher answering from a table (cluster → response, or ``None`` for a
    reset), through the scheduler. Records every call it accepted in ``calls``."""

    def __init__(
        self,
        scheduler: Scheduler,
        responses: Mapping[str, HttpCallResponse | None] | None = None,
        *,
        delay_s: float = 0.0,
    ) -> None:
        self._scheduler = scheduler
        self.responses: dict[str, HttpCallResponse | None] = dict(responses or {})
        self.delay_s = delay_s
        self.calls: list[HttpCallRequest] = []

    def dispatch(
        self, call: HttpCallRequest, on_done: Callable[[HttpCallResponse | None], None]
    ) -> WasmResult:
        if call.cluster not in self.responses:
            return WasmResult.BAD_ARGUMENT
        self.calls.append(call)
        response = self.responses[call.cluster]
        if self.delay_s > 0:
            self._scheduler.call_later(self.delay_s, lambda: on_done(response))
        else:
            self._scheduler.call_soon(lambda: on_done(response))
        return WasmResult.OK


def make_services(
    *,
    clock: Clock | None = None,
    scheduler: Scheduler | None = None,
    log: LogSink | None = None,
    http: HttpCallDispatcher | None = None,
    metrics: MetricsRegistry | None = None,
    node: NodeInfo | None = None,
    foreign_functions: Mapping[str, ForeignFunction] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    tracer: HostCallTracer | None = None,
    log_level: LogLevel = LogLevel.TRACE,
) -> HostServices:
    """A ``HostServices`` for tests and tools: by default a VirtualScheduler (and its clock), a
    CollectingLogSink, no upstreams, fresh shared data, queues and metrics."""
    if scheduler is None:
        virtual = VirtualScheduler()
        scheduler = virtual
        if clock is None:
            clock = virtual.clock
    if clock is None:
        from wasmplugin.host.scheduling import SystemClock

        clock = SystemClock()
    return HostServices(
        clock=clock,
        scheduler=scheduler,
        log=log if log is not None else CollectingLogSink(log_level),
        http=http if http is not None else NoUpstreams(),
        shared_data=SharedData(),
        shared_queues=SharedQueues(),
        metrics=metrics if metrics is not None else MetricsRegistry(),
        node=node if node is not None else NodeInfo(),
        foreign_functions=dict(foreign_functions or {}),
        limits=limits,
        tracer=tracer,
    )


def headers(pairs: Iterable[tuple[str, str]]) -> HeaderMap:
    """Shorthand: a HeaderMap from ``(name, value)`` strings."""
    return HeaderMap(pairs)
