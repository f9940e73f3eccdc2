"""The demo's pieces without the sidecar: tokens, policy, the example mesh and its run copy, the
local services over real sockets, the table. Fast."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import uvloop
import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from wasmplugin.cli.main import main as cli_main
from wasmplugin.demo import httpclient
from wasmplugin.demo.mesh import ANNOTATION, DemoSource
from wasmplugin.demo.policy import Question, decide
from wasmplugin.demo.report import render
from wasmplugin.demo.scenario import Case, Exchange, Outcome, PluginCounters, TokenSpec, demo_cases
from wasmplugin.demo.services import DemoServices
from wasmplugin.demo.tokens import TokenIssuer
from wasmplugin.errors import DemoError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "demo"
PLUGINS = ROOT / "plugins"
CHAIN = [
    "istio-system.jwt-validator",
    "istio-system.rbac-enforcer",
    "istio-system.custom-metrics",
    "istio-system.header-modifier",
    "istio-system.rate-limiter",
]


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _verify_with_jwks(token: str, jwks: dict[str, list[dict[str, str]]]) -> dict[str, object]:
    """Verify ``token`` the way a relying party would, from the published JWKS only."""
    head, payload, sig = token.split(".")
    header = json.loads(_b64(head))
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    data = f"{head}.{payload}".encode()
    if key["kty"] == "RSA":
        pub_rsa = rsa.RSAPublicNumbers(
            int.from_bytes(_b64(key["e"]), "big"), int.from_bytes(_b64(key["n"]), "big")
        ).public_key()
        pub_rsa.verify(_b64(sig), data, padding.PKCS1v15(), hashes.SHA256())
    else:
        raw = _b64(sig)
        assert len(raw) == 64
        pub_ec = ec.EllipticCurvePublicNumbers(
            int.from_bytes(_b64(key["x"]), "big"), int.from_bytes(_b64(key["y"]), "big"), ec.SECP256R1()
        ).public_key()
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        pub_ec.verify(der, data, ec.ECDSA(hashes.SHA256()))
    claims: dict[str, object] = json.loads(_b64(payload))
    return claims


# --- tokens ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_tokens_verify_against_the_published_jwks(alg: str) -> None:
    issuer = TokenIssuer.generate("https://auth.example.com", "api.example.com")
    jwks = issuer.jwks()
    assert {k["alg"] for k in jwks["keys"]} == {"RS256", "ES256"}
    assert all(k["use"] == "sig" for k in jwks["keys"])
    token = issuer.mint("alice", ("orders:read", "uploads:write"), alg=alg, issued_at=1000, lifetime_s=60)
    claims = _verify_with_jwks(token, jwks)
    assert claims == {
        "iss": "https://auth.example.com",
        "sub": "alice",
        "aud": "api.example.com",
        "iat": 1000,
        "exp": 1060,
        "scope": "orders:read uploads:write",
    }
    other = TokenIssuer.generate("https://auth.example.com", "api.example.com")
    forged = other.mint("alice", alg=alg)
    with pytest.raises(InvalidSignature):
        _verify_with_jwks(forged, jwks)


def test_token_overrides_make_wrong_tokens() -> None:
    issuer = TokenIssuer.generate("https://auth.example.com", "api.example.com")
    claims = json.loads(_b64(issuer.mint("bob", audience="other.example.com").split(".")[1]))
    assert claims["aud"] == "other.example.com" and "scope" not in claims


# --- policy -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "method", "path", "scopes", "allow", "reason"),
    [
        ("", "GET", "/health", (), True, None),
        ("", "GET", "/api/v1/orders", (), False, "GET /api/v1/orders needs a token"),
        ("alice", "GET", "/api/v1/orders", ("orders:read",), True, None),
        (
            "bob",
            "POST",
            "/api/v1/upload",
            ("orders:read",),
            False,
            "POST /api/v1/upload needs scope uploads:write",
        ),
        ("alice", "POST", "/api/v1/upload", ("uploads:write",), True, None),
        ("alice", "DELETE", "/api/v1/orders/1", ("orders:write",), False, "nobody may DELETE under /api/"),
        ("alice", "PATCH", "/elsewhere", (), False, "no rule allows PATCH /elsewhere"),
    ],
)
def test_policy_rules(
    subject: str, method: str, path: str, scopes: tuple[str, ...], allow: bool, reason: str | None
) -> None:
    d = decide(Question(subject, method, path, scopes))
    assert d.allow is allow
    if reason is not None:
        assert d.reason == reason


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"subject": 1, "method": "GET", "path": "/"},
        {"subject": "", "method": "GET", "path": "x"},
        {"subject": "", "method": "GET", "path": "/", "scopes": "a"},
    ],
)
def test_policy_question_rejects_malformed_bodies(body: object) -> None:
    with pytest.raises(ValueError):
        Question.from_json(body)


# --- the example mesh -----------------------------------------------------------------------------------


def test_examples_validate_without_errors_or_warnings() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli_main(["validate", "-f", str(EXAMPLES)])
    assert code == 0, out.getvalue()
    assert out.getvalue().strip().endswith("0 error(s), 0 warning(s): valid")


def test_examples_pin_the_committed_modules() -> None:
    """The sha256 in examples/demo must be the digest of plugins/<name>/plugin.wasm; after a
    rebuild of a module, update its WasmPlugin's spec.sha256 (sha256sum plugins/*/plugin.wasm)."""
    source = DemoSource.load(EXAMPLES, PLUGINS)
    assert sorted(m.module for m in source.modules) == [
        "custom-metrics", "header-modifier", "jwt-validator", "rate-limiter", "rbac-enforcer",
    ]  # fmt: skip
    for m in source.modules:
        actual = hashlib.sha256((PLUGINS / m.module / "plugin.wasm").read_bytes()).hexdigest()
        assert m.sha256 == actual, (
            f"{m.plugin}: spec.sha256 {m.sha256} != sha256 of plugins/{m.module}/plugin.wasm"
        )


def test_source_facts_follow_the_yaml() -> None:
    facts = DemoSource.load(EXAMPLES, PLUGINS).facts
    assert (facts.issuer, facts.audience) == ("https://auth.example.com", "api.example.com")
    assert facts.jwks_path == "/.well-known/jwks.json"
    assert facts.allowed_paths == ("/health", "/ready", "/metrics")
    assert (facts.burst_rule.path, facts.burst_rule.limit, facts.burst_rule.window_s) == (
        "/api/v1/upload",
        5,
        300,
    )
    assert facts.rate_limit_status == 429
    cases = demo_cases(facts)
    assert [c.expect for c in cases] == [200, 401, 401, 401, 403, 403, 200, 200, 429]
    assert cases[-1].burst == 11


def test_run_copy_points_at_the_local_services(tmp_path: Path) -> None:
    source = DemoSource.load(EXAMPLES, PLUGINS)
    ports = {"api-gateway": 40001, "jwks": 40002, "policy": 40003, "modules": 40004}
    mesh = source.write(tmp_path, ports)
    assert mesh.workload == "default/api-gateway"
    docs = [d for p in sorted(mesh.directory.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())]
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert by_name[("WorkloadEntry", "api-gateway")]["spec"]["ports"] == {"http": 40001}
    assert by_name[("ServiceEntry", "auth-example-com")]["spec"]["endpoints"] == [
        {"address": "127.0.0.1", "ports": {"http": 40002}}
    ]
    assert by_name[("ServiceEntry", "policy-service")]["spec"]["endpoints"][0]["ports"] == {"http": 40003}
    plugin = by_name[("WasmPlugin", "jwt-validator")]["spec"]
    assert plugin["url"] == "http://127.0.0.1:40004/jwt-validator/plugin.wasm"
    assert plugin["pluginConfig"]["issuer"] == "https://auth.example.com"
    # the source is untouched and the copy is still valid configuration
    assert "8081" in (EXAMPLES / "01-services.yaml").read_text()
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["validate", "-f", str(mesh.directory)]) == 0, out.getvalue()


def _copy_examples(tmp_path: Path) -> Path:
    dst = tmp_path / "examples"
    shutil.copytree(EXAMPLES, dst)
    return dst


def test_a_rebuilt_module_is_one_clear_line(tmp_path: Path) -> None:
    src = _copy_examples(tmp_path)
    f = src / "wasmplugin-authz.yaml"
    text = f.read_text()
    pinned = yaml.safe_load(text)["spec"]["sha256"]
    f.write_text(text.replace(pinned, "a" * 64))
    with pytest.raises(DemoError) as err:
        DemoSource.load(src, PLUGINS)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{f}#1: WasmPlugin istio-system/rbac-enforcer: spec.sha256: pins {'a' * 64} but ")
    assert "update spec.sha256" in msg


def test_unknown_service_annotation_is_rejected(tmp_path: Path) -> None:
    src = _copy_examples(tmp_path)
    f = src / "01-services.yaml"
    f.write_text(f.read_text().replace(f"{ANNOTATION}: policy", f"{ANNOTATION}: ledger"))
    with pytest.raises(DemoError, match=r"unknown demo service 'ledger'"):
        DemoSource.load(src, PLUGINS)


def test_invalid_example_yaml_is_the_config_layers_error(tmp_path: Path) -> None:
    src = _copy_examples(tmp_path)
    f = src / "wasmplugin-stats.yaml"
    f.write_text(f.read_text().replace("phase: STATS", "phase: STATISTICS"))
    from wasmplugin.errors import ConfigError

    with pytest.raises(ConfigError, match=r"wasmplugin-stats.yaml.*spec.phase"):
        DemoSource.load(src, PLUGINS)


def test_cli_reports_a_bad_mesh_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _copy_examples(tmp_path)
    (src / "00-workload.yaml").write_text(
        (src / "00-workload.yaml").read_text().replace(ANNOTATION, "x.io/y")
    )
    code = cli_main(["demo", "--once", "--examples", str(src), "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: {src}: no WorkloadEntry annotated {ANNOTATION}: api-gateway (the demo's workload)"
    ]


# --- the services over real sockets -------------------------------------------------------------------


def test_services_answer_over_http() -> None:
    async def scenario() -> None:
        issuer = TokenIssuer.generate("https://auth.example.com", "api.example.com")
        services = DemoServices(issuer, PLUGINS, frozenset({"header-modifier"}))
        await services.start()
        try:
            s = services
            r = await httpclient.request("127.0.0.1", s.jwks.port, "GET", "/.well-known/jwks.json")
            assert r.status == 200 and json.loads(r.body) == issuer.jwks()
            assert (await httpclient.request("127.0.0.1", s.jwks.port, "GET", "/other")).status == 404

            q = {"subject": "bob", "method": "DELETE", "path": "/api/v1/orders/9", "scopes": ["orders:read"]}
            r = await httpclient.request("127.0.0.1", s.policy.port, "POST", "/", [], json.dumps(q).encode())
            assert r.status == 200
            assert json.loads(r.body) == {"allow": False, "reason": "nobody may DELETE under /api/"}
            assert s.policy_log.entries[-1][0] == Question(
                "bob", "DELETE", "/api/v1/orders/9", ("orders:read",)
            )
            r = await httpclient.request("127.0.0.1", s.policy.port, "POST", "/", [], b"{not json")
            assert r.status == 400

            r = await httpclient.request(
                "127.0.0.1", s.module_server.port, "GET", "/header-modifier/plugin.wasm"
            )
            assert r.status == 200 and r.body == (PLUGINS / "header-modifier" / "plugin.wasm").read_bytes()
            assert s.modules.served["header-modifier"] == 1
            for path in ("/jwt-validator/plugin.wasm", "/../pyproject.toml", "/header-modifier/build.sh"):
                assert (
                    await httpclient.request("127.0.0.1", s.module_server.port, "GET", path)
                ).status == 404

            r = await httpclient.request(
                "127.0.0.1", s.app.port, "POST", "/api/v1/upload?x=1", [("x-test", "1")], b"abc"
            )
            echo = json.loads(r.body)
            assert (echo["method"], echo["path"], echo["body_bytes"]) == ("POST", "/api/v1/upload?x=1", 3)
            assert ["x-test", "1"] in echo["headers"]

            port = s.app.port
            await s.app.close()
            with pytest.raises(DemoError, match=rf"GET http://127.0.0.1:{port}/: "):
                await httpclient.request("127.0.0.1", port, "GET", "/", timeout_s=5)
        finally:
            await services.close()

    uvloop.run(scenario())


# --- counters and the table ------------------------------------------------------------------------------


def test_counters_parse_and_difference() -> None:
    before = PluginCounters.parse(
        "wasm_filter.istio-system.jwt-validator.rq_total: 3\n"
        "wasm_filter.istio-system.jwt-validator.local_replies: 1\n"
        "wasm_filter.istio-system.jwt-validator.rq_total: 2\n"  # the same plugin in another chain
        "cluster.inbound|80||.upstream_rq_total: 9\n"
    )
    assert before.values == {"istio-system.jwt-validator": (5, 1, 0)}
    after = PluginCounters.parse(
        "wasm_filter.istio-system.jwt-validator.rq_total: 6\n"
        "wasm_filter.istio-system.jwt-validator.local_replies: 2\n"
    )
    assert after.minus(before).values == {"istio-system.jwt-validator": (1, 1, 0)}


def _exchange(
    status: int,
    counters: dict[str, tuple[int, int, int]],
    body: object,
    headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
) -> Exchange:
    return Exchange(status, tuple(headers), json.dumps(body).encode(), PluginCounters(counters))


def test_table_shows_who_answered_and_what_passed() -> None:
    everyone = dict.fromkeys(CHAIN, (1, 0, 0))
    ok = _exchange(
        200,
        everyone,
        {"service": "api-gateway", "headers": [["x-jwt-sub", "alice"], ["x-custom-header", "added-by-wasm"]]},
        [("x-processed-by", "wasm-plugin")],
    )
    denied = _exchange(
        401,
        {**everyone, CHAIN[0]: (1, 1, 0)},
        {"error": "invalid_token", "error_description": "token expired"},
        [("www-authenticate", 'Bearer realm="wasmplugin", error="invalid_token"')],
    )
    burst = Case("burst", "POST", "/api/v1/upload", TokenSpec("alice"), 429, burst=11)
    limited = _exchange(429, {**everyone, CHAIN[4]: (1, 1, 0)}, {"error": "Rate limit exceeded"})
    outcomes = [
        Outcome(Case("valid", "GET", "/api/v1/orders", TokenSpec("alice"), 200), (ok,)),
        Outcome(Case("expired", "GET", "/api/v1/orders", TokenSpec("alice", expired=True), 401), (denied,)),
        Outcome(burst, (ok, ok, limited)),
        Outcome(Case("wrong", "GET", "/x", None, 200), (denied,)),
    ]
    assert [o.ok for o in outcomes] == [True, True, True, False]
    assert denied.reached(CHAIN) == [CHAIN[0]] and denied.replied_by(CHAIN) == CHAIN[0]
    text = render(outcomes, CHAIN, width=200)
    lines = text.splitlines()
    assert lines[0].split() == ["#", "CASE", "REQUEST", "EXPECT", "GOT"]
    assert "jwt-validator > rbac-enforcer > custom-metrics > header-modifier > rate-limiter > app" in text
    assert "x-jwt-sub: alice  x-custom-header: added-by-wasm" in text
    assert "token     alice RS256, expired" in text
    assert (
        "jwt-validator[401] (on_log only: rbac-enforcer, custom-metrics, header-modifier, rate-limiter)"
        in text
    )
    assert "body: token expired  www-authenticate: Bearer" in text
    assert "429 after 2x200" in text and "rate-limiter[429]" in text
    assert lines[-1] == "3/4 cases got their expected status."
    assert any(line.rstrip().endswith("FAIL") for line in lines)


def test_table_wraps_instead_of_cutting() -> None:
    long_value = "v" * 70
    ex = _exchange(200, dict.fromkeys(CHAIN, (1, 0, 0)), {"service": "api-gateway", "headers": [
        ["x-jwt-sub", long_value], ["x-jwt-scopes", long_value]]})  # fmt: skip
    text = render([Outcome(Case("c", "GET", "/", None, 200), (ex,))], CHAIN, width=100)
    assert text.count(long_value) == 2
    assert all(len(line) <= 100 for line in text.splitlines())


def test_event_loop_policy_untouched() -> None:
    # The demo runs its own loop (asyncio.Runner with uvloop); it must not change the global policy.
    assert not isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
