"""``ModuleFetcher``: a WasmPlugin ``url`` in, a verified local module file out.

The one entry point other layers use (the sidecar, ``run -f DIR``, the pytest harness): callers
need not know OCI. ``get`` is istio-agent's ``LocalFileCache.Get`` (reference §6.5):

1. pull policy → may the remembered tag→checksum be used? (:mod:`policy`)
2. cache lookup by (name, checksum) — expected ``sha256``, else an ``@sha256:`` digest in the URL,
   else the remembered checksum;
3. fetch: http(s) downloads and hashes the unboxed bytes; OCI resolves the manifest digest first,
   checks it, looks in the cache again (unchanged digest ⇒ no blob download), then downloads;
4. checksum check (message names both digests), Wasm magic check, atomic store.

Failures raise :class:`~wasmplugin.errors.FetchError` subclasses whose ``metric_result`` is the
``wasm_remote_fetch_count`` label of the stage that failed, and are counted in :class:`FetchMetrics`.
``get`` blocks; the sidecar runs it in a thread. Thread-safe.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from wasmplugin.errors import (
    ChecksumMismatch,
    FetchError,
    InvalidWasmBinary,
    ModuleNotFound,
    ModuleTooLarge,
    UnsupportedModuleUrl,
)
from wasmplugin.fetch import options
from wasmplugin.fetch.cache import CacheEntry, CacheIndex, ChecksumEntry, ModuleCache
from wasmplugin.fetch.credentials import (
    DockerConfig,
    Keychain,
    load_docker_config,
    parse_pull_secret,
)
from wasmplugin.fetch.httpfetch import fetch_http
from wasmplugin.fetch.layouts import ORAS_WARNING, Layout
from wasmplugin.fetch.metrics import FetchMetrics
from wasmplugin.fetch.ocifetch import prepare
from wasmplugin.fetch.options import default_cache_dir
from wasmplugin.fetch.policy import ignores_resource_version, parse_pull_policy
from wasmplugin.fetch.progress import NULL_PROGRESS, Progress
from wasmplugin.fetch.reference import ModuleUrl, normalize_sha256, parse_module_url
from wasmplugin.fetch.registry import RegistryClient
from wasmplugin.fetch.ssrf import Resolver, system_resolver
from wasmplugin.fetch.transport import Deadline, HttpSession, TlsPolicy
from wasmplugin.fetch.unbox import is_wasm
from wasmplugin.limits import DEFAULT_LIMITS, Limits

log = logging.getLogger("wasmplugin.fetch")

FILE_SHA256_WARNING = "sha256 is not checked for file:// URLs (as in Istio)"


class _UserDockerConfig:
    """Sentinel: read the user's docker config at each fetch (picks up a later `docker login`)."""


USER_DOCKER_CONFIG = _UserDockerConfig()


@dataclass(frozen=True)
class FetchedModule:
    """A module ready to compile."""

    path: Path
    #: Istio's checksum: OCI manifest digest hex; http(s) module sha256. For file:// the module
    #: sha256, informational only (never compared).
    checksum: str
    #: sha256 of the Wasm bytes at ``path`` (always).
    module_sha256: str
    url: str
    scheme: str
    size: int
    cache_hit: bool
    manifest_digest: str | None = None  # "sha256:<hex>" for OCI
    layout: str | None = None  # docker | compat | oci | oras for OCI
    warnings: tuple[str, ...] = ()

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


class ModuleFetcher:
    """Fetches modules into one cache. ``insecure_registries`` / ``ca_file`` default to
    ``WASM_INSECURE_REGISTRIES`` / ``WASMPLUGIN_CA_FILE``; ``cache_dir`` to :func:`default_cache_dir`."""

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        insecure_registries: Iterable[str] | None = None,
        docker_config: DockerConfig | Path | _UserDockerConfig | None = USER_DOCKER_CONFIG,
        metrics: FetchMetrics | None = None,
        *,
        ca_file: str | None = None,
        progress: Progress = NULL_PROGRESS,
        allow_single_layer: bool = True,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = ModuleCache(cache_dir if cache_dir is not None else default_cache_dir(), clock=clock)
        self.limits = limits
        # None = from the environment, as istio-agent reads WASM_INSECURE_REGISTRIES.
        insecure = options.insecure_registries() if insecure_registries is None else insecure_registries
        self.tls = TlsPolicy.create(insecure, ca_file if ca_file is not None else options.ca_file())
        self.docker_config = docker_config
        self.metrics = metrics if metrics is not None else FetchMetrics()
        self.progress = progress
        self.allow_single_layer = allow_single_layer
        self.resolver = resolver
        self.clock = clock
        self._cancel = threading.Event()
        self._schemes: dict[str, str] = {}  # registries found to speak plain HTTP (insecure only)

    def close(self) -> None:
        """Abort backoff waits of fetches in progress (sidecar shutdown)."""
        self._cancel.set()

    # --- public entry point ----------------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        sha256: str | None = None,
        pull_policy: object = None,
        pull_secret: bytes | None = None,
        pull_secret_name: str | None = None,
        resource_name: str = "",
        resource_version: str | None = None,
        timeout_s: float | None = None,
        base_dir: Path | str | None = None,
    ) -> FetchedModule:
        """Return a local, verified module for ``url``.

        ``pull_secret``: the ``.dockerconfigjson`` bytes of the WasmPlugin's imagePullSecret; None when
        none was set (the user's docker config is used), ``b""`` when one was set but could not be
        resolved (fails, as in Istio). ``pull_secret_name`` (e.g. ``ns/name`` or a file) only names it
        in messages. ``resource_name``/``resource_version`` drive ``Always`` (re-pull when the
        WasmPlugin changes). ``base_dir`` resolves relative ``file://`` paths.
        """
        started = time.monotonic()
        try:
            module = self._get(
                url,
                sha256=sha256,
                pull_policy=pull_policy,
                pull_secret=pull_secret,
                pull_secret_name=pull_secret_name,
                resource_name=resource_name,
                resource_version=resource_version,
                timeout_s=timeout_s,
                base_dir=base_dir,
            )
        except FetchError as err:
            self.metrics.conversion("fetch_failure", (time.monotonic() - started) * 1000)
            _name_the_module(err, url)
            raise
        result = "no_remote_load" if module.scheme == "file" else "success"
        self.metrics.conversion(result, (time.monotonic() - started) * 1000)
        self._maybe_purge()
        return module

    def purge(self) -> list[CacheEntry]:
        removed = self.cache.purge(self.limits.cache_module_expiry_s)
        self._update_entries_gauge()
        return removed

    # --- the algorithm ------------------------------------------------------------------------------

    def _get(
        self,
        url: str,
        *,
        sha256: str | None,
        pull_policy: object,
        pull_secret: bytes | None,
        pull_secret_name: str | None,
        resource_name: str,
        resource_version: str | None,
        timeout_s: float | None,
        base_dir: Path | str | None,
    ) -> FetchedModule:
        mu = parse_module_url(url)
        if mu.scheme == "file":
            return self._get_file(mu, sha256, base_dir)
        expected = normalize_sha256(sha256)
        keychain = self._keychain(pull_secret, pull_secret_name)
        policy = parse_pull_policy(pull_policy)
        ignore_version = ignores_resource_version(policy, mu)
        name = mu.cache_name

        with self.cache.transaction() as index:
            checksum = expected or mu.digest_hex
            if checksum is None:
                remembered = index.checksums.get(mu.url)
                if remembered is not None:
                    same_version = (
                        resource_version is not None
                        and remembered.versions.get(resource_name) == resource_version
                    )
                    if ignore_version or same_version:
                        checksum = remembered.checksum
                    if resource_version is not None:
                        remembered.versions[resource_name] = resource_version
            hit = self._lookup(index, name, checksum, mu) if checksum else None
            self._set_gauge(index)
        if hit is not None:
            return hit

        deadline = Deadline(
            timeout_s if timeout_s is not None else self.limits.fetch_timeout_s, what=f"fetching {mu.display}"
        )
        with HttpSession(self.tls, self.limits, deadline) as session:
            if mu.scheme in ("http", "https"):
                return self._fetch_http(session, mu, name, expected, resource_name, resource_version)
            return self._fetch_oci(session, mu, name, expected, keychain, resource_name, resource_version)

    def _keychain(self, pull_secret: bytes | None, name: str | None) -> Keychain:
        if pull_secret is not None:
            source = f"imagePullSecret {name}" if name else "imagePullSecret"
            return Keychain(pull_secret=parse_pull_secret(pull_secret, source=source))
        cfg = self.docker_config
        if isinstance(cfg, _UserDockerConfig):
            return Keychain(docker_config=load_docker_config())
        if isinstance(cfg, Path):
            return Keychain(docker_config=load_docker_config(cfg))
        return Keychain(docker_config=cfg)

    def _lookup(self, index: CacheIndex, name: str, checksum: str, mu: ModuleUrl) -> FetchedModule | None:
        """istio ``getEntry`` on the modules map, plus the corruption check; counts the lookup."""
        entry = index.get(name, checksum)
        if entry is not None and entry.layout == Layout.ORAS.value and not self.allow_single_layer:
            entry = None  # strict mode: fetch again so Istio's rejection is reported
        if entry is not None and not self.cache.verify(entry):
            log.warning(
                "cached module %s (%s) is missing or corrupted; fetching it again", mu.display, entry.path
            )
            index.remove(entry)
            self.cache.delete_file(entry)
            entry = None
        self.metrics.cache_lookup(entry is not None)
        if entry is None:
            return None
        entry.last_used = self.clock()
        if mu.url not in entry.urls:
            entry.urls.append(mu.url)
        return self._module(entry, mu, cache_hit=True)

    def _module(self, entry: CacheEntry, mu: ModuleUrl, *, cache_hit: bool) -> FetchedModule:
        warnings = (ORAS_WARNING,) if entry.layout == Layout.ORAS.value else ()
        return FetchedModule(
            path=self.cache.absolute(entry),
            checksum=entry.checksum,
            module_sha256=entry.module_sha256,
            url=mu.url,
            scheme=mu.scheme,
            size=entry.size,
            cache_hit=cache_hit,
            manifest_digest=entry.manifest_digest,
            layout=entry.layout,
            warnings=warnings,
        )

    def _fetch_http(
        self,
        session: HttpSession,
        mu: ModuleUrl,
        name: str,
        expected: str | None,
        resource_name: str,
        resource_version: str | None,
    ) -> FetchedModule:
        try:
            data = fetch_http(session, mu.url, progress=self.progress, cancel=self._cancel)
        except FetchError as err:
            raise self._count(err, "download_failure") from None
        actual = hashlib.sha256(data).hexdigest()
        self._check_sha256(mu, actual, expected)
        if expected is None:
            hit = self._cached_as(mu, name, actual, resource_name, resource_version)
            if hit is not None:
                return hit
        return self._store(mu, name, actual, data, None, None, resource_name, resource_version)

    def _fetch_oci(
        self,
        session: HttpSession,
        mu: ModuleUrl,
        name: str,
        expected: str | None,
        keychain: Keychain,
        resource_name: str,
        resource_version: str | None,
    ) -> FetchedModule:
        ref = mu.oci
        assert ref is not None
        client = RegistryClient(
            session,
            ref.registry,
            ref.repository,
            credential=keychain.resolve(ref.registry),
            credential_source=keychain.source,
            resolve=self.resolver,
            schemes=self._schemes,
        )
        try:
            prepared = prepare(client, ref)
        except FetchError as err:
            raise self._count(err, "manifest_failure") from None
        actual = prepared.digest_hex
        if expected is not None and expected != actual:
            hint = ""
            for i, layer in enumerate(prepared.manifest.layers):
                if layer.digest == f"sha256:{expected}":
                    hint = (
                        f" ({expected[:12]}… is the digest of layer {i}; "
                        "for oci:// Istio compares the manifest digest)"
                    )
            self._check_sha256(mu, actual, expected, what=" (manifest digest)", hint=hint)
        if expected is None:
            hit = self._cached_as(mu, name, actual, resource_name, resource_version)
            if hit is not None:
                return hit
        try:
            data, layout = prepared.download(
                limit=self.limits.module_max_bytes,
                allow_single_layer=self.allow_single_layer,
                progress=self.progress,
            )
        except FetchError as err:
            raise self._count(err, "download_failure") from None
        if layout is Layout.ORAS:
            log.warning("%s: %s", mu.display, ORAS_WARNING)
        return self._store(mu, name, actual, data, prepared.digest, layout, resource_name, resource_version)

    def _check_sha256(
        self, mu: ModuleUrl, actual: str, expected: str | None, *, what: str = "", hint: str = ""
    ) -> None:
        """The spec's ``sha256`` (when given) against what was fetched; ``what`` says which digest."""
        if expected is not None and expected != actual:
            raise self._count(
                ChecksumMismatch(
                    f"module downloaded from {mu.display} has checksum {actual}{what}, "
                    f"which does not match the expected sha256 {expected}{hint}"
                ),
                "checksum_mismatched",
            )

    def _cached_as(
        self, mu: ModuleUrl, name: str, checksum: str, resource_name: str, resource_version: str | None
    ) -> FetchedModule | None:
        """Without a ``sha256`` the checksum is known only after resolving the URL; the cache may
        hold that module already (then the URL is remembered as resolving to it)."""
        with self.cache.transaction() as index:
            hit = self._lookup(index, name, checksum, mu)
            if hit is not None and mu.digest_hex is None:
                self._remember(index, mu, checksum, resource_name, resource_version)
            return hit

    def _store(
        self,
        mu: ModuleUrl,
        name: str,
        checksum: str,
        data: bytes,
        manifest_digest: str | None,
        layout: Layout | None,
        resource_name: str,
        resource_version: str | None,
    ) -> FetchedModule:
        if len(data) > self.limits.module_max_bytes:
            raise self._count(
                ModuleTooLarge(
                    f"module from {mu.display} is {len(data)} bytes, over the "
                    f"{self.limits.module_max_bytes}-byte limit"
                ),
                "download_failure",
            )
        if not is_wasm(data):
            raise self._count(
                InvalidWasmBinary(
                    f"fetched Wasm binary from {mu.display} is invalid (no \\0asm header; "
                    f"starts with {data[:8].hex() or 'nothing'})"
                ),
                "download_failure",
            )
        self.metrics.remote_fetch("success")
        rel = self.cache.write_module(name, checksum, data)
        now = self.clock()
        entry = CacheEntry(
            name=name,
            checksum=checksum,
            path=rel,
            size=len(data),
            module_sha256=hashlib.sha256(data).hexdigest(),
            fetched_at=now,
            last_used=now,
            urls=[mu.url],
            layout=layout.value if layout is not None else None,
            manifest_digest=manifest_digest,
        )
        with self.cache.transaction() as index:
            old = index.get(name, checksum)
            if old is not None:
                entry.urls = sorted(set(old.urls) | {mu.url})
            index.modules[entry.key] = entry
            if mu.digest_hex is None:
                self._remember(index, mu, checksum, resource_name, resource_version)
            self._set_gauge(index)
        return self._module(entry, mu, cache_hit=False)

    @staticmethod
    def _remember(
        index: CacheIndex, mu: ModuleUrl, checksum: str, resource_name: str, resource_version: str | None
    ) -> None:
        ce = index.checksums.get(mu.url)
        if ce is None:
            ce = index.checksums[mu.url] = ChecksumEntry(checksum=checksum)
        ce.checksum = checksum
        if resource_version is not None:
            ce.versions[resource_name] = resource_version

    def _get_file(self, mu: ModuleUrl, sha256: str | None, base_dir: Path | str | None) -> FetchedModule:
        assert mu.file_path is not None
        path = Path(mu.file_path)
        if not path.is_absolute():
            path = Path(base_dir or ".") / path
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ModuleNotFound(f"module file {path} not found ({mu.url})") from None
        except OSError as exc:
            raise FetchError(f"cannot read module file {path}: {exc.strerror}") from None
        if size > self.limits.module_max_bytes:
            raise ModuleTooLarge(
                f"module file {path} is {size} bytes, over the {self.limits.module_max_bytes}-byte limit"
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FetchError(f"cannot read module file {path}: {exc.strerror}") from None
        digest = hashlib.sha256(data).hexdigest()
        warnings = (FILE_SHA256_WARNING,) if sha256 else ()
        return FetchedModule(
            path=path.resolve(),
            checksum=digest,
            module_sha256=digest,
            url=mu.url,
            scheme="file",
            size=len(data),
            cache_hit=False,
            warnings=warnings,
        )

    # --- bookkeeping ---------------------------------------------------------------------------

    def _count(self, err: FetchError, stage: str) -> FetchError:
        """Label ``err`` with the stage's wasm_remote_fetch_count result and count it."""
        if isinstance(err, ChecksumMismatch):
            stage = "checksum_mismatched"
        elif isinstance(err, UnsupportedModuleUrl):
            stage = "fetch_failure"
        err.metric_result = stage
        self.metrics.remote_fetch(stage)
        return err

    def _set_gauge(self, index: CacheIndex) -> None:
        self.metrics.set_cache_entries(len(index.modules))

    def _update_entries_gauge(self) -> None:
        with self.cache.transaction() as index:
            self._set_gauge(index)

    def _maybe_purge(self) -> None:
        now = self.clock()
        with self.cache.transaction() as index:
            due = now - index.last_purge >= self.limits.cache_purge_interval_s
            if due and index.last_purge == 0.0:
                index.last_purge = now  # first use of this cache: start the interval
                return
        if due:
            removed = self.purge()
            if removed:
                log.info("purged %d expired module(s) from %s", len(removed), self.cache.directory)


def _name_the_module(err: FetchError, url: str) -> None:
    """Prefix the module URL to a message that does not name it (e.g. "connection refused"), so the
    one line says which plugin's module failed."""
    try:
        shown = parse_module_url(url).display
    except FetchError:
        return
    if shown not in err.message:
        err.args = (f"{shown}: {err.message}",)
