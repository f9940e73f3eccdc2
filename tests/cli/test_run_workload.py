"""``wasmplugin run -f DIR --workload NS/NAME``: one request through a workload's whole chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wasmplugin.cli.main import main

REPO = Path(__file__).resolve().parents[2]
HM = REPO / "plugins" / "header-modifier" / "plugin.wasm"


def write_mesh(d: Path, *, extra: str = "") -> None:
    (d / "mesh.yaml").write_text(f"""\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: api, namespace: shop, labels: {{app: api}}}}
spec:
  address: 127.0.0.1
  labels: {{app: api}}
  ports: {{http: 8080}}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: second, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z"}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  url: file://{HM}
  phase: STATS
  pluginConfig:
    request_headers: [{{name: x-order, value: second}}]
    response_headers: []
    enable_logging: false
    log_level: info
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: first, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z"}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  url: file://{HM}
  phase: AUTHN
  pluginConfig:
    request_headers: [{{name: x-order, value: first}}]
    response_headers: []
    enable_logging: false
    log_level: info
{extra}""")


def test_whole_chain_in_phase_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_mesh(tmp_path)
    code = main(["run", "-f", str(tmp_path), "--workload", "shop/api", "--request", "GET /", "-o", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    r = json.loads(out.out)
    order = [v for k, v in r["request"]["headers"] if k == "x-order"]
    assert order == ["first", "second"]  # AUTHN before STATS


def test_unreachable_module_denies_under_fail_close(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_mesh(tmp_path, extra=f"""---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: missing, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  url: file://{tmp_path}/nope.wasm
  phase: AUTHZ
""")
    code = main(["run", "-f", str(tmp_path), "--workload", "shop/api", "--request", "GET /", "-o", "json"])
    r = json.loads(capsys.readouterr().out)
    assert code == 2 and r["error"]
    assert r["response"]["status"] == 403 and r["response"]["body"] == "RBAC: access denied"
