"""Driving requests and responses through a plugin: headers, chunked bodies, trailers, local
replies, step-by-step streams, and what a Response reports."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wasmplugin.testing import Harness, Headers, PluginTarget, Reply

from .conftest import AS_HEADERS, C_HOSTCALLS, GO_FEATURES, HEADER_MODIFIER

Load = Callable[..., PluginTarget]


def test_request_and_response_headers_are_modified(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(
        HEADER_MODIFIER,
        config={
            "request_headers": [{"name": "x-to-upstream", "value": "yes"}],
            "response_headers": [{"name": "x-to-client", "value": "also"}],
        },
    )

    resp = plugin.request("GET", "/hello", headers={"host": "example.com"})

    assert resp.status == 200
    assert not resp.local
    assert resp.details == "via_upstream"
    up = resp.upstream_request
    assert up is not None
    assert (up.method, up.path, up.authority) == ("GET", "/hello", "example.com")
    assert up.headers["x-to-upstream"] == "yes"
    assert resp.headers["x-to-client"] == "also"
    assert "x-to-upstream" not in resp.headers
    assert "Request: GET /hello" in resp.logs
    assert plugin.name == "header-modifier"


def test_envoy_connection_manager_headers_are_added_and_deterministic(wasm_harness: Harness) -> None:
    plugin = wasm_harness.plugin(HEADER_MODIFIER)
    first = plugin.request("GET", "/").upstream_request
    second = plugin.request("GET", "/", headers={"x-request-id": "mine"}).upstream_request
    assert first is not None and second is not None
    assert first.headers["x-forwarded-proto"] == "http"
    assert len(first.headers["x-request-id"]) == 36
    assert second.headers.get_all("x-request-id") == ["mine"]


def test_assemblyscript_plugin_runs_with_its_root_id(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(AS_HEADERS, config={"header_value": "v1"}, root_id="as-headers")

    resp = plugin.request("GET", "/p?q=1")

    assert resp.upstream_request is not None
    assert resp.upstream_request.headers["x-as-header"] == "v1"
    assert resp.upstream_request.headers["x-as-path"] == "/p?q=1"
    assert resp.headers["x-as-request-path"] == "/p?q=1"


def test_body_chunks_each_reach_the_plugin_and_a_buffering_plugin_sees_them_all(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES)

    resp = plugin.request("POST", "/go/body/echo", body=["hello ", "chunked ", "world"])

    assert resp.status == 200
    assert resp.local
    assert resp.text == "hello chunked world"
    assert resp.headers["x-go-body-calls"] == "3"  # one on_request_body per chunk
    assert resp.headers["x-go-body-bytes"] == str(len("hello chunked world"))
    # The headers had gone upstream (the plugin only pauses in body callbacks); the body never did.
    assert resp.upstream_request is not None
    assert resp.upstream_request.body == b""
    assert not resp.upstream_request.complete


def test_a_rewritten_request_body_is_what_the_upstream_receives(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES)

    resp = plugin.request("POST", "/go/body/upper", body=[b"abc", b"def"], response=Reply(201, body="made"))

    assert resp.status == 201
    assert resp.text == "made"
    assert resp.upstream_request is not None
    assert resp.upstream_request.body == b"ABCDEF"
    assert resp.upstream_request.headers["content-length"] == "6"


def test_response_body_chunks_and_a_plugin_that_rewrites_them(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES)

    resp = plugin.request("GET", "/go/body/response", response=Reply(200, body=["part1-", "part2"]))

    assert resp.text == "part1-part2[go-features]"
    assert "content-length" not in resp.headers


def test_the_backend_can_answer_from_what_it_received(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(HEADER_MODIFIER, config={"request_headers": [{"name": "x-who", "value": "plugin"}]})

    resp = plugin.request("GET", "/", response=lambda up: Reply(200, json={"who": up.headers["x-who"]}))

    assert resp.json() == {"who": "plugin"}
    assert resp.headers["content-type"] == "application/json"


def test_request_trailers_reach_the_plugin_and_the_upstream(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(C_HOSTCALLS)

    resp = plugin.request(
        "POST", "/hostcalls/trailers", body="data", trailers={"x-checksum": "abc", "x-more": "1"}
    )

    assert resp.status == 200
    up = resp.upstream_request
    assert up is not None
    assert up.trailers is not None
    assert up.trailers["x-checksum"] == "abc"
    assert resp.headers["x-hc-request-trailers"] == "2"  # the count on_request_trailers was given


def test_response_trailers_reach_the_client(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(HEADER_MODIFIER)

    resp = plugin.request("GET", "/", response=Reply(200, body="x", trailers={"grpc-status": "0"}))

    assert resp.trailers is not None
    assert resp.trailers["grpc-status"] == "0"
    assert resp.text == "x"


def test_a_local_reply_is_reported_with_its_details_and_headers(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(C_HOSTCALLS)

    resp = plugin.request("GET", "/hostcalls/local_response/418")

    assert resp.status == 418
    assert resp.local
    assert resp.local_reply is not None
    assert resp.local_reply.details == "c-hostcalls_local_reply"
    assert resp.details == "c-hostcalls_local_reply"
    assert resp.text == "local reply 418\n"
    assert resp.headers.get_all("x-hc-multi") == ["a", "b"]
    assert resp.upstream_request is None


def test_a_stream_can_be_driven_step_by_step(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES)

    flight = plugin.start_request("POST", "/go/body/echo", headers={"content-length": "9"})
    assert flight.paused
    flight.send_body("abc")
    flight.send_body("def")
    assert not flight.is_complete  # the plugin buffers until the end of the body
    flight.send_body("ghi", end_stream=True)
    assert flight.is_complete
    resp = flight.finish()

    assert resp.text == "abcdefghi"
    assert resp.headers["x-go-body-calls"] == "3"


def test_a_client_that_goes_away_ends_the_stream(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES)

    flight = plugin.start_request("POST", "/go/body/echo")
    flight.send_body("partial")
    resp = flight.cancel()

    assert resp.status is None
    assert resp.reset == "downstream_remote_disconnect"
    assert plugin.metrics["go_features_active_requests"] == 0  # the stream was still finished


def test_a_request_nobody_resumes_gets_the_idle_timeout(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES, config={"http_call_timeout_ms": 0})
    plugin.upstream("auth").hang()

    resp = plugin.request("GET", "/go/http_call", headers={"x-go-cluster": "auth"})

    assert resp.status == 408
    assert resp.timed_out
    assert resp.elapsed == 0.0  # nothing was scheduled: no time passes


def test_headers_view_semantics() -> None:
    h = Headers([(b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"x-one", b"1")])
    assert h["SET-COOKIE"] == "a=1"
    assert h.get_all("set-cookie") == ["a=1", "b=2"]
    assert "X-One" in h
    assert h == {"set-cookie": "a=1", "x-one": "1"}
    assert h.get("missing") is None
    with pytest.raises(KeyError, match="have: set-cookie, x-one"):
        h["missing"]


def test_requests_accept_header_pairs_bytes_and_json(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES)

    resp = plugin.request("POST", "/go/body/echo", headers=[(b"x-a", b"1"), ("x-a", "2")], json={"k": [1, 2]})

    assert resp.json() == {"k": [1, 2]}
