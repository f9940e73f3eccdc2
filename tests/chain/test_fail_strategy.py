"""failStrategy for runtime failures (trap, deadline, memory) and for modules that cannot load."""

from __future__ import annotations

import pytest
from chain_env import Env, make_env, plugin_wasm, request, response
from probe import ALLOC, CALL, LOOP, RQH, RSH, TICK, TRAP, probe_wasm

from wasmplugin.abi.enums import LogLevel
from wasmplugin.chain import FailStrategy, FilterChain
from wasmplugin.chain.api import SendRequestHeaders, SendResponseHeaders
from wasmplugin.chain.build import PluginToLoad
from wasmplugin.chain.runtime import RuntimeState
from wasmplugin.errors import (
    InvalidModule,
    PluginDeadlineExceeded,
    PluginMemoryExceeded,
    PluginStartError,
    PluginTrap,
)
from wasmplugin.host.settings import PluginSettings
from wasmplugin.limits import DEFAULT_LIMITS


def one(chain: FilterChain, *, body: bool = False) -> tuple[list[object], object]:
    """Send a GET through ``chain`` and answer 200; return the events and the stream."""
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    ev = s.events()
    if ev and isinstance(ev[-1], SendRequestHeaders):
        s.response_headers(response(), end_stream=True)
        ev += s.events()
    s.complete()
    return ev, s


def status_of(ev: list[object]) -> tuple[int, bool]:
    hdr = next(e for e in ev if isinstance(e, SendResponseHeaders))
    return int(hdr.headers.get(":status") or 0), hdr.local


def forwarded(ev: list[object]) -> bool:
    return any(isinstance(e, SendRequestHeaders) for e in ev)


def test_fail_close_answers_503_wasm_fail_stream_and_keeps_failing(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", fail_at=RQH)), strategy=FailStrategy.FAIL_CLOSE)
    ev, s = one(chain)
    assert status_of(ev) == (503, True) and not forwarded(ev)
    assert s.details == "wasm_fail_stream"
    assert isinstance(s.error, PluginTrap)
    assert "plugin a" in str(s.error) and "proxy_on_request_headers" in str(s.error)
    ev2, _s2 = one(chain)
    assert status_of(ev2) == (503, True) and not forwarded(ev2)
    stats = chain.plugins[0].stats
    assert (stats.requests, stats.failures, stats.denied) == (2, 1, 2)


def test_fail_close_grpc_request_gets_unavailable(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", fail_at=RQH)))
    s = chain.new_stream()
    s.request_headers(request(method=b"POST", content_type=b"application/grpc"), end_stream=True)
    (hdr,) = s.events()
    assert isinstance(hdr, SendResponseHeaders)
    assert hdr.headers.get(":status") == b"200" and hdr.headers.get("grpc-status") == b"14"


def test_fail_open_bypasses_the_plugin_from_then_on(env: Env) -> None:
    chain = env.chain(
        ("a", probe_wasm("a", fail_at=RQH)), ("b", probe_wasm("b")), strategy=FailStrategy.FAIL_OPEN
    )
    ev, s = one(chain)
    assert forwarded(ev) and status_of(ev) == (200, False)
    assert s.error is not None
    env.tracer.clear()
    ev2, s2 = one(chain)
    assert forwarded(ev2) and s2.error is None
    assert [p for p, _ in env.tracer.stream_calls()] == ["b"] * 5  # a is skipped entirely
    assert chain.plugins[0].stats.bypassed == 2


def test_fail_reload_starts_a_fresh_vm_after_a_doubling_backoff() -> None:
    env = make_env(DEFAULT_LIMITS.with_overrides(fail_reload_backoff_s=1.0, fail_reload_backoff_max_s=30.0))
    try:
        chain = env.chain(("a", probe_wasm("a", fail_at=RSH)), strategy=FailStrategy.FAIL_RELOAD)
        rt = chain.plugins[0]
        ev, _ = one(chain)  # request passes, response traps: 503 straight to the client
        assert forwarded(ev) and status_of(ev) == (503, True)
        assert rt.state is RuntimeState.FAILED
        ev, _ = one(chain)  # within the backoff: fail closed at request headers
        assert not forwarded(ev) and status_of(ev) == (503, True)
        env.scheduler.advance(1.0)
        ev, _ = one(chain)  # fresh VM: the request goes through again, the response traps again
        assert forwarded(ev) and status_of(ev) == (503, True)
        assert rt.stats.reloads == 1 and rt.generation == 2
        env.scheduler.advance(1.0)  # second consecutive failure: backoff is now 2 s
        ev, _ = one(chain)
        assert not forwarded(ev)
        env.scheduler.advance(1.0)
        ev, _ = one(chain)
        assert forwarded(ev)
        assert rt.stats.reloads == 2 and rt.stats.failures == 3
    finally:
        for c in env.chains:
            c.close()
        env.runtime.close()


@pytest.mark.parametrize(
    ("kind", "limits", "error"),
    [
        (LOOP, {"callback_deadline_ms": 50}, PluginDeadlineExceeded),
        (ALLOC, {"vm_memory_bytes": 16 * 1024 * 1024}, PluginMemoryExceeded),
        (TRAP, {}, PluginTrap),
    ],
)
def test_runtime_failures_are_typed_and_fail_closed(kind: int, limits: dict[str, int], error: type) -> None:
    env = make_env(DEFAULT_LIMITS.with_overrides(**limits))
    try:
        chain = env.chain(("a", probe_wasm("a", fail_at=RQH, fail_kind=kind)))
        ev, s = one(chain)
        assert status_of(ev) == (503, True)
        assert isinstance(s.error, error), s.error
        assert "\n" not in str(s.error)
    finally:
        for c in env.chains:
            c.close()
        env.runtime.close()


def test_vm_failing_in_http_call_response_fails_the_paused_stream(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", call_at_rqh=True, call_then=2)))
    woken: list[int] = []
    s = chain.new_stream(wakeup=lambda: woken.append(1))
    s.request_headers(request(), end_stream=True)
    assert s.events() == []
    env.scheduler.run_until_idle()  # on_http_call_response traps → PluginVM.on_failure
    (hdr,) = s.events()
    assert isinstance(hdr, SendResponseHeaders) and hdr.headers.get(":status") == b"503"
    assert woken and s.details == "wasm_fail_stream"
    assert isinstance(s.error, PluginTrap) and "http_call_response" in str(s.error)
    assert CALL


def test_vm_failing_in_on_tick_resumes_paused_streams_under_fail_open(env: Env) -> None:
    wasm = probe_wasm("a", rqh=1, tick_ms=1000, fail_at=TICK)
    chain = env.chain(("a", wasm), strategy=FailStrategy.FAIL_OPEN)
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    assert s.events() == []
    env.scheduler.advance(1.0)
    (ev,) = s.events()
    assert isinstance(ev, SendRequestHeaders)  # bypassed: the held request continues


@pytest.mark.parametrize(
    ("strategy", "expect"),
    [(FailStrategy.FAIL_CLOSE, 403), (FailStrategy.FAIL_RELOAD, 403), (FailStrategy.FAIL_OPEN, None)],
)
def test_module_that_cannot_load(env: Env, strategy: FailStrategy, expect: int | None) -> None:
    bad = PluginToLoad(PluginSettings(name="bad"), b"\0asm-not-really", strategy)
    chain = env.chain(bad, ("b", probe_wasm("b")))
    ev, s = one(chain)
    if expect is None:
        assert [rt.name for rt in chain.plugins] == ["b"]
        assert forwarded(ev) and status_of(ev) == (200, False)
    else:
        assert not forwarded(ev) and status_of(ev) == (403, True)
        hdr = next(e for e in ev if isinstance(e, SendResponseHeaders))
        assert hdr.headers.get("content-type") == b"text/plain"
        assert isinstance(chain.plugins[0].load_error, InvalidModule)
        assert s.details == "rbac_access_denied_matched_policy[none]"
        # the later plugin never saw the request, yet gets on_log (Envoy creates its context for it)
        assert ("b", "log") in env.tracer.stream_calls()


def test_configure_returning_false_rejects_the_chain(env: Env) -> None:
    with pytest.raises(PluginStartError, match="on_configure"):
        env.chain(("a", probe_wasm("a")), ("z", probe_wasm("z", configure_ok=False)))
    chain = env.chain(("z", probe_wasm("z", configure_ok=False)), reject_start_failure=False)
    ev, _ = one(chain)
    assert status_of(ev) == (403, True)


def test_log_only_streams_are_not_counted_as_requests(env: Env) -> None:
    # "bad" cannot load (FAIL_CLOSE: deny-all), so "b" never sees the request headers, only on_log.
    bad = PluginToLoad(PluginSettings(name="bad"), b"\0asm-not-really", FailStrategy.FAIL_CLOSE)
    chain = env.chain(bad, ("b", probe_wasm("b")))
    ev, _s = one(chain)
    assert status_of(ev) == (403, True)
    stats = chain.plugins[1].stats
    assert (stats.requests, stats.log_only) == (0, 1)
    good = env.chain(("c", probe_wasm("c")))
    one(good)
    assert (good.plugins[0].stats.requests, good.plugins[0].stats.log_only) == (1, 0)


def test_configure_refusal_names_the_plugins_own_reason(env: Env) -> None:
    # header-modifier logs "Failed to parse config: ..." (error) and returns false from on_configure.
    settings = PluginSettings(name="hm", configuration=b'{"enable_logging": "yes"}')
    bad = PluginToLoad(settings, plugin_wasm("header-modifier"))
    with pytest.raises(PluginStartError) as info:
        env.chain(bad)
    message = str(info.value)
    assert message.startswith("plugin hm: proxy_on_configure returned false")
    assert "Failed to parse config" in message and "\n" not in message


def test_fail_strategy_notice_goes_to_the_log_sink(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", fail_at=RQH)), strategy=FailStrategy.FAIL_OPEN)
    one(chain)
    notices = [e for e in env.logs.entries if e.plugin == "a" and "failStrategy" in e.message]
    assert len(notices) == 1, env.logs.entries
    assert notices[0].level == LogLevel.WARN
    assert "failStrategy FAIL_OPEN: trap in proxy_on_request_headers; new requests bypass the plugin" in (
        notices[0].message
    )
