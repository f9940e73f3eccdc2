"""Push and pull against a real registry (Debian's docker-registry): every layout, digests, TLS."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from support.registry import Registry, TestCA, make_wasm
from wasmplugin.errors import (
    ChecksumMismatch,
    InvalidImageFormat,
    ManifestError,
    ModuleTooLarge,
    RegistryUnavailable,
    TlsVerificationFailed,
)
from wasmplugin.fetch import FetchMetrics, Layout, ModuleFetcher, fallback_for
from wasmplugin.fetch.credentials import Keychain
from wasmplugin.fetch.failure import FetchFallback
from wasmplugin.fetch.layouts import OCI_INDEX, WASM_LAYER, build_image
from wasmplugin.fetch.push import PushResult, push_module
from wasmplugin.fetch.transport import TlsPolicy
from wasmplugin.limits import DEFAULT_LIMITS

pytestmark = [pytest.mark.registry, pytest.mark.usefixtures("fetch_env")]

WASM = make_wasm(5000, seed="registry")
FAST = DEFAULT_LIMITS.with_overrides(oci_initial_backoff_s=0.01)


def tls_for(reg: Registry, test_ca: TestCA | None = None) -> TlsPolicy:
    if reg.tls is None:
        return TlsPolicy.create([reg.host])  # plain HTTP needs the insecure listing
    return TlsPolicy.create([], str(test_ca.ca_file) if test_ca else None)


def fetcher(tmp_path: Path, reg: Registry, test_ca: TestCA, **kw: object) -> ModuleFetcher:
    insecure = [reg.host] if reg.tls is None else []
    return ModuleFetcher(
        tmp_path / "cache",
        FAST,
        insecure,
        docker_config=None,
        metrics=FetchMetrics(),
        ca_file=str(test_ca.ca_file),
        **kw,  # type: ignore[arg-type]
    )


def push(reg: Registry, repo_tag: str, wasm: bytes, layout: Layout, test_ca: TestCA) -> PushResult:
    return push_module(f"{reg.host}/{repo_tag}", wasm, layout, keychain=Keychain(), tls=tls_for(reg, test_ca))


@pytest.mark.parametrize("layout", list(Layout))
@pytest.mark.parametrize("kind", ["plain", "tls"])
def test_push_every_format_and_pull_back(
    kind: str,
    layout: Layout,
    registry: Registry,
    tls_registry: Registry,
    test_ca: TestCA,
    unique_repo: str,
    tmp_path: Path,
) -> None:
    reg = registry if kind == "plain" else tls_registry
    result = push(reg, f"{unique_repo}:v1", WASM, layout, test_ca)
    # Cross-check with the registry itself: the printed digest is the stored manifest's digest.
    raw = reg.raw_manifest(unique_repo, "v1")
    assert raw.status == 200
    assert raw.digest == result.digest == raw.headers["Docker-Content-Digest"]
    assert raw.body == build_image(WASM, layout).manifest
    assert len(raw.json()["layers"]) == {"oci": 2, "compat": 1, "docker": 1, "oras": 1}[layout.value]

    f = fetcher(tmp_path, reg, test_ca)
    m = f.get(reg.url(f"{unique_repo}:v1"), sha256=result.digest_hex)
    assert m.read_bytes() == WASM
    assert m.checksum == result.digest_hex and m.manifest_digest == result.digest
    assert m.module_sha256 == hashlib.sha256(WASM).hexdigest()
    assert m.layout == layout.value
    assert bool(m.warnings) is (layout is Layout.ORAS)
    assert f.metrics.value("wasm_remote_fetch_count", result="success") == 1


def test_digest_reference_pulls_without_a_tag(
    registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    result = push(registry, f"{unique_repo}:v1", WASM, Layout.COMPAT, test_ca)
    f = fetcher(tmp_path, registry, test_ca)
    m = f.get(registry.url(f"{unique_repo}@{result.digest}"))
    assert m.checksum == result.digest_hex and m.read_bytes() == WASM
    # tag + digest: the digest wins; and the URL's digest is the checksum when sha256 is unset.
    other = push(registry, f"{unique_repo}:v2", make_wasm(600, seed="v2"), Layout.COMPAT, test_ca)
    m2 = fetcher(tmp_path / "2", registry, test_ca).get(registry.url(f"{unique_repo}:v2@{result.digest}"))
    assert m2.checksum == result.digest_hex != other.digest_hex


def test_digest_url_and_sha256_must_agree(
    registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    result = push(registry, f"{unique_repo}:v1", WASM, Layout.OCI, test_ca)
    with pytest.raises(ChecksumMismatch):
        fetcher(tmp_path, registry, test_ca).get(
            registry.url(f"{unique_repo}@{result.digest}"), sha256="1" * 64
        )


def test_wrong_sha256_names_both_digests_and_downloads_nothing(
    registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    result = push(registry, f"{unique_repo}:v1", WASM, Layout.OCI, test_ca)
    f = fetcher(tmp_path, registry, test_ca)
    wrong = "f" * 64
    with pytest.raises(ChecksumMismatch) as info:
        f.get(registry.url(f"{unique_repo}:v1"), sha256=wrong)
    msg = str(info.value)
    assert result.digest_hex in msg and wrong in msg and "\n" not in msg
    assert f.metrics.value("wasm_remote_fetch_count", result="checksum_mismatched") == 1
    assert not list((tmp_path / "cache").rglob("*.wasm"))


def test_blog_mistake_layer_digest_as_sha256_gets_a_hint(
    registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    """The blog takes sha256 from `.layers[0].digest`; Istio compares the manifest digest."""
    push(registry, f"{unique_repo}:v1", WASM, Layout.ORAS, test_ca)
    layer_digest = registry.raw_manifest(unique_repo, "v1").json()["layers"][0]["digest"]
    with pytest.raises(
        ChecksumMismatch, match="is the digest of layer 0; for oci:// Istio compares the manifest digest"
    ):
        fetcher(tmp_path, registry, test_ca).get(registry.url(f"{unique_repo}:v1"), sha256=layer_digest)


def test_istio_strict_mode_rejects_the_single_layer_artifact(
    registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    push(registry, f"{unique_repo}:v1", WASM, Layout.ORAS, test_ca)
    f = fetcher(tmp_path, registry, test_ca, allow_single_layer=False)
    with pytest.raises(InvalidImageFormat, match="number of layers must be 2 but got 1") as info:
        f.get(registry.url(f"{unique_repo}:v1"))
    assert info.value.metric_result == "download_failure"


def test_unknown_tag_is_a_manifest_failure(
    registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    f = fetcher(tmp_path, registry, test_ca)
    with pytest.raises(ManifestError, match=r"MANIFEST_UNKNOWN|NAME_UNKNOWN") as info:
        f.get(registry.url(f"{unique_repo}:nope"))
    assert info.value.metric_result == "manifest_failure"
    assert f.metrics.value("wasm_remote_fetch_count", result="manifest_failure") == 1
    assert f.metrics.value("wasm_config_conversion_count", result="fetch_failure") == 1


def test_image_index_resolves_to_the_linux_amd64_image(
    registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    amd64 = push(registry, f"{unique_repo}:amd64", WASM, Layout.COMPAT, test_ca)
    arm = push(registry, f"{unique_repo}:arm", make_wasm(700, seed="arm"), Layout.COMPAT, test_ca)
    size = lambda r: len(registry.raw_manifest(unique_repo, r.digest).body)  # noqa: E731
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": arm.digest,
                "size": size(arm),
                "platform": {"os": "linux", "architecture": "arm64"},
            },
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": amd64.digest,
                "size": size(amd64),
                "platform": {"os": "linux", "architecture": "amd64"},
            },
        ],
    }
    put = registry.request(
        "PUT",
        f"/v2/{unique_repo}/manifests/multi",
        headers={"Content-Type": OCI_INDEX},
        body=json.dumps(index).encode(),
    )
    assert put.status == 201
    m = fetcher(tmp_path, registry, test_ca).get(registry.url(f"{unique_repo}:multi"))
    assert m.read_bytes() == WASM
    assert m.checksum == amd64.digest_hex  # Istio: img.Digest() of the selected image, not the index


def test_blob_over_the_size_limit_is_refused_before_download(
    registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    push(registry, f"{unique_repo}:v1", make_wasm(50_000), Layout.OCI, test_ca)
    f = ModuleFetcher(
        tmp_path, FAST.with_overrides(module_max_bytes=10_000), [registry.host], docker_config=None
    )
    with pytest.raises(ModuleTooLarge, match="10000-byte module limit") as info:
        f.get(registry.url(f"{unique_repo}:v1"))
    assert info.value.metric_result == "download_failure"


def test_blob_push_skips_what_the_registry_has(registry: Registry, test_ca: TestCA, unique_repo: str) -> None:
    first = push(registry, f"{unique_repo}:v1", WASM, Layout.OCI, test_ca)
    again = push(registry, f"{unique_repo}:v2", WASM, Layout.OCI, test_ca)
    assert (first.uploaded, first.skipped) == (2, 0)
    assert (again.uploaded, again.skipped) == (0, 2)
    assert again.digest == first.digest


def test_untrusted_tls_is_one_clear_error(
    tls_registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    push(tls_registry, f"{unique_repo}:v1", WASM, Layout.OCI, test_ca)
    f = ModuleFetcher(tmp_path, FAST, docker_config=None)  # no CA file
    with pytest.raises(TlsVerificationFailed) as info:
        f.get(tls_registry.url(f"{unique_repo}:v1"))
    assert tls_registry.host in str(info.value) and "WASM_INSECURE_REGISTRIES" in str(info.value)
    # Listed as insecure: verification is skipped (WASM_INSECURE_REGISTRIES semantics).
    insecure = ModuleFetcher(tmp_path / "i", FAST, [tls_registry.host], docker_config=None)
    assert insecure.get(tls_registry.url(f"{unique_repo}:v1")).read_bytes() == WASM


def test_plain_http_registry_needs_the_insecure_listing(
    registry: Registry, test_ca: TestCA, unique_repo: str, tmp_path: Path
) -> None:
    push(registry, f"{unique_repo}:v1", WASM, Layout.OCI, test_ca)
    strict = ModuleFetcher(tmp_path / "s", FAST, docker_config=None)
    with pytest.raises(
        RegistryUnavailable, match="answered plain HTTP to HTTPS; list it in WASM_INSECURE_REGISTRIES"
    ):
        strict.get(registry.url(f"{unique_repo}:v1"))
    with pytest.raises(RegistryUnavailable, match="plain HTTP"):
        push_module(f"{registry.host}/{unique_repo}:v2", WASM, keychain=Keychain(), tls=TlsPolicy.create([]))
    wildcard = ModuleFetcher(tmp_path / "w", FAST, ["*"], docker_config=None)
    assert wildcard.get(registry.url(f"{unique_repo}:v1")).read_bytes() == WASM


@pytest.mark.parametrize("strategy", ["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"])
def test_registry_down_gives_the_fail_strategy_behaviour(
    strategy: str, tmp_path: Path, test_ca: TestCA, unique_repo: str
) -> None:
    reg = Registry(tmp_path / "reg", name="doomed").start()
    try:
        push(reg, f"{unique_repo}:v1", WASM, Layout.OCI, test_ca)
        url = reg.url(f"{unique_repo}:v1")
    finally:
        reg.stop()
    f = ModuleFetcher(tmp_path / "cache", FAST, [reg.host], docker_config=None, metrics=FetchMetrics())
    with pytest.raises(RegistryUnavailable, match="connection refused") as info:
        f.get(url)
    err = info.value
    assert err.metric_result == "manifest_failure"
    assert f.metrics.value("wasm_remote_fetch_count", result="manifest_failure") == 1
    assert f.metrics.value("wasm_config_conversion_count", result="fetch_failure") == 1
    expected = FetchFallback.ALLOW if strategy == "FAIL_OPEN" else FetchFallback.DENY
    assert fallback_for(strategy) is expected


def test_a_cached_module_survives_the_registry_going_down(
    tmp_path: Path, test_ca: TestCA, unique_repo: str
) -> None:
    reg = Registry(tmp_path / "reg", name="flaky").start()
    try:
        result = push(reg, f"{unique_repo}:v1", WASM, Layout.OCI, test_ca)
        f = ModuleFetcher(tmp_path / "cache", FAST, [reg.host], docker_config=None)
        f.get(reg.url(f"{unique_repo}:v1"), sha256=result.digest_hex)
    finally:
        reg.stop()
    m = f.get(reg.url(f"{unique_repo}:v1"), sha256=result.digest_hex, pull_policy="Always")
    assert m.cache_hit and m.read_bytes() == WASM


def test_wasm_layer_media_type_in_pushed_artifact(
    registry: Registry, test_ca: TestCA, unique_repo: str
) -> None:
    push(registry, f"{unique_repo}:v1", WASM, Layout.ORAS, test_ca)
    manifest = registry.raw_manifest(unique_repo, "v1").json()
    assert manifest["artifactType"] == WASM_LAYER
    assert manifest["layers"][0]["mediaType"] == WASM_LAYER
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
