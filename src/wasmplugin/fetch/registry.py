"""A client for the OCI distribution API (what docker-registry, ghcr.io, Harbor ... speak).

One client per (registry, repository, pull|push). It picks the scheme (HTTPS; plain HTTP only for a
registry listed as insecure that answers plain HTTP, as istio-agent's fetcher falls back), answers
``401`` challenges (Basic or Bearer, see :mod:`auth`), retries transient failures like
go-containerregistry (408/429/500/502/503/504, dropped connections), and verifies every manifest
and blob against its sha256 digest.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from urllib.parse import quote, urljoin

from wasmplugin.errors import (
    AuthenticationFailed,
    FetchError,
    ManifestError,
    ModuleNotFound,
    ModuleTooLarge,
    PushRejected,
    RegistryUnavailable,
)
from wasmplugin.fetch.auth import fetch_bearer_token, parse_challenges, pick_challenge
from wasmplugin.fetch.credentials import Credential
from wasmplugin.fetch.layouts import MANIFEST_ACCEPT, Blob, Descriptor
from wasmplugin.fetch.progress import NULL_PROGRESS, Progress
from wasmplugin.fetch.ssrf import Resolver, system_resolver
from wasmplugin.fetch.transport import (
    Backoff,
    HttpSession,
    PlainHttpServer,
    Response,
    TransientNetworkError,
)
from wasmplugin.limits import Limits

log = logging.getLogger("wasmplugin.fetch")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_UPLOAD_CHUNK = 256 * 1024


def registry_errors(body: bytes) -> str:
    """``{"errors":[{"code":..,"message":..}]}`` → ``CODE: message; ...`` (or '')."""
    try:
        obj = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(obj, dict) or not isinstance(obj.get("errors"), list):
        return ""
    parts = []
    for e in obj["errors"]:
        if isinstance(e, dict):
            parts.append(f"{e.get('code', '?')}: {e.get('message', '')}".strip())
    return "; ".join(parts)


class RegistryClient:
    def __init__(
        self,
        session: HttpSession,
        registry: str,
        repository: str,
        *,
        credential: Credential,
        credential_source: str,
        push: bool = False,
        resolve: Resolver = system_resolver,
        schemes: dict[str, str] | None = None,
    ) -> None:
        self.session = session
        self.limits: Limits = session.limits
        self.registry = registry
        self.repository = repository
        self.credential = credential
        self.credential_source = credential_source
        self.actions = "pull,push" if push else "pull"
        self.resolve = resolve
        #: host → scheme learnt earlier (plain-HTTP fallbacks), shared by the owner across clients.
        self._schemes = schemes if schemes is not None else {}
        self.scheme = self._schemes.get(registry, "https")
        self._authorization: str | None = None
        self._auth_tried = False

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.registry}"

    @property
    def scope(self) -> str:
        return f"repository:{self.repository}:{self.actions}"

    # --- the request loop ---------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        what: str,
    ) -> Response:
        backoff = Backoff(
            self.limits.oci_initial_backoff_s,
            self.limits.oci_backoff_multiplier,
            self.limits.http_backoff_max_s,
            jitter=0.1,
        )
        attempt = 0
        auth_retried = False
        while True:
            attempt += 1
            url = path_or_url if "://" in path_or_url else self.base + path_or_url
            try:
                resp = self.session.request(
                    method, url, headers=headers, body=body, authorization=self._authorization
                )
            except PlainHttpServer:
                if self.scheme == "https" and self.session.tls.is_insecure(self.registry):
                    log.info(
                        "registry %s speaks plain HTTP; falling back (listed as insecure)", self.registry
                    )
                    self.scheme = self._schemes[self.registry] = "http"
                    attempt -= 1
                    continue
                raise RegistryUnavailable(
                    f"registry {self.registry} answered plain HTTP to HTTPS; list it in "
                    "WASM_INSECURE_REGISTRIES / --insecure-registry to allow plain HTTP"
                ) from None
            except TransientNetworkError as exc:
                if attempt >= self.limits.oci_max_attempts:
                    raise
                log.info("%s: %s; retrying", what, exc.message)
                backoff.wait(self.session.deadline)
                continue
            if resp.status == 401 and not auth_retried:
                auth_retried = True
                challenge_header = resp.header("WWW-Authenticate") or ""
                resp.discard()
                self._authenticate(challenge_header)
                attempt -= 1
                continue
            if resp.status == 401:
                resp.discard()
                raise self._auth_rejected()
            if resp.status in RETRY_STATUSES and attempt < self.limits.oci_max_attempts:
                resp.discard()
                log.info("%s: %s %s; retrying", what, resp.status, resp.reason)
                backoff.wait(self.session.deadline)
                continue
            return resp

    def _authenticate(self, header: str) -> None:
        challenge = pick_challenge(parse_challenges(header))
        if challenge is None:
            raise AuthenticationFailed(
                f"registry {self.registry} answered 401 without a usable WWW-Authenticate challenge"
            )
        if challenge.scheme == "basic":
            if not self.credential.has_basic:
                raise self._credentials_missing(f'Basic realm "{challenge.realm}"')
            self._authorization = self.credential.basic_header()
        else:
            token = fetch_bearer_token(
                self.session,
                challenge,
                registry=self.registry,
                credential=self.credential,
                scopes=[self.scope],
                registry_is_plain_http=self.scheme == "http",
                max_bytes=self.limits.registry_response_max_bytes,
                resolve=self.resolve,
            )
            self._authorization = f"Bearer {token}"
        self._auth_tried = True

    def _credentials_missing(self, challenge: str) -> AuthenticationFailed:
        where = (
            f"{self.credential_source} has no credentials for {self.registry}"
            if self.credential_source
            else "no credentials were given (--pull-secret, imagePullSecret or docker login)"
        )
        return AuthenticationFailed(
            f"registry {self.registry} requires authentication ({challenge}) and {where}"
        )

    def _auth_rejected(self) -> AuthenticationFailed:
        if self.credential.anonymous:
            return self._credentials_missing("401 Unauthorized")
        who = f"user {self.credential.username!r}" if self.credential.username else "the token"
        source = f" from {self.credential_source}" if self.credential_source else ""
        return AuthenticationFailed(
            f"registry {self.registry} rejected the credentials for {who}{source} (401 Unauthorized)"
        )

    def _fail(self, resp: Response, what: str) -> FetchError:
        body = resp.body
        if body is None:
            body = resp.read(self.limits.registry_response_max_bytes, what="error response")
        detail = registry_errors(body) or f"{resp.status} {resp.reason}"
        if resp.status == 403:
            who = f"user {self.credential.username!r}" if self.credential.username else "anonymous access"
            return AuthenticationFailed(f"registry {self.registry} denied {what} for {who}: {detail}")
        if resp.status == 404:
            return ModuleNotFound(f"{what}: not found in registry {self.registry} ({detail})")
        return RegistryUnavailable(f"{what}: registry {self.registry} answered {detail}")

    # --- pull -----------------------------------------------------------------------------------

    def get_manifest(self, reference: str) -> tuple[bytes, str | None, str]:
        """(bytes, Content-Type, "sha256:<hex>" computed from the bytes)."""
        what = f"manifest {self.registry}/{self.repository}{'@' if ':' in reference else ':'}{reference}"
        resp = self._request(
            "GET",
            f"/v2/{self.repository}/manifests/{quote(reference, safe=':')}",
            headers={"Accept": ", ".join(MANIFEST_ACCEPT)},
            what=what,
        )
        if resp.status != 200:
            err = self._fail(resp, what)
            if isinstance(err, ModuleNotFound):
                err = ManifestError(err.message)
            raise err
        data = resp.read(self.limits.oci_manifest_max_bytes, what="manifest")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise ManifestError(f"{what}: registry returned a manifest whose digest is {digest}")
        return data, resp.header("Content-Type"), digest

    def get_blob(self, desc: Descriptor, *, limit: int, progress: Progress = NULL_PROGRESS) -> bytes:
        what = f"blob {desc.digest[:19]} of {self.registry}/{self.repository}"
        if desc.size > limit:
            raise ModuleTooLarge(f"{what} is {desc.size} bytes, over the {limit}-byte module limit")
        resp = self._request("GET", f"/v2/{self.repository}/blobs/{desc.digest}", what=what)
        if resp.status != 200:
            raise self._fail(resp, what)
        data = resp.read(limit, progress=progress, what=f"{self.repository} layer")
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != desc.digest or len(data) != desc.size:
            raise FetchError(
                f"{what}: downloaded content has digest {actual} and {len(data)} bytes, "
                f"the manifest says {desc.digest} and {desc.size} bytes"
            )
        return data

    # --- push -----------------------------------------------------------------------------------

    def blob_exists(self, digest: str) -> bool:
        resp = self._request("HEAD", f"/v2/{self.repository}/blobs/{digest}", what=f"blob {digest[:19]}")
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        raise self._fail(resp, f"checking blob {digest[:19]}")

    def upload_blob(self, blob: Blob, *, progress: Progress = NULL_PROGRESS) -> None:
        what = f"uploading {blob.media_type} to {self.registry}/{self.repository}"
        resp = self._request("POST", f"/v2/{self.repository}/blobs/uploads/", what=what)
        if resp.status != 202:
            raise self._push_fail(resp, what)
        resp.discard()
        location = resp.header("Location")
        if not location:
            raise PushRejected(f"{what}: registry gave no upload Location")
        # Keep the Location's own query (it carries the upload's _state) and append the digest.
        url = urljoin(self.base + "/", location)
        url += ("&" if "?" in url else "?") + "digest=" + quote(blob.digest, safe="")
        self.session.deadline.check()
        resp = self.session.request(
            "PUT",
            url,
            headers={"Content-Type": "application/octet-stream"},
            body=_chunks(blob.data, progress, f"pushing {blob.media_type.rsplit('.', 1)[-1]}"),
            content_length=len(blob.data),
            authorization=self._authorization,
            follow_redirects=False,
        )
        if resp.status not in (201, 204):
            raise self._push_fail(resp, what)
        resp.discard()

    def put_manifest(self, tag: str, data: bytes, media_type: str) -> str:
        what = f"pushing manifest {self.registry}/{self.repository}:{tag}"
        resp = self._request(
            "PUT",
            f"/v2/{self.repository}/manifests/{quote(tag, safe='')}",
            headers={"Content-Type": media_type},
            body=data,
            what=what,
        )
        if resp.status not in (200, 201):
            raise self._push_fail(resp, what)
        resp.discard()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        header = resp.header("Docker-Content-Digest")
        if header and header != digest:
            raise PushRejected(f"{what}: registry stored digest {header}, expected {digest}")
        return digest

    def _push_fail(self, resp: Response, what: str) -> FetchError:
        err = self._fail(resp, what)
        if isinstance(err, AuthenticationFailed):
            return err
        return PushRejected(err.message)


def _chunks(data: bytes, progress: Progress, label: str) -> Iterator[bytes]:
    progress.start(label, len(data))
    try:
        view = memoryview(data)
        for i in range(0, len(data), _UPLOAD_CHUNK):
            chunk = view[i : i + _UPLOAD_CHUNK]
            yield bytes(chunk)
            progress.advance(len(chunk))
    finally:
        progress.finish()
