"""Driving one request through a chain on virtual time, and what the test gets back.

``InFlight`` is the transport for one stream (the harness's stand-in for the sidecar's HTTP/1
protocol): it feeds the chain the request, drains the chain's events, and — once the whole request
has left the chain — feeds it the backend's answer (``Reply``). A plugin that pauses and resumes
later (after an http_call answer, a tick) is followed through the chain's ``wakeup``.

``Response`` is what the client received, plus everything a test wants next to it: what the
upstream received, the local reply the plugin asked for, the plugin error behind a failStrategy
answer, and the logs, http_calls and host-call trace of this request.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wasmplugin.abi.headers import HeaderMap
from wasmplugin.chain.api import (
    ResetStream,
    SendRequestData,
    SendRequestHeaders,
    SendRequestTrailers,
    SendResponseData,
    SendResponseHeaders,
    SendResponseTrailers,
    StreamInfo,
)
from wasmplugin.testing.headers import Headers, HeadersInput, to_pairs

if TYPE_CHECKING:
    from wasmplugin.chain.chain import FilterChain
    from wasmplugin.chain.local_reply import LocalReply
    from wasmplugin.chain.stream import HttpStream
    from wasmplugin.errors import PluginRuntimeError
    from wasmplugin.host.scheduling import VirtualScheduler
    from wasmplugin.testing.logs import LogView
    from wasmplugin.testing.trace import HostCallTrace
    from wasmplugin.testing.upstreams import RecordedCall

#: A body: bytes or text, or a list of chunks (each delivered in its own body callback).
BodyInput = bytes | str | Sequence[bytes | str] | None


def chunks_of(body: BodyInput) -> list[bytes]:
    if body is None:
        return []
    if isinstance(body, (bytes, bytearray, str)):
        data = body.encode() if isinstance(body, str) else bytes(body)
        return [data] if data else []
    return [c.encode() if isinstance(c, str) else bytes(c) for c in body]


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Reply:
    """What the backend (the upstream of the proxied request) answers.

    ``body`` may be a list of chunks (delivered one response-body callback each); ``content-length``
    is added when neither it nor ``transfer-encoding`` is given and there are no trailers. ``delay``:
    virtual seconds the backend takes to answer once it has the whole request."""

    status: int = 200
    headers: HeadersInput = None
    body: BodyInput = None
    json: Any = None
    trailers: HeadersInput = None
    delay: float = 0.0

    def wire(self) -> tuple[list[tuple[bytes, bytes]], list[bytes], list[tuple[bytes, bytes]] | None]:
        if not 100 <= self.status <= 599:
            raise ValueError(f"Reply status {self.status} is not an HTTP status (100-599)")
        headers = [(b":status", str(self.status).encode())]
        extra = to_pairs(self.headers)
        if self.json is not None:
            if self.body is not None:
                raise ValueError("give body or json, not both")
            chunks = [jsonlib.dumps(self.json, separators=(",", ":")).encode()]
            if not any(k == b"content-type" for k, _ in extra):
                extra.append((b"content-type", b"application/json"))
        else:
            chunks = chunks_of(self.body)
        headers.extend(extra)
        trailers = to_pairs(self.trailers) if self.trailers is not None else None
        names = {k for k, _ in extra}
        if b"content-length" not in names and b"transfer-encoding" not in names and not trailers:
            headers.append((b"content-length", str(sum(len(c) for c in chunks)).encode()))
        return headers, chunks, trailers


#: The backend: a fixed ``Reply`` or a function of what it received.
Backend = Reply | Callable[["UpstreamRequest"], Reply]


@dataclass
class UpstreamRequest:
    """The request as it left the chain (what the backend received)."""

    headers: Headers
    body: bytes = b""
    trailers: Headers | None = None
    complete: bool = False

    @property
    def method(self) -> str:
        return self.headers.get(":method", "")

    @property
    def path(self) -> str:
        return self.headers.get(":path", "")

    @property
    def authority(self) -> str:
        return self.headers.get(":authority", "")

    @property
    def text(self) -> str:
        return _text(self.body)

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def __repr__(self) -> str:
        return f"<UpstreamRequest {self.method} {self.path} ({len(self.body)} body bytes)>"


@dataclass
class Response:
    """What the client received, and what happened on the way."""

    #: HTTP status the client got; ``None`` when the stream was reset before any response.
    status: int | None
    #: Response headers (without ``:status``).
    headers: Headers
    body: bytes
    trailers: Headers | None
    #: True when the response was generated by the proxy (a plugin's local reply, failStrategy's
    #: 503/403, a buffer overflow, the harness's 408 idle timeout), not by the backend.
    local: bool
    #: The first local reply as its originator asked for it (status, body, details, headers).
    local_reply: LocalReply | None
    #: Envoy's response code details: ``via_upstream``, ``wasm_fail_stream``, a plugin's details ...
    details: str
    #: What the backend received; ``None`` when the request never left the chain.
    upstream_request: UpstreamRequest | None
    #: The plugin failure (trap, deadline, memory) that decided this response, if any.
    error: PluginRuntimeError | None
    #: ResetStream details when the client saw a reset (e.g. ``wasm_close_stream``).
    reset: str | None
    #: No response in ``Limits.downstream_idle_timeout_s`` of virtual time: the client got 408.
    timed_out: bool
    #: Virtual seconds from the request to the end of the stream.
    elapsed: float
    logs: LogView
    http_calls: list[RecordedCall]
    trace: HostCallTrace
    events: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return _text(self.body)

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def __repr__(self) -> str:
        status = "reset" if self.status is None else str(self.status)
        bits = [status]
        if self.local:
            bits.append("local")
        if self.details:
            bits.append(f"details={self.details}")
        if self.error is not None:
            bits.append(f"error={self.error}")
        body = self.body if len(self.body) <= 80 else self.body[:77] + b"..."
        return f"<Response {' '.join(bits)} body={body!r}>"


class InFlight:
    """One stream being driven. Create with ``target.start_request(...)``; ``finish()`` ends it."""

    def __init__(
        self,
        chain: FilterChain,
        scheduler: VirtualScheduler,
        backend: Backend,
        info: StreamInfo | None,
        *,
        on_finish: Callable[[InFlight], None],
        max_wait_s: float,
        marks: tuple[int, int, int],
        views: tuple[LogView, HostCallTrace, list[RecordedCall]],
    ) -> None:
        self._scheduler = scheduler
        self._backend = backend
        self._on_finish = on_finish
        self._max_wait_s = max_wait_s
        self._marks = marks
        self._views = views
        self._start_ns = scheduler.clock.monotonic_ns()
        self.upstream_request: UpstreamRequest | None = None
        self._resp_headers: HeaderMap | None = None
        self._resp_body = bytearray()
        self._resp_trailers: HeaderMap | None = None
        self._resp_local = False
        self._resp_complete = False
        self.reset: str | None = None
        self.timed_out = False
        self._answered = False
        self._finished: Response | None = None
        self.events: list[str] = []
        self.stream: HttpStream = chain.new_stream(info, wakeup=self.pump)

    # -- feeding the request -------------------------------------------------------------------------
    def send_headers(self, headers: list[tuple[bytes, bytes]], end_stream: bool) -> None:
        self.stream.request_headers(HeaderMap(headers), end_stream=end_stream)
        self.pump()

    def send_body(self, chunk: bytes | str, *, end_stream: bool = False) -> InFlight:
        """One request body chunk (one ``on_request_body``)."""
        self._check_open()
        self.stream.request_data(
            chunk.encode() if isinstance(chunk, str) else bytes(chunk), end_stream=end_stream
        )
        self.pump()
        return self

    def send_trailers(self, trailers: HeadersInput) -> InFlight:
        """Request trailers (they end the request)."""
        self._check_open()
        self.stream.request_trailers(HeaderMap(to_pairs(trailers)))
        self.pump()
        return self

    def cancel(self) -> Response:
        """The client goes away (Envoy: downstream reset); the stream ends."""
        self._check_open()
        self.stream.reset("downstream_remote_disconnect")
        if self.reset is None:
            self.reset = "downstream_remote_disconnect"
        return self._complete()

    # -- state ----------------------------------------------------------------------------------------
    @property
    def is_complete(self) -> bool:
        """The client has the whole response (or the stream was reset)."""
        return self.reset is not None or self._resp_complete

    @property
    def paused(self) -> bool:
        """Waiting: the request has not fully left the chain and no response has started."""
        up = self.upstream_request
        return self._resp_headers is None and self.reset is None and (up is None or not up.complete)

    @property
    def response_status(self) -> int | None:
        h = self._resp_headers
        s = h.get(b":status") if h is not None else None
        return int(s) if s is not None and s.isdigit() else None

    # -- driving ---------------------------------------------------------------------------------------
    def pump(self) -> None:
        """Drain the chain's events; answer from the backend once the request has left the chain."""
        if self._finished is not None:
            return
        while True:
            events = self.stream.events()
            for ev in events:
                self._collect(ev)
            up = self.upstream_request
            if (
                not self._answered
                and up is not None
                and up.complete
                and self._resp_headers is None
                and self.reset is None
                and self.stream.local_reply_sent is None
            ):
                self._answered = True
                self._answer(up)
                continue
            if not events:
                return

    def _answer(self, up: UpstreamRequest) -> None:
        reply = self._backend(up) if callable(self._backend) else self._backend
        if reply.delay < 0:
            raise ValueError("Reply delay cannot be negative")
        if reply.delay > 0:
            self.events.append(f"backend answers in {reply.delay:g} s")
            self._scheduler.call_later(reply.delay, lambda: self._deliver(reply))
        else:
            self._deliver(reply)

    def _deliver(self, reply: Reply) -> None:
        if self._finished is not None or self.reset is not None or self._resp_headers is not None:
            return  # the stream ended (or a local reply answered) meanwhile
        headers, chunks, trailers = reply.wire()
        self.events.append(f"backend answers {reply.status}")
        s = self.stream
        s.response_headers(HeaderMap(headers), end_stream=not chunks and trailers is None)
        for i, chunk in enumerate(chunks):
            s.response_data(chunk, end_stream=i == len(chunks) - 1 and trailers is None)
        if trailers is not None:
            s.response_trailers(HeaderMap(trailers))
        self.pump()

    def wait(self, max_seconds: float | None = None) -> bool:
        """Run the scheduler — moving virtual time to each next timer — until the response is
        complete or ``max_seconds`` (default: the idle timeout) have passed. True when complete."""
        limit = self._max_wait_s if max_seconds is None else max_seconds
        sched = self._scheduler
        waited = 0.0
        while True:
            self.pump()
            if self.is_complete:
                return True
            if sched.run_until_idle():
                continue
            due = sched.next_due_s()
            if due is None or waited + max(due, 0.0) > limit:
                return self.is_complete
            step = max(due, 0.0)
            waited += step
            sched.advance(step)

    def finish(self) -> Response:
        """Wait for the response (virtual time), end the stream (on_log, on_done), return it."""
        if self._finished is not None:
            return self._finished
        if not self.wait():
            self.timed_out = True
            self.events.append("idle timeout: 408")
            self.stream.local_reply(408, b"stream timeout", details="stream_idle_timeout")
            self.pump()
        return self._complete()

    def _complete(self) -> Response:
        if self._finished is not None:
            return self._finished
        self.stream.complete()
        self._scheduler.run_until_idle()
        self.pump()
        response = self._build()
        self._finished = response
        self._on_finish(self)
        return response

    def _check_open(self) -> None:
        if self._finished is not None:
            raise RuntimeError("this request is finished")

    # -- events ----------------------------------------------------------------------------------------
    def _collect(self, ev: object) -> None:
        if isinstance(ev, SendRequestHeaders):
            self.upstream_request = UpstreamRequest(Headers(ev.headers), complete=ev.end_stream)
            self.events.append("request headers sent upstream" + (" (end)" if ev.end_stream else ""))
        elif isinstance(ev, SendRequestData):
            up = self.upstream_request
            assert up is not None
            up.body += ev.data
            up.complete = ev.end_stream
            self.events.append(
                f"request data sent upstream: {len(ev.data)} bytes" + (" (end)" if ev.end_stream else "")
            )
        elif isinstance(ev, SendRequestTrailers):
            up = self.upstream_request
            assert up is not None
            up.trailers = Headers(ev.trailers)
            up.complete = True
            self.events.append("request trailers sent upstream")
        elif isinstance(ev, SendResponseHeaders):
            self._resp_headers = ev.headers
            self._resp_local = ev.local
            self._resp_complete = ev.end_stream
            self.events.append(("local " if ev.local else "") + "response headers sent to the client")
        elif isinstance(ev, SendResponseData):
            self._resp_body += ev.data
            self._resp_complete = ev.end_stream
            self.events.append(f"response data sent to the client: {len(ev.data)} bytes")
        elif isinstance(ev, SendResponseTrailers):
            self._resp_trailers = ev.trailers
            self._resp_complete = True
            self.events.append("response trailers sent to the client")
        elif isinstance(ev, ResetStream):
            self.reset = ev.details
            self.events.append(f"stream reset ({ev.details})")

    def _build(self) -> Response:
        logs, trace, calls = self._views
        log_mark, trace_mark, calls_mark = self._marks
        log_end, trace_end = logs.mark(), trace.mark()
        h = self._resp_headers
        status = self.response_status
        headers = Headers([(k, v) for k, v in h if k != b":status"]) if h is not None else Headers()
        s = self.stream
        return Response(
            status=status if h is not None else None,
            headers=headers,
            body=bytes(self._resp_body),
            trailers=Headers(self._resp_trailers) if self._resp_trailers is not None else None,
            local=self._resp_local,
            local_reply=s.local_reply_sent,
            details=s.details,
            upstream_request=self.upstream_request,
            error=s.error,
            reset=self.reset,
            timed_out=self.timed_out,
            elapsed=(self._scheduler.clock.monotonic_ns() - self._start_ns) / 1e9,
            logs=logs.since(log_mark, log_end),
            http_calls=list(calls[calls_mark:]),
            trace=trace.since(trace_mark, trace_end),
            events=list(self.events),
        )

    def __repr__(self) -> str:
        state = "complete" if self.is_complete else ("paused" if self.paused else "in progress")
        return f"<InFlight {state}>"
