"""The five demo plugins through the sidecar (``wasmplugin serve``), over real sockets, against the
demo's real services (JWKS key server, policy service, echo app): what each does, a bad
configuration (rejected with the plugin's own error, last good config keeps serving), and a JWKS
or policy service that is down or silent (the documented answer, promptly — never a hang).

One sidecar per module where possible (compiling a Go module takes seconds); variations go
through hot reload, which reuses the compiled module.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_stack import DemoStack, closed_port, silent_listener, wasm_plugin

from support.blog import HEADER_MODIFIER_CONFIG
from wasmplugin.demo.tokens import SigningKey, TokenIssuer
from wasmplugin.errors import DemoError

pytestmark = pytest.mark.slow

JWT_CONFIG = """
jwks_uri: "http://auth.example.com/.well-known/jwks.json"
issuer: "https://auth.example.com"
audience: "api.example.com"
allowed_paths: ["/health", "/public/*"]
"""
RBAC_CONFIG = """
policy_endpoint: "http://policy-service.default.svc:8080"
cache_enabled: true
cache_ttl: 60
"""
METRICS_CONFIG = """
metrics_prefix: "custom_api"
histogram_buckets: [0.01, 0.05, 0.1, 0.5, 1.0, 5.0]
"""
# The blog's rate-limiter, plus a rule whose window (the longest allowed, a year) a test cannot
# straddle: windows are aligned to the epoch, so a short one could restart mid-test.
RATE_CONFIG = """
default_limit: 100
default_window_seconds: 60
path_limits:
  - path: "/api/v1/search"
    limit: 20
    window_seconds: 60
  - path: "/limited"
    limit: 3
    window_seconds: 31622400
rate_limit_response:
  status_code: 429
  headers:
    Retry-After: "60"
  body: '{"error": "Rate limit exceeded"}'
"""


def impostor(stack: DemoStack) -> TokenIssuer:
    """Same issuer, audience and key ids as the stack's, other keys: its tokens are forgeries."""
    keys = [SigningKey.generate(k.alg, k.kid) for k in stack.issuer.keys.values()]
    return TokenIssuer(stack.issuer.issuer, stack.issuer.audience, keys)


def jwt_doc(config: str = JWT_CONFIG) -> str:
    return wasm_plugin("jwt-validator", "AUTHN", config)


def rbac_doc(config: str = RBAC_CONFIG) -> str:
    return wasm_plugin("rbac-enforcer", "AUTHZ", config)


def echoed(reply_body: bytes) -> dict[str, list[str]]:
    """Headers the echo app received: name → values."""
    out: dict[str, list[str]] = {}
    for k, v in json.loads(reply_body)["headers"]:
        out.setdefault(k, []).append(v)
    return out


# --- jwt-validator --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jwt_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with DemoStack(tmp_path_factory.mktemp("jwt"), [jwt_doc()]) as stack:
        yield stack


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_jwt_valid_token_passes_subject_and_scopes(jwt_stack: DemoStack, alg: str) -> None:
    token = jwt_stack.token("alice", alg=alg)
    # A client cannot claim an identity: the plugin removes x-jwt-* it did not set.
    r = jwt_stack.request("GET", "/api/v1/orders", token=token, headers=[("x-jwt-sub", "mallory")])
    assert r.status == 200
    seen = echoed(r.body)
    assert seen["x-jwt-sub"] == ["alice"]
    assert seen["x-jwt-scopes"] == ["orders:read orders:write uploads:write"]
    assert seen["authorization"] == [f"Bearer {token}"]


@pytest.mark.parametrize(
    ("make", "description"),
    [
        (lambda s: None, "missing bearer token"),
        (lambda s: s.token(issued_at=int(time.time()) - 7200, lifetime_s=3600), "token expired"),
        (lambda s: s.token(audience="other.example.com"), "audience mismatch"),
        (lambda s: s.token(issuer="https://evil.example.com"), "issuer mismatch"),
        (lambda s: impostor(s).mint("alice"), "signature verification failed"),
        (lambda s: "not.a.token", "malformed token header"),
    ],
    ids=["no-token", "expired", "wrong-audience", "wrong-issuer", "forged", "malformed"],
)
def test_jwt_rejects_with_401_and_challenge(jwt_stack: DemoStack, make, description: str) -> None:  # type: ignore[no-untyped-def]
    before = jwt_stack.services.app.requests if jwt_stack.services else 0
    r = jwt_stack.request("GET", "/api/v1/orders", token=make(jwt_stack))
    assert r.status == 401
    assert r.header("www-authenticate") == (
        f'Bearer realm="wasmplugin", error="invalid_token", error_description="{description}"'
    )
    assert json.loads(r.body) == {"error": "invalid_token", "error_description": description}
    assert (
        jwt_stack.services is not None and jwt_stack.services.app.requests == before
    )  # never reached the app


def test_jwt_allowed_paths_need_no_token(jwt_stack: DemoStack) -> None:
    assert jwt_stack.request("GET", "/health").status == 200
    assert jwt_stack.request("GET", "/health?probe=1").status == 200
    assert jwt_stack.request("GET", "/public/docs/a").status == 200
    assert jwt_stack.request("GET", "/healthz").status == 401


def test_jwt_fetches_the_jwks_once_and_caches_it(jwt_stack: DemoStack) -> None:
    for _ in range(5):
        assert jwt_stack.request("GET", "/x", token=jwt_stack.token()).status == 200
    assert jwt_stack.services is not None
    # One fetch per VM at most (the sidecar has one VM per chain; only the inbound one serves here).
    assert jwt_stack.services.jwks.requests == 1


def test_jwt_bad_configuration_is_rejected_and_last_good_keeps_serving(jwt_stack: DemoStack) -> None:
    verdict = jwt_stack.reload(
        [jwt_doc(JWT_CONFIG.replace('issuer: "https://auth.example.com"', "issuer: 42"))]
    )
    assert re.search(
        r"reload rejected, keeping config version \d+: plugin istio-system.jwt-validator: ", verdict
    )
    assert "jwt-validator: invalid configuration: pluginConfig.issuer: expected a string, got number" in (
        jwt_stack.log_text()
    )
    assert jwt_stack.request("GET", "/x").status == 401
    assert jwt_stack.request("GET", "/x", token=jwt_stack.token()).status == 200


def test_jwks_silent_then_down_answers_503_promptly(tmp_path: Path) -> None:
    config = JWT_CONFIG + "jwks_timeout_ms: 500\n"
    with silent_listener() as port:
        stack = DemoStack(tmp_path, [jwt_doc(config)], port_overrides={"jwks": port})
        with stack:
            started = time.monotonic()
            r = stack.request("GET", "/x", token=stack.token(), timeout=20)
            assert r.status == 503
            assert json.loads(r.body) == {
                "error": "jwks_unavailable",
                "error_description": "jwks unavailable",
            }
            assert time.monotonic() - started < 10  # the plugin's 500 ms timeout, not a hang
            # A timeout reaches the plugin as the sidecar's (Envoy's) local 504.
            failed = "jwt-validator: JWKS fetch from http://auth.example.com/.well-known/jwks.json failed: "
            assert failed + "HTTP status 504" in stack.log_text()
    # The listener is closed now: connection refused. The next request tries again, and fails fast.
    with DemoStack(tmp_path / "refused", [jwt_doc(config)], port_overrides={"jwks": closed_port()}) as stack:
        r = stack.request("GET", "/x", token=stack.token(), timeout=20)
        assert r.status == 503
        assert failed + "HTTP status 503" in stack.log_text()  # the sidecar's "upstream connect error"
        assert stack.request("GET", "/health").status == 200  # allowed paths need no keys


# --- rbac-enforcer --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rbac_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    # rbac-enforcer alone: the client sets the identity headers jwt-validator would set.
    with DemoStack(tmp_path_factory.mktemp("rbac"), [rbac_doc()]) as stack:
        yield stack


def ident(sub: str, scopes: str) -> list[tuple[str, str]]:
    return [("x-jwt-sub", sub), ("x-jwt-scopes", scopes)]


def test_rbac_asks_the_policy_and_allows(rbac_stack: DemoStack) -> None:
    assert rbac_stack.services is not None
    log = rbac_stack.services.policy_log.entries
    r = rbac_stack.request("GET", "/api/v1/orders?page=2", headers=ident("alice", "orders:read orders:write"))
    assert r.status == 200
    question, decision = log[-1]
    assert (question.subject, question.method, question.path) == ("alice", "GET", "/api/v1/orders")
    assert question.scopes == ("orders:read", "orders:write")
    assert decision.allow


def test_rbac_denies_with_the_policy_reason(rbac_stack: DemoStack) -> None:
    r = rbac_stack.request("DELETE", "/api/v1/orders/3", headers=ident("alice", "orders:write"))
    assert r.status == 403
    assert json.loads(r.body) == {"error": "access_denied", "reason": "nobody may DELETE under /api/"}
    r = rbac_stack.request("POST", "/api/v1/upload", headers=ident("bob", "orders:read"), body=b"x")
    assert r.status == 403 and json.loads(r.body)["reason"] == "POST /api/v1/upload needs scope uploads:write"
    r = rbac_stack.request("GET", "/api/v1/search")  # anonymous
    assert r.status == 403 and json.loads(r.body)["reason"] == "GET /api/v1/search needs a token"


def test_rbac_caches_decisions(rbac_stack: DemoStack) -> None:
    assert rbac_stack.services is not None
    policy = rbac_stack.services.policy
    headers = ident("carol", "orders:read")
    assert rbac_stack.request("GET", "/api/v1/orders/7", headers=headers).status == 200
    asked = policy.requests
    for _ in range(3):
        assert rbac_stack.request("GET", "/api/v1/orders/7", headers=headers).status == 200
    assert policy.requests == asked  # cache_enabled: true, cache_ttl: 60
    assert rbac_stack.request("GET", "/api/v1/orders/8", headers=headers).status == 200
    assert policy.requests == asked + 1  # another path is another question


def test_rbac_bad_configuration_is_rejected(rbac_stack: DemoStack) -> None:
    verdict = rbac_stack.reload([rbac_doc(RBAC_CONFIG.replace("cache_ttl: 60", 'cache_ttl: "60"'))])
    assert "reload rejected" in verdict and "istio-system.rbac-enforcer" in verdict
    assert (
        "rbac-enforcer: invalid configuration: pluginConfig.cache_ttl: expected an integer, got string"
        in (rbac_stack.log_text())
    )
    assert rbac_stack.request("GET", "/health").status == 200


def test_policy_service_down_or_silent_fails_closed(tmp_path: Path) -> None:
    config = RBAC_CONFIG + "policy_timeout_ms: 500\n"
    with (
        silent_listener() as port,
        DemoStack(tmp_path, [rbac_doc(config)], port_overrides={"policy": port}) as s,
    ):
        started = time.monotonic()
        r = s.request("GET", "/health", timeout=20)
        assert r.status == 403
        assert json.loads(r.body) == {"error": "access_denied", "reason": "policy service unavailable"}
        assert time.monotonic() - started < 10
        # A timeout reaches the plugin as the sidecar's (Envoy's) local 504.
        assert "rbac-enforcer: policy check for GET /health failed: HTTP status 504;" in s.log_text()
    with DemoStack(tmp_path / "refused", [rbac_doc(config)], port_overrides={"policy": closed_port()}) as s:
        for _ in range(2):  # failures are not cached: each request asks again, each is denied
            r = s.request("GET", "/health", timeout=20)
            assert r.status == 403 and json.loads(r.body)["reason"] == "policy service unavailable"
        assert "rbac-enforcer: policy check for GET /health failed: HTTP status 503;" in s.log_text()


# --- custom-metrics -------------------------------------------------------------------------------


def test_custom_metrics_at_stats_prometheus(tmp_path: Path) -> None:
    with DemoStack(tmp_path, [wasm_plugin("custom-metrics", "STATS", METRICS_CONFIG)]) as s:
        for _ in range(3):
            assert s.request("GET", "/api/v1/orders").status == 200
        assert s.request("POST", "/api/v1/orders", body=b"{}").status == 200
        prom = s.admin("/stats/prometheus").text
        assert 'custom_api_requests_total{method="GET",status="200"} 3' in prom
        assert 'custom_api_requests_total{method="POST",status="200"} 1' in prom
        buckets = re.findall(
            r'custom_api_request_duration_seconds_bucket\{method="GET",status="200",le="([^"]+)"\} (\d+)',
            prom,
        )
        buckets.sort(key=lambda b: float(b[0]))  # exposition order is free; "+Inf" parses as inf
        assert [le for le, _ in buckets] == ["0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"]
        counts = [int(n) for _, n in buckets]
        assert counts == sorted(counts) and counts[-1] == 3  # cumulative, +Inf = all
        assert 'custom_api_request_duration_seconds_count{method="GET",status="200"} 3' in prom
        assert "wasmcustom.custom_api_requests_total.method=GET.status=200: 3" in s.admin("/stats").text

        verdict = s.reload([wasm_plugin("custom-metrics", "STATS", "histogram_buckets: [1.0, 0.5]")])
        assert "reload rejected" in verdict
        assert "custom-metrics: invalid configuration: pluginConfig.histogram_buckets[1]" in s.log_text()
        assert s.request("GET", "/api/v1/orders").status == 200
        prom = s.admin("/stats/prometheus").text
        assert 'custom_api_requests_total{method="GET",status="200"} 4' in prom  # the old config still counts


def test_custom_metrics_counts_what_authn_and_authz_refused(tmp_path: Path) -> None:
    # jwt-validator (AUTHN) and rbac-enforcer (AUTHZ) answer before the STATS phase: custom-metrics
    # sees those requests only in on_log, and records them there with their status.
    docs = [jwt_doc(), rbac_doc(), wasm_plugin("custom-metrics", "STATS", METRICS_CONFIG)]
    with DemoStack(tmp_path, docs) as s:
        assert s.request("GET", "/api/v1/orders").status == 401
        assert s.request("GET", "/api/v1/orders", token="not.a.token").status == 401
        assert s.request("DELETE", "/api/v1/orders/1", token=s.token()).status == 403
        assert s.request("GET", "/api/v1/orders", token=s.token()).status == 200
        prom = s.admin("/stats/prometheus").text
        assert 'custom_api_requests_total{method="GET",status="401"} 2' in prom
        assert 'custom_api_requests_total{method="DELETE",status="403"} 1' in prom
        assert 'custom_api_requests_total{method="GET",status="200"} 1' in prom
        assert 'custom_api_request_duration_seconds_count{method="DELETE",status="403"} 1' in prom


# --- rate-limiter ---------------------------------------------------------------------------------


def test_rate_limiter_answers_the_configured_response(tmp_path: Path) -> None:
    doc = wasm_plugin("rate-limiter", "UNSPECIFIED_PHASE", RATE_CONFIG, priority=None)
    with DemoStack(tmp_path, [doc]) as s:
        remaining = []
        for _ in range(3):
            r = s.request("POST", "/limited/upload", body=b"x")
            assert r.status == 200
            assert r.header("x-ratelimit-limit") == "3"
            remaining.append(r.header("x-ratelimit-remaining"))
        assert remaining == ["2", "1", "0"]
        r = s.request("POST", "/limited/upload", body=b"x")
        assert r.status == 429
        assert r.body == b'{"error": "Rate limit exceeded"}'
        assert r.header("retry-after") == "60"  # the configured header, as is
        assert (r.header("x-ratelimit-limit"), r.header("x-ratelimit-remaining")) == ("3", "0")
        assert int(r.header("x-ratelimit-reset") or "-1") > 0
        assert s.services is not None and s.services.app.requests == 3  # the 4th never reached the app
        # another rule has its own count
        assert s.request("GET", "/api/v1/search").header("x-ratelimit-limit") == "20"

        bad = RATE_CONFIG.replace("limit: 3", 'limit: "3"')
        verdict = s.reload([wasm_plugin("rate-limiter", "UNSPECIFIED_PHASE", bad, priority=None)])
        assert "reload rejected" in verdict
        problem = "pluginConfig.path_limits[1].limit: expected an integer, got string"
        assert f"rate-limiter: invalid configuration: {problem}" in s.log_text()
        assert s.request("POST", "/limited/upload", body=b"x").status == 429  # counts kept by the old config


# --- header-modifier ------------------------------------------------------------------------------


def test_header_modifier_adds_the_blogs_headers(tmp_path: Path) -> None:
    with DemoStack(tmp_path, [wasm_plugin("header-modifier", "STATS", HEADER_MODIFIER_CONFIG)]) as s:
        r = s.request("GET", "/hello")
        assert r.status == 200
        seen = echoed(r.body)
        assert seen["x-custom-header"] == ["added-by-wasm"]
        assert seen["x-request-id"][-1] == "generated-id"  # added, next to the proxy's own id
        assert r.header("x-processed-by") == "wasm-plugin"
        assert (r.header("x-request-duration-ms") or "").isdigit()
        assert "wasm log istio-system.header-modifier: Request: GET /hello" in s.log_text()


def test_header_modifier_bad_configuration_at_start_is_a_clear_error(tmp_path: Path) -> None:
    doc = wasm_plugin("header-modifier", "STATS", 'log_level: "loud"')
    with pytest.raises(DemoError) as err:
        DemoStack(tmp_path, [doc]).__enter__()
    assert str(err.value) == (
        "the sidecar exited with code 2 before it was ready: "
        "error: plugin istio-system.header-modifier: proxy_on_configure returned false "
        '(the plugin logged: Failed to parse config: unknown log_level "loud")'
    )
    log = (tmp_path / "sidecar.log").read_text()
    assert 'wasm log istio-system.header-modifier: Failed to parse config: unknown log_level "loud"' in log
