"""Validation beyond the CRD corpus: metadata, webhook checks, blog forms, the other kinds, mesh config."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from wasmplugin.config import LoadResult, load_text
from wasmplugin.limits import DEFAULT_LIMITS

HEX = "0123456789abcdef" * 4


def wasmplugin(spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": "p", "namespace": "default", **meta},
        "spec": {"url": "oci://r.example/p:v1", **(spec or {})},
    }


def run(*docs: dict[str, Any], strict: bool = False) -> LoadResult:
    return load_text(yaml.safe_dump_all(docs, sort_keys=False), "v.yaml", strict=strict)


def lines(result: LoadResult) -> list[str]:
    return [str(d) for d in result.diagnostics]


def test_error_and_warning_line_format() -> None:
    result = run(wasmplugin({"phase": "AUTHENTICATE"}), wasmplugin({"selector": {}}, name="q"))
    assert lines(result) == [
        'v.yaml#1: WasmPlugin default/p: spec.phase: unsupported value "AUTHENTICATE"; supported: '
        "UNSPECIFIED_PHASE, AUTHN, AUTHZ, STATS",
        "warning: v.yaml#2: WasmPlugin default/q: spec.selector: workload selector specified without labels "
        "(it selects every workload in the namespace)",
    ]


@pytest.mark.parametrize(
    ("meta", "field", "text"),
    [
        ({"name": None}, "metadata.name", "required field is missing"),
        ({"name": "Bad_Name"}, "metadata.name", "RFC 1123 subdomain"),
        ({"name": "a" * 254}, "metadata.name", "no more than 253"),
        ({"namespace": "Prod"}, "metadata.namespace", "RFC 1123 label"),
        ({"labels": {"-bad": "x"}}, "metadata.labels", "label key"),
        ({"labels": {"ok": "not ok!"}}, "metadata.labels", "label value"),
        ({"creationTimestamp": "yesterday"}, "metadata.creationTimestamp", "RFC 3339"),
        ({"owner": "me"}, "metadata.owner", "unknown field"),
        ({"name": None, "generateName": "p-"}, "metadata.name", "generateName is not supported"),
    ],
)
def test_metadata(meta: dict[str, Any], field: str, text: str) -> None:
    doc = wasmplugin()
    doc["metadata"].update(meta)
    doc["metadata"] = {k: v for k, v in doc["metadata"].items() if v is not None}
    result = run(doc)
    assert [(e.field, e.origin) for e in result.errors] == [(field, "metadata")]
    assert text in result.errors[0].reason


def test_namespace_defaults_to_default_and_top_level_unknown_fields() -> None:
    doc = wasmplugin()
    del doc["metadata"]["namespace"]
    doc["extra"] = 1
    result = run(doc)
    assert [(e.resource, e.field) for e in result.errors] == [("WasmPlugin default/p", "extra")]


def test_webhook_checks() -> None:
    result = run(
        wasmplugin({"targetRefs": [{"kind": "Pod", "name": "x"}]}, name="a"),
        wasmplugin({"priority": 2**31}, name="b"),
        wasmplugin({"verificationKey": "k"}, name="c"),
    )
    assert [(e.resource, e.field, e.origin) for e in result.errors] == [
        ("WasmPlugin default/a", "spec.targetRefs[0]", "webhook"),
        ("WasmPlugin default/b", "spec.priority", "webhook"),
    ]
    assert "core/Service networking.istio.io/ServiceEntry" in result.errors[0].reason
    assert [(w.resource, w.field) for w in result.warnings] == [
        ("WasmPlugin default/c", "spec.verificationKey")
    ]


def test_sha256_prefix_extension() -> None:
    result = run(wasmplugin({"sha256": "sha256:" + HEX}))
    assert result.ok
    assert result.mesh.plugins[0].spec.sha256 == HEX
    assert [(w.field, w.extension) for w in result.warnings] == [("spec.sha256", "sha256-prefix")]
    strict = run(wasmplugin({"sha256": "sha256:" + HEX}), strict=True)
    assert [(e.field, e.extension) for e in strict.errors] == [("spec.sha256", "sha256-prefix")]
    placeholder = run(wasmplugin({"sha256": "sha256:abc123def456..."}))
    assert [e.field for e in placeholder.errors] == ["spec.sha256"]
    assert 'without a "sha256:" prefix' in placeholder.errors[0].reason


@pytest.mark.parametrize(
    ("env", "field", "text"),
    [
        ({"name": "A", "valueFrom": {}}, "spec.vmConfig.env[0].valueFrom", "got an empty object"),
        (
            {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}, "secretKeyRef": {}}},
            "spec.vmConfig.env[0].valueFrom",
            "exactly one of",
        ),
        (
            {"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            "spec.vmConfig.env[0].valueFrom",
            "got resourceFieldRef",
        ),
        (
            {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            "spec.vmConfig.env[0].valueFrom.fieldRef.fieldPath",
            "unsupported fieldPath",
        ),
        (
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}},
            "spec.vmConfig.env[0].valueFrom.secretKeyRef.key",
            "required",
        ),
        (
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "Bad", "key": "k"}}},
            "spec.vmConfig.env[0].valueFrom.configMapKeyRef.name",
            "RFC 1123",
        ),
        (
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": "yes please"}}},
            "spec.vmConfig.env[0].valueFrom.secretKeyRef.optional",
            "boolean",
        ),
        (
            {"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            "spec.vmConfig.env[0]",
            "cannot both be set",
        ),
    ],
)
def test_malformed_blog_env_forms_are_errors(env: dict[str, Any], field: str, text: str) -> None:
    result = run(wasmplugin({"vmConfig": {"env": [env]}}))
    assert [e.field for e in result.errors] == [field]
    assert text in result.errors[0].reason


def test_label_key_field_refs_are_accepted() -> None:
    env = [
        {
            "name": "V",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app.kubernetes.io/version']"}},
        }
    ]
    assert run(wasmplugin({"vmConfig": {"env": env}})).ok


WE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "WorkloadEntry",
    "metadata": {"name": "w", "namespace": "default"},
}
SE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "ServiceEntry",
    "metadata": {"name": "s", "namespace": "default"},
}


@pytest.mark.parametrize(
    ("doc", "field", "text"),
    [
        ({**WE, "spec": {"ports": {"http": 80}}}, "spec.address", "required"),
        (
            {**WE, "spec": {"address": "1.2.3.4", "ports": {"HTTP_PORT": 80}}},
            'spec.ports["HTTP_PORT"]',
            "port name",
        ),
        ({**WE, "spec": {"address": "1.2.3.4", "ports": {"http": 70000}}}, "spec.ports.http", "65535"),
        (
            {**WE, "spec": {"address": "unix:///sock", "ports": {"http": 80}}},
            "spec",
            "UDS may not include ports",
        ),
        ({**WE, "spec": {"address": "1.2.3.4", "labels": {"a": "b c"}}}, "spec.labels", "label value"),
        ({**WE, "spec": {"address": "1.2.3.4", "bogus": 1}}, "spec.bogus", "unknown field"),
        ({**SE, "spec": {"ports": [{"number": 80, "name": "http"}]}}, "spec.hosts", "required"),
        (
            {
                **SE,
                "spec": {
                    "hosts": ["a.b"],
                    "ports": [{"number": 80, "name": "a"}, {"number": 80, "name": "b"}],
                },
            },
            "spec.ports[1].number",
            "used twice",
        ),
        (
            {**SE, "spec": {"hosts": ["a.b"], "ports": [{"number": 80, "name": "a", "protocol": "QUIC"}]}},
            "spec.ports[0].protocol",
            "unsupported protocol",
        ),
        ({**SE, "spec": {"hosts": ["bad host"]}}, "spec.hosts[0]", "DNS name"),
        (
            {
                **SE,
                "spec": {
                    "hosts": ["a.b"],
                    "resolution": "STATIC",
                    "endpoints": [{"address": "1.2.3.4"}],
                    "workloadSelector": {"labels": {}},
                },
            },
            "spec",
            "only one of endpoints or workloadSelector",
        ),
        (
            {**SE, "spec": {"hosts": ["a.b"], "resolution": "NONE", "endpoints": [{"address": "1.2.3.4"}]}},
            "spec.endpoints",
            "resolution type NONE",
        ),
        ({**SE, "spec": {"hosts": ["a.b"], "ports": [{"number": 80}]}}, "spec.ports[0].name", "required"),
        (
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "!!!"}},
            'data["k"]',
            "base64",
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s"},
                "type": "kubernetes.io/dockerconfigjson",
                "stringData": {"x": "y1"},
            },
            "data",
            ".dockerconfigjson",
        ),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"bad key": "v"}},
            'data["bad key"]',
            "invalid key",
        ),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": 5}},
            "data.k",
            "string",
        ),
    ],
)
def test_other_kinds(doc: dict[str, Any], field: str, text: str) -> None:
    result = run(doc)
    assert [e.field for e in result.errors] == [field], lines(result)
    assert text in result.errors[0].reason


def test_workload_labels_in_metadata_only_warns() -> None:
    doc = {**WE, "metadata": {"name": "w", "labels": {"app": "x"}}, "spec": {"address": "1.2.3.4"}}
    result = run(doc)
    assert result.ok and [w.field for w in result.warnings] == ["spec.labels"]


def mesh_config(data: dict[str, str], name: str = "istio") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "istio-system"},
        "data": data,
    }


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"mesh": "rootNamespace: [\n"}, "data.mesh", "YAML syntax error"),
        ({"mesh": "rootNamespace: Bad_NS\n"}, "data.mesh.rootNamespace", "RFC 1123"),
        ({"mesh": "- a\n"}, "data.mesh", "one YAML mapping"),
        ({"wasmplugin": "colour: blue\n"}, "data.wasmplugin.colour", "unknown option"),
        ({"wasmplugin": "priorityOrder: up\n"}, "data.wasmplugin.priorityOrder", "descending or ascending"),
        (
            {"wasmplugin": "limits: {vm_memory_gb: 1}\n"},
            "data.wasmplugin.limits.vm_memory_gb",
            "unknown limit",
        ),
        (
            {"wasmplugin": "limits: {http_max_attempts: 2.5}\n"},
            "data.wasmplugin.limits.http_max_attempts",
            "integer",
        ),
        (
            {"wasmplugin": "limits: {fetch_timeout_s: 0}\n"},
            "data.wasmplugin.limits.fetch_timeout_s",
            "greater than 0",
        ),
    ],
)
def test_mesh_config_errors(data: dict[str, str], field: str, text: str) -> None:
    result = run(mesh_config(data))
    assert [e.field for e in result.errors] == [field], lines(result)
    assert text in result.errors[0].reason


def test_mesh_config_values() -> None:
    result = run(
        mesh_config(
            {
                "mesh": "rootNamespace: mesh-root\ndefaultConfig: {holdApplicationUntilProxyStarts: true}\n",
                "wasmplugin": "limits:\n  callback_deadline_ms: 250\n  fetch_timeout_s: 2.5\n",
            }
        )
    )
    assert result.ok, lines(result)
    assert result.mesh.root_namespace == "mesh-root"
    limits = result.mesh.limits(DEFAULT_LIMITS)
    assert (limits.callback_deadline_ms, limits.fetch_timeout_s) == (250, 2.5)
    assert limits.vm_memory_bytes == DEFAULT_LIMITS.vm_memory_bytes


def test_one_mesh_config_only() -> None:
    other = mesh_config({"mesh": "rootNamespace: x\n"})
    other["metadata"]["namespace"] = "other"
    result = run(mesh_config({}), other)
    assert [e.origin for e in result.errors] == ["mesh"]
    assert "second mesh config" in result.errors[0].reason


def test_duplicates_are_errors_naming_the_first() -> None:
    result = run(wasmplugin(), wasmplugin())
    assert [str(e) for e in result.errors] == [
        "v.yaml#2: WasmPlugin default/p: defined twice; first at v.yaml#1"
    ]
    assert len(result.mesh.plugins) == 1


def test_reference_warnings() -> None:
    result = run(
        wasmplugin({"imagePullSecret": "missing"}, name="a"),
        wasmplugin(
            {
                "vmConfig": {
                    "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]
                }
            },
            name="b",
        ),
        wasmplugin(
            {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g"}]}, name="c"
        ),
    )
    assert result.ok
    refs = [(w.resource, w.field) for w in result.warnings if w.origin == "reference"]
    assert refs == [
        ("WasmPlugin default/a", "spec.imagePullSecret"),
        ("WasmPlugin default/b", "spec.vmConfig.env[0].valueFrom.configMapKeyRef"),
        ("WasmPlugin default/c", "spec.targetRefs"),
    ]
    plugin_b = result.mesh.plugin("default", "b")
    assert plugin_b is not None and any(w.origin == "reference" for w in plugin_b.warnings)


def test_raise_for_errors_is_one_line_with_a_count() -> None:
    from wasmplugin.errors import ConfigError

    result = run(wasmplugin({"phase": "X"}), wasmplugin({"url": ""}, name="q"))
    with pytest.raises(ConfigError) as info:
        result.raise_for_errors()
    message = str(info.value)
    assert "\n" not in message and message.startswith("v.yaml#1: WasmPlugin default/p: spec.phase:")
    assert message.endswith("(and 1 more errors)")
