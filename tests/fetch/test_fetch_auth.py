"""Private registries: htpasswd Basic auth, the Bearer token flow, pull secrets, the SSRF guard,
and where credentials may (not) go. Real registries; fakes only where a registry cannot misbehave."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.http_server import Reply, ScriptedServer
from support.registry import (
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    TOKEN_REFRESH_TOKEN,
    RecordingProxy,
    Registry,
    TestCA,
    TokenServer,
    make_wasm,
)
from wasmplugin.errors import AuthenticationFailed, InsecureTokenRealm, PullSecretError
from wasmplugin.fetch import FetchMetrics, Layout, ModuleFetcher
from wasmplugin.fetch.credentials import DockerConfig, Keychain
from wasmplugin.fetch.push import DEFAULT_LAYOUT, PushResult, push_module
from wasmplugin.fetch.transport import Deadline, HttpSession, TlsPolicy
from wasmplugin.limits import DEFAULT_LIMITS

pytestmark = [pytest.mark.registry, pytest.mark.usefixtures("fetch_env")]

WASM = make_wasm(3000, seed="auth")
FAST = DEFAULT_LIMITS.with_overrides(oci_initial_backoff_s=0.01)


def dockerconfig(
    host: str, user: str = REGISTRY_USER, password: str = REGISTRY_PASSWORD, **extra: str
) -> bytes:
    entry: dict[str, str] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()} if user else {}
    entry.update(extra)
    return json.dumps({"auths": {host: entry}}).encode()


def keychain(host: str, **kw: str) -> Keychain:
    return Keychain(pull_secret=DockerConfig.from_bytes(dockerconfig(host, **kw), source="test secret"))


def fetcher(tmp_path: Path, test_ca: TestCA, **kw: object) -> ModuleFetcher:
    return ModuleFetcher(
        tmp_path / "cache",
        FAST,
        docker_config=None,
        metrics=FetchMetrics(),
        ca_file=str(test_ca.ca_file),
        **kw,  # type: ignore[arg-type]
    )


def push_logged_in(
    registry: Registry, test_ca: TestCA, repo_tag: str, layout: Layout = DEFAULT_LAYOUT
) -> PushResult:
    """Push WASM to ``registry`` with the test user's credentials, trusting the test CA."""
    tls = TlsPolicy.create([], str(test_ca.ca_file))
    return push_module(f"{registry.host}/{repo_tag}", WASM, layout, keychain=keychain(registry.host), tls=tls)


@pytest.fixture
def secret_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog
    assert REGISTRY_PASSWORD not in caplog.text
    assert TOKEN_REFRESH_TOKEN not in caplog.text


# --- htpasswd (Basic) ----------------------------------------------------------------------------


@pytest.fixture
def pushed_private(auth_registry: Registry, test_ca: TestCA, unique_repo: str) -> str:
    push_logged_in(auth_registry, test_ca, f"{unique_repo}:v1", Layout.OCI)
    return auth_registry.url(f"{unique_repo}:v1")


def test_pull_secret_gets_the_private_module(
    auth_registry: Registry, pushed_private: str, test_ca: TestCA, tmp_path: Path, secret_logs: object
) -> None:
    m = fetcher(tmp_path, test_ca).get(pushed_private, pull_secret=dockerconfig(auth_registry.host))
    assert m.read_bytes() == WASM


def test_missing_credentials_is_one_clear_line(
    auth_registry: Registry, pushed_private: str, test_ca: TestCA, tmp_path: Path
) -> None:
    f = fetcher(tmp_path, test_ca)
    with pytest.raises(AuthenticationFailed) as info:
        f.get(pushed_private)
    msg = str(info.value)
    assert msg == f"{pushed_private}: " + (
        f'registry {auth_registry.host} requires authentication (Basic realm "auth-realm") and no '
        "credentials "
        "were given (--pull-secret, imagePullSecret or docker login)"
    )
    assert info.value.metric_result == "manifest_failure"


def test_secret_for_another_registry_means_anonymous(
    auth_registry: Registry, pushed_private: str, test_ca: TestCA, tmp_path: Path
) -> None:
    with pytest.raises(
        AuthenticationFailed, match=r"imagePullSecret ns/pull has no credentials for 127\.0\.0\.1"
    ):
        fetcher(tmp_path, test_ca).get(
            pushed_private, pull_secret=dockerconfig("other.example.com"), pull_secret_name="ns/pull"
        )


def test_wrong_password_is_one_clear_line_without_the_password(
    auth_registry: Registry, pushed_private: str, test_ca: TestCA, tmp_path: Path, secret_logs: object
) -> None:
    bad = dockerconfig(auth_registry.host, password="not-the-" + REGISTRY_PASSWORD)
    with pytest.raises(AuthenticationFailed) as info:
        fetcher(tmp_path, test_ca).get(pushed_private, pull_secret=bad)
    assert str(info.value) == f"{pushed_private}: " + (
        f"registry {auth_registry.host} rejected the credentials for user 'alice' from imagePullSecret "
        "(401 Unauthorized)"
    )


def test_empty_pull_secret_fails_even_when_cached(
    auth_registry: Registry, pushed_private: str, test_ca: TestCA, tmp_path: Path
) -> None:
    f = fetcher(tmp_path, test_ca)
    f.get(pushed_private, pull_secret=dockerconfig(auth_registry.host))
    with pytest.raises(PullSecretError, match="missing image pulling secret"):
        f.get(pushed_private, pull_secret=b"")  # Istio checks the secret before the cache


def test_user_docker_config_is_the_fallback(
    auth_registry: Registry, pushed_private: str, test_ca: TestCA, tmp_path: Path, isolated_home: Path
) -> None:
    (isolated_home / ".docker" / "config.json").write_bytes(dockerconfig(f"https://{auth_registry.host}/v2/"))
    f = ModuleFetcher(tmp_path / "c", FAST, ca_file=str(test_ca.ca_file))  # default: the user's docker config
    assert f.get(pushed_private).read_bytes() == WASM


def test_credentials_stay_with_their_registry(
    registry: Registry, auth_registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    """Credentials for one registry are never sent to another one."""
    proxy = RecordingProxy(registry.port)
    try:
        push_module(
            f"{proxy.host}/{unique_repo}:v1", WASM, keychain=Keychain(), tls=TlsPolicy.create([proxy.host])
        )
        proxy.take()
        secret = json.loads(dockerconfig(auth_registry.host))
        secret["auths"]["127.0.0.1:1"] = secret["auths"][auth_registry.host]
        f = ModuleFetcher(tmp_path, FAST, [proxy.host], docker_config=None)
        f.get(proxy.url(f"{unique_repo}:v1"), pull_secret=json.dumps(secret).encode())
        records = proxy.take()
        assert records and not any(r.authorization for r in records)
    finally:
        proxy.close()


def test_authorization_is_dropped_on_a_cross_host_redirect(tmp_path: Path) -> None:
    storage = ScriptedServer()
    front = ScriptedServer()
    try:
        storage.route("/blob", Reply(200, b"data"))
        front.route("/v2/r/blobs/x", Reply(307, headers={"Location": storage.url("/blob")}))
        with HttpSession(TlsPolicy.create([]), DEFAULT_LIMITS, Deadline(5)) as session:
            resp = session.request("GET", front.url("/v2/r/blobs/x"), authorization="Basic c2VjcmV0")
            assert resp.read(100) == b"data"
        assert front.hits[0].headers.get("Authorization") == "Basic c2VjcmV0"
        assert "Authorization" not in storage.hits[0].headers
    finally:
        storage.close()
        front.close()


def test_push_needs_credentials_too(auth_registry: Registry, test_ca: TestCA, unique_repo: str) -> None:
    tls = TlsPolicy.create([], str(test_ca.ca_file))
    with pytest.raises(AuthenticationFailed, match="requires authentication"):
        push_module(f"{auth_registry.host}/{unique_repo}:v1", WASM, keychain=Keychain(), tls=tls)


# --- Bearer token flow --------------------------------------------------------------------------------


def test_token_flow_push_and_pull(
    token_registry: Registry,
    token_server: TokenServer,
    test_ca: TestCA,
    unique_repo: str,
    tmp_path: Path,
    secret_logs: object,
) -> None:
    before = len(token_server.requests)
    result = push_logged_in(token_registry, test_ca, f"{unique_repo}:v1")
    pushes = token_server.requests[before:]
    assert pushes and all(r.user == REGISTRY_USER and r.granted for r in pushes)
    assert f"repository:{unique_repo}:pull,push" in pushes[0].scopes

    m = fetcher(tmp_path, test_ca).get(
        token_registry.url(f"{unique_repo}:v1"),
        sha256=result.digest_hex,
        pull_secret=dockerconfig(token_registry.host),
    )
    assert m.read_bytes() == WASM
    assert token_server.requests[-1].scopes == [f"repository:{unique_repo}:pull"]


def test_token_flow_anonymous_public_repo(
    token_registry: Registry, token_server: TokenServer, test_ca: TestCA, tmp_path: Path, unique_repo: str
) -> None:
    tag = unique_repo.rsplit("-", 1)[1]
    push_logged_in(token_registry, test_ca, f"public/module:{tag}")
    m = fetcher(tmp_path, test_ca).get(token_registry.url(f"public/module:{tag}"))
    assert m.read_bytes() == WASM
    assert token_server.requests[-1].user is None and token_server.requests[-1].granted


def test_token_flow_anonymous_private_repo_is_refused(
    token_registry: Registry, test_ca: TestCA, tmp_path: Path, unique_repo: str
) -> None:
    with pytest.raises(AuthenticationFailed, match="its token server refused an anonymous request"):
        fetcher(tmp_path, test_ca).get(token_registry.url(f"{unique_repo}:v1"))


def test_token_flow_wrong_password(
    token_registry: Registry, test_ca: TestCA, tmp_path: Path, unique_repo: str
) -> None:
    bad = dockerconfig(token_registry.host, password="wrong")
    with pytest.raises(AuthenticationFailed, match="token server rejected the credentials for user 'alice'"):
        fetcher(tmp_path, test_ca).get(token_registry.url(f"{unique_repo}:v1"), pull_secret=bad)


def test_token_flow_identity_token(
    token_registry: Registry,
    token_server: TokenServer,
    test_ca: TestCA,
    unique_repo: str,
    tmp_path: Path,
    secret_logs: object,
) -> None:
    push_logged_in(token_registry, test_ca, f"{unique_repo}:v1")
    secret = dockerconfig(token_registry.host, user="", identitytoken=TOKEN_REFRESH_TOKEN)
    m = fetcher(tmp_path, test_ca).get(token_registry.url(f"{unique_repo}:v1"), pull_secret=secret)
    assert m.read_bytes() == WASM
    assert token_server.requests[-1].method == "POST" and token_server.requests[-1].user == REGISTRY_USER


# --- SSRF guard against a hostile registry (a scripted fake: a real registry cannot be made hostile) ---


@pytest.mark.parametrize(
    ("realm", "fragment"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("http://169.254.169.254/latest/meta-data/iam", "metadata address"),
        ("http://metadata.google.internal/computeMetadata/v1/token", "metadata host"),
        ("http://[fe80::1]/token", "link-local address"),
    ],
)
def test_hostile_token_realm_is_refused_and_gets_no_credentials(
    realm: str, fragment: str, tmp_path: Path
) -> None:
    hostile = ScriptedServer()
    try:
        hostile.route(
            "/v2/x/manifests/v1",
            Reply(401, b"{}", {"WWW-Authenticate": f'Bearer realm="{realm}",service="evil"'}),
        )
        host = f"127.0.0.1:{hostile.port}"
        f = ModuleFetcher(tmp_path, FAST, [host], docker_config=None)
        with pytest.raises(InsecureTokenRealm, match=fragment) as info:
            f.get(f"oci://{host}/x:v1", pull_secret=dockerconfig(host))
        assert info.value.metric_result == "manifest_failure"
        assert all("Authorization" not in h.headers for h in hostile.hits)
    finally:
        hostile.close()
