"""Fake upstreams for ``proxy_http_call``: they record what the plugin sent and answer as declared.

An ``http_call`` names a *cluster*. A test declares the clusters the plugin may call and how each
answers; everything else is unknown to the host, so the call is refused with BAD_ARGUMENT, as Envoy
refuses an unknown cluster (the attempt is still recorded in ``FakeUpstreams.refused``).

Answers arrive through the harness's virtual scheduler, never inside the call, like real ones:
``delay`` is virtual time, and the call's own timeout (``timeout_ms``) fires a ``504 upstream request
timeout`` answer when the declared answer would come later — what the sidecar's client and Envoy's
async client deliver. Failure modes map to what a plugin sees in Envoy:

* ``reset()``: the connection drops after the response started → ``on_http_call_response`` with
  no headers (``proxy_get_status`` says 11 "reset");
* ``refuse()``: nothing listens → ``503`` "upstream connect error ... connection failure";
* ``hang()``: no answer at all → the timeout's ``504``;
* a declared cluster with nothing left to answer (``respond_once`` used up) → ``503 no healthy
  upstream``.
"""

from __future__ import annotations

import json as jsonlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wasmplugin.abi.enums import WasmResult
from wasmplugin.abi.pairs import Pair
from wasmplugin.host.api import HttpCallRequest, HttpCallResponse, Scheduler, TimerHandle
from wasmplugin.testing.headers import Headers, HeadersInput, RequestView, to_pairs

#: Envoy's texts for locally generated upstream failures (as the sidecar's client uses them).
CONNECT_FAILURE_BODY = (
    b"upstream connect error or disconnect/reset before headers. reset reason: connection failure"
)
TIMEOUT_BODY = b"upstream request timeout"
NO_HEALTHY_UPSTREAM_BODY = b"no healthy upstream"

Body = bytes | str | None


def body_bytes(body: Body, json: Any = None) -> bytes:
    if json is not None:
        if body is not None:
            raise ValueError("give body or json, not both")
        return jsonlib.dumps(json, separators=(",", ":")).encode()
    if body is None:
        return b""
    return body.encode() if isinstance(body, str) else bytes(body)


@dataclass(frozen=True)
class CallAnswer:
    """One declared answer: a response (``status`` ...), a reset, a refusal or silence."""

    #: "respond", "reset", "refuse", "hang".
    kind: str = "respond"
    status: int = 200
    headers: tuple[Pair, ...] = ()
    body: bytes = b""
    trailers: tuple[Pair, ...] = ()
    #: Virtual seconds before the answer arrives.
    delay: float = 0.0

    def response(self, max_bytes: int) -> HttpCallResponse | None:
        """What the host hands the plugin (``None`` = reset)."""
        if self.kind == "reset":
            return None
        if self.kind == "refuse":
            return _local(503, CONNECT_FAILURE_BODY)
        if len(self.body) > max_bytes:
            return None  # the host drops over-large answers like a reset
        headers: list[Pair] = [(b":status", str(self.status).encode())]
        headers.extend(self.headers)
        names = {k for k, _ in self.headers}
        if b"content-length" not in names and b"transfer-encoding" not in names and not self.trailers:
            headers.append((b"content-length", str(len(self.body)).encode()))
        return HttpCallResponse(tuple(headers), self.body, self.trailers)


def _local(status: int, body: bytes) -> HttpCallResponse:
    headers = (
        (b":status", str(status).encode()),
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"text/plain"),
    )
    return HttpCallResponse(headers, body)


@dataclass
class RecordedCall(RequestView):
    """One http_call as the plugin sent it, and what came back."""

    plugin: str
    upstream: str
    headers: Headers
    body: bytes
    trailers: Headers
    timeout_ms: int
    #: Virtual seconds since the harness started when the call was made.
    at: float
    #: "status 200", "reset", "timeout (504)", "refused (503)", "no healthy upstream (503)"; empty
    #: while the answer is pending.
    outcome: str = ""

    def __repr__(self) -> str:
        return (
            f"<call {self.plugin} -> {self.upstream}: {self.method} {self.path} "
            f"({len(self.body)} bytes) {self.outcome or 'pending'}>"
        )


Handler = Callable[[RecordedCall], "CallAnswer | None"]


class FakeUpstream:
    """One cluster. Configure with :meth:`respond` (every call), :meth:`respond_once` (the next call,
    queued ahead of the default), :meth:`reset`, :meth:`refuse`, :meth:`hang` or :meth:`handle`."""

    def __init__(self, name: str, owner: FakeUpstreams) -> None:
        self.name = name
        self._owner = owner
        self._default: CallAnswer | None = None
        self._handler: Handler | None = None
        self._once: deque[CallAnswer] = deque()
        self.calls: list[RecordedCall] = []

    # -- declaring answers ----------------------------------------------------------------------
    def respond(
        self,
        status: int = 200,
        *,
        body: Body = None,
        json: Any = None,
        headers: HeadersInput = None,
        trailers: HeadersInput = None,
        delay: float = 0.0,
    ) -> FakeUpstream:
        """Answer every call with this response (after ``delay`` virtual seconds)."""
        self._default = self._answer(status, body, json, headers, trailers, delay)
        self._handler = None
        return self

    def respond_once(
        self,
        status: int = 200,
        *,
        body: Body = None,
        json: Any = None,
        headers: HeadersInput = None,
        trailers: HeadersInput = None,
        delay: float = 0.0,
    ) -> FakeUpstream:
        """Answer the next call (not yet answered by an earlier ``respond_once``) with this."""
        self._once.append(self._answer(status, body, json, headers, trailers, delay))
        self._owner._declare(self)
        return self

    def reset(self, *, delay: float = 0.0, once: bool = False) -> FakeUpstream:
        """Calls are reset: the plugin gets a response with no headers (status 11 "reset")."""
        return self._set(CallAnswer("reset", delay=delay), once)

    def refuse(self, *, delay: float = 0.0, once: bool = False) -> FakeUpstream:
        """Nothing listens: the plugin gets Envoy's 503 connection-failure answer."""
        return self._set(CallAnswer("refuse", delay=delay), once)

    def hang(self, *, once: bool = False) -> FakeUpstream:
        """No answer ever; the call's timeout fires (504), or nothing happens without one."""
        return self._set(CallAnswer("hang"), once)

    def handle(self, handler: Handler) -> FakeUpstream:
        """Decide per call: ``handler(call)`` returns :func:`answer(...) <answer>` (``None`` → reset)."""
        self._handler = handler
        self._default = None
        self._owner._declare(self)
        return self

    def clear(self) -> FakeUpstream:
        """Forget every declared answer (recorded calls stay); the cluster stays known."""
        self._default = None
        self._handler = None
        self._once.clear()
        return self

    # -- reading what happened ---------------------------------------------------------------------
    @property
    def last_call(self) -> RecordedCall:
        if not self.calls:
            raise AssertionError(f"upstream {self.name!r} was never called")
        return self.calls[-1]

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def __repr__(self) -> str:
        return f"<FakeUpstream {self.name!r}: {len(self.calls)} call(s)>"

    # -- internals ---------------------------------------------------------------------------------
    def _answer(
        self, status: int, body: Body, json: Any, headers: HeadersInput, trailers: HeadersInput, delay: float
    ) -> CallAnswer:
        if not 100 <= status <= 599:
            raise ValueError(f"status {status} is not an HTTP status (100-599)")
        if delay < 0:
            raise ValueError("delay cannot be negative")
        hdrs = to_pairs(headers)
        if json is not None and not any(k == b"content-type" for k, _ in hdrs):
            hdrs.append((b"content-type", b"application/json"))
        self._owner._declare(self)
        return CallAnswer(
            "respond", status, tuple(hdrs), body_bytes(body, json), tuple(to_pairs(trailers)), delay
        )

    def _set(self, ans: CallAnswer, once: bool) -> FakeUpstream:
        if once:
            self._once.append(ans)
        else:
            self._default = ans
            self._handler = None
        self._owner._declare(self)
        return self

    def _next(self, call: RecordedCall) -> CallAnswer | None:
        """The answer for ``call``; ``None`` = nothing left (no healthy upstream)."""
        if self._once:
            return self._once.popleft()
        if self._handler is not None:
            got = self._handler(call)
            return got if got is not None else CallAnswer("reset")
        return self._default


def answer(
    status: int = 200,
    *,
    body: Body = None,
    json: Any = None,
    headers: HeadersInput = None,
    trailers: HeadersInput = None,
    delay: float = 0.0,
) -> CallAnswer:
    """An answer for :meth:`FakeUpstream.handle` handlers."""
    hdrs = to_pairs(headers)
    if json is not None and not any(k == b"content-type" for k, _ in hdrs):
        hdrs.append((b"content-type", b"application/json"))
    return CallAnswer(
        "respond", status, tuple(hdrs), body_bytes(body, json), tuple(to_pairs(trailers)), delay
    )


@dataclass
class _Pending:
    call: RecordedCall
    on_done: Callable[[HttpCallResponse | None], None]
    timers: list[TimerHandle] = field(default_factory=list)
    finished: bool = False


class FakeUpstreams:
    """The harness's ``HttpCallDispatcher``: declared clusters answer, the rest are unknown."""

    def __init__(self, scheduler: Scheduler, now_s: Callable[[], float], max_response_bytes: int) -> None:
        self._scheduler = scheduler
        self._now_s = now_s
        self._max = max_response_bytes
        self._upstreams: dict[str, FakeUpstream] = {}
        self._declared: set[str] = set()
        #: Every accepted call, in order, across clusters.
        self.calls: list[RecordedCall] = []
        #: Calls refused because their cluster was not declared (Envoy: unknown cluster).
        self.refused: list[RecordedCall] = []

    def upstream(self, name: str) -> FakeUpstream:
        """The fake for cluster ``name`` (created on first use; unknown until given an answer)."""
        up = self._upstreams.get(name)
        if up is None:
            up = self._upstreams[name] = FakeUpstream(name, self)
        return up

    def _declare(self, up: FakeUpstream) -> None:
        self._declared.add(up.name)

    @property
    def declared(self) -> list[str]:
        return sorted(self._declared)

    # -- HttpCallDispatcher ---------------------------------------------------------------------------
    def dispatch(
        self, call: HttpCallRequest, on_done: Callable[[HttpCallResponse | None], None]
    ) -> WasmResult:
        rec = RecordedCall(
            plugin=call.plugin,
            upstream=call.cluster,
            headers=Headers(call.headers),
            body=bytes(call.body),
            trailers=Headers(call.trailers),
            timeout_ms=call.timeout_ms,
            at=self._now_s(),
        )
        if call.cluster not in self._declared:
            rec.outcome = "refused: unknown cluster"
            self.refused.append(rec)
            return WasmResult.BAD_ARGUMENT
        up = self._upstreams[call.cluster]
        up.calls.append(rec)
        self.calls.append(rec)
        pending = _Pending(rec, on_done)
        ans = up._next(rec)
        if ans is None:
            self._schedule(pending, 0.0, _local(503, NO_HEALTHY_UPSTREAM_BODY), "no healthy upstream (503)")
        elif ans.kind != "hang":
            response = ans.response(self._max)
            if ans.kind == "reset":
                outcome = "reset"
            elif ans.kind == "refuse":
                outcome = "refused (503)"
            elif response is None:
                outcome = f"reset (response over {self._max} bytes)"
            else:
                outcome = f"status {ans.status}"
            self._schedule(pending, ans.delay, response, outcome)
        if call.timeout_ms > 0:
            timer = self._scheduler.call_later(
                call.timeout_ms / 1000.0,
                lambda: self._finish(pending, _local(504, TIMEOUT_BODY), "timeout (504)"),
            )
            pending.timers.append(timer)
        return WasmResult.OK

    def _schedule(
        self, pending: _Pending, delay: float, response: HttpCallResponse | None, outcome: str
    ) -> None:
        def deliver() -> None:
            self._finish(pending, response, outcome)

        if delay > 0:
            pending.timers.append(self._scheduler.call_later(delay, deliver))
        else:
            self._scheduler.call_soon(deliver)

    def _finish(self, pending: _Pending, response: HttpCallResponse | None, outcome: str) -> None:
        if pending.finished:
            return
        pending.finished = True
        for t in pending.timers:
            t.cancel()
        pending.call.outcome = outcome
        pending.on_done(response)

    def by_upstream(self) -> dict[str, list[RecordedCall]]:
        out: dict[str, list[RecordedCall]] = {}
        for c in self.calls:
            out.setdefault(c.upstream, []).append(c)
        return out
