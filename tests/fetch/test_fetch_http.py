"""http(s):// fetches against a real local HTTP server: retries, statuses, packaging, limits, TLS."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.http_server import Reply, ScriptedServer
from support.registry import TestCA, make_wasm
from wasmplugin.errors import (
    ChecksumMismatch,
    FetchError,
    InvalidWasmBinary,
    ModuleNotFound,
    ModuleTooLarge,
    RegistryUnavailable,
    TlsVerificationFailed,
)
from wasmplugin.fetch import FetchMetrics, ModuleFetcher
from wasmplugin.limits import DEFAULT_LIMITS, Limits

pytestmark = pytest.mark.usefixtures("fetch_env")

WASM = make_wasm(2048, seed="http")
WASM_SHA = hashlib.sha256(WASM).hexdigest()
#: Istio's retry policy with a short backoff so the suite stays quick (the policy is the same).
FAST = DEFAULT_LIMITS.with_overrides(http_initial_backoff_s=0.01, http_backoff_jitter=0.0)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


def fetcher(tmp_path: Path, limits: Limits = FAST, **kw: object) -> ModuleFetcher:
    return ModuleFetcher(tmp_path / "cache", limits, docker_config=None, metrics=FetchMetrics(), **kw)  # type: ignore[arg-type]


def test_plain_download_checksum_is_module_sha256(server: ScriptedServer, tmp_path: Path) -> None:
    url = server.route("/p.wasm", Reply(200, WASM))
    m = fetcher(tmp_path).get(url, sha256=WASM_SHA)
    assert m.read_bytes() == WASM
    assert m.checksum == m.module_sha256 == WASM_SHA
    assert m.manifest_digest is None and not m.cache_hit
    assert m.path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_until_success(server: ScriptedServer, tmp_path: Path, status: int) -> None:
    url = server.route("/p.wasm", Reply(status), Reply(status), Reply(200, WASM))
    f = fetcher(tmp_path)
    assert f.get(url).read_bytes() == WASM
    assert server.count("/p.wasm") == 3
    assert f.metrics.value("wasm_remote_fetch_count", result="success") == 1


@pytest.mark.parametrize("status", [404, 403, 400, 501, 505, 511])
def test_non_retryable_statuses_fail_at_once(server: ScriptedServer, tmp_path: Path, status: int) -> None:
    url = server.route("/p.wasm", Reply(status, b"no"))
    f = fetcher(tmp_path)
    with pytest.raises(FetchError) as info:
        f.get(url)
    assert server.count("/p.wasm") == 1
    assert f"HTTP {status}" in str(info.value)
    if status == 404:
        assert isinstance(info.value, ModuleNotFound)
    assert info.value.metric_result == "download_failure"
    assert f.metrics.value("wasm_remote_fetch_count", result="download_failure") == 1
    assert f.metrics.value("wasm_config_conversion_count", result="fetch_failure") == 1


def test_gives_up_after_five_attempts(server: ScriptedServer, tmp_path: Path) -> None:
    url = server.route("/p.wasm", Reply(503))
    with pytest.raises(RegistryUnavailable, match="after 5 attempts"):
        fetcher(tmp_path).get(url)
    assert server.count("/p.wasm") == 5


def test_attempt_count_follows_the_limit(server: ScriptedServer, tmp_path: Path) -> None:
    url = server.route("/p.wasm", Reply(500))
    with pytest.raises(RegistryUnavailable, match="after 2 attempts"):
        fetcher(tmp_path, FAST.with_overrides(http_max_attempts=2)).get(url)
    assert server.count("/p.wasm") == 2


def test_dropped_and_truncated_connections_are_retried(server: ScriptedServer, tmp_path: Path) -> None:
    url = server.route("/p.wasm", Reply(drop=True), Reply(200, WASM, truncate_at=100), Reply(200, WASM))
    assert fetcher(tmp_path).get(url).read_bytes() == WASM
    assert server.count("/p.wasm") == 3


def test_backoff_waits_grow(server: ScriptedServer, tmp_path: Path) -> None:
    url = server.route("/p.wasm", Reply(503), Reply(503), Reply(200, WASM))
    limits = DEFAULT_LIMITS.with_overrides(http_initial_backoff_s=0.1, http_backoff_jitter=0.0)
    started = time.monotonic()
    fetcher(tmp_path, limits).get(url)
    assert time.monotonic() - started >= 0.1 + 0.15  # 100 ms then 150 ms (× 1.5)


def test_refused_connection_is_retried_then_reported(tmp_path: Path) -> None:
    from support.registry import free_port

    url = f"http://127.0.0.1:{free_port()}/p.wasm"
    with pytest.raises(RegistryUnavailable, match=r"connection refused.*after 5 attempts"):
        fetcher(tmp_path).get(url)


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(
    "body",
    [gzip.compress(WASM), _tar("plugin.wasm", WASM), gzip.compress(_tar("x/filter.wasm", WASM))],
    ids=["gzip", "tar", "tar.gz"],
)
def test_packaged_modules_are_unboxed_and_hashed_after_unboxing(
    server: ScriptedServer, tmp_path: Path, body: bytes
) -> None:
    url = server.route("/p", Reply(200, body, {"Content-Type": "application/octet-stream"}))
    m = fetcher(tmp_path).get(url, sha256=WASM_SHA)  # sha256 of the *unboxed* module, as in Istio
    assert m.read_bytes() == WASM


def test_wrong_sha256_names_both_digests(server: ScriptedServer, tmp_path: Path) -> None:
    url = server.route("/p.wasm", Reply(200, WASM))
    wrong = "0" * 64
    f = fetcher(tmp_path)
    with pytest.raises(ChecksumMismatch) as info:
        f.get(url, sha256=wrong)
    assert WASM_SHA in str(info.value) and wrong in str(info.value)
    assert info.value.metric_result == "checksum_mismatched"
    assert f.metrics.value("wasm_remote_fetch_count", result="checksum_mismatched") == 1
    assert not any((tmp_path / "cache").rglob("*.wasm"))


def test_not_wasm_is_refused(server: ScriptedServer, tmp_path: Path) -> None:
    url = server.route("/p.wasm", Reply(200, b"<html>login page</html>"))
    with pytest.raises(InvalidWasmBinary, match=r"fetched Wasm binary from .* is invalid"):
        fetcher(tmp_path).get(url)


def test_size_limit_by_content_length_and_by_stream(server: ScriptedServer, tmp_path: Path) -> None:
    limits = FAST.with_overrides(module_max_bytes=1024)
    url = server.route("/big.wasm", Reply(200, make_wasm(4096)))
    with pytest.raises(ModuleTooLarge, match="1024-byte limit"):
        fetcher(tmp_path, limits).get(url)
    bomb = server.route("/bomb.gz", Reply(200, gzip.compress(b"\x00asm\x01\x00\x00\x00" + b"\x00" * 100_000)))
    with pytest.raises(ModuleTooLarge, match="decompresses to more than"):
        fetcher(tmp_path, limits).get(bomb)


def test_second_get_is_a_cache_hit_without_a_request(server: ScriptedServer, tmp_path: Path) -> None:
    url = server.route("/p.wasm", Reply(200, WASM))
    f = fetcher(tmp_path)
    first = f.get(url)
    second = f.get(url)
    assert server.count("/p.wasm") == 1
    assert second.cache_hit and second.path == first.path
    assert f.metrics.value("wasm_cache_lookup_count", hit="true") == 1


def test_url_credentials_are_sent_and_never_shown(
    server: ScriptedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.route("/p.wasm", Reply(503), Reply(404))
    url = f"http://user:hunter2@127.0.0.1:{server.port}/p.wasm"
    with pytest.raises(ModuleNotFound) as info:
        fetcher(tmp_path).get(url)
    assert all(h.headers.get("Authorization", "").startswith("Basic ") for h in server.hits)
    assert "hunter2" not in str(info.value) and "hunter2" not in caplog.text
    assert "***@" in str(info.value)


def test_https_with_test_ca_and_insecure_hosts(test_ca: TestCA, tmp_path: Path) -> None:
    s = ScriptedServer(tls=test_ca.server_context())
    try:
        url = s.route("/p.wasm", Reply(200, WASM))
        with pytest.raises(TlsVerificationFailed, match="not trusted"):
            fetcher(tmp_path / "a").get(url)
        assert fetcher(tmp_path / "b", ca_file=str(test_ca.ca_file)).get(url).read_bytes() == WASM
        # WASM_INSECURE_REGISTRIES applies to http(s) too: no verification for the listed host.
        insecure = fetcher(tmp_path / "c", insecure_registries=[f"127.0.0.1:{s.port}"])
        assert insecure.get(url).read_bytes() == WASM
    finally:
        s.close()


def test_overall_timeout_stops_retries(server: ScriptedServer, tmp_path: Path) -> None:
    url = server.route("/p.wasm", Reply(503))
    limits = DEFAULT_LIMITS.with_overrides(http_initial_backoff_s=5.0, http_backoff_jitter=0.0)
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match=r"timed out after 0\.3 s"):
        fetcher(tmp_path, limits).get(url, timeout_s=0.3)
    assert time.monotonic() - started < 3.0
