"""Push one request and its canned upstream response through a chain on virtual time.

The transport ``wasmplugin run`` and the pytest harness use: no sockets, a ``VirtualScheduler``
(timers, http_call answers and FAIL_RELOAD backoff run on virtual time). The upstream sees the
request once the chain has sent all of it, and answers with the canned response; a local reply
means the upstream is never asked. A stream nobody resumes ends as Envoy's stream idle timeout
does: 408 ``stream timeout`` (``Limits.downstream_idle_timeout_s`` of virtual time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

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
from wasmplugin.chain.chain import FilterChain
from wasmplugin.chain.stream import HttpStream

#: A stuck stream is abandoned after this many scheduler steps even if timers keep firing.
_MAX_STEPS = 20_000


class VirtualLoop(Protocol):
    """What the driver needs from ``wasmplugin.host.scheduling.VirtualScheduler``."""

    def run_until_idle(self, max_steps: int = ...) -> int: ...
    def advance(self, seconds: float) -> int: ...
    def next_due_s(self) -> float | None: ...


@dataclass
class Message:
    """One side of an exchange as it crossed the chain."""

    headers: HeaderMap
    body: bytes = b""
    trailers: HeaderMap | None = None
    local: bool = False
    complete: bool = False


@dataclass
class Exchange:
    stream: HttpStream
    #: What the upstream received (``None``: the request never left the chain).
    upstream_request: Message | None = None
    #: What the client received (``None``: nothing, e.g. a reset before any response).
    response: Message | None = None
    #: ResetStream details, when the stream was reset.
    reset: str | None = None
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)


def push(
    chain: FilterChain,
    loop: VirtualLoop,
    request: HeaderMap,
    request_body: bytes,
    response: HeaderMap,
    response_body: bytes,
    *,
    info: StreamInfo | None = None,
) -> Exchange:
    """Run one exchange to completion (including on_log/on_done/on_delete)."""
    stream = chain.new_stream(info, wakeup=None)
    ex = Exchange(stream)
    stream.request_headers(request, end_stream=not request_body)
    if request_body:
        stream.request_data(request_body, end_stream=True)
    answered = False
    waited = 0.0
    idle_timeout = chain.limits.downstream_idle_timeout_s
    for _ in range(_MAX_STEPS):
        _collect(ex, stream)
        if ex.reset is not None or (ex.response is not None and ex.response.complete):
            break
        up = ex.upstream_request
        if not answered and up is not None and up.complete and stream.local_reply_sent is None:
            answered = True
            stream.response_headers(response, end_stream=not response_body)
            if response_body:
                stream.response_data(response_body, end_stream=True)
            continue
        if loop.run_until_idle():
            continue
        due = loop.next_due_s()
        if due is not None and waited + due <= idle_timeout:
            waited += max(due, 0.0)
            loop.advance(max(due, 0.0))
            continue
        break
    else:
        ex.notes.append(f"abandoned after {_MAX_STEPS} scheduler steps")
    if ex.reset is None and (ex.response is None or not ex.response.complete):
        ex.timed_out = True
        stream.local_reply(408, b"stream timeout", details="stream_idle_timeout")
        _collect(ex, stream)
    stream.complete()
    loop.run_until_idle()
    return ex


def _collect(ex: Exchange, stream: HttpStream) -> None:
    for ev in stream.events():
        if isinstance(ev, SendRequestHeaders):
            ex.upstream_request = Message(ev.headers, complete=ev.end_stream)
        elif isinstance(ev, SendResponseHeaders):
            ex.response = Message(ev.headers, local=ev.local, complete=ev.end_stream)
        elif isinstance(ev, (SendRequestData, SendResponseData)):
            msg = ex.upstream_request if isinstance(ev, SendRequestData) else ex.response
            assert msg is not None
            msg.body += ev.data
            msg.complete = ev.end_stream
        elif isinstance(ev, (SendRequestTrailers, SendResponseTrailers)):
            msg = ex.upstream_request if isinstance(ev, SendRequestTrailers) else ex.response
            assert msg is not None
            msg.trailers = ev.trailers
            msg.complete = True
        elif isinstance(ev, ResetStream):
            ex.reset = ev.details
