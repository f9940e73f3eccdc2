"""custom-metrics (docs/plugins/custom-metrics.md) through the harness: request counts and a
duration histogram made of counters, labelled by method and status, with durations set by the
backend's delay in virtual time — exact bucket boundaries included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wasmplugin.errors import PluginStartError
from wasmplugin.testing import ChainTarget, PluginTarget, Reply

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
PLUGIN = PLUGINS / "custom-metrics" / "plugin.wasm"
BLOG_CONFIG = {"metrics_prefix": "custom_api", "histogram_buckets": [0.01, 0.05, 0.1, 0.5, 1.0, 5.0]}
LE = ["0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"]

Load = Callable[..., PluginTarget]


@pytest.fixture
def plugin(wasm_plugin: Load) -> PluginTarget:
    return wasm_plugin(PLUGIN, config=BLOG_CONFIG)


def buckets(plugin: PluginTarget, method: str = "GET", status: str = "200") -> list[int]:
    base = f"custom_api_request_duration_seconds_bucket.method={method}.status={status}.le="
    return [int(plugin.metrics[base + le]) for le in LE]


def test_counts_and_durations_per_method_and_status(plugin: PluginTarget) -> None:
    for delay in (0.003, 0.07, 0.1, 2.0):  # 0.1 s exactly: buckets are inclusive
        assert plugin.request("GET", "/api", response=Reply(200, delay=delay)).status == 200
    plugin.request("POST", "/api", response=Reply(201, delay=0.2))

    m = plugin.metrics
    assert m["custom_api_requests_total.method=GET.status=200"] == 4
    assert m["custom_api_requests_total.method=POST.status=201"] == 1
    assert buckets(plugin) == [1, 1, 3, 3, 3, 4, 4]
    assert buckets(plugin, "POST", "201") == [0, 0, 0, 1, 1, 1, 1]
    assert m["custom_api_request_duration_seconds_count.method=GET.status=200"] == 4
    assert (
        m["custom_api_request_duration_microseconds_sum.method=GET.status=200"]
        == 3000 + 70000 + 100000 + 2000000
    )


def test_the_prometheus_view(plugin: PluginTarget) -> None:
    plugin.request("GET", "/", response=Reply(404, delay=0.04))

    text = plugin.metrics.prometheus()

    assert 'custom_api_requests_total{method="GET",status="404"} 1' in text
    assert 'custom_api_request_duration_seconds_bucket{method="GET",status="404",le="0.05"} 1' in text
    assert 'custom_api_request_duration_seconds_bucket{method="GET",status="404",le="0.01"} 0' in text
    assert 'custom_api_request_duration_microseconds_sum{method="GET",status="404"} 40000' in text


def test_unusual_methods_are_other_and_a_reset_stream_has_status_0(plugin: PluginTarget) -> None:
    plugin.request("PURGE", "/cache")
    flight = plugin.start_request("GET", "/slow")
    flight.cancel()

    assert plugin.metrics["custom_api_requests_total.method=OTHER.status=200"] == 1
    assert plugin.metrics["custom_api_requests_total.method=GET.status=0"] == 1


def test_defaults(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(PLUGIN)

    plugin.request("GET", "/")

    assert plugin.metrics["custom_requests_total.method=GET.status=200"] == 1
    assert "custom_request_duration_seconds_bucket.method=GET.status=200.le=0.005" in plugin.metrics
    assert (
        "custom-metrics: configured metrics_prefix=custom "
        "histogram_buckets=[0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10]"
    ) in plugin.logs


def test_it_never_changes_a_request(plugin: PluginTarget) -> None:
    resp = plugin.request("POST", "/x", body="data", response=Reply(202, headers={"x-up": "1"}, body="ok"))

    assert (resp.status, resp.text, resp.headers["x-up"]) == (202, "ok", "1")
    assert resp.upstream_request is not None and resp.upstream_request.body == b"data"
    assert not resp.trace.failed()


def test_statuses_of_replies_generated_later_in_the_chain(
    wasm_chain: Callable[..., ChainTarget], tmp_path: Path
) -> None:
    # custom-metrics (STATS) runs before an UNSPECIFIED_PHASE plugin that answers locally: the reply
    # passes back through custom-metrics, which records its status.
    path = tmp_path / "chain.yaml"
    path.write_text(
        f"""
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: stats, namespace: istio-system}}
spec: {{url: "file://{PLUGIN}", phase: STATS, pluginConfig: {{metrics_prefix: chain}}}}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: replier, namespace: istio-system}}
spec: {{url: "file://{PLUGINS}/c-hostcalls/plugin.wasm"}}
"""
    )
    chain = wasm_chain(path)
    assert chain.names == ["istio-system.stats", "istio-system.replier"]

    assert chain.request("GET", "/hostcalls/local_response/429").status == 429

    assert chain.metrics["chain_requests_total.method=GET.status=429"] == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"histogram_buckets": [1, 0.5]},
            "pluginConfig.histogram_buckets[1]: bounds must increase strictly, got 0.5 after 1",
        ),
        ({"histogram_buckets": []}, "pluginConfig.histogram_buckets"),
        ({"histogram_buckets": [-1]}, "pluginConfig.histogram_buckets[0]"),
        ({"metrics_prefix": "9lives"}, "pluginConfig.metrics_prefix"),
        ({"metrics_prefix": 3}, "pluginConfig.metrics_prefix"),
    ],
)
def test_bad_configuration_is_a_clear_load_error(
    wasm_plugin: Load, config: dict[str, object], message: str
) -> None:
    with pytest.raises(PluginStartError) as caught:
        wasm_plugin(PLUGIN, config=config)

    assert "custom-metrics: invalid configuration: " in str(caught.value)
    assert message in str(caught.value)
