"""custom-metrics (docs/plugins/custom-metrics.md) through the harness: request counts and a
duration histogram made of counters, labelled by method and status, with durations set by the
backend's delay in virtual time — exact bucket boundaries included — and, in the blog's whole
chain, the requests that jwt-validator, rbac-enforcer and rate-limiter refuse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wasmplugin.errors import PluginStartError
from wasmplugin.testing import ChainTarget, PluginTarget, RecordedCall, Reply, answer
from wasmplugin.testing.upstreams import CallAnswer

from .jwt_keys import SigningKey, jwks

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


# The blog's four Go plugins in phase order. custom-metrics (STATS) comes after jwt-validator (AUTHN)
# and rbac-enforcer (AUTHZ), so their local replies never reach its request or response callbacks;
# it still gets on_log, and records from the host's attributes there (as Istio's stats filter).
BLOG_CHAIN = f"""
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: jwt-validator, namespace: istio-system}}
spec:
  url: "file://{PLUGINS}/jwt-validator/plugin.wasm"
  phase: AUTHN
  pluginConfig:
    jwks_uri: "https://auth.example.com/.well-known/jwks.json"
    issuer: "https://auth.example.com"
    audience: "api.example.com"
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: rbac-enforcer, namespace: istio-system}}
spec:
  url: "file://{PLUGINS}/rbac-enforcer/plugin.wasm"
  phase: AUTHZ
  pluginConfig: {{policy_endpoint: "http://policy-service.default.svc:8080"}}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: custom-metrics, namespace: istio-system}}
spec:
  url: "file://{PLUGIN}"
  phase: STATS
  pluginConfig: {{metrics_prefix: custom_api, histogram_buckets: [0.01, 0.05, 0.1, 0.5, 1.0, 5.0]}}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: rate-limiter, namespace: istio-system}}
spec:
  url: "file://{PLUGINS}/rate-limiter/plugin.wasm"
  phase: UNSPECIFIED_PHASE
  pluginConfig: {{default_limit: 2, default_window_seconds: 31622400}}
"""
METRICS = "istio-system.custom-metrics"


def slow_policy(call: RecordedCall) -> CallAnswer:
    """Allows GET; denies anything else after 0.2 s of (virtual) thought."""
    if call.json()["method"] == "GET":
        return answer(200, json={"allow": True})
    return answer(200, json={"allow": False, "reason": "read only"}, delay=0.2)


def test_requests_refused_before_the_stats_phase_are_counted_with_their_status(
    wasm_chain: Callable[..., ChainTarget], tmp_path: Path
) -> None:
    path = tmp_path / "blog-chain.yaml"
    path.write_text(BLOG_CHAIN)
    chain = wasm_chain(path)
    assert chain.names == [
        "istio-system.jwt-validator",
        "istio-system.rbac-enforcer",
        METRICS,
        "istio-system.rate-limiter",
    ]
    key = SigningKey.ec("k1")
    chain.upstream("outbound|443||auth.example.com").respond(200, json=jwks(key))
    chain.upstream("outbound|8080||policy-service.default.svc").handle(slow_policy)
    now = int(chain.clock.now)
    token = key.sign(
        {"iss": "https://auth.example.com", "aud": "api.example.com", "sub": "alice", "exp": now + 600}
    )
    auth = {"authorization": f"Bearer {token}"}

    no_token = chain.request("GET", "/api/orders")
    denied = chain.request("DELETE", "/api/orders/1", headers=auth)
    allowed = [
        chain.request("GET", "/api/orders", headers=auth, response=Reply(200, delay=0.03)) for _ in range(3)
    ]

    assert no_token.status == 401
    assert denied.status == 403 and denied.elapsed == pytest.approx(0.2)
    assert [r.status for r in allowed] == [200, 200, 429]
    # custom-metrics never saw the refused requests' headers: on_log was all it got.
    for resp in (no_token, denied):
        assert not resp.trace.callbacks("proxy_on_request_headers", plugin=METRICS)
        assert not resp.trace.callbacks("proxy_on_response_headers", plugin=METRICS)
        assert resp.trace.callbacks("proxy_on_log", plugin=METRICS)

    m = chain.metrics
    assert m["custom_api_requests_total.method=GET.status=401"] == 1
    assert m["custom_api_requests_total.method=DELETE.status=403"] == 1
    assert m["custom_api_requests_total.method=GET.status=200"] == 2
    assert m["custom_api_requests_total.method=GET.status=429"] == 1  # rate-limiter runs after STATS
    # Durations are the whole stream's (request.duration), not from when custom-metrics was reached:
    # the 403 took the policy service's 0.2 s.
    assert m["custom_api_request_duration_microseconds_sum.method=DELETE.status=403"] == 200_000
    base = "custom_api_request_duration_seconds_bucket.method=DELETE.status=403.le="
    assert [m[base + le] for le in LE] == [0, 0, 0, 1, 1, 1, 1]
    assert m["custom_api_request_duration_microseconds_sum.method=GET.status=401"] == 0
    assert m["custom_api_request_duration_microseconds_sum.method=GET.status=200"] == 60_000
    text = m.prometheus()
    for series in (
        '{method="GET",status="401"} 1',
        '{method="DELETE",status="403"} 1',
        '{method="GET",status="429"} 1',
        '{method="GET",status="200"} 2',
    ):
        assert "custom_api_requests_total" + series in text


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
