"""The trace of every host call (and every callback into the plugin), per request and overall."""

from __future__ import annotations

from collections.abc import Callable

from wasmplugin.testing import Harness, PluginTarget

from .conftest import C_HOSTCALLS, HEADER_MODIFIER

Load = Callable[..., PluginTarget]


def test_a_request_carries_the_trace_of_what_the_plugin_did(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(HEADER_MODIFIER, config={"request_headers": [{"name": "x-a", "value": "1"}]})

    resp = plugin.request("GET", "/traced")

    callbacks = [e.name for e in resp.trace.callbacks() if e.name.startswith("proxy_on_")]
    assert callbacks[:3] == [
        "proxy_on_context_create",
        "proxy_on_request_headers",
        "proxy_on_response_headers",
    ]
    assert callbacks[-2:] == ["proxy_on_done", "proxy_on_delete"]
    [add] = [e for e in resp.trace.host_calls("proxy_add_header_map_value") if e.args[0] == 0]
    assert add.status == "OK"
    stream_id = resp.trace.callbacks("proxy_on_request_headers")[0].args[0]
    assert add.context_id == stream_id
    assert "proxy_log" in resp.trace
    text = resp.trace.format()
    assert "-> proxy_on_request_headers(" in text
    assert "proxy_add_header_map_value(0, " in text and ") -> OK" in text
    # The plugin's start (on_configure and what it called) is in the harness trace, not the request's.
    assert plugin.trace.callbacks("proxy_on_configure")
    assert not resp.trace.callbacks("proxy_on_configure")


def test_failed_host_calls_show_their_status(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(C_HOSTCALLS)

    resp = plugin.request("GET", "/hostcalls/shared_data/errors")

    statuses = {e.status for e in resp.trace.failed()}
    assert {"NOT_FOUND", "INVALID_MEMORY_ACCESS"} <= statuses
    assert resp.headers["x-hc-get-missing"] == "1"


def test_tracing_can_be_turned_off() -> None:
    with Harness(trace=False) as h:
        plugin = h.plugin(HEADER_MODIFIER)
        resp = plugin.request("GET", "/")
        assert resp.status == 200
        assert len(resp.trace) == 0
        assert len(h.trace) == 0
