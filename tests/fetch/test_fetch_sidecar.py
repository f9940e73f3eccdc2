"""The blog's workflow through the sidecar: `wasmplugin serve` pulls the module from a real
registry by its oci:// URL and sha256, runs it on live traffic, and reports istio-agent's metrics.

Reuses the sidecar suite's process and upstream helpers (tests/support)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.echo_upstream import EchoUpstream
from support.registry import Registry
from support.serve_process import WORKLOAD, ServeProcess, fetch

pytestmark = [pytest.mark.registry, pytest.mark.slow, pytest.mark.usefixtures("fetch_env")]

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "header-modifier" / "plugin.wasm"

WASMPLUGIN = """\
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: header-modifier, namespace: default}}
spec:
  selector: {{matchLabels: {{app: app}}}}
  url: {url}
  sha256: "{sha256}"
  phase: STATS
  priority: 10
  failStrategy: {fail}
  pluginConfig:
    request_headers: [{{name: x-custom-header, value: added-by-wasm}}]
    response_headers: [{{name: x-processed-by, value: wasm-plugin}}]
    enable_logging: false
    log_level: info
"""


@pytest.fixture
def upstream() -> Iterator[EchoUpstream]:
    with EchoUpstream() as up:
        yield up


def push(registry: Registry, ref: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "wasmplugin", "push", ref, str(PLUGIN), "--insecure-registry", registry.host],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip()


def test_sidecar_pulls_from_the_registry_and_runs_the_plugin(
    registry: Registry, upstream: EchoUpstream, unique_repo: str, tmp_path: Path
) -> None:
    ref = f"{registry.host}/{unique_repo}/header-modifier:v1.0.0"
    digest = push(registry, ref)
    mesh = tmp_path / "mesh"
    mesh.mkdir()
    (mesh / "mesh.yaml").write_text(WORKLOAD.format(port=upstream.port))
    (mesh / "plugins.yaml").write_text(
        WASMPLUGIN.format(url=f"oci://{ref}", sha256=digest, fail="FAIL_CLOSE")
    )
    env = {"WASM_INSECURE_REGISTRIES": registry.host, "WASMPLUGIN_CACHE_DIR": str(tmp_path / "cache")}
    with ServeProcess(mesh, env=env) as sp:
        sp.wait_ready()
        r = fetch(sp.url("inbound", "/api"))
        assert r.status == 200, r.body
        assert r.headers["x-processed-by"] == "wasm-plugin"
        sent = {k.lower(): v for k, v in r.json()["headers"]}
        assert sent["x-custom-header"] == "added-by-wasm"
        _status, prom = sp.admin("/stats/prometheus")
        assert 'istio_agent_wasm_remote_fetch_count{result="success"} 1' in prom
        assert "istio_agent_wasm_cache_entries 1" in prom
    cached = list((tmp_path / "cache").rglob(f"{digest}.wasm"))
    assert len(cached) == 1 and cached[0].read_bytes() == PLUGIN.read_bytes()


@pytest.mark.parametrize(("fail", "status"), [("FAIL_CLOSE", 403), ("FAIL_OPEN", 200)])
def test_sidecar_with_a_wrong_sha256_applies_fail_strategy(
    fail: str, status: int, registry: Registry, upstream: EchoUpstream, unique_repo: str, tmp_path: Path
) -> None:
    ref = f"{registry.host}/{unique_repo}/header-modifier:v1.0.0"
    push(registry, ref)
    mesh = tmp_path / "mesh"
    mesh.mkdir()
    (mesh / "mesh.yaml").write_text(WORKLOAD.format(port=upstream.port))
    (mesh / "plugins.yaml").write_text(WASMPLUGIN.format(url=f"oci://{ref}", sha256="0" * 64, fail=fail))
    env = {"WASM_INSECURE_REGISTRIES": registry.host, "WASMPLUGIN_CACHE_DIR": str(tmp_path / "cache")}
    with ServeProcess(mesh, env=env) as sp:
        sp.wait_ready()
        r = fetch(sp.url("inbound", "/api"))
        assert r.status == status, r.body
        if status == 403:
            assert r.body == b"RBAC: access denied"
        else:
            assert "x-processed-by" not in r.headers
        _status, prom = sp.admin("/stats/prometheus")
        # At least one: the sidecar fetches per chain (inbound and outbound) where Istio converts one
        # ECDS resource per plugin.
        assert re.search(r'istio_agent_wasm_remote_fetch_count\{result="checksum_mismatched"\} [1-9]', prom)
        assert re.search(r'istio_agent_wasm_config_conversion_count\{result="fetch_failure"\} [1-9]', prom)
        assert 'istio_agent_wasm_remote_fetch_count{result="success"}' not in prom
