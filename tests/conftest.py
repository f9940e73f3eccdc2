"""Shared pytest fixtures. Each section belongs to one part of the project; append yours below."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.registry import (
    FETCH_ENV_VARS,
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    TOKEN_REFRESH_TOKEN,
    Registry,
    TestCA,
    TokenServer,
)

# --- OCI registry (fetch; reused by sidecar and demo tests) -----------------------------------------
# Real registries from Debian's docker-registry on 127.0.0.1 ephemeral ports, one per kind per test
# session. Push to a fresh repository per test (``unique_repo``) so tests never see each other's tags.


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A CA (``.ca_file``) and a server certificate for 127.0.0.1 / localhost."""
    return TestCA.create(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Plain HTTP, anonymous."""
    with Registry(tmp_path_factory.mktemp("registry-plain"), name="plain") as reg:
        yield reg


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[Registry]:
    """HTTPS with a certificate from ``test_ca``, anonymous."""
    with Registry(tmp_path_factory.mktemp("registry-tls"), tls=test_ca, name="tls") as reg:
        yield reg


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[Registry]:
    """HTTPS + htpasswd (bcrypt) Basic auth; user ``REGISTRY_USER`` / ``REGISTRY_PASSWORD``."""
    users = {REGISTRY_USER: REGISTRY_PASSWORD}
    with Registry(tmp_path_factory.mktemp("registry-auth"), tls=test_ca, users=users, name="auth") as reg:
        yield reg


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[TokenServer]:
    server = TokenServer(
        tmp_path_factory.mktemp("token-server"),
        tls=test_ca,
        users={REGISTRY_USER: REGISTRY_PASSWORD},
        refresh_tokens={TOKEN_REFRESH_TOKEN: REGISTRY_USER},
        public_repos={"public/module"},
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA, token_server: TokenServer
) -> Iterator[Registry]:
    """HTTPS + docker token auth (Bearer flow) against ``token_server``."""
    with Registry(
        tmp_path_factory.mktemp("registry-token"), tls=test_ca, token=token_server, name="token"
    ) as reg:
        yield reg


@pytest.fixture
def unique_repo(request: pytest.FixtureRequest) -> str:
    """A repository name no other test uses, e.g. ``t/test-push-oci-1a2b3c4d``."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"t/{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fetch_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No fetch-related environment variables, an empty docker config: what the developer has set
    never changes a fetch test. Returns the DOCKER_CONFIG directory."""
    for name in FETCH_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    docker = tmp_path / "docker-config"
    docker.mkdir(exist_ok=True)
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    return docker


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fetch_env: Path) -> Path:
    """HOME, DOCKER_CONFIG and the module cache inside tmp_path: never the developer's own."""
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / ".docker"))
    monkeypatch.setenv("WASMPLUGIN_CACHE_DIR", str(tmp_path / "cache"))
    return home
