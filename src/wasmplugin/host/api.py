"""What the host needs from whoever embeds it: capability interfaces (proxy-wasm-cpp-host style).

The host (``wasmplugin.host``) runs plugins; it does not know about sockets, event loops, chains or
configuration files. Everything outside the VM that a host call can reach is one of the interfaces
below, handed to each :class:`~wasmplugin.host.vm.PluginVM` in a :class:`HostServices`:

* the sidecar implements them with asyncio and real HTTP;
* ``wasmplugin run`` and ``wasmplugin.testing`` implement them with a virtual clock and fakes.

One ``HostServices`` per process (per sidecar worker, per test): shared data, queues and metrics
are shared by every VM built with the same services object, as Envoy shares them per process.
There is no module-level mutable state anywhere in the host.

Streams: the chain implements :class:`StreamHost` for each HTTP stream and passes it to
``PluginVM.create_stream``. Host shims call it for everything stream-scoped (header maps 0–3, body
buffers 0–1, local replies, continue/close, stream properties). Side effects that Envoy defers until
the VM call returns (continue, close, local reply) are deferred by the *chain*, which knows when a
callback returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from wasmplugin.abi.buffers import BodyBuffer
from wasmplugin.abi.enums import LogLevel, WasmResult
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.abi.pairs import Pair
from wasmplugin.abi.values import PropertyValue
from wasmplugin.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from wasmplugin.host.metrics import MetricsRegistry
    from wasmplugin.host.shared import SharedData, SharedQueues


# --- time and deferred work ---------------------------------------------------------------------


class Clock(Protocol):
    """Wall and monotonic time in nanoseconds (proxy_get_current_time_nanoseconds, WASI clocks)."""

    def now_ns(self) -> int: ...

    def monotonic_ns(self) -> int: ...


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Where deferred work runs: the sidecar's event loop, or a virtual loop in ``run`` and tests.

    Used for on_tick timers, on_queue_ready notifications, http_call completions and timeouts, and
    FAIL_RELOAD backoff. Callbacks never run re-entrantly inside the call that scheduled them.
    """

    def call_soon(self, fn: Callable[[], None]) -> None: ...

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> TimerHandle: ...


# --- logs ---------------------------------------------------------------------------------------


class LogSink(Protocol):
    """Receives plugin logs (proxy_log, WASI fd_write to stdout/stderr) and host diagnostics."""

    def log(self, plugin: str, level: LogLevel, message: str) -> None: ...

    def level(self, plugin: str) -> LogLevel:
        """Current threshold for ``plugin`` (proxy_get_log_level). Lower levels are dropped early."""
        ...


# --- http_call ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpCallRequest:
    """One proxy_http_call as the plugin issued it (headers already validated: :method, :path,
    :authority present)."""

    plugin: str
    cluster: str
    headers: tuple[Pair, ...]
    body: bytes
    trailers: tuple[Pair, ...]
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class HttpCallResponse:
    """Response headers include ``:status``. A timeout or an unreachable cluster arrives as an ordinary
    locally generated response (504 / 503), as in Envoy."""

    headers: tuple[Pair, ...]
    body: bytes = b""
    trailers: tuple[Pair, ...] = ()


class HttpCallDispatcher(Protocol):
    def dispatch(
        self, call: HttpCallRequest, on_done: Callable[[HttpCallResponse | None], None]
    ) -> WasmResult:
        """Start an http_call.

        Return ``OK`` when accepted, ``BAD_ARGUMENT`` when ``call.cluster`` is unknown, and
        ``INTERNAL_FAILURE`` when it cannot be sent. ``on_done`` runs later through the scheduler —
        never inside ``dispatch`` — with the response, or ``None`` for a reset or a response over
        ``Limits.http_call_response_max_bytes`` (the plugin then sees ``(token, 0, 0, 0)`` and
        proxy_get_status answers 11 "reset").
        """
        ...


# --- node / xDS metadata --------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInfo:
    """What ``xds.node`` (and the legacy ``node``) answers: the sidecar's identity as Envoy sees it.

    ``metadata`` holds Istio's node metadata keys (NAME, NAMESPACE, LABELS, WORKLOAD_NAME, ...).
    """

    id: str = "sidecar~127.0.0.1~wasmplugin.default~default.svc.cluster.local"
    cluster: str = "wasmplugin.default"
    metadata: Mapping[str, PropertyValue] = field(default_factory=dict)


# --- foreign functions --------------------------------------------------------------------------

#: ``(plugin_name, argument bytes) -> (status, result bytes)``; registered by name.
ForeignFunction = Callable[[str, bytes], tuple[WasmResult, bytes]]


# --- tracing (the testing harness records every host call) ---------------------------------------


class HostCallTracer(Protocol):
    def host_call(
        self, plugin: str, context_id: int, name: str, args: tuple[int, ...], result: int
    ) -> None: ...

    def guest_call(self, plugin: str, name: str, args: tuple[int, ...]) -> None: ...


# --- the bundle -----------------------------------------------------------------------------------


@dataclass
class HostServices:
    """Everything a VM may reach outside itself. One per process / worker / test."""

    clock: Clock
    scheduler: Scheduler
    log: LogSink
    http: HttpCallDispatcher
    shared_data: SharedData
    shared_queues: SharedQueues
    metrics: MetricsRegistry
    node: NodeInfo = field(default_factory=NodeInfo)
    foreign_functions: Mapping[str, ForeignFunction] = field(default_factory=dict)
    limits: Limits = DEFAULT_LIMITS
    #: When set, VMs are linked with tracing shims (slower); ``None`` on the request path.
    tracer: HostCallTracer | None = None


# --- per-stream interface the chain implements --------------------------------------------------


class StreamHost(Protocol):
    """One HTTP stream as host calls see it. Implemented by the chain (``wasmplugin.chain``).

    Map and buffer *availability* is the chain's decision, following Envoy: e.g. request headers are
    writable in on_request_headers (and while paused there), read-only in on_log; a body callback at
    end of stream may create trailers. Return values map straight onto ABI statuses.
    """

    def header_map(self, map_type: int) -> HeaderMap | None:
        """Map types 0–3. ``None`` → the host answers BAD_ARGUMENT (not available now).
        A frozen map is readable; writes to it answer BAD_ARGUMENT."""
        ...

    def buffer(self, buffer_type: int) -> BodyBuffer | None:
        """Buffer types 0–3. ``None`` → NOT_FOUND."""
        ...

    def send_local_response(
        self, status: int, details: str, body: bytes, headers: list[Pair], grpc_status: int
    ) -> WasmResult: ...

    def continue_stream(self, stream_type: int) -> WasmResult: ...

    def close_stream(self, stream_type: int) -> WasmResult: ...

    def stream_property(self, path: tuple[str, ...]) -> PropertyValue | None:
        """Stream-scoped attributes: request.*, response.*, source.*, destination.*, connection.*,
        upstream.*, metadata.*, filter_state (and ``wasm.*`` values set by set_property). ``path``
        is already split on NUL; the host indexes into nested maps itself if the provider returns one."""
        ...

    def set_property(self, path: tuple[str, ...], value: bytes) -> WasmResult: ...
