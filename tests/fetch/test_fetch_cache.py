"""istio-agent's cache and pull policies, proven by the requests a recording proxy saw in front of a
real registry: IfNotPresent downloads nothing again, Always re-checks only the manifest while the
digest is unchanged, ``:latest`` behaves as Always; corruption, expiry, layout, concurrency."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.registry import RecordingProxy, Registry, make_wasm
from wasmplugin.fetch import FetchMetrics, Layout, ModuleFetcher
from wasmplugin.fetch.cache import INDEX_FILE, ModuleCache
from wasmplugin.fetch.credentials import Keychain
from wasmplugin.fetch.push import PushResult, push_module
from wasmplugin.fetch.transport import TlsPolicy
from wasmplugin.limits import DEFAULT_LIMITS

pytestmark = [pytest.mark.registry, pytest.mark.usefixtures("fetch_env")]

V1 = make_wasm(4000, seed="v1")
V2 = make_wasm(4000, seed="v2")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def proxy(registry: Registry) -> Iterator[RecordingProxy]:
    p = RecordingProxy(registry.port)
    yield p
    p.close()


def push(proxy: RecordingProxy, repo_tag: str, wasm: bytes, layout: Layout = Layout.OCI) -> PushResult:
    result = push_module(
        f"{proxy.host}/{repo_tag}", wasm, layout, keychain=Keychain(), tls=TlsPolicy.create([proxy.host])
    )
    proxy.take()  # forget the push's requests
    return result


def pushed_v1(
    proxy: RecordingProxy, repo: str, tmp_path: Path, tag: str = "v1"
) -> tuple[ModuleFetcher, str, PushResult]:
    """V1 pushed as ``repo:tag``; a fetcher on a fresh cache, the module's URL and the push."""
    result = push(proxy, f"{repo}:{tag}", V1)
    return make_fetcher(tmp_path, proxy), proxy.url(f"{repo}:{tag}"), result


def make_fetcher(tmp_path: Path, proxy: RecordingProxy, clock: Clock | None = None) -> ModuleFetcher:
    return ModuleFetcher(
        tmp_path / "cache",
        DEFAULT_LIMITS,
        [proxy.host],
        docker_config=None,
        metrics=FetchMetrics(),
        clock=clock or Clock(),
    )


def kinds(records: list) -> list[str]:  # type: ignore[type-arg]
    """Requests as "GET manifest" / "GET blob" (the scheme probe of a plain-HTTP registry is not seen)."""
    out = []
    for r in records:
        what = "manifest" if "/manifests/" in r.path else "blob" if "/blobs/" in r.path else r.path
        out.append(f"{r.method} {what}")
    return out


def test_if_not_present_does_not_download_again(
    proxy: RecordingProxy, unique_repo: str, tmp_path: Path
) -> None:
    f, url, _ = pushed_v1(proxy, unique_repo, tmp_path)
    first = f.get(url, pull_policy="IfNotPresent", resource_name="ns.p", resource_version="1")
    assert kinds(proxy.take()) == ["GET manifest", "GET blob"]
    for version in ("1", "2", "3"):  # even when the WasmPlugin changes
        again = f.get(url, pull_policy="IfNotPresent", resource_name="ns.p", resource_version=version)
        assert again.cache_hit and again.path == first.path
    assert proxy.take() == []
    # Also across processes: a new fetcher on the same cache directory.
    assert make_fetcher(tmp_path, proxy).get(url).cache_hit
    assert proxy.take() == []


def test_if_not_present_keeps_the_old_module_after_the_tag_moves(
    proxy: RecordingProxy, unique_repo: str, tmp_path: Path
) -> None:
    f, url, _ = pushed_v1(proxy, unique_repo, tmp_path)
    f.get(url)
    push(proxy, f"{unique_repo}:v1", V2)
    assert f.get(url, resource_version="2").read_bytes() == V1
    assert proxy.take() == []


def test_always_rechecks_only_the_manifest_when_the_digest_is_unchanged(
    proxy: RecordingProxy, unique_repo: str, tmp_path: Path
) -> None:
    f, url, _ = pushed_v1(proxy, unique_repo, tmp_path)
    f.get(url, pull_policy="Always", resource_name="ns.p", resource_version="1")
    assert kinds(proxy.take()) == ["GET manifest", "GET blob"]

    same = f.get(url, pull_policy="Always", resource_name="ns.p", resource_version="1")
    assert same.cache_hit and proxy.take() == []  # WasmPlugin unchanged: nothing re-pulled

    changed = f.get(url, pull_policy="Always", resource_name="ns.p", resource_version="2")
    assert changed.cache_hit and changed.read_bytes() == V1
    assert kinds(proxy.take()) == ["GET manifest"]  # one manifest request, no blob
    assert f.metrics.value("wasm_remote_fetch_count", result="success") == 1


def test_always_downloads_when_the_tag_moved(proxy: RecordingProxy, unique_repo: str, tmp_path: Path) -> None:
    f, url, _ = pushed_v1(proxy, unique_repo, tmp_path)
    f.get(url, pull_policy="Always", resource_version="1")
    second = push(proxy, f"{unique_repo}:v1", V2)
    m = f.get(url, pull_policy="Always", resource_version="2")
    assert kinds(proxy.take()) == ["GET manifest", "GET blob"]
    assert m.read_bytes() == V2 and m.checksum == second.digest_hex and not m.cache_hit


def test_always_without_a_resource_version_rechecks_every_time(
    proxy: RecordingProxy, unique_repo: str, tmp_path: Path
) -> None:
    f, url, _ = pushed_v1(proxy, unique_repo, tmp_path)
    f.get(url, pull_policy="Always")
    proxy.take()
    for _ in range(2):
        assert f.get(url, pull_policy="Always").cache_hit
        assert kinds(proxy.take()) == ["GET manifest"]


def test_latest_tag_behaves_as_always(proxy: RecordingProxy, unique_repo: str, tmp_path: Path) -> None:
    f, url, _ = pushed_v1(proxy, unique_repo, tmp_path, "latest")
    f.get(url, resource_name="ns.p", resource_version="1")
    proxy.take()
    assert f.get(url, resource_name="ns.p", resource_version="1").cache_hit
    assert proxy.take() == []
    push(proxy, f"{unique_repo}:latest", V2)
    m = f.get(url, resource_name="ns.p", resource_version="2")  # unset policy, changed WasmPlugin
    assert m.read_bytes() == V2
    assert kinds(proxy.take()) == ["GET manifest", "GET blob"]
    # An explicit IfNotPresent overrides the latest rule.
    push(proxy, f"{unique_repo}:latest", V1)
    assert (
        f.get(url, pull_policy="IfNotPresent", resource_name="ns.p", resource_version="3").read_bytes() == V2
    )
    assert proxy.take() == []


def test_no_tag_is_not_treated_as_latest(proxy: RecordingProxy, unique_repo: str, tmp_path: Path) -> None:
    push(proxy, f"{unique_repo}:latest", V1)
    f = make_fetcher(tmp_path, proxy)
    url = proxy.url(unique_repo)  # implicitly :latest, but Istio only checks the literal suffix
    f.get(url, resource_version="1")
    proxy.take()
    assert f.get(url, resource_version="2").cache_hit
    assert proxy.take() == []


def test_pinned_sha256_is_if_not_present_whatever_the_policy(
    proxy: RecordingProxy, unique_repo: str, tmp_path: Path
) -> None:
    f, url, result = pushed_v1(proxy, unique_repo, tmp_path)
    f.get(url, sha256=result.digest_hex, pull_policy="Always", resource_version="1")
    proxy.take()
    assert f.get(url, sha256=result.digest_hex, pull_policy="Always", resource_version="2").cache_hit
    digest_url = proxy.url(f"{unique_repo}@{result.digest}")
    assert f.get(digest_url, pull_policy="Always", resource_version="3").cache_hit
    assert proxy.take() == []


def test_metrics_follow_istio_lookups(proxy: RecordingProxy, unique_repo: str, tmp_path: Path) -> None:
    f, url, _ = pushed_v1(proxy, unique_repo, tmp_path)
    f.get(url)  # no checksum known: no lookup; then manifest digest → lookup miss; download
    f.get(url)  # remembered checksum → hit
    f.get(url, pull_policy="Always")  # manifest → second lookup → hit
    assert f.metrics.value("wasm_cache_lookup_count", hit="false") == 1
    assert f.metrics.value("wasm_cache_lookup_count", hit="true") == 2
    assert f.metrics.value("wasm_cache_entries") == 1
    assert f.metrics.value("wasm_config_conversion_count", result="success") == 3


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_corrupted_entry_is_detected_and_fetched_again(
    damage: str, proxy: RecordingProxy, unique_repo: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f, url, _ = pushed_v1(proxy, unique_repo, tmp_path)
    path = f.get(url).path
    proxy.take()
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[:100]))
    else:
        path.unlink()
    caplog.set_level(logging.WARNING)
    m = f.get(url)
    assert not m.cache_hit and m.read_bytes() == V1
    assert "missing or corrupted; fetching it again" in caplog.text
    assert kinds(proxy.take())[-1] == "GET blob"
    assert f.metrics.value("wasm_cache_lookup_count", hit="false") >= 1


def test_unreadable_index_starts_over(proxy: RecordingProxy, unique_repo: str, tmp_path: Path) -> None:
    f, url, _ = pushed_v1(proxy, unique_repo, tmp_path)
    f.get(url)
    (tmp_path / "cache" / INDEX_FILE).write_text("{ truncated")
    assert f.get(url).read_bytes() == V1
    json.loads((tmp_path / "cache" / INDEX_FILE).read_text())


def test_layout_on_disk_and_atomic_writes(proxy: RecordingProxy, unique_repo: str, tmp_path: Path) -> None:
    result = push(proxy, f"{unique_repo}:v1", V1)
    m = make_fetcher(tmp_path, proxy).get(proxy.url(f"{unique_repo}:v1"))
    name = f"oci://{proxy.host}/{unique_repo}"
    expected = tmp_path / "cache" / hashlib.sha256(name.encode()).hexdigest() / f"{result.digest_hex}.wasm"
    assert m.path == expected
    assert not [p for p in (tmp_path / "cache").rglob(".tmp-*")]
    index = json.loads((tmp_path / "cache" / INDEX_FILE).read_text())
    assert index["checksums"][proxy.url(f"{unique_repo}:v1")]["checksum"] == result.digest_hex
    assert list(index["modules"]) == [f"{name}@{result.digest_hex}"]


def tags_a_and_b(proxy: RecordingProxy, repo: str, tmp_path: Path) -> tuple[ModuleFetcher, Clock]:
    """V1 pushed as ``repo:a``, V2 as ``repo:b``; a fetcher on a fresh cache and its clock."""
    push(proxy, f"{repo}:a", V1)
    push(proxy, f"{repo}:b", V2)
    clock = Clock()
    return make_fetcher(tmp_path, proxy, clock), clock


def test_expired_modules_are_purged_with_their_checksums(
    proxy: RecordingProxy, unique_repo: str, tmp_path: Path
) -> None:
    f, clock = tags_a_and_b(proxy, unique_repo, tmp_path)
    a = f.get(proxy.url(f"{unique_repo}:a"))
    clock.now += 23 * 3600
    b = f.get(proxy.url(f"{unique_repo}:b"))
    clock.now += 2 * 3600  # a: unused for 25 h (> 24 h expiry); b: 2 h
    removed = f.purge()
    assert [e.checksum for e in removed] == [a.checksum]
    assert not a.path.exists() and b.path.exists()
    assert f.metrics.value("wasm_cache_entries") == 1
    proxy.take()
    assert not f.get(proxy.url(f"{unique_repo}:a")).cache_hit  # its tag → checksum entry went too
    assert kinds(proxy.take()) == ["GET manifest", "GET blob"]


def test_purge_runs_by_itself_after_the_interval(
    proxy: RecordingProxy, unique_repo: str, tmp_path: Path
) -> None:
    f, clock = tags_a_and_b(proxy, unique_repo, tmp_path)
    a = f.get(proxy.url(f"{unique_repo}:a"))
    clock.now += 25 * 3600
    f.get(proxy.url(f"{unique_repo}:b"))  # more than an interval (1 h) since the last purge
    assert not a.path.exists()


def test_concurrent_fetches_share_one_cache(proxy: RecordingProxy, unique_repo: str, tmp_path: Path) -> None:
    results = [push(proxy, f"{unique_repo}:t{i}", make_wasm(3000, seed=str(i))) for i in range(4)]
    f = make_fetcher(tmp_path, proxy)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            assert f.get(proxy.url(f"{unique_repo}:t{i}")).checksum == results[i].digest_hex
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    # Other processes (the CLI) see the same four entries.
    out = subprocess.run(
        [sys.executable, "-m", "wasmplugin", "cache", "ls", "--json", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert sorted(e["checksum"] for e in json.loads(out)) == sorted(r.digest_hex for r in results)


def test_processes_writing_the_same_cache(proxy: RecordingProxy, unique_repo: str, tmp_path: Path) -> None:
    for i in range(3):
        push(proxy, f"{unique_repo}:p{i}", make_wasm(2000, seed=f"p{i}"))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wasmplugin",
                "pull",
                proxy.url(f"{unique_repo}:p{i}"),
                "--insecure-registry",
                proxy.host,
                "--cache-dir",
                str(tmp_path / "cache"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert len(ModuleCache(tmp_path / "cache").entries()) == 3
