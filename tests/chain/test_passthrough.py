"""A chain with no plugins: the interface transports use, and local replies through it."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from wasmplugin.abi.headers import HeaderMap
from wasmplugin.chain import FilterChain
from wasmplugin.chain.api import (
    ResetStream,
    SendRequestData,
    SendRequestHeaders,
    SendRequestTrailers,
    SendResponseData,
    SendResponseHeaders,
    SendResponseTrailers,
)
from wasmplugin.chain.passthrough import PassthroughStream
from wasmplugin.chain.stream import HttpStream

NewStream = Callable[[], HttpStream]


@pytest.fixture(params=["passthrough", "generic"])
def new_stream(request: pytest.FixtureRequest) -> NewStream:
    """A stream through a chain with no plugins: what ``new_stream`` gives (``PassthroughStream``),
    and the generic ``HttpStream`` with no filters, which must behave the same."""
    chain = FilterChain()
    if request.param == "passthrough":
        return lambda: chain.new_stream()
    return lambda: HttpStream(chain, chain._default_info)


def req(path: bytes = b"/", **extra: bytes) -> HeaderMap:
    h = HeaderMap(
        [(b":authority", b"example.com"), (b":path", path), (b":method", b"GET"), (b":scheme", b"http")]
    )
    for k, v in extra.items():
        h.add(k.replace("_", "-"), v)
    return h


def test_zero_plugin_chain_is_passthrough_and_forwards_everything(new_stream: NewStream) -> None:
    assert FilterChain().passthrough
    assert isinstance(FilterChain().new_stream(), PassthroughStream)
    s = new_stream()
    h = req()
    s.request_headers(h, end_stream=False)
    s.request_data(b"abc", end_stream=False)
    trailers = HeaderMap([(b"x-t", b"1")])
    s.request_trailers(trailers)
    ev = s.events()
    assert ev == [SendRequestHeaders(h, False), SendRequestData(b"abc", False), SendRequestTrailers(trailers)]
    assert s.events() == []
    assert s.request_complete
    rh = HeaderMap([(b":status", b"200")])
    s.response_headers(rh, end_stream=False)
    s.response_data(b"hello", end_stream=True)
    assert s.events() == [SendResponseHeaders(rh, False, False), SendResponseData(b"hello", True)]
    assert s.response_complete
    s.complete()
    assert s.details == "via_upstream"


def test_headers_only_request_and_response(new_stream: NewStream) -> None:
    s = new_stream()
    s.request_headers(req(), end_stream=True)
    assert s.events() == [SendRequestHeaders(req(), True)]
    # nothing may follow end of stream
    s.request_data(b"late", end_stream=True)
    assert s.events() == []
    rh = HeaderMap([(b":status", b"204")])
    s.response_headers(rh, end_stream=False)
    rt = HeaderMap([(b"grpc-status", b"0")])
    s.response_trailers(rt)
    assert s.events() == [SendResponseHeaders(rh, False, False), SendResponseTrailers(rt)]


def test_transport_local_reply_goes_through_the_one_entry_point(new_stream: NewStream) -> None:
    s = new_stream()
    s.request_headers(req(), end_stream=True)
    s.events()
    s.local_reply(503, b"no healthy upstream", details="no healthy upstream")
    (hdr, data) = s.events()
    assert isinstance(hdr, SendResponseHeaders) and hdr.local and not hdr.end_stream
    assert hdr.headers.get(":status") == b"503"
    assert hdr.headers.get("content-length") == b"19"
    assert hdr.headers.get("content-type") == b"text/plain"
    assert data == SendResponseData(b"no healthy upstream", True)
    assert s.details == "no_healthy_upstream"  # Envoy replaces spaces in details
    # an upstream response arriving afterwards is dropped
    s.response_headers(HeaderMap([(b":status", b"200")]), end_stream=True)
    assert s.events() == []
    assert s.local_reply_sent is not None and s.local_reply_sent.status == 503


def test_grpc_local_reply_is_trailers_only_with_mapped_status(new_stream: NewStream) -> None:
    s = new_stream()
    s.request_headers(req(content_type=b"application/grpc+proto"), end_stream=False)
    s.events()
    s.local_reply(503, b"upstream down: 100%", details="x")
    (hdr,) = s.events()
    assert isinstance(hdr, SendResponseHeaders) and hdr.end_stream and hdr.local
    assert hdr.headers.get(":status") == b"200"
    assert hdr.headers.get("content-type") == b"application/grpc"
    assert hdr.headers.get("grpc-status") == b"14"  # UNAVAILABLE, from 503
    assert hdr.headers.get("grpc-message") == b"upstream down: 100%25"


def test_local_reply_after_response_headers_resets_the_stream(new_stream: NewStream) -> None:
    s = new_stream()
    s.request_headers(req(), end_stream=True)
    s.response_headers(HeaderMap([(b":status", b"200")]), end_stream=False)
    s.events()
    s.local_reply(500, b"oops", details="late")
    assert s.events() == [ResetStream("late")]
    assert s.is_reset and s.response_complete
    s.response_data(b"more", end_stream=True)
    assert s.events() == []


def test_reset_from_transport_stops_everything(new_stream: NewStream) -> None:
    s = new_stream()
    s.request_headers(req(), end_stream=False)
    s.events()
    s.reset()
    s.request_data(b"x", end_stream=True)
    assert s.events() == []
    assert s.details == "downstream_remote_disconnect"
    s.complete()
    s.complete()  # idempotent


# Every sequence of up to four inputs, applied to both streams: same events, same state.
_OPS: dict[str, Callable[[HttpStream], None]] = {
    "rq_h": lambda s: s.request_headers(req(), end_stream=False),
    "rq_h_eos": lambda s: s.request_headers(req(content_type=b"application/grpc"), end_stream=True),
    "rq_d": lambda s: s.request_data(b"ab", end_stream=False),
    "rq_d_empty": lambda s: s.request_data(b"", end_stream=False),
    "rq_d_eos": lambda s: s.request_data(b"", end_stream=True),
    "rq_t": lambda s: s.request_trailers(HeaderMap([(b"x-t", b"1")])),
    "rs_h": lambda s: s.response_headers(HeaderMap([(b":status", b"200")]), end_stream=False),
    "rs_d_empty": lambda s: s.response_data(b"", end_stream=False),
    "rs_d_eos": lambda s: s.response_data(b"cd", end_stream=True),
    "rs_t": lambda s: s.response_trailers(HeaderMap([(b"grpc-status", b"0")])),
    "reply": lambda s: s.local_reply(403, b"no", details="denied here"),
    "reset": lambda s: s.reset(),
    "complete": lambda s: s.complete(),
}


def _observe(s: HttpStream, ops: tuple[str, ...]) -> list[object]:
    seen: list[object] = []
    for op in ops:
        try:
            _OPS[op](s)
        except RuntimeError as exc:
            seen.append(("raised", str(exc)))
        seen.append(s.events())
        seen.append(
            (
                s.request_complete,
                s.response_complete,
                s.is_reset,
                s.details,
                s.local_reply_sent,
                s.req_headers,
                s.req_trailers,
                s.resp_headers,
                s.resp_trailers,
                s.request_body_bytes,
                s.response_body_bytes,
            )
        )
    return seen


def test_passthrough_stream_matches_the_generic_stream_on_every_short_sequence() -> None:
    chain = FilterChain()
    checked = 0
    for length in range(1, 5):
        for ops in itertools.product(_OPS, repeat=length):
            fast = _observe(chain.new_stream(), ops)
            generic = _observe(HttpStream(chain, chain._default_info), ops)
            assert fast == generic, ops
            checked += 1
    assert checked == sum(len(_OPS) ** n for n in range(1, 5))
