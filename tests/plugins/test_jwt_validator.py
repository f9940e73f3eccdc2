"""jwt-validator (docs/plugins/jwt-validator.md) through the harness: the blog's AUTHN plugin with
real RS256/ES256 tokens, a fake JWKS service, and virtual time for expiry, caching and outages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wasmplugin.errors import PluginStartError
from wasmplugin.testing import FakeUpstream, PluginTarget
from wasmplugin.testing.clock import TestClock

from .jwt_keys import SigningKey, jwks, unsigned

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "jwt-validator" / "plugin.wasm"
JWKS_CLUSTER = "outbound|443||auth.example.com"
ISSUER = "https://auth.example.com"
AUDIENCE = "api.example.com"
CONFIG = {
    "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
    "issuer": ISSUER,
    "audience": AUDIENCE,
    "allowed_paths": ["/health", "/public/*"],
}
RSA_KEY = SigningKey.rsa("rsa-1")
EC_KEY = SigningKey.ec("ec-1")

Load = Callable[..., PluginTarget]


@pytest.fixture
def plugin(wasm_plugin: Load) -> PluginTarget:
    p = wasm_plugin(PLUGIN, config=CONFIG)
    p.upstream(JWKS_CLUSTER).respond(200, json=jwks(RSA_KEY, EC_KEY))
    return p


def claims(now: float, **extra: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "exp": int(now) + 600,
        "scope": "orders:read orders:write",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def rejected(plugin: PluginTarget, token: str, description: str) -> None:
    resp = plugin.request("GET", "/orders", headers=bearer(token))
    assert resp.status == 401, resp
    assert resp.json() == {"error": "invalid_token", "error_description": description}
    assert resp.headers["www-authenticate"] == (
        f'Bearer realm="wasmplugin", error="invalid_token", error_description="{description}"'
    )
    assert resp.upstream_request is None


def test_a_valid_token_passes_with_its_identity(plugin: PluginTarget) -> None:
    token = RSA_KEY.sign(claims(plugin.clock.now))

    resp = plugin.request("GET", "/orders", headers={**bearer(token), "x-jwt-sub": "mallory"})

    assert resp.status == 200
    up = resp.upstream_request
    assert up is not None
    assert up.headers.get_all("x-jwt-sub") == ["alice"]  # the client's own value was removed
    assert up.headers["x-jwt-scopes"] == "orders:read orders:write"
    assert up.headers["authorization"] == f"Bearer {token}"  # passed on unchanged
    [fetch] = resp.http_calls
    assert (fetch.upstream, fetch.method, fetch.path, fetch.authority) == (
        JWKS_CLUSTER,
        "GET",
        "/.well-known/jwks.json",
        "auth.example.com",
    )
    assert fetch.headers["accept"] == "application/json"
    assert 'token accepted, sub="alice"' in resp.logs


def test_es256_tokens_and_list_scopes(plugin: PluginTarget) -> None:
    token = EC_KEY.sign(claims(plugin.clock.now, scope=None, scp=["a", "b"], aud=["other", AUDIENCE]))

    resp = plugin.request("GET", "/orders", headers=bearer(token))

    assert resp.status == 200
    assert resp.upstream_request is not None
    assert resp.upstream_request.headers["x-jwt-scopes"] == "a b"


def test_keys_are_fetched_once_and_cached_for_the_ttl(plugin: PluginTarget, wasm_clock: TestClock) -> None:
    jwks_service = plugin.upstream(JWKS_CLUSTER)
    for _ in range(3):
        assert (
            plugin.request("GET", "/o", headers=bearer(RSA_KEY.sign(claims(plugin.clock.now)))).status == 200
        )
    assert jwks_service.call_count == 1
    assert "jwt-validator: JWKS loaded, 2 keys, cached for 300s" in plugin.logs

    wasm_clock.advance(301)
    assert plugin.request("GET", "/o", headers=bearer(RSA_KEY.sign(claims(plugin.clock.now)))).status == 200
    assert jwks_service.call_count == 2


def test_requests_without_a_usable_token_get_401(plugin: PluginTarget) -> None:
    now = plugin.clock.now
    missing = plugin.request("GET", "/orders")
    assert missing.status == 401
    assert missing.json()["error_description"] == "missing bearer token"
    assert missing.http_calls == []  # nothing to verify: no JWKS fetch
    assert plugin.request("GET", "/o", headers={"authorization": "Basic YTpi"}).json()[
        "error_description"
    ] == ("authorization header is not a Bearer token")

    rejected(plugin, "not-a-jwt", "malformed token")
    rejected(plugin, unsigned(claims(now)), 'unsupported alg "none" (RS256 and ES256 are accepted)')
    rejected(
        plugin, unsigned(claims(now), alg="HS256"), 'unsupported alg "HS256" (RS256 and ES256 are accepted)'
    )
    rejected(plugin, RSA_KEY.sign(claims(now, iss="https://evil.example.com")), "issuer mismatch")
    rejected(plugin, RSA_KEY.sign(claims(now, aud="someone-else")), "audience mismatch")
    rejected(plugin, RSA_KEY.sign(claims(now, exp=None)), "missing or invalid exp claim")
    rejected(plugin, RSA_KEY.sign(claims(now, nbf=int(now) + 3600)), "token not yet valid")
    rejected(
        plugin, RSA_KEY.sign(claims(now), header={"crit": ["exp"]}), "unsupported critical header parameters"
    )
    forged = RSA_KEY.sign(claims(now)).rsplit(".", 1)[0] + "." + EC_KEY.sign(claims(now)).rsplit(".", 1)[1]
    rejected(plugin, forged, "signature verification failed")
    assert "jwt-validator: request rejected: issuer mismatch" in plugin.logs


def test_expiry_follows_the_clock_with_the_skew(plugin: PluginTarget, wasm_clock: TestClock) -> None:
    token = RSA_KEY.sign(claims(plugin.clock.now, exp=int(plugin.clock.now) + 100))

    assert plugin.request("GET", "/o", headers=bearer(token)).status == 200
    wasm_clock.advance(150)  # past exp, within the 60 s default skew
    assert plugin.request("GET", "/o", headers=bearer(token)).status == 200
    wasm_clock.advance(20)  # exp + 70 s
    rejected(plugin, token, "token expired")


def test_allowed_paths_need_no_token(plugin: PluginTarget) -> None:
    assert plugin.request("GET", "/health").status == 200
    assert plugin.request("GET", "/health?probe=1").status == 200
    assert plugin.request("GET", "/public/").status == 200
    assert plugin.request("GET", "/public/docs/x").status == 200
    assert plugin.request("GET", "/healthz").status == 401
    assert plugin.request("GET", "/health/live").status == 401
    resp = plugin.request("GET", "/health", headers={"x-jwt-sub": "mallory", "x-jwt-scopes": "admin"})
    assert resp.upstream_request is not None
    assert "x-jwt-sub" not in resp.upstream_request.headers
    assert "x-jwt-scopes" not in resp.upstream_request.headers


def test_an_unknown_kid_refetches_at_most_every_30_seconds(
    plugin: PluginTarget, wasm_clock: TestClock
) -> None:
    jwks_service = plugin.upstream(JWKS_CLUSTER)
    assert plugin.request("GET", "/o", headers=bearer(RSA_KEY.sign(claims(plugin.clock.now)))).status == 200
    rotated = SigningKey.rsa("rsa-2")
    jwks_service.respond(200, json=jwks(RSA_KEY, rotated))

    too_soon = rotated.sign(claims(plugin.clock.now))
    rejected(plugin, too_soon, "no key in the JWKS matches the token's kid")
    assert jwks_service.call_count == 1

    wasm_clock.advance(30)
    assert plugin.request("GET", "/o", headers=bearer(rotated.sign(claims(plugin.clock.now)))).status == 200
    assert jwks_service.call_count == 2


def test_waiting_requests_share_one_fetch(plugin: PluginTarget, wasm_clock: TestClock) -> None:
    jwks_service = plugin.upstream(JWKS_CLUSTER).respond(200, json=jwks(RSA_KEY), delay=0.5)
    token = RSA_KEY.sign(claims(plugin.clock.now))

    first = plugin.start_request("GET", "/a", headers=bearer(token), end_stream=True)
    second = plugin.start_request("GET", "/b", headers=bearer(token), end_stream=True)
    assert first.paused and second.paused
    wasm_clock.advance(0.5)

    assert first.finish().status == 200
    assert second.finish().status == 200
    assert jwks_service.call_count == 1


def test_a_fetch_whose_caller_went_away_is_reissued_for_the_others(
    plugin: PluginTarget, wasm_clock: TestClock
) -> None:
    jwks_service = plugin.upstream(JWKS_CLUSTER).respond(200, json=jwks(RSA_KEY), delay=1)
    token = RSA_KEY.sign(claims(plugin.clock.now))
    caller = plugin.start_request("GET", "/a", headers=bearer(token), end_stream=True)
    other = plugin.start_request("GET", "/b", headers=bearer(token), end_stream=True)

    caller.cancel()  # the SDK drops the answer of a call whose stream is gone
    resp = other.finish()

    assert resp.status == 200
    assert jwks_service.call_count == 2
    assert jwks_service.calls[1].at == pytest.approx(0.001)  # re-issued from the root's 1 ms tick


@pytest.mark.parametrize(
    ("outage", "reason"),
    [
        # A timeout reaches the plugin as Envoy delivers it: a locally generated 504.
        (lambda up: up.hang(), "HTTP status 504"),
        (lambda up: up.refuse(), "HTTP status 503"),
        (lambda up: up.reset(), "no response (connection reset)"),
        (lambda up: up.respond(500, body="oops"), "HTTP status 500"),
        (lambda up: up.respond(200, body="<html>"), "JWKS is not valid JSON"),
        (lambda up: up.respond(200, json={"keys": []}), "JWKS has no usable RS256 or ES256 key"),
    ],
)
def test_a_jwks_service_that_is_down_gives_503_not_a_hang(
    wasm_plugin: Load, outage: Callable[[FakeUpstream], object], reason: str
) -> None:
    plugin = wasm_plugin(PLUGIN, config={**CONFIG, "jwks_timeout_ms": 2000})
    outage(plugin.upstream(JWKS_CLUSTER))

    resp = plugin.request("GET", "/o", headers=bearer(RSA_KEY.sign(claims(plugin.clock.now))))

    assert resp.status == 503
    assert resp.json() == {"error": "jwks_unavailable", "error_description": "jwks unavailable"}
    assert resp.elapsed <= 2.0  # at most the fetch timeout, in virtual time
    assert not resp.timed_out
    warning = resp.logs.at("warn").messages
    assert any(
        m.startswith(
            "jwt-validator: JWKS fetch from https://auth.example.com/.well-known/jwks.json failed: " + reason
        )
        for m in warning
    ), warning
    # The next request tries again.
    plugin.upstream(JWKS_CLUSTER).respond(200, json=jwks(RSA_KEY))
    assert plugin.request("GET", "/o", headers=bearer(RSA_KEY.sign(claims(plugin.clock.now)))).status == 200


def test_stale_keys_are_used_when_a_refetch_fails(plugin: PluginTarget, wasm_clock: TestClock) -> None:
    assert plugin.request("GET", "/o", headers=bearer(RSA_KEY.sign(claims(plugin.clock.now)))).status == 200
    plugin.upstream(JWKS_CLUSTER).respond(503)
    wasm_clock.advance(301)

    resp = plugin.request("GET", "/o", headers=bearer(RSA_KEY.sign(claims(plugin.clock.now))))

    assert resp.status == 200
    assert len(resp.http_calls) == 1
    assert "failed: HTTP status 503; using the previous keys" in resp.logs


def test_an_unknown_jwks_cluster_is_named_in_the_log(wasm_harness) -> None:  # type: ignore[no-untyped-def]
    plugin = wasm_harness.plugin(PLUGIN, config={**CONFIG, "jwks_cluster": "outbound|443||nowhere"})

    resp = plugin.request("GET", "/o", headers=bearer(RSA_KEY.sign(claims(plugin.clock.now))))

    assert resp.status == 503
    assert resp.elapsed == 0
    assert 'cannot fetch the JWKS from cluster "outbound|443||nowhere"' in resp.logs.errors
    assert [c.upstream for c in wasm_harness.upstreams.refused] == ["outbound|443||nowhere"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**CONFIG, "issuer": 7}, "pluginConfig.issuer: expected a string, got number"),
        ({k: v for k, v in CONFIG.items() if k != "issuer"}, "pluginConfig.issuer"),
        ({**CONFIG, "jwks_uri": "ftp://auth.example.com/keys"}, "pluginConfig.jwks_uri"),
        ({**CONFIG, "issuer": ISSUER, "jwt_issuer": ISSUER}, "issuer"),
        ("{not json", "invalid configuration"),
    ],
)
def test_bad_configuration_is_a_clear_load_error(wasm_plugin: Load, config: object, message: str) -> None:
    with pytest.raises(PluginStartError) as caught:
        wasm_plugin(PLUGIN, config=config)

    text = str(caught.value)
    assert text.startswith("plugin jwt-validator: proxy_on_configure returned false")
    assert "jwt-validator: invalid configuration: " in text
    assert message in text


def test_unknown_keys_are_only_a_warning(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(PLUGIN, config={**CONFIG, "jwks_ttl": 5})

    assert 'jwt-validator: ignoring unknown configuration key "jwks_ttl"' in plugin.logs.warnings
    assert plugin.state == "ready"
    info = [m for m in plugin.logs.at("info").messages if m.startswith("jwt-validator: configured")]
    assert info and "jwks_cluster=outbound|443||auth.example.com" in info[0]
    assert json.dumps(CONFIG["issuer"]).strip('"') in info[0]
