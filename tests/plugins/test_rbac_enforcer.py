"""rbac-enforcer (docs/plugins/rbac-enforcer.md) through the harness: the blog's AUTHZ plugin asking
a fake policy service, its cache on virtual time, failing closed when the service is down — and,
with jwt-validator before it, the blog's AUTHN → AUTHZ chain from WasmPlugin YAML."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wasmplugin.errors import PluginStartError
from wasmplugin.testing import ChainTarget, FakeUpstream, Harness, PluginTarget, RecordedCall, answer
from wasmplugin.testing.clock import TestClock
from wasmplugin.testing.upstreams import CallAnswer

from .jwt_keys import SigningKey, jwks

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
PLUGIN = PLUGINS / "rbac-enforcer" / "plugin.wasm"
POLICY = "outbound|8080||policy-service.default.svc"
CONFIG = {
    "policy_endpoint": "http://policy-service.default.svc:8080/v1/check",
    "cache_enabled": True,
    "cache_ttl": 60,
}

Load = Callable[..., PluginTarget]

#: The policy the fake service applies: (subject, method, path prefix) → allowed.
RULES = [("alice", "GET", "/api/orders"), ("admin", "DELETE", "/api/orders")]


def policy(call: RecordedCall) -> CallAnswer:
    q = call.json()
    ok = any(q["subject"] == s and q["method"] == m and q["path"].startswith(p) for s, m, p in RULES)
    return answer(
        200,
        json={"allow": ok} if ok else {"allow": False, "reason": f"{q['subject'] or 'anonymous'} may not"},
    )


@pytest.fixture
def plugin(wasm_plugin: Load) -> PluginTarget:
    p = wasm_plugin(PLUGIN, config=CONFIG)
    p.upstream(POLICY).handle(policy)
    return p


def ask(
    plugin: PluginTarget, method: str, path: str, subject: str | None = None, scopes: str | None = None
) -> Any:
    headers = {}
    if subject is not None:
        headers["x-jwt-sub"] = subject
    if scopes is not None:
        headers["x-jwt-scopes"] = scopes
    return plugin.request(method, path, headers=headers)


def test_the_question_sent_to_the_policy_service(plugin: PluginTarget) -> None:
    resp = ask(plugin, "GET", "/api/orders/7?expand=items", "alice", "orders:read  orders:write")

    assert resp.status == 200
    [call] = resp.http_calls
    assert (call.upstream, call.method, call.path, call.authority) == (
        POLICY,
        "POST",
        "/v1/check",
        "policy-service.default.svc:8080",
    )
    assert call.headers["content-type"] == "application/json"
    assert call.json() == {
        "subject": "alice",
        "method": "GET",
        "path": "/api/orders/7",
        "scopes": ["orders:read", "orders:write"],
    }
    assert call.timeout_ms == 5000


def test_a_denial_is_a_403_with_the_policy_reason(plugin: PluginTarget) -> None:
    resp = ask(plugin, "DELETE", "/api/orders/7", "alice")

    assert resp.status == 403
    assert resp.local
    assert resp.json() == {"error": "access_denied", "reason": "alice may not"}
    assert resp.upstream_request is None
    assert 'rbac-enforcer: deny DELETE /api/orders/7 for "alice": alice may not' in resp.logs


def test_anonymous_requests_are_asked_about_too(plugin: PluginTarget) -> None:
    resp = ask(plugin, "GET", "/api/orders")

    assert resp.status == 403
    assert resp.http_calls[0].json() == {"subject": "", "method": "GET", "path": "/api/orders", "scopes": []}


def test_a_denial_without_a_reason(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(PLUGIN, config=CONFIG)
    plugin.upstream(POLICY).respond(200, json={"allow": False})

    assert ask(plugin, "GET", "/x", "bob").json() == {"error": "access_denied", "reason": "denied by policy"}


def test_answers_are_cached_for_cache_ttl_seconds(plugin: PluginTarget, wasm_clock: TestClock) -> None:
    service = plugin.upstream(POLICY)
    assert ask(plugin, "GET", "/api/orders", "alice").status == 200
    assert ask(plugin, "GET", "/api/orders", "alice").status == 200
    assert ask(plugin, "DELETE", "/api/orders", "alice").status == 403
    assert ask(plugin, "DELETE", "/api/orders", "alice").status == 403  # denials are cached too
    assert ask(plugin, "GET", "/api/orders", "alice", "more").status == 200  # other scopes: another key
    assert service.call_count == 3
    assert 'cached decision for GET /api/orders by "alice": allow=true' in plugin.logs

    wasm_clock.advance(61)
    assert ask(plugin, "GET", "/api/orders", "alice").status == 200
    assert service.call_count == 4


def test_without_the_cache_every_request_asks(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(PLUGIN, config={"policy_endpoint": CONFIG["policy_endpoint"]})
    service = plugin.upstream(POLICY).handle(policy)

    for _ in range(3):
        assert ask(plugin, "GET", "/api/orders", "alice").status == 200
    assert service.call_count == 3


def _down(kind: str) -> Callable[[FakeUpstream], object]:
    return {
        "hang": lambda up: up.hang(),
        "reset": lambda up: up.reset(),
        "refuse": lambda up: up.refuse(),
        "500": lambda up: up.respond(500, body="boom"),
        "not json": lambda up: up.respond(200, body="yes"),
        "no allow": lambda up: up.respond(200, json={"decision": "allow"}),
    }[kind]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        # A timeout reaches the plugin as Envoy delivers it: a locally generated 504.
        ("hang", "HTTP status 504"),
        ("reset", "no response (connection reset)"),
        ("refuse", "HTTP status 503"),
        ("500", "HTTP status 500"),
        ("not json", "answer is not the expected JSON object"),
        ("no allow", 'answer has no boolean "allow"'),
    ],
)
def test_a_policy_service_that_is_down_denies_without_hanging(
    wasm_plugin: Load, kind: str, reason: str
) -> None:
    plugin = wasm_plugin(PLUGIN, config={**CONFIG, "policy_timeout_ms": 1500})
    _down(kind)(plugin.upstream(POLICY))

    resp = ask(plugin, "GET", "/api/orders", "alice")

    assert resp.status == 403
    assert resp.json() == {"error": "access_denied", "reason": "policy service unavailable"}
    assert resp.elapsed <= 1.5
    warnings = resp.logs.warnings.messages
    assert any(
        m.startswith(f"rbac-enforcer: policy check for GET /api/orders failed: {reason}")
        and m.endswith("; denying (fail closed)")
        for m in warnings
    ), warnings
    # Failures are not cached: once the service is back, the next request is allowed.
    plugin.upstream(POLICY).handle(policy)
    assert ask(plugin, "GET", "/api/orders", "alice").status == 200


def test_an_unknown_policy_cluster_denies_at_once(wasm_harness: Harness) -> None:
    plugin = wasm_harness.plugin(PLUGIN, config={**CONFIG, "policy_cluster": "nowhere"})

    resp = ask(plugin, "GET", "/api/orders", "alice")

    assert resp.status == 403
    assert resp.elapsed == 0
    assert 'cannot call the policy service through cluster "nowhere"' in resp.logs.errors


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**CONFIG, "cache_ttl": "60"}, "pluginConfig.cache_ttl: expected an integer, got string"),
        ({"cache_enabled": True}, "pluginConfig.policy_endpoint"),
        ({**CONFIG, "policy_endpoint": "policy-service:8080"}, "pluginConfig.policy_endpoint"),
        ({**CONFIG, "cache_enabled": "yes"}, "pluginConfig.cache_enabled"),
    ],
)
def test_bad_configuration_is_a_clear_load_error(
    wasm_plugin: Load, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(PluginStartError) as caught:
        wasm_plugin(PLUGIN, config=config)

    assert "rbac-enforcer: invalid configuration: " in str(caught.value)
    assert message in str(caught.value)


def test_configured_log_line(plugin: PluginTarget) -> None:
    assert (
        "rbac-enforcer: configured policy_endpoint=http://policy-service.default.svc:8080/v1/check "
        "policy_cluster=outbound|8080||policy-service.default.svc cache=60s subject_header=x-jwt-sub"
    ) in plugin.logs


# --- the blog's AUTHN → AUTHZ chain --------------------------------------------------------------------

CHAIN_YAML = f"""
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: rbac-enforcer, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{app: api-gateway}}}}
  url: file://{PLUGINS}/rbac-enforcer/plugin.wasm
  phase: AUTHZ
  priority: 10
  pluginConfig:
    policy_endpoint: "http://policy-service.default.svc:8080"
    cache_enabled: true
    cache_ttl: 60
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: jwt-validator, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{app: api-gateway}}}}
  url: file://{PLUGINS}/jwt-validator/plugin.wasm
  phase: AUTHN
  priority: 10
  pluginConfig:
    jwks_uri: "https://auth.example.com/.well-known/jwks.json"
    issuer: "https://auth.example.com"
    audience: "api.example.com"
    allowed_paths: ["/health"]
"""


@pytest.fixture
def chain(wasm_chain: Callable[..., ChainTarget], tmp_path: Path) -> tuple[ChainTarget, SigningKey]:
    path = tmp_path / "auth.yaml"
    path.write_text(CHAIN_YAML)
    c = wasm_chain(path)
    key = SigningKey.ec("k1")
    c.upstream("outbound|443||auth.example.com").respond(200, json=jwks(key))
    c.upstream("outbound|8080||policy-service.default.svc").handle(policy)
    return c, key


def test_authn_then_authz_as_the_sidecar_orders_them(chain: tuple[ChainTarget, SigningKey]) -> None:
    c, key = chain
    assert c.names == ["istio-system.jwt-validator", "istio-system.rbac-enforcer"]
    now = int(c.clock.now)
    token = key.sign(
        {
            "iss": "https://auth.example.com",
            "aud": "api.example.com",
            "sub": "alice",
            "exp": now + 60,
            "scope": "orders:read",
        }
    )

    allowed = c.request("GET", "/api/orders", headers={"authorization": f"Bearer {token}"})
    no_token = c.request("GET", "/api/orders")
    health = c.request("GET", "/health")

    assert allowed.status == 200
    asked = [call for call in allowed.http_calls if call.upstream.endswith("policy-service.default.svc")]
    assert asked[0].json()["subject"] == "alice"  # the identity jwt-validator established
    assert asked[0].json()["scopes"] == ["orders:read"]
    assert no_token.status == 401  # rejected by AUTHN: AUTHZ never asked
    assert not no_token.trace.callbacks("proxy_on_request_headers", plugin="istio-system.rbac-enforcer")
    assert health.status == 403  # allowed by AUTHN without a token, then denied for "anonymous"
    assert health.json()["reason"] == "anonymous may not"
