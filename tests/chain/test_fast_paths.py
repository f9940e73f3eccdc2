"""The chain's shortcuts behave exactly like the general path they stand in for.

* a chain of one plugin ends a stream with one timed block (``HttpStream._finish_one``) instead of
  the two passes over every plugin: same callbacks, same order, same counters, same failures;
* a body chunk gets its ``BodyBuffer`` only when the plugin asks for it: a plugin that edits the
  body still sees and changes it, one that does not passes the very bytes it was given.
"""

from __future__ import annotations

import pytest
from chain_env import Env, request, response
from probe import LOG, probe_wasm

from wasmplugin.chain import FilterChain
from wasmplugin.chain.api import SendRequestData, SendResponseData
from wasmplugin.chain.runtime import RuntimeState
from wasmplugin.errors import PluginTrap


def _exchange(chain: FilterChain, body: bytes = b"hello") -> tuple[list[object], object]:
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    ev = s.events()
    s.response_headers(response(), end_stream=False)
    s.response_data(body, end_stream=True)
    ev += s.events()
    s.complete()
    return ev, s


def _counters(chain: FilterChain) -> tuple[int, int, int, int, int]:
    st = chain.plugins[0].stats
    return st.requests, st.callbacks, st.failures, st.denied, st.bypassed


@pytest.mark.parametrize("fail_at", [0, LOG])
def test_one_plugin_completion_matches_the_general_path(env: Env, fail_at: int) -> None:
    alone = env.chain(("a", probe_wasm("a", fail_at=fail_at)))
    with_other = env.chain(("a", probe_wasm("a", fail_at=fail_at)), ("b", probe_wasm("b")))

    env.tracer.clear()
    _ev1, s1 = _exchange(alone)
    calls_alone = [c for c in env.tracer.stream_calls() if c[0] == "a"]
    env.tracer.clear()
    _ev2, s2 = _exchange(with_other)
    calls_general = [c for c in env.tracer.stream_calls() if c[0] == "a"]

    assert calls_alone == calls_general
    assert _counters(alone) == _counters(with_other)
    assert type(s1.error) is type(s2.error)  # type: ignore[attr-defined]
    assert alone.plugins[0].state is with_other.plugins[0].state
    assert not alone.plugins[0]._active and not with_other.plugins[0]._active
    if fail_at == LOG:
        assert isinstance(s1.error, PluginTrap)  # type: ignore[attr-defined]
        assert alone.plugins[0].state is RuntimeState.FAILED
        assert [c[1] for c in calls_alone][-1] == "log"  # no on_done / on_delete after the trap
    else:
        assert [c[1] for c in calls_alone][-3:] == ["log", "done", "delete"]
        assert alone.plugins[0].stats.callbacks == 3 + 3  # headers, headers, body + log, done, delete


def test_a_body_the_plugin_edits_is_built_on_demand_and_forwarded(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", append=b"+a")), ("b", probe_wasm("b")))
    s = chain.new_stream()
    s.request_headers(request(method=b"POST"), end_stream=False)
    s.request_data(b"hello", end_stream=True)
    assert s.events()[1:] == [SendRequestData(b"hello+a", True)]
    assert [a[1:] for a in env.tracer.args_of("b", "request_body")] == [(7, 1)]  # b sees the edit


def test_a_body_nobody_looks_at_passes_as_the_same_bytes(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a")), ("b", probe_wasm("b")))
    chunk = b"x" * 1000
    ev, _s = _exchange(chain, chunk)
    (data,) = [e for e in ev if isinstance(e, SendResponseData)]
    assert data.data is chunk  # not copied on the way through


def test_a_body_paused_on_is_buffered_then_forwarded_whole(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a", rsb=1, rsb_until_eos=True)))
    s = chain.new_stream()
    s.request_headers(request(), end_stream=True)
    s.response_headers(response(), end_stream=False)
    s.response_data(b"ab", end_stream=False)
    s.response_data(b"cd", end_stream=True)
    data = b"".join(e.data for e in s.events() if isinstance(e, SendResponseData))
    assert data == b"abcd"
    assert env.tracer.args_of("a", "response_body")[-1][1:] == (4, 1)  # the whole body, at eos
