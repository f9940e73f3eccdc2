"""Drive one HTTP exchange through a PluginVM the way Envoy calls a filter, without the chain.

Used by the conformance tests for real plugins: request headers → (pause: let the scheduler
deliver timers / http_call responses until the plugin resumes or replies) → request body →
response headers → response body → on_log → on_done → on_delete. A local reply ends the upstream
part. This is deliberately simpler than ``wasmplugin.chain``: it checks the host, not the chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from wasmplugin.abi.buffers import BodyBuffer
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.host.contexts import StreamContext
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.simplehost import LocalReply, SimpleStreamHost
from wasmplugin.host.vm import PluginVM

PAUSE = 1


@dataclass
class Exchange:
    host: SimpleStreamHost
    stream: StreamContext
    actions: list[tuple[str, int]] = field(default_factory=list)

    @property
    def reply(self) -> LocalReply | None:
        return self.host.local_replies[0] if self.host.local_replies else None

    @property
    def report(self) -> dict[str, str]:
        """c-hostcalls' report: ``key=value`` lines of the reply body up to the first blank line."""
        assert self.reply is not None, "no local reply"
        return parse_report(self.reply.body)

    def reply_header(self, name: str) -> str | None:
        assert self.reply is not None
        for k, v in self.reply.headers:
            if k.decode().lower() == name:
                return v.decode()
        return None

    @property
    def request_headers(self) -> HeaderMap:
        assert self.host.request_headers is not None
        return self.host.request_headers

    @property
    def response_headers(self) -> HeaderMap:
        assert self.host.response_headers is not None
        return self.host.response_headers


def parse_report(body: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in body.decode().split("\n"):
        if not line:
            break
        key, _, value = line.partition("=")
        out[key] = value
    return out


def _wait_for_resume(
    host: SimpleStreamHost, scheduler: VirtualScheduler, stream_type: int, max_seconds: float
) -> None:
    """Let asynchronous work run until the plugin resumes ``stream_type`` or replies."""
    waited = 0.0
    scheduler.run_until_idle()
    while stream_type not in host.continued and not host.local_replies and waited < max_seconds:
        scheduler.advance(0.01)
        waited += 0.01


def exchange(
    vm: PluginVM,
    scheduler: VirtualScheduler,
    path: str,
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    status: int = 200,
    response_headers: Sequence[tuple[str, str]] = (),
    response_body: bytes = b"",
    max_wait_s: float = 2.0,
) -> Exchange:
    req = HeaderMap(
        [(":method", method), (":path", path), (":authority", "app.local"), (":scheme", "http"), *headers]
    )
    host = SimpleStreamHost(
        request_headers=req,
        response_headers=HeaderMap(),
        request_body=BodyBuffer(),
        response_body=BodyBuffer(),
    )
    stream = vm.create_stream(host)
    ex = Exchange(host, stream)
    action = stream.on_request_headers(len(req), not body)
    ex.actions.append(("request_headers", action))
    if action == PAUSE and not host.local_replies:
        _wait_for_resume(host, scheduler, 0, max_wait_s)
    if body and not host.local_replies:
        assert host.request_body is not None
        host.request_body.append(body)
        action = stream.on_request_body(len(body), True)
        ex.actions.append(("request_body", action))
        if action == PAUSE and not host.local_replies:
            _wait_for_resume(host, scheduler, 0, max_wait_s)
    if not host.local_replies:
        resp = host.response_headers
        assert resp is not None
        resp.add(":status", str(status))
        for k, v in response_headers:
            resp.add(k, v)
        action = stream.on_response_headers(len(resp), not response_body)
        ex.actions.append(("response_headers", action))
        if action == PAUSE and not host.local_replies:
            _wait_for_resume(host, scheduler, 1, max_wait_s)
        if response_body:
            assert host.response_body is not None
            host.response_body.append(response_body)
            action = stream.on_response_body(len(response_body), True)
            ex.actions.append(("response_body", action))
    stream.on_log()
    stream.on_done()
    stream.on_delete()
    return ex
