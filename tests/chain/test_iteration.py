"""Order, pause/resume, body buffering, trailers and local replies, with real (WAT) plugins."""

from __future__ import annotations

from chain_env import Env, request, response
from probe import CALL, RQB, RQH, RSH, probe_wasm

from wasmplugin.abi.headers import HeaderMap
from wasmplugin.chain import ChainOptions
from wasmplugin.chain.api import (
    ResetStream,
    SendRequestData,
    SendRequestHeaders,
    SendRequestTrailers,
    SendResponseData,
    SendResponseHeaders,
)
from wasmplugin.limits import DEFAULT_LIMITS


def test_request_in_chain_order_response_in_reverse_then_log_done_delete(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a")), ("b", probe_wasm("b")))
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    (ev,) = s.events()
    assert isinstance(ev, SendRequestHeaders) and ev.end_stream
    assert ev.headers.get_all("x-seen") == [b"a", b"b"]
    s.response_headers(response(), end_stream=True)
    (rv,) = s.events()
    assert isinstance(rv, SendResponseHeaders) and not rv.local
    assert rv.headers.get_all("x-seen-resp") == [b"b", b"a"]
    s.complete()
    assert env.tracer.stream_calls() == [
        ("a", "request_headers"), ("b", "request_headers"),
        ("b", "response_headers"), ("a", "response_headers"),
        ("a", "log"), ("b", "log"),
        ("a", "done"), ("a", "delete"), ("b", "done"), ("b", "delete"),
    ]
    assert [r.stats.requests for r in chain.plugins] == [1, 1]


def test_headers_pause_holds_body_until_resumed_from_http_call_response(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", call_at_rqh=True)), ("b", probe_wasm("b")))
    woken: list[int] = []
    s = chain.new_stream(wakeup=lambda: woken.append(1))
    s.request_headers(request(method=b"POST"), end_stream=False)
    s.request_data(b"hello ", end_stream=False)
    s.request_data(b"world", end_stream=True)
    assert s.events() == []
    assert env.tracer.args_of("a", "request_body") == []  # StopAllIteration: no body callbacks
    assert env.tracer.args_of("b", "request_headers") == []
    assert len(env.upstreams.calls) == 1 and env.upstreams.calls[0].cluster == "upstream"
    env.scheduler.run_until_idle()  # http_call answer → continue_stream(REQUEST), applied after the call
    assert woken
    ev = s.events()
    assert [type(e) for e in ev] == [SendRequestHeaders, SendRequestData]
    assert ev[0].headers.get_all("x-seen") == [b"a", b"b"]
    assert ev[1] == SendRequestData(b"hello world", True)
    # the queued body is delivered to the paused plugin itself, as one chunk
    ((_, size_a, eos_a),) = env.tracer.args_of("a", "request_body")
    assert (size_a, eos_a) == (11, 1)
    assert [a[1:] for a in env.tracer.args_of("b", "request_body")] == [(11, 1)]


def test_continue_inside_the_pausing_callback_is_deferred_until_it_returns(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", rqh=1, continue_in_rqh=True)))
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    (ev,) = s.events()
    assert isinstance(ev, SendRequestHeaders) and ev.headers.get("x-seen") == b"a"


def test_body_pause_buffers_and_calls_again_with_the_accumulated_body(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", rqb_until_eos=True, append=b"+a")), ("b", probe_wasm("b")))
    s = chain.new_stream()
    s.request_headers(request(method=b"POST"), end_stream=False)
    assert isinstance(s.events()[0], SendRequestHeaders)
    for chunk in (b"ab", b"cd"):
        s.request_data(chunk, end_stream=False)
        assert s.events() == []
    s.request_data(b"ef", end_stream=True)
    assert s.events() == [SendRequestData(b"abcdef+a", True)]
    assert [a[1:] for a in env.tracer.args_of("a", "request_body")] == [(2, 0), (4, 0), (6, 1)]
    assert [a[1:] for a in env.tracer.args_of("b", "request_body")] == [(8, 1)]


def test_unbuffered_body_chunks_flow_one_by_one(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a")))
    s = chain.new_stream()
    s.request_headers(request(method=b"POST"), end_stream=False)
    s.request_data(b"ab", end_stream=False)
    s.request_data(b"cd", end_stream=True)
    assert s.events()[1:] == [SendRequestData(b"ab", False), SendRequestData(b"cd", True)]


def test_request_body_over_the_buffer_limit_gives_413(env: Env) -> None:
    env.services.limits = DEFAULT_LIMITS.with_overrides(body_buffer_bytes=8)
    chain = env.chain(("a", probe_wasm("a", rqb_until_eos=True)))
    chain.limits = env.services.limits
    s = chain.new_stream()
    s.request_headers(request(method=b"POST"), end_stream=False)
    s.events()
    s.request_data(b"12345", end_stream=False)
    s.request_data(b"67890", end_stream=False)
    hdr, body = s.events()
    assert isinstance(hdr, SendResponseHeaders) and hdr.local
    assert hdr.headers.get(":status") == b"413"
    assert body == SendResponseData(b"Payload Too Large", True)
    assert s.details == "request_payload_too_large"


def test_response_body_over_the_limit_gives_500_before_headers_were_sent(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", rsh=1)))  # holds the response headers, so the body queues
    chain.limits = DEFAULT_LIMITS.with_overrides(body_buffer_bytes=8)
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    s.response_headers(response(), end_stream=False)
    s.events()
    s.response_data(b"123456789", end_stream=False)
    hdr, body = s.events()
    assert isinstance(hdr, SendResponseHeaders) and hdr.local
    assert hdr.headers.get(":status") == b"500"
    assert body == SendResponseData(b"Internal Server Error", True)
    assert s.details == "response_payload_too_large"


def test_response_body_over_the_limit_after_headers_were_sent_resets(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", rsb_until_eos=True)))
    chain.limits = DEFAULT_LIMITS.with_overrides(body_buffer_bytes=8)
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    s.response_headers(response(), end_stream=False)
    assert isinstance(s.events()[-1], SendResponseHeaders)
    s.response_data(b"12345", end_stream=False)
    assert s.events() == []
    s.response_data(b"6789", end_stream=False)
    assert s.events() == [ResetStream("response_payload_too_large")]


def test_trailers_pass_and_can_be_added_at_end_of_stream(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", trailers_at_eos=True)), ("b", probe_wasm("b")))
    s = chain.new_stream()
    s.request_headers(request(method=b"POST"), end_stream=False)
    s.request_data(b"x", end_stream=True)
    ev = s.events()
    assert [type(e) for e in ev] == [SendRequestHeaders, SendRequestData, SendRequestTrailers]
    assert ev[1] == SendRequestData(b"x", False)
    assert ev[2].trailers.get("x-trailer-added") == b"a"
    assert [a[1:] for a in env.tracer.args_of("b", "request_body")] == [(1, 0)]
    assert len(env.tracer.args_of("b", "request_trailers")) == 1
    # client trailers reach every plugin's trailers callback
    s2 = env.chain(("c", probe_wasm("c"))).new_stream()
    s2.request_headers(request(method=b"POST"), end_stream=False)
    s2.request_data(b"y", end_stream=False)
    s2.request_trailers(HeaderMap([(b"x-t", b"1")]))
    assert [type(e) for e in s2.events()] == [SendRequestHeaders, SendRequestData, SendRequestTrailers]
    assert len(env.tracer.args_of("c", "request_trailers")) == 1


def test_local_reply_skips_the_rest_of_the_request_chain(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a")), ("b", probe_wasm("b", local_at=RQH)), ("c", probe_wasm("c")))
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    hdr, body = s.events()
    assert isinstance(hdr, SendResponseHeaders) and hdr.local
    assert hdr.headers.get(":status") == b"403"
    # response callbacks: plugins with a stream context (b itself, then a); c never saw the request
    assert hdr.headers.get_all("x-seen-resp") == [b"b", b"a"]
    assert body == SendResponseData(b"denied by b", True)
    assert s.details == "b_local"
    s.complete()
    calls = env.tracer.stream_calls()
    assert ("c", "request_headers") not in calls and ("c", "response_headers") not in calls
    assert ("c", "log") in calls  # Envoy's Context::log creates the context just for on_log
    assert [rt.stats.local_replies for rt in chain.plugins] == [0, 1, 0]


def test_local_reply_from_a_response_callback_goes_straight_to_the_client(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a")), ("b", probe_wasm("b", local_at=RSH, local_status=502)))
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    s.events()
    s.response_headers(response(), end_stream=True)
    (hdr, _body) = s.events()
    assert isinstance(hdr, SendResponseHeaders) and hdr.local
    assert hdr.headers.get(":status") == b"502"
    assert hdr.headers.get("x-seen-resp") is None  # sendDirectLocalReply: no more filters
    assert env.tracer.args_of("a", "response_headers") == []


def test_local_reply_from_http_call_response_through_the_scheduler(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", call_at_rqh=True, call_then=1, local_status=401)))
    woken: list[int] = []
    s = chain.new_stream(wakeup=lambda: woken.append(1))
    s.request_headers(request(), end_stream=True)
    assert s.events() == []
    env.scheduler.run_until_idle()
    assert woken == [1]
    hdr, _ = s.events()
    assert isinstance(hdr, SendResponseHeaders) and hdr.headers.get(":status") == b"401"


def test_close_stream_resets(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", close_at=RQB)))
    s = chain.new_stream()
    s.request_headers(request(method=b"POST"), end_stream=False)
    s.request_data(b"x", end_stream=True)
    assert s.events()[-1] == ResetStream("wasm_close_stream")
    assert s.is_reset
    s.complete()
    assert ("a", "log") in env.tracer.stream_calls()


def test_allow_on_headers_stop_iteration_lets_body_callbacks_run(env: Env) -> None:
    opts = ChainOptions(allow_on_headers_stop_iteration=True)
    chain = env.chain(("a", probe_wasm("a", rqh=1, rqb_until_eos=True)), options=opts)
    s = chain.new_stream()
    s.request_headers(request(method=b"POST"), end_stream=False)
    s.request_data(b"ab", end_stream=False)
    assert s.events() == []
    s.request_data(b"cd", end_stream=True)
    ev = s.events()
    assert [type(e) for e in ev] == [SendRequestHeaders, SendRequestData]
    assert ev[1] == SendRequestData(b"abcd", True)
    assert [a[1:] for a in env.tracer.args_of("a", "request_body")] == [(2, 0), (4, 1)]


def test_http_call_is_recorded_with_the_plugin_headers(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", call_at_rqh=True)))
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    env.scheduler.run_until_idle()
    (call,) = env.upstreams.calls
    assert dict(call.headers)[b":path"] == b"/auth" and call.plugin == "a"
    assert isinstance(s.events()[0], SendRequestHeaders)
    assert CALL  # callback id used by the probe for on_http_call_response
