"""Registry credentials: docker config files, pull secrets, credential helpers.

Where credentials come from (istio-agent ``wasmKeyChain``):

* a pull secret (the ``.dockerconfigjson`` bytes of a ``kubernetes.io/dockerconfigjson`` Secret in
  the WasmPlugin's namespace) — when one is given, it is the *only* source: a registry it has no
  entry for is accessed anonymously;
* otherwise the user's docker config: ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``,
  including ``credHelpers`` / ``credsStore`` (``docker-credential-<name> get``).

Entries are matched by registry host (``host[:port]``; keys may carry a scheme or path, as docker
writes them). Docker Hub's key is ``https://index.docker.io/v1/``. Secrets never appear in
``repr`` or in messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasmplugin.errors import PullSecretError
from wasmplugin.fetch.reference import DOCKER_HUB

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Credential:
    """What to authenticate with. Secret fields are excluded from ``repr``."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)  # OAuth2 refresh token (docker "identitytoken")
    registry_token: str = field(default="", repr=False)  # bearer token used as is ("registrytoken")

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    @property
    def has_basic(self) -> bool:
        return bool(self.username or self.password)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


ANONYMOUS = Credential()


def registry_key(key: str) -> str:
    """Docker's ``ConvertToHostname``: strip scheme and path from a config key."""
    k = key.strip()
    if "://" in k:
        k = k.split("://", 1)[1]
    k = k.split("/", 1)[0].lower()
    return DOCKER_HUB if k in ("docker.io", "registry-1.docker.io", "index.docker.io") else k


@dataclass(frozen=True)
class DockerConfig:
    """A parsed docker config (``config.json`` or a pull secret's ``.dockerconfigjson``)."""

    source: str
    auths: Mapping[str, Credential]
    cred_helpers: Mapping[str, str] = field(default_factory=dict)
    creds_store: str | None = None

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str) -> DockerConfig:
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise PullSecretError(f"{source}: not a docker config (invalid JSON)") from None
        if not isinstance(obj, dict):
            raise PullSecretError(f"{source}: not a docker config (expected a JSON object)")
        auths_obj = obj.get("auths", {})
        if not isinstance(auths_obj, dict):
            raise PullSecretError(f"{source}: 'auths' is not an object")
        auths: dict[str, Credential] = {}
        for key, entry in auths_obj.items():
            if not isinstance(entry, dict):
                raise PullSecretError(f"{source}: auths[{key!r}] is not an object")
            auths[registry_key(str(key))] = _parse_entry(entry, f"{source}: auths[{key!r}]")
        helpers_obj = obj.get("credHelpers", {})
        helpers = (
            {registry_key(str(k)): str(v) for k, v in helpers_obj.items()}
            if isinstance(helpers_obj, dict)
            else {}
        )
        store = obj.get("credsStore")
        return cls(
            source=source,
            auths=auths,
            cred_helpers=helpers,
            creds_store=store if isinstance(store, str) and store else None,
        )

    def credential_for(self, registry: str) -> Credential | None:
        """The credential for ``registry`` (host[:port]), or None if this config has none."""
        key = registry_key(registry)
        helper = self.cred_helpers.get(key)
        if helper:
            return _run_helper(helper, key)
        cred = self.auths.get(key)
        if cred is not None and not cred.anonymous:
            return cred
        if self.creds_store and cred is not None:
            return _run_helper(self.creds_store, key)
        return cred


def _parse_entry(entry: Mapping[str, Any], where: str) -> Credential:
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    auth = entry.get("auth")
    if auth:
        try:
            decoded = base64.b64decode(str(auth), validate=False).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise PullSecretError(f"{where}: 'auth' is not base64 of user:password") from None
        if ":" not in decoded:
            raise PullSecretError(f"{where}: 'auth' is not base64 of user:password")
        username, password = decoded.split(":", 1)
    return Credential(
        username=username,
        password=password,
        identity_token=str(entry.get("identitytoken") or ""),
        registry_token=str(entry.get("registrytoken") or ""),
    )


def _run_helper(helper: str, registry: str) -> Credential | None:
    """``docker-credential-<helper> get``; a missing helper or entry means no credential."""
    server = DOCKER_HUB_KEY if registry == DOCKER_HUB else registry
    try:
        proc = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=server.encode(),
            capture_output=True,
            timeout=HELPER_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        obj = json.loads(proc.stdout)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    user, secret = str(obj.get("Username") or ""), str(obj.get("Secret") or "")
    if user == "<token>":
        return Credential(identity_token=secret)
    return Credential(username=user, password=secret)


def default_docker_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def load_docker_config(path: Path | None = None) -> DockerConfig | None:
    """The user's docker config, or None when there is none. A malformed one is an error."""
    p = path or default_docker_config_path()
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PullSecretError(f"{p}: cannot read docker config: {exc.strerror}") from None
    return DockerConfig.from_bytes(data, source=str(p))


@dataclass(frozen=True)
class Keychain:
    """Resolves a registry host to a credential: the pull secret if given, else the docker config."""

    pull_secret: DockerConfig | None = None
    docker_config: DockerConfig | None = None

    def resolve(self, registry: str) -> Credential:
        if self.pull_secret is not None:
            return self.pull_secret.credential_for(registry) or ANONYMOUS
        if self.docker_config is not None:
            return self.docker_config.credential_for(registry) or ANONYMOUS
        return ANONYMOUS

    @property
    def source(self) -> str:
        """Where credentials come from, for messages ('' when nowhere)."""
        if self.pull_secret is not None:
            return self.pull_secret.source
        if self.docker_config is not None:
            return self.docker_config.source
        return ""


def parse_pull_secret(data: bytes, *, source: str = "imagePullSecret") -> DockerConfig:
    """Istio's rule: a pull secret that was asked for but resolved to nothing fails the fetch."""
    if not data.strip():
        raise PullSecretError(
            f"cannot fetch Wasm module: missing image pulling secret ({source} is empty or could not be "
            "resolved: it must be a kubernetes.io/dockerconfigjson Secret in the WasmPlugin's namespace)"
        )
    return DockerConfig.from_bytes(data, source=source)


def read_pull_secret_file(path: str) -> bytes:
    """``--pull-secret FILE``: raw dockerconfigjson, or a ``kubernetes.io/dockerconfigjson`` Secret
    (YAML or JSON, ``data`` base64 or ``stringData``). Returns the ``.dockerconfigjson`` bytes."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PullSecretError(f"{path}: cannot read pull secret: {exc.strerror}") from None
    try:
        import yaml

        doc = yaml.safe_load(raw)
    except Exception:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Secret":
        name = (doc.get("metadata") or {}).get("name", "?")
        stype = doc.get("type")
        if stype != "kubernetes.io/dockerconfigjson":
            raise PullSecretError(
                f"{path}: Secret {name}: type is {stype!r}, must be kubernetes.io/dockerconfigjson"
            )
        data = doc.get("data") or {}
        if ".dockerconfigjson" in data:
            try:
                return base64.b64decode(str(data[".dockerconfigjson"]), validate=True)
            except binascii.Error:
                raise PullSecretError(
                    f"{path}: Secret {name}: data[.dockerconfigjson] is not base64"
                ) from None
        string_data = doc.get("stringData") or {}
        if ".dockerconfigjson" in string_data:
            return str(string_data[".dockerconfigjson"]).encode()
        raise PullSecretError(f"{path}: Secret {name}: no .dockerconfigjson key")
    return raw
