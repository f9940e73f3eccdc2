"""Pure parts of module distribution: URLs, unboxing, layouts, policy, credentials, SSRF guard."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile

import pytest

from support.registry import make_wasm
from wasmplugin.errors import (
    InsecureTokenRealm,
    InvalidImageFormat,
    ModuleTooLarge,
    PullSecretError,
    UnsupportedModuleUrl,
    UsageError,
)
from wasmplugin.fetch.auth import parse_challenges, pick_challenge
from wasmplugin.fetch.credentials import DockerConfig, Keychain, parse_pull_secret, read_pull_secret_file
from wasmplugin.fetch.failure import FetchFallback, fallback_for
from wasmplugin.fetch.layouts import (
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_LAYER,
    OCI_MANIFEST,
    WASM_CONFIG,
    WASM_LAYER,
    Descriptor,
    ImageManifest,
    Layout,
    build_image,
    locate_wasm,
)
from wasmplugin.fetch.metrics import FetchMetrics
from wasmplugin.fetch.options import default_cache_dir, limits_from_env, parse_duration
from wasmplugin.fetch.policy import PullPolicy, ignores_resource_version, parse_pull_policy
from wasmplugin.fetch.reference import normalize_sha256, parse_module_url, redact_url
from wasmplugin.fetch.ssrf import AddressClass, check_realm, classify
from wasmplugin.fetch.transport import Backoff, Deadline, TlsPolicy
from wasmplugin.fetch.unbox import gunzip, is_wasm, plugin_from_layer, unbox
from wasmplugin.limits import DEFAULT_LIMITS

pytestmark = pytest.mark.usefixtures("fetch_env")

WASM = make_wasm(300, seed="units")
HEX = "ab" * 32

# --- URLs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "url", "name", "registry", "repo", "ref"),
    [
        ("ghcr.io/o/i:v1", "oci://ghcr.io/o/i:v1", "oci://ghcr.io/o/i", "ghcr.io", "o/i", "v1"),
        ("oci://ghcr.io/o/i", "oci://ghcr.io/o/i", "oci://ghcr.io/o/i", "ghcr.io", "o/i", "latest"),
        (
            "oci://localhost:5000/x:v2",
            "oci://localhost:5000/x:v2",
            "oci://localhost:5000/x",
            "localhost:5000",
            "x",
            "v2",
        ),
        (
            "oci://nginx:1.0",
            "oci://nginx:1.0",
            "oci://index.docker.io/library/nginx",
            "index.docker.io",
            "library/nginx",
            "1.0",
        ),
        (
            "oci://docker.io/me/p:v",
            "oci://docker.io/me/p:v",
            "oci://index.docker.io/me/p",
            "index.docker.io",
            "me/p",
            "v",
        ),
        (
            f"oci://r.io/a/b:v1@sha256:{HEX}",
            f"oci://r.io/a/b:v1@sha256:{HEX}",
            "oci://r.io/a/b",
            "r.io",
            "a/b",
            f"sha256:{HEX}",
        ),
    ],
)
def test_oci_urls_parse_like_go_containerregistry(
    raw: str, url: str, name: str, registry: str, repo: str, ref: str
) -> None:
    mu = parse_module_url(raw)
    assert (mu.scheme, mu.url, mu.cache_name) == ("oci", url, name)
    assert mu.oci is not None
    assert (mu.oci.registry, mu.oci.repository, mu.oci.reference) == (registry, repo, ref)


def test_digest_url_exposes_hex_and_tag_and_digest_share_a_cache_name() -> None:
    a = parse_module_url(f"oci://r.io/a/b@sha256:{HEX}")
    b = parse_module_url("oci://r.io/a/b:v9")
    assert a.digest_hex == HEX and b.digest_hex is None
    assert a.cache_name == b.cache_name


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("ftp://host/x.wasm", "unsupported Wasm module downloading URL scheme 'ftp'"),
        ("oci://r.io/a/b@sha512:abcd", "digest must be sha256"),
        ("oci://r.io/Upper/Case:v1", "invalid repository"),
        ("oci://r.io/a:bad tag", "invalid tag"),
        ("", "empty"),
        ("http:///nohost.wasm", "has no host"),
    ],
)
def test_bad_urls_give_one_line_errors(raw: str, fragment: str) -> None:
    with pytest.raises(UnsupportedModuleUrl) as info:
        parse_module_url(raw)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_file_and_http_urls() -> None:
    f = parse_module_url("file:///opt/plugin.wasm")
    assert (f.scheme, f.file_path, f.cache_name) == ("file", "/opt/plugin.wasm", "file:///opt/plugin.wasm")
    assert parse_module_url("file://rel/p.wasm").file_path == "rel/p.wasm"
    h = parse_module_url("https://example.com/p.wasm?x=1")
    assert (h.scheme, h.cache_name) == ("https", "https://example.com/p.wasm?x=1")


def test_credentials_in_urls_are_redacted() -> None:
    assert redact_url("https://user:pw@host:8443/a.wasm") == "https://***@host:8443/a.wasm"
    assert "pw" not in parse_module_url("https://user:pw@host/a.wasm").display


def test_sha256_normalisation() -> None:
    assert normalize_sha256(None) is None and normalize_sha256("") is None
    assert normalize_sha256("sha256:" + HEX.upper()) == HEX
    with pytest.raises(UnsupportedModuleUrl):
        normalize_sha256("a]b1c2d3e4f5...")  # the blog's placeholder


# --- unboxing ----------------------------------------------------------------------------------


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_magic_check() -> None:
    assert is_wasm(WASM)
    assert not is_wasm(b"\x00asm\x01\x00\x00")  # 7 bytes
    assert not is_wasm(b"<html>not wasm</html>")


@pytest.mark.parametrize(
    "boxed",
    [
        gzip.compress(WASM),
        _tar({"dir/": b"", "plugin.wasm": WASM}),
        gzip.compress(_tar({"any-name.wasm": WASM, "second.wasm": b"ignored"})),
        gzip.compress(gzip.compress(WASM)),
    ],
    ids=["gzip", "tar", "tar.gz", "gzip.gzip"],
)
def test_unbox_like_istio(boxed: bytes) -> None:
    assert unbox(boxed, 1 << 20) == WASM


def test_unbox_takes_the_first_file_of_a_tar_even_if_not_wasm() -> None:
    boxed = _tar({"README": b"hello", "plugin.wasm": WASM})
    assert unbox(boxed, 1 << 20) == boxed  # istio returns the original bytes; the magic check then fails


def test_unbox_failure_returns_original_bytes() -> None:
    broken = b"\x1f\x8b" + b"garbage" * 10
    assert unbox(broken, 1 << 20) == broken


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\x00" * (4 << 20))
    with pytest.raises(ModuleTooLarge):
        gunzip(bomb, 1 << 20)
    with pytest.raises(ModuleTooLarge):
        unbox(bomb, 1 << 20)


def test_plugin_from_layer_finds_plugin_wasm_by_base_name() -> None:
    layer = gzip.compress(_tar({"etc/other": b"x", "some/dir/plugin.wasm": WASM}))
    assert plugin_from_layer(layer, 1 << 20) == WASM
    with pytest.raises(InvalidImageFormat, match=r"no plugin\.wasm"):
        plugin_from_layer(gzip.compress(_tar({"module.wasm": WASM})), 1 << 20)
    with pytest.raises(InvalidImageFormat, match="not a tar\\+gzip"):
        plugin_from_layer(b"not gzip", 1 << 20)


# --- layouts -----------------------------------------------------------------------------------------


def _desc(media_type: str, n: int = 1) -> Descriptor:
    return Descriptor(media_type, "sha256:" + f"{n:02x}" * 32, 10)


def test_locate_wasm_follows_istio_order() -> None:
    docker = ImageManifest(DOCKER_MANIFEST, None, (_desc(DOCKER_LAYER, 1), _desc(DOCKER_LAYER, 2)))
    assert locate_wasm(docker).layout is Layout.DOCKER and locate_wasm(docker).layer.digest.endswith(
        "02" * 32
    )
    compat = ImageManifest(OCI_MANIFEST, None, (_desc(OCI_LAYER),))
    assert locate_wasm(compat).layout is Layout.COMPAT
    artifact = ImageManifest(OCI_MANIFEST, None, (_desc(WASM_CONFIG, 1), _desc(WASM_LAYER, 2)))
    src = locate_wasm(artifact)
    assert src.layout is Layout.OCI and not src.packed and src.layer.media_type == WASM_LAYER
    single = ImageManifest(OCI_MANIFEST, None, (_desc(WASM_LAYER),))
    assert locate_wasm(single).layout is Layout.ORAS


def test_locate_wasm_rejections_carry_istios_reasons() -> None:
    single = ImageManifest(OCI_MANIFEST, None, (_desc(WASM_LAYER),))
    with pytest.raises(InvalidImageFormat, match="number of layers must be 2 but got 1"):
        locate_wasm(single, allow_single_layer=False)
    three = ImageManifest(
        OCI_MANIFEST, None, (_desc(WASM_LAYER, 1), _desc(WASM_CONFIG, 2), _desc(WASM_CONFIG, 3))
    )
    with pytest.raises(InvalidImageFormat, match="number of layers must be 2 but got 3"):
        locate_wasm(three)
    docker_bad = ImageManifest(DOCKER_MANIFEST, None, (_desc(OCI_LAYER),))
    with pytest.raises(InvalidImageFormat, match="as Docker container: invalid media type"):
        locate_wasm(docker_bad)
    two_no_wasm = ImageManifest(OCI_MANIFEST, None, (_desc(WASM_CONFIG, 1), _desc(WASM_CONFIG, 2)))
    with pytest.raises(InvalidImageFormat, match="could not find the layer of type"):
        locate_wasm(two_no_wasm)


@pytest.mark.parametrize("layout", list(Layout))
def test_built_images_are_deterministic_and_parse_back(layout: Layout) -> None:
    a, b = build_image(WASM, layout), build_image(WASM, layout)
    assert a.manifest == b.manifest and a.digest == b.digest
    assert build_image(make_wasm(300, seed="other"), layout).digest != a.digest
    obj = json.loads(a.manifest)
    manifest = ImageManifest(
        obj["mediaType"],
        None,
        tuple(Descriptor(d["mediaType"], d["digest"], d["size"]) for d in obj["layers"]),
    )
    assert locate_wasm(manifest).layout is layout
    assert len(obj["layers"]) == a.layer_count


# --- policy ------------------------------------------------------------------------------------------


def test_pull_policy_parsing() -> None:
    assert parse_pull_policy(None) is PullPolicy.UNSPECIFIED
    assert parse_pull_policy("IfNotPresent") is PullPolicy.IF_NOT_PRESENT
    assert parse_pull_policy("Always") is PullPolicy.ALWAYS
    assert parse_pull_policy("UNSPECIFIED_POLICY") is PullPolicy.UNSPECIFIED
    with pytest.raises(UsageError):
        parse_pull_policy("Never")


@pytest.mark.parametrize(
    ("policy", "url", "ignores"),
    [
        (PullPolicy.IF_NOT_PRESENT, "oci://r.io/a:latest", True),
        (PullPolicy.ALWAYS, "oci://r.io/a:v1", False),
        (PullPolicy.UNSPECIFIED, "oci://r.io/a:v1", True),
        (PullPolicy.UNSPECIFIED, "oci://r.io/a:latest", False),  # the latest rule
        (PullPolicy.UNSPECIFIED, "oci://r.io/a", True),  # no tag is not "latest" (unlike Kubernetes)
        (PullPolicy.UNSPECIFIED, "https://h/x:latest", True),  # the rule is for oci only
    ],
)
def test_should_ignore_resource_version(policy: PullPolicy, url: str, ignores: bool) -> None:
    assert ignores_resource_version(policy, parse_module_url(url)) is ignores


# --- failStrategy decision ------------------------------------------------------------------------


def test_fetch_failure_fallback_per_fail_strategy() -> None:
    assert fallback_for("FAIL_OPEN") is FetchFallback.ALLOW
    assert fallback_for("FAIL_CLOSE") is FetchFallback.DENY
    assert fallback_for("FAIL_RELOAD") is FetchFallback.DENY  # reload is for runtime errors only
    assert fallback_for(None) is FetchFallback.DENY
    assert FetchFallback.DENY.stat_prefix == "wasm-default-deny"


# --- credentials --------------------------------------------------------------------------------------


def _dockerconfig(auths: dict[str, dict[str, str]]) -> bytes:
    return json.dumps({"auths": auths}).encode()


def test_docker_config_lookup_by_host() -> None:
    auth = base64.b64encode(b"bob:pw:with:colons").decode()
    cfg = DockerConfig.from_bytes(
        _dockerconfig(
            {
                "https://index.docker.io/v1/": {"auth": auth},
                "http://r.example.com:5000/v2/": {"username": "u", "password": "p"},
                "empty.example.com": {},
            }
        ),
        source="test",
    )
    hub = cfg.credential_for("index.docker.io")
    assert hub is not None and (hub.username, hub.password) == ("bob", "pw:with:colons")
    assert cfg.credential_for("r.example.com:5000") is not None
    assert cfg.credential_for("r.example.com") is None  # the port is part of the key
    empty = cfg.credential_for("empty.example.com")
    assert empty is not None and empty.anonymous


def test_secrets_never_appear_in_repr() -> None:
    cfg = DockerConfig.from_bytes(_dockerconfig({"h": {"username": "u", "password": "hunter2"}}), source="s")
    assert "hunter2" not in repr(cfg) and "hunter2" not in repr(cfg.credential_for("h"))


def test_pull_secret_wins_and_is_the_only_source() -> None:
    secret = DockerConfig.from_bytes(
        _dockerconfig({"a.io": {"username": "s", "password": "x"}}), source="secret"
    )
    user = DockerConfig.from_bytes(
        _dockerconfig({"b.io": {"username": "d", "password": "y"}}), source="docker"
    )
    chain = Keychain(pull_secret=secret, docker_config=user)
    assert chain.resolve("a.io").username == "s"
    assert chain.resolve("b.io").anonymous  # not the docker config: Istio's wasmKeyChain
    assert Keychain(docker_config=user).resolve("b.io").username == "d"


def test_empty_or_malformed_pull_secret_fails() -> None:
    with pytest.raises(PullSecretError, match="missing image pulling secret"):
        parse_pull_secret(b"")
    with pytest.raises(PullSecretError, match="invalid JSON"):
        parse_pull_secret(b"{not json")


def test_pull_secret_file_accepts_a_kubernetes_secret(tmp_path: pytest.TempPathFactory) -> None:
    raw = _dockerconfig({"r.io": {"username": "u", "password": "p"}})
    path = tmp_path / "secret.yaml"  # type: ignore[operator]
    path.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: pull, namespace: ns}\n"
        "type: kubernetes.io/dockerconfigjson\n"
        f"data:\n  .dockerconfigjson: {base64.b64encode(raw).decode()}\n"
    )
    assert read_pull_secret_file(str(path)) == raw
    path.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: pull}\ntype: Opaque\ndata: {}\n")
    with pytest.raises(PullSecretError, match=r"must be kubernetes\.io/dockerconfigjson"):
        read_pull_secret_file(str(path))


# --- challenges and the SSRF guard ------------------------------------------------------------------------


def test_www_authenticate_parsing() -> None:
    cs = parse_challenges(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push", Basic realm="x"'
    )
    assert [c.scheme for c in cs] == ["bearer", "basic"]
    assert cs[0].params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:a/b:pull,push",
    }
    picked = pick_challenge(cs)
    assert picked is not None and picked.scheme == "bearer"
    basic = pick_challenge(parse_challenges('Basic realm="Registry Realm"'))
    assert basic is not None and basic.realm == "Registry Realm"


def _resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    return lambda host: table.get(host, [])


@pytest.mark.parametrize(
    ("realm", "registry", "table", "refused"),
    [
        ("https://auth.example.com/token", "r.example.com", {"auth.example.com": ["93.184.216.34"]}, None),
        ("file:///etc/passwd", "r.example.com", {}, "scheme 'file'"),
        ("gopher://x/", "r.example.com", {}, "scheme 'gopher'"),
        (
            "http://169.254.169.254/latest/meta-data",
            "r.example.com",
            {"r.example.com": ["93.184.216.34"]},
            "metadata",
        ),
        ("http://metadata.google.internal/token", "r.example.com", {}, "metadata host"),
        ("http://127.0.0.1:8080/token", "r.example.com", {"r.example.com": ["93.184.216.34"]}, "loopback"),
        ("http://[::1]:8080/token", "r.example.com", {"r.example.com": ["93.184.216.34"]}, "loopback"),
        ("http://10.0.0.5/token", "r.example.com", {"r.example.com": ["93.184.216.34"]}, "private"),
        ("http://169.254.10.10/token", "r.example.com", {"r.example.com": ["93.184.216.34"]}, "link-local"),
        ("https://127.0.0.1:9443/token", "127.0.0.1:5000", {}, None),  # registry itself on loopback
        (
            "https://auth.corp/token",
            "registry.corp",
            {"auth.corp": ["10.1.1.1"], "registry.corp": ["10.2.2.2"]},
            None,
        ),
        ("http://169.254.169.254/", "127.0.0.1:5000", {}, "metadata"),  # metadata never
    ],
)
def test_token_realm_ssrf_guard(
    realm: str, registry: str, table: dict[str, list[str]], refused: str | None
) -> None:
    if refused is None:
        check_realm(realm, registry, resolve=_resolver(table))
    else:
        with pytest.raises(InsecureTokenRealm, match=refused):
            check_realm(realm, registry, resolve=_resolver(table))


def test_address_classes() -> None:
    assert classify("::ffff:127.0.0.1") is AddressClass.LOOPBACK
    assert classify("fd00:ec2::254") is AddressClass.METADATA
    assert classify("100.100.100.200") is AddressClass.METADATA
    assert classify("0.0.0.0") is AddressClass.UNSPECIFIED
    assert classify("8.8.8.8") is AddressClass.PUBLIC


# --- options, limits, TLS policy, backoff, metrics -------------------------------------------------------


def test_cache_dir_default_and_overrides(tmp_path: object) -> None:
    assert default_cache_dir({"WASMPLUGIN_CACHE_DIR": "/x/y"}).as_posix() == "/x/y"
    assert default_cache_dir({"XDG_CACHE_HOME": "/xdg"}).as_posix() == "/xdg/wasmplugin"
    assert default_cache_dir({}).as_posix().endswith("/.cache/wasmplugin")


def test_istio_agent_environment_variables_override_limits() -> None:
    limits = limits_from_env(
        DEFAULT_LIMITS,
        {
            "WASM_HTTP_REQUEST_TIMEOUT": "2s",
            "WASM_HTTP_REQUEST_MAX_RETRIES": "3",
            "WASM_MODULE_EXPIRY": "1h30m",
            "WASM_PURGE_INTERVAL": "500ms",
            "ISTIO_WASM_MAX_BINARY_SIZE_BYTES": "1024",
        },
    )
    assert (limits.http_request_timeout_s, limits.http_max_attempts) == (2.0, 3)
    assert (limits.cache_module_expiry_s, limits.cache_purge_interval_s, limits.module_max_bytes) == (
        5400.0,
        0.5,
        1024,
    )
    assert parse_duration("90") == 90.0
    with pytest.raises(UsageError):
        parse_duration("ten minutes")


def test_insecure_host_matching() -> None:
    tls = TlsPolicy.create(["r.example.com", "10.0.0.1:5000"])
    assert tls.is_insecure("r.example.com:443") and tls.is_insecure("R.EXAMPLE.COM")
    assert tls.is_insecure("10.0.0.1:5000") and not tls.is_insecure("10.0.0.1:5001")
    assert TlsPolicy.create(["*"]).is_insecure("anything:1")
    assert not TlsPolicy.create([]).is_insecure("r.example.com")


def test_backoff_sequence_matches_istio_defaults() -> None:
    b = Backoff(0.5, 1.5, 60.0, jitter=0.0)
    assert [round(b.next_delay(), 4) for _ in range(5)] == [0.5, 0.75, 1.125, 1.6875, 2.5312]
    jittered = Backoff(0.5, 1.5, 60.0, jitter=0.5, rand=lambda: 0.0)
    assert jittered.next_delay() == 0.25
    capped = Backoff(50.0, 2.0, 60.0)
    assert [capped.next_delay() for _ in range(3)] == [50.0, 60.0, 60.0]
    d = Deadline(10)
    assert d.timeout(15.0) <= 10.0


def test_metrics_samples_and_prometheus_text() -> None:
    m = FetchMetrics()
    m.cache_lookup(True)
    m.cache_lookup(False)
    m.cache_lookup(False)
    m.remote_fetch("manifest_failure")
    m.conversion("fetch_failure", 3.0)
    m.set_cache_entries(2)
    samples = m.samples()
    assert ("wasm_cache_entries", {}, 2.0) in samples
    assert ("wasm_cache_lookup_count", {"hit": "false"}, 2.0) in samples
    assert ("wasm_remote_fetch_count", {"result": "manifest_failure"}, 1.0) in samples
    assert ("wasm_config_conversion_duration_bucket", {"le": "4"}, 1.0) in samples
    assert ("wasm_config_conversion_duration_bucket", {"le": "2"}, 0.0) in samples
    text = m.render_prometheus()
    assert "# TYPE istio_agent_wasm_cache_lookup_count counter" in text
    assert 'istio_agent_wasm_config_conversion_count{result="fetch_failure"} 1' in text
    with pytest.raises(ValueError):
        m.remote_fetch("exploded")
