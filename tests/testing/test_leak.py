"""The leak check: a deliberately leaking plugin is caught; plugins that merely warm up are not."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from wasmplugin.testing import PluginTarget

from .conftest import C_HOSTCALLS, GO_FEATURES, HEADER_MODIFIER

Load = Callable[..., PluginTarget]


def test_a_deliberately_leaking_go_plugin_is_caught(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES, config={"leak_bytes_per_request": 16384})

    with pytest.raises(AssertionError) as caught:
        plugin.assert_no_leak("GET", "/anything")

    message = str(caught.value)
    assert message.startswith("LEAK in go-features: linear memory grew")
    assert "after 500 warm-up requests" in message
    per_request = re.search(r"~([\d.]+) KiB per request", message)
    assert per_request is not None and 12 <= float(per_request.group(1)) <= 20  # ~16 KiB leaked each time
    assert plugin.metrics["go_features_leaked_bytes"] == 1500 * 16384


def test_the_same_plugin_without_the_leak_passes(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(GO_FEATURES)

    report = plugin.assert_no_leak("GET", "/anything")

    assert not report.leaked
    assert report.late_growth_bytes == 0
    assert [n for n, _ in report.samples] == [500, 750, 1000, 1250, 1500]


def test_a_go_heap_that_grows_while_it_warms_up_is_not_a_leak(wasm_plugin: Load) -> None:
    # /go/properties allocates JSON per request: the GC-paced heap grows for several hundred
    # requests (4.5 MiB after 100, 7.75 MiB after 500) and then stays flat.
    plugin = wasm_plugin(GO_FEATURES)

    report = plugin.leak_check("GET", "/go/properties")

    assert not report.leaked, str(report)
    early = plugin.leak_check("GET", "/go/properties", warmup=0, requests=400)  # too early to judge
    assert early.growth_bytes >= 0


def test_a_c_plugin_that_never_frees_is_caught_quickly(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(C_HOSTCALLS)

    report = plugin.leak_check("GET", "/hostcalls/alloc/1", warmup=2, requests=20, rounds=4)

    assert report.leaked
    assert report.growth_bytes >= 20 * 1024 * 1024
    assert report.start_bytes < report.end_bytes


def test_a_custom_request_can_drive_the_check(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(HEADER_MODIFIER, config={"request_headers": [{"name": "x-a", "value": "1"}]})
    sent: list[int] = []

    def send() -> None:
        resp = plugin.request("POST", "/upload", body=b"x" * 2048)
        sent.append(resp.status or 0)

    report = plugin.leak_check(send=send, warmup=10, requests=40)

    assert not report.leaked
    assert sent == [200] * 50


def test_a_failed_plugin_cannot_be_leak_checked(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(HEADER_MODIFIER)
    plugin.force_trap("request_headers")
    plugin.request("GET", "/")

    with pytest.raises(RuntimeError, match="no running VM"):
        plugin.leak_check()
