"""The ChainPlan: entries, env and pull-secret resolution, JSON round trip, secrets never shown."""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any

import pytest
import yaml
from test_config_ordering import mesh_of, plugin, workload

from wasmplugin.chain.api import Direction
from wasmplugin.config import (
    ChainPlan,
    PlanFormatError,
    build_plan,
    config_dump_section,
    plan_from_config_dump,
)
from wasmplugin.config.ecds import ecds_resource
from wasmplugin.config.env import resolve_pull_secret
from wasmplugin.errors import ConfigError

SECRET_VALUE = "s3cr3t-Value-9f8e7d"
DOCKER_CONFIG = json.dumps(
    {"auths": {"registry.example": {"auth": base64.b64encode(b"u:" + SECRET_VALUE.encode()).decode()}}}
)


def secret(
    name: str, namespace: str = "default", type_: str = "Opaque", **string_data: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": type_,
        "stringData": string_data,
    }


def pull_secret(name: str = "regcred", namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(DOCKER_CONFIG.encode()).decode()},
    }


def config_map(name: str, namespace: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


ENV_PLUGIN = plugin(
    "full",
    url="ghcr.io/acme/full:v1",
    sha256="ab" * 32,
    phase="AUTHZ",
    priority=7,
    failStrategy="FAIL_RELOAD",
    pluginName="root-a",
    imagePullPolicy="Always",
    imagePullSecret="regcred",
    pluginConfig={"limit": 10, "ratio": 0.5, "name": "<x>", "nested": {"b": [1, 2.0], "a": True}},
    vmConfig={
        "env": [
            {"name": "INLINE_VAR", "value": "v"},
            {"name": "INLINE_EMPTY"},
            {"name": "FROM_HOST", "valueFrom": "HOST"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "VERSION", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['version']"}}},
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "api-key"}}},
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
            {
                "name": "OPTIONAL",
                "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "x", "optional": True}},
            },
        ]
    },
)


def full_plan() -> ChainPlan:
    mesh = mesh_of(
        workload(labels={"app": "app", "version": "v3"}),
        ENV_PLUGIN,
        secret("creds", **{"api-key": SECRET_VALUE}),
        config_map("settings", level="debug"),
        pull_secret(),
    )
    found = mesh.workload("default", "app")
    assert found is not None
    return build_plan(mesh, found)


def test_entry_fields() -> None:
    entry = full_plan().entries()[0]
    assert entry.ecds_name == "extensions.istio.io/wasmplugin/default.full"
    assert entry.plugin_name == "default.full"
    assert entry.url == "oci://ghcr.io/acme/full:v1"
    assert entry.sha256 == "ab" * 32
    assert (entry.phase, entry.priority, entry.fail_strategy, entry.type) == (
        "AUTHZ",
        7,
        "FAIL_RELOAD",
        "HTTP",
    )
    assert entry.image_pull_policy == "Always"
    assert entry.root_id == "root-a"
    # Struct numbers are doubles: 10 → 10, 2.0 → 2; keys sorted; HTML characters escaped
    assert (
        entry.configuration
        == b'{"limit":10,"name":"\\u003cx\\u003e","nested":{"a":true,"b":[1,2]},"ratio":0.5}'
    )
    assert entry.resource_version.startswith("sha256-")


def test_env_resolution() -> None:
    entry = full_plan().entries()[0]
    env = {v.name: v for v in entry.env}
    assert set(env) == {
        "INLINE_VAR",
        "INLINE_EMPTY",
        "FROM_HOST",
        "POD_NAME",
        "POD_IP",
        "VERSION",
        "API_KEY",
        "LEVEL",
    }
    assert env["INLINE_VAR"].value == "v" and env["INLINE_EMPTY"].value == ""
    assert env["FROM_HOST"].source == "HOST" and env["FROM_HOST"].value is None
    assert env["POD_NAME"].value == "app"
    assert env["POD_IP"].value == "127.0.0.1"
    assert env["VERSION"].value == "v3"
    assert env["LEVEL"].value == "debug"
    assert env["API_KEY"].secret and env["API_KEY"].reveal() == SECRET_VALUE
    values, host = entry.reveal_environment()
    assert values["API_KEY"] == SECRET_VALUE and host == ("FROM_HOST",)


def test_secrets_never_appear_in_json_repr_or_ecds() -> None:
    plan = full_plan()
    texts = [
        json.dumps(plan.to_dict()),
        repr(plan),
        str(plan),
        json.dumps(ecds_resource(plan.entries()[0])),
        yaml.safe_dump(plan.to_dict()),
    ]
    for text in texts:
        assert SECRET_VALUE not in text
        assert base64.b64encode(DOCKER_CONFIG.encode()).decode() not in text
        assert "registry.example" not in text  # the docker config is not printed either
    assert "<redacted>" in texts[0]


def test_json_round_trip() -> None:
    plan = full_plan()
    data = json.loads(json.dumps(plan.to_dict()))
    back = ChainPlan.from_dict(data)
    assert back.to_dict() == data
    assert back.workload == plan.workload
    assert [(c.direction, c.port) for c in back.chains] == [(c.direction, c.port) for c in plan.chains]
    entry, original = back.entries()[0], plan.entries()[0]
    assert entry.configuration == original.configuration
    secret_var = next(v for v in entry.env if v.name == "API_KEY")
    assert secret_var.secret and secret_var.reveal() == ""  # the value does not travel
    assert entry.image_pull_secret is not None and entry.image_pull_secret.resolved
    assert not entry.image_pull_secret.dockerconfigjson.available


def test_pickle_keeps_secrets_for_worker_processes() -> None:
    plan = full_plan()
    clone = pickle.loads(pickle.dumps(plan))
    assert next(v for v in clone.entries()[0].env if v.name == "API_KEY").reveal() == SECRET_VALUE


def test_config_dump_section_and_sidecar_form() -> None:
    plan = full_plan()
    dump = {
        "configs": [
            {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump"},
            config_dump_section(plan),
        ]
    }
    assert plan_from_config_dump(dump).to_dict() == plan.to_dict()
    sidecar_form = {"configs": [{"@type": "x.SidecarConfigDump", "chain_plan": plan.to_dict()}]}
    assert plan_from_config_dump(sidecar_form).workload.ref == "default/app"
    with pytest.raises(PlanFormatError):
        plan_from_config_dump({"configs": []})
    with pytest.raises(PlanFormatError):
        plan_from_config_dump({"nope": 1})


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(version=99),
        lambda d: d.update(plugins=[]),
        lambda d: d["chains"][0].update(http=["unknown-plugin"]),
        lambda d: d["chains"][0].update(direction="sideways"),
        lambda d: d.pop("workload"),
        lambda d: d["plugins"][next(iter(d["plugins"]))].update(name=5),
    ],
)
def test_malformed_plan_json_is_a_plan_format_error(mutate: Any) -> None:
    data = full_plan().to_dict()
    mutate(data)
    with pytest.raises(PlanFormatError):
        ChainPlan.from_dict(data)


def test_missing_secret_fails_the_plan_unless_optional() -> None:
    p = plugin(
        "needs",
        vmConfig={"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}]},
    )
    mesh = mesh_of(workload(), p)
    app = mesh.workload("default", "app")
    assert app is not None
    with pytest.raises(ConfigError) as info:
        build_plan(mesh, app)
    assert "Secret default/gone not found" in str(info.value)
    assert info.value.field == "spec.vmConfig.env[0].valueFrom.secretKeyRef"
    optional = plugin(
        "opt",
        vmConfig={
            "env": [
                {"name": "K", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}}
            ]
        },
    )
    mesh = mesh_of(workload(), optional)
    assert build_plan(mesh, app).entries()[0].env == ()


def test_missing_key_in_existing_config_map() -> None:
    p = plugin(
        "needs",
        vmConfig={"env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope"}}}]},
    )
    mesh = mesh_of(workload(), p, config_map("cm", other="x"))
    app = mesh.workload("default", "app")
    assert app is not None
    with pytest.raises(ConfigError, match="key 'nope' in ConfigMap default/cm not found"):
        build_plan(mesh, app)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("regcred", "kubernetes://default/regcred"),
        ("other-ns/regcred", "kubernetes://default/regcred"),
        ("kubernetes://other-ns/regcred", "kubernetes://default/regcred"),
    ],
)
def test_pull_secret_is_always_in_the_plugins_namespace(written: str, expected: str) -> None:
    mesh = mesh_of(plugin("p", imagePullSecret=written), pull_secret(), pull_secret(namespace="other-ns"))
    p = mesh.plugin("default", "p")
    assert p is not None
    resolved, problem = resolve_pull_secret(mesh, p)
    assert problem is None and resolved is not None
    assert resolved.name == expected and resolved.resolved


def test_pull_secret_problems() -> None:
    mesh = mesh_of(
        plugin("missing", imagePullSecret="nope"),
        plugin("wrong-type", imagePullSecret="opaque"),
        plugin("bad-name", imagePullSecret="a/b/c"),
        secret("opaque", x="value"),
    )
    results = {
        name: resolve_pull_secret(mesh, mesh.plugin("default", name))
        for name in ("missing", "wrong-type", "bad-name")
    }  # type: ignore[arg-type]
    secret_missing, why = results["missing"]
    assert secret_missing is not None and not secret_missing.resolved and "not found" in (why or "")
    secret_wrong, why = results["wrong-type"]
    assert (
        secret_wrong is not None
        and not secret_wrong.resolved
        and "kubernetes.io/dockerconfigjson" in (why or "")
    )
    assert results["bad-name"][0] is None and "ignores" in (results["bad-name"][1] or "")


def test_ecds_payload() -> None:
    entry = full_plan().entries()[0]
    resource = ecds_resource(entry)
    assert resource["name"] == entry.ecds_name
    config = resource["typed_config"]["config"]
    assert (
        resource["typed_config"]["@type"] == "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
    )
    assert config["name"] == "default.full" and config["root_id"] == "root-a"
    assert config["failure_policy"] == "FAIL_RELOAD"
    assert config["vm_config"]["runtime"] == "envoy.wasm.runtime.v8"
    remote = config["vm_config"]["code"]["remote"]
    assert remote == {
        "http_uri": {"uri": "oci://ghcr.io/acme/full:v1", "timeout": "30s", "cluster": "_"},
        "sha256": "ab" * 32,
    }
    env = config["vm_config"]["environment_variables"]
    assert env["host_env_keys"] == ["FROM_HOST"]
    assert env["key_values"]["API_KEY"] == "<redacted>"
    assert env["key_values"]["ISTIO_META_WASM_IMAGE_PULL_POLICY"] == "Always"
    assert env["key_values"]["ISTIO_META_WASM_IMAGE_PULL_SECRET"] == "<redacted>"
    assert env["key_values"]["ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION"] == entry.resource_version
    assert json.loads(config["configuration"]["value"])["limit"] == 10
    revealed = ecds_resource(entry, reveal=True)["typed_config"]["config"]["vm_config"][
        "environment_variables"
    ]
    assert revealed["key_values"]["API_KEY"] == SECRET_VALUE


def test_file_url_is_a_local_data_source() -> None:
    mesh = mesh_of(workload(), plugin("local", url="file:///opt/plugins/p.wasm", sha256="cd" * 32))
    app = mesh.workload("default", "app")
    assert app is not None
    entry = build_plan(mesh, app).entries()[0]
    assert ecds_resource(entry)["typed_config"]["config"]["vm_config"]["code"] == {
        "local": {"filename": "/opt/plugins/p.wasm"}
    }


def test_workload_accessors() -> None:
    from test_config_ordering import SE, SELF

    mesh = mesh_of(workload(ports={"http": 8080, "admin": 9901}), SE, SELF)
    app = mesh.workload("default", "app")
    assert app is not None
    assert app.target_port("http") == 8080
    with pytest.raises(ConfigError, match="name one"):
        app.target_port()
    with pytest.raises(ConfigError, match="no port named"):
        app.target_port("grpc")
    service = mesh.service_for_host("backend.default.svc.cluster.local")
    assert service is not None and service.name == "backend"
    assert [(e.address, e.port) for e in mesh.endpoints(service, 80)] == [("127.0.0.1", 9000)]
    own = mesh.service_for_host("app.default.svc.cluster.local")
    assert own is not None
    assert [(e.address, e.port, e.workload) for e in mesh.endpoints(own, 80)] == [
        ("127.0.0.1", 8080, "default/app")
    ]
    assert [(p.port, p.protocol) for p in mesh.inbound_ports(app)] == [
        (7000, "TCP"),
        (8080, "HTTP"),
        (9901, ""),
    ]
    assert [p.port for p in mesh.outbound_ports(app)] == [80, 7000]
    plan = build_plan(mesh, app)
    assert plan.chain(Direction.OUTBOUND, 80) is not None
