"""The blog's distribution workflow, end to end, on a real registry:

build a plugin → push it (the blog's single-layer ORAS artifact, and `wasmplugin push`) → reference
it by oci:// URL with sha256 in the blog's WasmPlugin → fetch it as istio-agent would → run it and
see the plugin's behaviour.

"Build" uses the committed ``plugins/header-modifier/plugin.wasm``, which ``plugins/build.sh
--verify`` proves is built from the sources in the repo (a cargo build here costs minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from support.blog import HEADER_MODIFIER_CONFIG
from support.registry import Registry
from wasmplugin.config.loader import load
from wasmplugin.fetch import FetchMetrics, ModuleFetcher

pytestmark = [pytest.mark.registry, pytest.mark.slow, pytest.mark.usefixtures("fetch_env")]

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "header-modifier" / "plugin.wasm"

WORKLOAD_YAML = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: api-gateway
  namespace: default
spec:
  address: 127.0.0.1
  ports:
    http: 8080
  labels:
    app: api-gateway
"""

WASMPLUGIN_YAML = """\
# wasmplugin-header-modifier.yaml (the blog's, with a local registry and the pushed digest)
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata:
  name: header-modifier
  namespace: istio-system
spec:
  selector:
    matchLabels:
      app: api-gateway
  url: {url}
  sha256: {sha256}
  phase: STATS
  priority: 10
  pluginConfig:
{plugin_config}  vmConfig:
    env:
      - name: LOG_LEVEL
        value: "debug"
""".replace("{plugin_config}", textwrap.indent(HEADER_MODIFIER_CONFIG, "    "))


def wasmplugin(*args: str, env: dict[str, str], code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "wasmplugin", *args], capture_output=True, text=True, env=env, timeout=180
    )
    assert proc.returncode == code, f"wasmplugin {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def run_workload(config_dir: Path, request: str, *, env: dict[str, str], code: int = 0) -> Any:
    """``wasmplugin run -f DIR --workload default/api-gateway --request REQUEST -o json``, parsed."""
    out = wasmplugin(
        "run",
        "-f",
        str(config_dir),
        "--workload",
        "default/api-gateway",
        "--request",
        request,
        "-o",
        "json",
        env=env,
        code=code,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("push_format", ["oras", "default"])
@pytest.mark.parametrize("sha_form", ["hex", "blog-prefixed"])
def test_blog_workflow_push_reference_fetch_run(
    push_format: str, sha_form: str, registry: Registry, unique_repo: str, isolated_home: Path, tmp_path: Path
) -> None:
    assert PLUGIN.is_file(), "plugins/header-modifier/plugin.wasm is built by plugins/build.sh"
    env = dict(os.environ)
    ref = f"{registry.host}/{unique_repo}/header-modifier:v1.0.0"

    # 1. push (the blog: `oras push ... plugin.wasm:application/vnd.module.wasm.content.layer.v1+wasm`)
    fmt = ["--format", "oras"] if push_format == "oras" else []
    digest = wasmplugin(
        "push", ref, str(PLUGIN), *fmt, "--insecure-registry", registry.host, env=env
    ).stdout.strip()
    manifest = registry.raw_manifest(f"{unique_repo}/header-modifier", "v1.0.0")
    assert manifest.digest == f"sha256:{digest}"

    # 2. reference it in the blog's WasmPlugin, read by the config layer as istiod would
    config_dir = tmp_path / "mesh"
    config_dir.mkdir()
    sha = digest if sha_form == "hex" else f"sha256:{digest}"
    (config_dir / "wasmplugin-header-modifier.yaml").write_text(
        WASMPLUGIN_YAML.format(url=f"oci://{ref}", sha256=sha)
    )
    result = load([str(config_dir)])
    assert result.ok, [str(d) for d in result.errors]
    (plugin,) = result.mesh.plugins
    spec = plugin.spec
    assert spec.sha256 == digest

    # 3. fetch it as istio-agent does (manifest digest checked against sha256)
    fetcher = ModuleFetcher(tmp_path / "cache", insecure_registries=[registry.host], metrics=FetchMetrics())
    module = fetcher.get(
        spec.normalized_url or spec.url,
        sha256=spec.sha256,
        pull_policy=spec.image_pull_policy,
        resource_name=f"{plugin.namespace}.{plugin.name}",
        resource_version="1",
    )
    assert module.read_bytes() == PLUGIN.read_bytes()
    assert module.checksum == digest
    assert module.layout == ("oras" if push_format == "oras" else "oci")
    assert bool(module.warnings) is (push_format == "oras")  # the ORAS form is an extension

    # 4. the plugin's behaviour through the workload's chain: `wasmplugin run -f DIR`, which fetches
    #    the module itself (the registry is plain HTTP: listed as insecure, as WASM_INSECURE_REGISTRIES)
    (config_dir / "workload.yaml").write_text(WORKLOAD_YAML)
    run_env = dict(env, WASM_INSECURE_REGISTRIES=registry.host)
    res = run_workload(config_dir, "GET /api/items", env=run_env)
    assert res["local_reply"] is None, res
    upstream = dict(map(tuple, res["request"]["headers"]))
    downstream = dict(map(tuple, res["response"]["headers"]))
    assert upstream["x-custom-header"] == "added-by-wasm"
    assert downstream["x-processed-by"] == "wasm-plugin"
    assert "x-request-duration-ms" in downstream
    assert any("Request: GET /api/items" in entry["message"] for entry in res["logs"])

    # ... and the fetched module alone, with the configuration bytes istiod would send
    out = wasmplugin(
        "run",
        "--plugin",
        str(module.path),
        "--name",
        "header-modifier",
        "--config",
        spec.configuration.decode(),
        "--request",
        "GET /api/items",
        "-o",
        "json",
        env=env,
    )
    res = json.loads(out.stdout)
    assert dict(map(tuple, res["request"]["headers"]))["x-custom-header"] == "added-by-wasm"


@pytest.mark.parametrize(
    ("strategy", "status"), [("FAIL_CLOSE", 403), ("FAIL_RELOAD", 403), ("FAIL_OPEN", 200)]
)
def test_registry_down_through_run_gives_fail_strategy(
    strategy: str, status: int, tmp_path: Path, isolated_home: Path, unique_repo: str
) -> None:
    """A module that cannot be fetched: deny-all 403 (FAIL_CLOSE, FAIL_RELOAD) or bypass (FAIL_OPEN)."""
    env = dict(os.environ)
    reg = Registry(tmp_path / "reg", name="down").start()
    ref = f"{reg.host}/{unique_repo}/header-modifier:v1.0.0"
    try:
        digest = wasmplugin("push", ref, str(PLUGIN), "--insecure-registry", reg.host, env=env).stdout.strip()
    finally:
        reg.stop()
    config_dir = tmp_path / "mesh"
    config_dir.mkdir()
    (config_dir / "workload.yaml").write_text(WORKLOAD_YAML)
    yaml_text = WASMPLUGIN_YAML.format(url=f"oci://{ref}", sha256=digest)
    (config_dir / "plugin.yaml").write_text(
        yaml_text.replace("  phase: STATS", f"  phase: STATS\n  failStrategy: {strategy}")
    )
    res = run_workload(
        config_dir,
        "GET /",
        env=dict(env, WASM_INSECURE_REGISTRIES=reg.host),
        code=2,  # `run` reports that a plugin could not be loaded; the request still got its answer
    )
    assert res["error"] == f"oci://{ref}: cannot connect to {reg.host}: connection refused"
    final = res["local_reply"] or res["response"]
    assert final["status"] == status, res
    if status == 403:
        assert final["body"] == "RBAC: access denied"
    else:
        assert "x-custom-header" not in dict(map(tuple, res["request"]["headers"]))  # plugin bypassed


def test_blog_sha256_from_layer_digest_is_refused_with_a_hint(
    registry: Registry, unique_repo: str, isolated_home: Path, tmp_path: Path
) -> None:
    """The blog's `oras manifest fetch ... | jq -r '.layers[0].digest'` gives a layer digest."""
    env = dict(os.environ)
    ref = f"{registry.host}/{unique_repo}/header-modifier:v1.0.0"
    wasmplugin("push", ref, str(PLUGIN), "--format", "oras", "--insecure-registry", registry.host, env=env)
    layer = registry.raw_manifest(f"{unique_repo}/header-modifier", "v1.0.0").json()["layers"][0]["digest"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wasmplugin",
            "pull",
            f"oci://{ref}",
            "--sha256",
            layer,
            "--insecure-registry",
            registry.host,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "is the digest of layer 0; for oci:// Istio compares the manifest digest" in proc.stderr
