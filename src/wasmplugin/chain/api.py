"""The sans-IO filter chain's interface: what a transport feeds in and what it gets out.

A transport (the sidecar's HTTP/1.1 protocol, ``wasmplugin run``, the pytest harness) owns bytes
and sockets; the chain owns plugin order, pause/resume, buffering, local replies and failStrategy.
Like h11, the chain never does I/O: the transport feeds *inputs* (methods on ``HttpStream``) and
drains *outputs* (``Event`` objects from ``HttpStream.events()``).

Because a plugin can resume a paused stream later (from on_http_call_response, on_tick or
on_queue_ready), new events can appear outside any input call; the chain then calls the
``wakeup`` callback the transport passed to ``new_stream`` — through the scheduler, never
re-entrantly — and the transport drains ``events()`` again.

Typical transport loop for one request::

    stream = chain.new_stream(info, wakeup=lambda: drain(stream))
    stream.request_headers(headers, end_stream=False)
    stream.request_data(chunk, end_stream=True)
    drain(stream)      # -> SendRequestHeaders, SendRequestData ... or a local reply
    ... upstream answers ...
    stream.response_headers(resp_headers, end_stream=False)
    stream.response_data(body, end_stream=True)
    drain(stream)      # -> SendResponseHeaders, SendResponseData
    stream.complete()  # on_log, on_done, on_delete
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from wasmplugin.abi.headers import HeaderMap


class Direction(Enum):
    """Traffic direction as Istio's listener classes see it (WasmPlugin ``match.mode``)."""

    INBOUND = "inbound"  # SERVER mode: sidecar inbound listener
    OUTBOUND = "outbound"  # CLIENT mode: sidecar outbound listener (and gateways)


@dataclass
class StreamInfo:
    """Connection and routing facts the chain exposes as properties (source.*, destination.*,
    connection.*, upstream.*, xds.*). The transport fills what it knows and may update the
    ``upstream_*`` fields once it has picked and connected an upstream."""

    direction: Direction = Direction.INBOUND
    #: Listener port compared by ``match.ports`` (inbound: workload target port; outbound: service port).
    port: int = 0
    source_address: str = "127.0.0.1"
    source_port: int = 0
    destination_address: str = "127.0.0.1"
    destination_port: int = 0
    connection_id: int = 0
    protocol: str = "HTTP/1.1"
    request_start_ns: int = 0
    upstream_address: str | None = None
    upstream_port: int | None = None
    cluster_name: str | None = None
    route_name: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


# --- output events -----------------------------------------------------------------------------


class Event:
    __slots__ = ()


@dataclass(slots=True)
class SendRequestHeaders(Event):
    """Forward the (possibly modified) request headers upstream; the transport routes now."""

    headers: HeaderMap
    end_stream: bool


@dataclass(slots=True)
class SendRequestData(Event):
    data: bytes
    end_stream: bool


@dataclass(slots=True)
class SendRequestTrailers(Event):
    trailers: HeaderMap


@dataclass(slots=True)
class SendResponseHeaders(Event):
    """Send response headers downstream. ``local`` is true for a locally generated reply (plugin
    local response, failStrategy 503/403, buffer overflow 413): the transport must not (or no
    longer) talk to the upstream for this stream."""

    headers: HeaderMap
    end_stream: bool
    local: bool = False


@dataclass(slots=True)
class SendResponseData(Event):
    data: bytes
    end_stream: bool


@dataclass(slots=True)
class SendResponseTrailers(Event):
    trailers: HeaderMap


@dataclass(slots=True)
class ResetStream(Event):
    """Abort the stream (proxy_close_stream, or a failure after response headers were sent):
    close the downstream connection without a reply and drop the upstream request.
    ``details`` is Envoy's response code details (e.g. ``wasm_close_stream``)."""

    details: str
