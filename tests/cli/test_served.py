"""What ``get``/``describe --admin`` make of a sidecar's plan entries: the resource shape back
from the values the sidecar runs, with nothing secret in it."""

from __future__ import annotations

import base64
import json

from wasmplugin.cli.served import as_object, created, plugin_config
from wasmplugin.config import build_plan, load_text
from wasmplugin.config.plan import PlanEntry

AUTH = base64.b64encode(b"user:Sup3rS3cret").decode()
DOCKERCONFIG = base64.b64encode(json.dumps({"auths": {"ghcr.io": {"auth": AUTH}}}).encode()).decode()
MESH = f"""\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: api, namespace: shop}}
spec: {{address: 127.0.0.1, labels: {{app: api}}, ports: {{http: 8080}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: pull, namespace: shop}}
type: kubernetes.io/dockerconfigjson
data: {{.dockerconfigjson: {DOCKERCONFIG}}}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: auth, namespace: shop, creationTimestamp: "2024-05-01T10:00:00Z"}}
spec:
  url: oci://ghcr.io/myorg/auth:v1
  pluginName: auth-root
  imagePullSecret: pull
  priority: 7
  pluginConfig: {{mode: strict}}
  vmConfig:
    env:
    - {{name: FROM_HOST, valueFrom: HOST}}
    - {{name: PLAIN, value: hello}}
"""


def entry() -> PlanEntry:
    result = load_text(MESH, "<mesh>")
    assert result.ok, [str(d) for d in result.errors]
    workload = result.mesh.workload("shop", "api")
    assert workload is not None
    (found,) = build_plan(result.mesh, workload).entries()
    return found


def test_as_object_is_the_resource_as_the_sidecar_runs_it() -> None:
    e = entry()
    body = as_object(e)
    assert body["metadata"]["name"] == "auth" and body["metadata"]["namespace"] == "shop"
    assert body["metadata"]["creationTimestamp"] == "2024-05-01T10:00:00Z"
    spec = body["spec"]
    assert spec["url"] == "oci://ghcr.io/myorg/auth:v1"
    assert (spec["phase"], spec["priority"], spec["failStrategy"], spec["type"]) == (
        "UNSPECIFIED_PHASE",
        7,
        "FAIL_CLOSE",
        "HTTP",
    )
    assert spec["pluginName"] == "auth-root"
    assert spec["imagePullSecret"] == "pull"
    assert spec["pluginConfig"] == {"mode": "strict"}
    assert spec["vmConfig"]["env"] == [
        {"name": "FROM_HOST", "valueFrom": "HOST"},
        {"name": "PLAIN", "value": "hello"},
    ]
    assert "Sup3rS3cret" not in json.dumps(body) and AUTH not in json.dumps(body)
    when = created(e)
    assert when is not None and when.year == 2024
    assert plugin_config(e) == {"mode": "strict"}
