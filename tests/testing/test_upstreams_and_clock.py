"""Fake upstreams for http_call and the virtual clock: what the plugin sent is recorded, answers
come as declared (status, body, delay, reset, refusal, silence), timers and timeouts run on
virtual time."""

from __future__ import annotations

from collections.abc import Callable

from wasmplugin.testing import Harness, PluginTarget, RecordedCall, answer
from wasmplugin.testing.clock import TestClock
from wasmplugin.testing.upstreams import CallAnswer

from .conftest import C_HOSTCALLS, GO_FEATURES

Load = Callable[..., PluginTarget]


def test_an_upstream_fake_and_the_clock_drive_a_plugin_that_calls_out_on_a_timer(
    wasm_plugin: Load, wasm_clock: TestClock
) -> None:
    plugin = wasm_plugin(
        GO_FEATURES,
        config={
            "tick_period_ms": 5000,
            "tick_callout_cluster": "outbound|80||stats.internal",
            "tick_callout_path": "/report",
        },
    )
    stats = plugin.upstream("outbound|80||stats.internal").respond(200, body="first", delay=1.5)

    wasm_clock.advance(4.9)
    assert stats.call_count == 0  # the first tick is one period after the start
    assert plugin.request("GET", "/go/callout/result").status == 503

    wasm_clock.advance(0.1)  # t=5: tick 1 sends the callout; its answer takes 1.5 s
    assert stats.call_count == 1
    call = stats.last_call
    assert (call.method, call.path, call.authority) == ("GET", "/report", "outbound|80||stats.internal")
    assert call.headers["x-go-features"] == "tick-callout"
    assert call.at == 5.0
    assert call.outcome == ""  # not answered yet
    assert plugin.request("GET", "/go/callout/result").status == 503

    wasm_clock.advance(1.5)
    assert call.outcome == "status 200"
    result = plugin.request("GET", "/go/callout/result")
    assert (result.status, result.text, result.headers["x-go-callout-status"]) == (200, "first", "200")
    assert "go-features: callout status=200 bytes=5" in plugin.logs

    stats.respond(503, body="busy")
    wasm_clock.advance(10)  # ticks at 10 and 15
    assert stats.call_count == 3
    assert plugin.request("GET", "/go/callout/result").text == "busy"
    assert plugin.metrics["go_features_ticks_total"] == 3
    assert plugin.metrics["go_features_callouts_total.result=ok"] == 3


def test_ticks_fire_once_per_period_of_virtual_time(wasm_plugin: Load, wasm_clock: TestClock) -> None:
    plugin = wasm_plugin(GO_FEATURES, config={"tick_period_ms": 250})

    wasm_clock.advance(10)

    assert plugin.metrics["go_features_ticks_total"] == 40
    assert plugin.request("GET", "/go/ticks").headers["x-go-ticks"] == "40"
    assert wasm_clock.elapsed == 10.0
    assert wasm_clock.next_timer_in == 0.25


def test_a_request_waits_in_virtual_time_for_a_delayed_answer(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES)
    auth = plugin.upstream("auth").respond(201, body="welcome", headers={"x-from": "auth"}, delay=2.5)

    resp = plugin.request(
        "GET", "/go/http_call/local", headers={"x-go-cluster": "auth", "x-go-call-path": "/who"}
    )

    assert resp.status == 200
    assert resp.text == "welcome"
    assert resp.headers["x-go-call-status"] == "201"
    assert resp.elapsed == 2.5
    assert resp.http_calls == auth.calls
    assert auth.last_call.path == "/who"
    assert auth.last_call.timeout_ms == 5000


def test_an_answer_slower_than_the_calls_timeout_becomes_a_504(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES, config={"http_call_timeout_ms": 300})
    slow = plugin.upstream("slow").respond(200, body="too late", delay=10)

    resp = plugin.request("GET", "/go/http_call/local", headers={"x-go-cluster": "slow"})

    assert resp.headers["x-go-call-status"] == "504"
    assert resp.text == "upstream request timeout"
    assert resp.elapsed == 0.3
    assert slow.last_call.outcome == "timeout (504)"


def test_hang_reset_and_refuse(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES, config={"http_call_timeout_ms": 1000})
    plugin.upstream("silent").hang()
    plugin.upstream("flaky").reset()
    plugin.upstream("down").refuse()

    def status_via(cluster: str) -> str:
        return plugin.request("GET", "/go/http_call", headers={"x-go-cluster": cluster}).headers[
            "x-go-call-status"
        ]

    assert status_via("silent") == "504"
    assert status_via("flaky") == "failed"  # the plugin saw a response without headers
    assert status_via("down") == "503"
    assert plugin.upstream("down").last_call.outcome == "refused (503)"


def test_answers_once_then_the_default(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES)
    up = plugin.upstream("svc").respond_once(500).reset(once=True).respond(200)

    statuses = [
        plugin.request("GET", "/go/http_call", headers={"x-go-cluster": "svc"}).headers["x-go-call-status"]
        for _ in range(4)
    ]

    assert statuses == ["500", "failed", "200", "200"]
    assert up.call_count == 4


def test_a_declared_upstream_with_nothing_left_to_say_has_no_healthy_upstream(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES)
    plugin.upstream("once-only").respond_once(204)

    first = plugin.request("GET", "/go/http_call/local", headers={"x-go-cluster": "once-only"})
    second = plugin.request("GET", "/go/http_call/local", headers={"x-go-cluster": "once-only"})

    assert first.headers["x-go-call-status"] == "204"
    assert (second.headers["x-go-call-status"], second.text) == ("503", "no healthy upstream")


def test_a_call_to_an_undeclared_cluster_is_refused_like_an_unknown_cluster(wasm_harness: Harness) -> None:
    plugin = wasm_harness.plugin(GO_FEATURES)
    plugin.upstream("nobody-declared-this")  # looking at a fake does not declare it

    resp = plugin.request("GET", "/go/http_call", headers={"x-go-cluster": "nobody-declared-this"})

    assert resp.status == 502
    assert resp.headers["x-go-call-error"] == "bad_argument"
    assert resp.http_calls == []
    [refused] = wasm_harness.upstreams.refused
    assert refused.upstream == "nobody-declared-this"
    assert refused.outcome == "refused: unknown cluster"


def test_a_handler_answers_from_what_the_plugin_sent(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(C_HOSTCALLS)

    def policy(call: RecordedCall) -> CallAnswer:
        return answer(
            200, json={"method": call.method, "body": call.text, "trailer": call.trailers["x-hc-trailer"]}
        )

    plugin.upstream("policy").handle(policy)

    resp = plugin.request("GET", "/hostcalls/http_call_post/policy")

    assert resp.status == 200
    assert resp.headers["x-hc-call-status"] == "200"
    assert '{"method":"POST","body":"c-hostcalls request body","trailer":"t"}' in resp.text


def test_an_over_large_answer_reaches_the_plugin_as_a_reset(wasm_harness: Harness) -> None:
    plugin = wasm_harness.plugin(GO_FEATURES)
    limit = wasm_harness.limits.http_call_response_max_bytes
    plugin.upstream("big").respond(200, body=b"x" * (limit + 1))

    resp = plugin.request("GET", "/go/http_call", headers={"x-go-cluster": "big"})

    assert resp.headers["x-go-call-status"] == "failed"
    assert plugin.upstream("big").last_call.outcome.startswith("reset")


def test_plugin_time_is_virtual_time(wasm_plugin: Load, wasm_clock: TestClock) -> None:
    plugin = wasm_plugin(C_HOSTCALLS)
    before = int(plugin.request("GET", "/hostcalls/time").headers["x-hc-time-ns"])

    wasm_clock.advance(3600)

    after = int(plugin.request("GET", "/hostcalls/time").headers["x-hc-time-ns"])
    assert after - before == 3600 * 10**9
    assert before == 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
