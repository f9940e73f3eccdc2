"""rate-limiter (docs/plugins/rate-limiter.md) through the harness: fixed windows aligned to the
Unix epoch on virtual time, per-prefix rules, counters in host shared data that several VMs share,
and the blog's configuration."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wasmplugin.abi.enums import WasmResult
from wasmplugin.chain.api import StreamInfo
from wasmplugin.errors import PluginStartError
from wasmplugin.host.shared import SharedData
from wasmplugin.testing import Harness, PluginTarget
from wasmplugin.testing.clock import TestClock

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "rate-limiter" / "plugin.wasm"
BLOG_CONFIG: dict[str, Any] = {
    "default_limit": 100,
    "default_window_seconds": 60,
    "path_limits": [
        {"path": "/api/v1/search", "limit": 20, "window_seconds": 60},
        {"path": "/api/v1/upload", "limit": 5, "window_seconds": 300},
    ],
    "rate_limit_response": {
        "status_code": 429,
        "headers": {"Retry-After": "60"},
        "body": '{"error": "Rate limit exceeded"}',
    },
}

Load = Callable[..., PluginTarget]


def statuses(plugin: PluginTarget, path: str, n: int, **kwargs: Any) -> list[int | None]:
    return [plugin.request("GET", path, **kwargs).status for _ in range(n)]


def test_the_blogs_upload_limit(wasm_plugin: Load, wasm_clock: TestClock) -> None:
    plugin = wasm_plugin(PLUGIN, config=BLOG_CONFIG)
    wasm_clock.advance(88)  # 88 s into a 300 s window (virtual time starts on a window boundary)

    allowed = [plugin.request("POST", "/api/v1/upload") for _ in range(5)]
    sixth = plugin.request("POST", "/api/v1/upload")

    assert [r.status for r in allowed] == [200] * 5
    assert [r.headers["x-ratelimit-remaining"] for r in allowed] == ["4", "3", "2", "1", "0"]
    assert allowed[0].headers["x-ratelimit-limit"] == "5"
    assert allowed[0].headers["x-ratelimit-reset"] == "212"
    assert sixth.status == 429
    assert sixth.local and sixth.upstream_request is None
    assert sixth.text == '{"error": "Rate limit exceeded"}'
    assert sixth.headers.get_all("retry-after") == ["60"]  # the configured value, not a computed one
    assert (
        sixth.headers["x-ratelimit-limit"],
        sixth.headers["x-ratelimit-remaining"],
        sixth.headers["x-ratelimit-reset"],
    ) == ("5", "0", "212")


def test_a_new_window_starts_a_new_count(wasm_plugin: Load, wasm_clock: TestClock) -> None:
    plugin = wasm_plugin(PLUGIN, config=BLOG_CONFIG)

    assert statuses(plugin, "/api/v1/upload", 6) == [200] * 5 + [429]
    wasm_clock.advance(299)
    assert statuses(plugin, "/api/v1/upload", 1) == [429]
    wasm_clock.advance(1)
    assert statuses(plugin, "/api/v1/upload", 6) == [200] * 5 + [429]


def test_the_longest_prefix_decides_and_the_query_is_ignored(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(
        PLUGIN,
        config={
            **BLOG_CONFIG,
            "path_limits": [{"path": "/api", "limit": 3}, {"path": "/api/v1/search", "limit": 1}],
        },
    )

    assert statuses(plugin, "/api/v1/search?q=a", 2) == [200, 429]
    assert statuses(plugin, "/api/v1/searchable", 1) == [429]  # a plain string prefix
    assert statuses(plugin, "/api/other", 4) == [200, 200, 200, 429]
    assert statuses(plugin, "/elsewhere", 1) == [200]


def test_the_default_reply(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(PLUGIN, config={"default_limit": 1, "default_window_seconds": 10})

    plugin.request("GET", "/")
    resp = plugin.request("GET", "/")

    assert resp.status == 429
    assert resp.json() == {"error": "rate limit exceeded"}
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["retry-after"] == "10"


def test_default_limit_zero_refuses_everything(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(PLUGIN, config={"default_limit": 0})
    assert statuses(plugin, "/", 1) == [429]


def test_counts_are_shared_data_every_vm_sees(wasm_harness: Harness) -> None:
    # Two VMs of the same plugin in one process (Envoy's workers) share one count.
    worker1 = wasm_harness.plugin(PLUGIN, name="worker-1", config={"default_limit": 4})
    worker2 = wasm_harness.plugin(PLUGIN, name="worker-2", config={"default_limit": 4})

    seen = [w.request("GET", "/x").status for w in (worker1, worker2, worker1, worker2, worker1)]

    assert seen == [200, 200, 200, 200, 429]
    value = worker1.shared_data("rate-limiter:60s:*:*")
    assert value is not None
    window_start, count = struct.unpack("<QQ", value)
    assert (window_start, count) == (int(worker1.clock.now), 4)


def test_limit_by_client_ip_and_by_header(wasm_plugin: Load) -> None:
    by_ip = wasm_plugin(PLUGIN, name="by-ip", config={"default_limit": 1, "limit_by": "client_ip"})
    alice = StreamInfo(source_address="10.0.0.1", source_port=40000)
    bob = StreamInfo(source_address="10.0.0.2", source_port=40001)
    assert [by_ip.request("GET", "/", info=i).status for i in (alice, bob, alice)] == [200, 200, 429]
    assert by_ip.shared_data("rate-limiter:60s:*:ip:10.0.0.1") is not None

    by_key = wasm_plugin(
        PLUGIN,
        name="by-key",
        config={"default_limit": 1, "limit_by": "header:x-api-key", "default_window_seconds": 30},
    )
    keys = ["k1", "k2", "k1", None, None]
    got = [by_key.request("GET", "/", headers={"x-api-key": k} if k else None).status for k in keys]
    assert got == [200, 200, 429, 200, 429]  # requests without the header share one counter


class ContendedSharedData(SharedData):
    """Stand-in for other VMs that win every compare-and-swap race (cannot be produced with one
    thread): every conditional write is refused."""

    def set(self, vm_id: str, key: bytes, value: bytes, cas: int) -> WasmResult:
        if cas == 0:
            super().set(vm_id, key, value, cas)
            return WasmResult.OK
        return WasmResult.CAS_MISMATCH


def test_a_counter_that_stays_contended_fails_open(wasm_harness: Harness) -> None:
    wasm_harness.services.shared_data = ContendedSharedData()
    plugin = wasm_harness.plugin(PLUGIN, config={"default_limit": 5})

    first = plugin.request("GET", "/")  # creates the entry (unconditional write)
    second = plugin.request("GET", "/")  # every update loses the race

    assert (first.status, second.status) == (200, 200)
    assert (
        'rate-limiter: shared data "rate-limiter:60s:*:*": still contended after 16 attempts; '
        "allowing the request (fail open)"
    ) in second.logs.warnings


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {**BLOG_CONFIG, "path_limits": [{"path": "/a", "limit": "5"}]},
            "pluginConfig.path_limits[0].limit: expected an integer, got string",
        ),
        ({"default_window_seconds": 60}, "pluginConfig.default_limit"),
        (
            {"default_limit": 5, "path_limits": [{"path": "/a", "limit": 1, "window": 9}]},
            "pluginConfig.path_limits[0]",
        ),
        (
            {"default_limit": 5, "path_limits": [{"path": "a", "limit": 1}]},
            "pluginConfig.path_limits[0].path",
        ),
        (
            {"default_limit": 5, "rate_limit_response": {"status_code": 100}},
            "pluginConfig.rate_limit_response.status_code",
        ),
        ({"default_limit": 5, "limit_by": "cookie"}, "pluginConfig.limit_by"),
    ],
)
def test_bad_configuration_is_a_clear_load_error(
    wasm_plugin: Load, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(PluginStartError) as caught:
        wasm_plugin(PLUGIN, config=config)

    assert "rate-limiter: invalid configuration: " in str(caught.value)
    assert message in str(caught.value)


def test_configured_log_line(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(PLUGIN, config=BLOG_CONFIG)
    assert (
        "rate-limiter: configured limits=[default 100/60s, /api/v1/search 20/60s, /api/v1/upload 5/300s] "
        "limit_by=global reply=429"
    ) in plugin.logs
