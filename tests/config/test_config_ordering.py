"""Selection and order of plugins in a workload's chains: one test per istiod rule."""

from __future__ import annotations

from typing import Any

import yaml

from wasmplugin.chain.api import Direction
from wasmplugin.config import ChainPlan, Mesh, build_plan, load_text

ROOT = "istio-system"


def plugin(name: str, namespace: str = "default", created: str | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if created:
        meta["creationTimestamp"] = created
    spec.setdefault("url", f"oci://registry.example/{name}:v1")
    return {
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": meta,
        "spec": spec,
    }


def workload(
    name: str = "app",
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    ports: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"address": "127.0.0.1", "labels": labels or {"app": name}, "ports": ports or {"http": 8080}},
    }


def service(
    name: str, host: str, ports: list[dict[str, Any]], namespace: str = "default", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hosts": [host], "ports": ports, **spec},
    }


def mesh_of(*docs: dict[str, Any]) -> Mesh:
    result = load_text(yaml.safe_dump_all(docs), "test.yaml")
    assert result.ok, [str(e) for e in result.errors]
    return result.mesh


def plan_of(*docs: dict[str, Any], name: str = "app", namespace: str = "default") -> ChainPlan:
    mesh = mesh_of(*docs)
    found = mesh.workload(namespace, name)
    assert found is not None
    return build_plan(mesh, found)


def names(plan: ChainPlan, direction: Direction = Direction.INBOUND, port: int | None = 8080) -> list[str]:
    chain = plan.chain(direction, port)
    assert chain is not None, f"no {direction.value} chain on port {port}"
    return [e.name for e in chain.http]


# --- order ----------------------------------------------------------------------------------------


def test_phase_groups_come_before_priority() -> None:
    plan = plan_of(
        workload(),
        plugin("unspecified", priority=1000),
        plugin("stats", phase="STATS", priority=999),
        plugin("authz", phase="AUTHZ", priority=0),
        plugin("authn", phase="AUTHN", priority=-1000),
        plugin("explicit-unspecified", phase="UNSPECIFIED_PHASE", priority=5),
    )
    assert names(plan) == ["authn", "authz", "stats", "unspecified", "explicit-unspecified"]


def test_priority_descending_inside_a_phase() -> None:
    plan = plan_of(
        workload(),
        plugin("p1", phase="AUTHN", priority=1),
        plugin("p100", phase="AUTHN", priority=100),
        plugin("pneg", phase="AUTHN", priority=-5),
        plugin("p10", phase="AUTHN", priority=10),
    )
    assert names(plan) == ["p100", "p10", "p1", "pneg"]


def test_unset_priority_runs_after_every_set_one_including_negatives() -> None:
    plan = plan_of(
        workload(),
        plugin("a-unset", phase="STATS"),
        plugin("b-very-negative", phase="STATS", priority=-2147483647),
        plugin("c-zero", phase="STATS", priority=0),
    )
    assert names(plan) == ["c-zero", "b-very-negative", "a-unset"]


def test_unset_priority_equals_min_int32_so_ties_fall_back_to_gathering_order() -> None:
    plan = plan_of(
        workload(),
        plugin("b-min", priority=-2147483648),
        plugin("a-unset"),
    )
    assert names(plan) == ["a-unset", "b-min"]  # same sort key: name order decides


def test_ties_workload_namespace_before_root_namespace() -> None:
    plan = plan_of(
        workload(),
        plugin("root-old", namespace=ROOT, created="2020-01-01T00:00:00Z", priority=5),
        plugin("local-new", namespace="default", created="2024-01-01T00:00:00Z", priority=5),
    )
    assert names(plan) == ["local-new", "root-old"]


def test_ties_older_creation_timestamp_first() -> None:
    plan = plan_of(
        workload(),
        plugin("a-new", created="2024-03-01T00:00:00Z", priority=5),
        plugin("z-old", created="2024-01-01T00:00:00Z", priority=5),
        plugin("m-mid", created="2024-02-01T12:30:00+02:00", priority=5),
    )
    assert names(plan) == ["z-old", "m-mid", "a-new"]


def test_ties_same_creation_time_by_name() -> None:
    plan = plan_of(
        workload(),
        plugin("bravo", created="2024-01-01T00:00:00Z"),
        plugin("alpha", created="2024-01-01T00:00:00Z"),
        plugin("charlie", created="2024-01-01T00:00:00Z"),
    )
    assert names(plan) == ["alpha", "bravo", "charlie"]


def test_unset_creation_time_is_the_zero_time_and_sorts_first() -> None:
    plan = plan_of(workload(), plugin("a-dated", created="2024-01-01T00:00:00Z"), plugin("z-undated"))
    assert names(plan) == ["z-undated", "a-dated"]


def test_priority_beats_namespace_and_time() -> None:
    plan = plan_of(
        workload(),
        plugin("local-low", created="2020-01-01T00:00:00Z", priority=1),
        plugin("root-high", namespace=ROOT, created="2024-01-01T00:00:00Z", priority=2),
    )
    assert names(plan) == ["root-high", "local-low"]


def test_ascending_mesh_option_orders_lower_first_and_unset_last() -> None:
    mesh_config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": ROOT},
        "data": {"wasmplugin": "priorityOrder: ascending\n"},
    }
    result = load_text(
        yaml.safe_dump_all(
            [
                mesh_config,
                workload(),
                plugin("unset"),
                plugin("p10", priority=10),
                plugin("p1", priority=1),
                plugin("pneg", priority=-1),
            ]
        ),
        "t.yaml",
    )
    assert [w.extension for w in result.warnings if w.extension] == ["priority-ascending"]
    app = result.mesh.workload("default", "app")
    assert app is not None
    assert names(build_plan(result.mesh, app)) == ["pneg", "p1", "p10", "unset"]
    strict = load_text(yaml.safe_dump_all([mesh_config]), "t.yaml", strict=True)
    assert [e.extension for e in strict.errors] == ["priority-ascending"]


def test_four_phase_mesh_full_order() -> None:
    """All four phases, several priorities, an unset priority and ties, in one chain."""
    plan = plan_of(
        workload(),
        plugin("rate-limit", namespace=ROOT),
        plugin("metrics-b", namespace=ROOT, phase="STATS", priority=10, created="2024-01-02T00:00:00Z"),
        plugin("metrics-a", namespace=ROOT, phase="STATS", priority=10, created="2024-01-02T00:00:00Z"),
        plugin("metrics-local", phase="STATS", priority=10, created="2025-01-01T00:00:00Z"),
        plugin("logger", namespace=ROOT, phase="STATS"),
        plugin("rbac", namespace=ROOT, phase="AUTHZ", priority=10),
        plugin("opa", phase="AUTHZ", priority=20),
        plugin("jwt", namespace=ROOT, phase="AUTHN", priority=10),
        plugin("apikey", phase="AUTHN"),
        plugin("mtls-extra", namespace=ROOT, phase="AUTHN", priority=-1),
    )
    assert names(plan) == [
        "jwt",
        "mtls-extra",
        "apikey",
        "opa",
        "rbac",
        "metrics-local",
        "metrics-a",
        "metrics-b",
        "logger",
        "rate-limit",
    ]


# --- selection --------------------------------------------------------------------------------


def test_namespaces_considered_are_the_workloads_and_the_root() -> None:
    plan = plan_of(
        workload(),
        plugin("here"),
        plugin("mesh-wide", namespace=ROOT),
        plugin("elsewhere", namespace="other"),
    )
    assert sorted(names(plan)) == ["here", "mesh-wide"]


def test_root_namespace_comes_from_the_mesh_config() -> None:
    mesh_config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "mesh-root"},
        "data": {"mesh": "rootNamespace: mesh-root\n"},
    }
    plan = plan_of(
        mesh_config,
        workload(),
        plugin("in-istio-system", namespace=ROOT),
        plugin("in-mesh-root", namespace="mesh-root"),
    )
    assert names(plan) == ["in-mesh-root"]
    assert plan.root_namespace == "mesh-root"


def test_selector_labels_must_be_a_subset() -> None:
    plan = plan_of(
        workload(labels={"app": "app", "version": "v2"}),
        plugin("subset", selector={"matchLabels": {"app": "app"}}),
        plugin("exact", selector={"matchLabels": {"app": "app", "version": "v2"}}),
        plugin("superset", selector={"matchLabels": {"app": "app", "tier": "web"}}),
        plugin("other-value", selector={"matchLabels": {"version": "v1"}}),
        plugin("empty-selector", selector={}),
        plugin("empty-labels", selector={"matchLabels": {}}),
    )
    assert sorted(names(plan)) == ["empty-labels", "empty-selector", "exact", "subset"]


def test_sidecars_ignore_plugins_with_target_refs() -> None:
    ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "app"}
    plan = plan_of(
        workload(),
        plugin("by-ref", targetRefs=[ref]),
        plugin("by-single-ref", targetRef=ref),
        plugin("plain"),
    )
    assert names(plan) == ["plain"]


# --- traffic match ----------------------------------------------------------------------------

SE = service(
    "backend",
    "backend.default.svc.cluster.local",
    [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 9000}],
    resolution="STATIC",
    endpoints=[{"address": "127.0.0.1"}],
)
SELF = service(
    "app-svc",
    "app.default.svc.cluster.local",
    [
        {"number": 80, "name": "http", "protocol": "HTTP"},
        {"number": 7000, "name": "tcp-db", "protocol": "TCP"},
    ],
    workloadSelector={"labels": {"app": "app"}},
)


def test_modes_client_outbound_server_inbound() -> None:
    plan = plan_of(
        workload(),
        SE,
        plugin("client", match=[{"mode": "CLIENT"}]),
        plugin("server", match=[{"mode": "SERVER"}]),
        plugin("both", match=[{"mode": "CLIENT_AND_SERVER"}]),
        plugin("undefined", match=[{"mode": "UNDEFINED"}]),
        plugin("no-mode", match=[{}]),
    )
    assert sorted(names(plan, Direction.INBOUND, 8080)) == ["both", "no-mode", "server", "undefined"]
    assert sorted(names(plan, Direction.OUTBOUND, 80)) == ["both", "client", "no-mode", "undefined"]


def test_inbound_port_is_the_target_port_outbound_port_is_the_service_port() -> None:
    plan = plan_of(
        workload(ports={"http": 8080}),
        SELF,
        SE,
        plugin("on-80", match=[{"ports": [{"number": 80}]}]),
        plugin("on-8080", match=[{"ports": [{"number": 8080}]}]),
        plugin("on-9000", match=[{"ports": [{"number": 9000}]}]),
    )
    # SELF's port 80 is named http: its target port is the workload's http port, 8080
    assert [c.port for c in plan.inbound] == [7000, 8080]
    assert names(plan, Direction.INBOUND, 8080) == ["on-8080"]
    # outbound: SE's service port 80 (its targetPort 9000 does not matter)
    assert [c.port for c in plan.outbound] == [80, 7000]
    assert names(plan, Direction.OUTBOUND, 80) == ["on-80"]


def test_any_selector_may_match() -> None:
    plan = plan_of(
        workload(),
        SE,
        plugin("either", match=[{"mode": "CLIENT", "ports": [{"number": 9999}]}, {"mode": "SERVER"}]),
        plugin(
            "neither",
            match=[
                {"mode": "CLIENT", "ports": [{"number": 9999}]},
                {"mode": "SERVER", "ports": [{"number": 1}]},
            ],
        ),
    )
    assert names(plan, Direction.INBOUND, 8080) == ["either"]
    assert names(plan, Direction.OUTBOUND, 80) == []


def test_network_plugins_and_tcp_ports() -> None:
    plan = plan_of(
        workload(), SELF, plugin("l7"), plugin("l4", type="NETWORK"), plugin("l7-explicit", type="HTTP")
    )
    tcp = plan.chain(Direction.INBOUND, 7000)
    assert tcp is not None and tcp.protocol == "TCP"
    assert [e.name for e in tcp.http] == []
    assert [e.name for e in tcp.network] == ["l4"]
    http = plan.chain(Direction.INBOUND, 8080)
    assert http is not None
    assert [e.name for e in http.http] == ["l7", "l7-explicit"]
    assert [e.name for e in http.network] == ["l4"]
    assert [e.name for e in http.entries] == ["l4", "l7", "l7-explicit"]


# --- gateways and waypoints -----------------------------------------------------------------------

GATEWAY_LABELS = {"app": "gw", "gateway.networking.k8s.io/gateway-name": "gw"}
WAYPOINT_LABELS = {
    "gateway.networking.k8s.io/gateway-name": "waypoint",
    "gateway.networking.k8s.io/gateway-class-name": "istio-waypoint",
}


def test_gateway_takes_client_mode_and_its_gateway_ref() -> None:
    plan = plan_of(
        workload("gw", labels=GATEWAY_LABELS, ports={"http": 8080}),
        plugin("client", match=[{"mode": "CLIENT"}]),
        plugin("server", match=[{"mode": "SERVER"}]),
        plugin("selector", selector={"matchLabels": {"app": "gw"}}),
        plugin(
            "ref-me", targetRefs=[{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}]
        ),
        plugin(
            "ref-other", targetRefs=[{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "x"}]
        ),
        plugin(
            "ref-from-root",
            namespace=ROOT,
            targetRefs=[{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}],
        ),
        name="gw",
    )
    assert plan.chains[0].listener == "gateway"
    assert sorted(names(plan)) == ["client", "ref-me", "selector"]


def test_waypoint_only_takes_target_refs_and_never_matches_ports() -> None:
    plan = plan_of(
        workload("waypoint", labels=WAYPOINT_LABELS),
        plugin("selector-based"),
        plugin(
            "class",
            namespace=ROOT,
            targetRefs=[
                {"group": "gateway.networking.k8s.io", "kind": "GatewayClass", "name": "istio-waypoint"}
            ],
        ),
        plugin(
            "class-not-root",
            targetRefs=[
                {"group": "gateway.networking.k8s.io", "kind": "GatewayClass", "name": "istio-waypoint"}
            ],
        ),
        plugin(
            "own-gateway",
            targetRefs=[{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "waypoint"}],
        ),
        plugin(
            "with-port",
            match=[{"ports": [{"number": 8080}]}],
            targetRefs=[{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "waypoint"}],
        ),
        plugin(
            "client",
            match=[{"mode": "CLIENT"}],
            targetRefs=[{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "waypoint"}],
        ),
        plugin(
            "server",
            match=[{"mode": "SERVER"}],
            targetRefs=[{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "waypoint"}],
        ),
        name="waypoint",
    )
    assert [(c.listener, c.port) for c in plan.chains] == [("waypoint", None)]
    assert sorted(names(plan, port=None)) == ["class", "own-gateway", "server"]


def test_plugin_istiod_cannot_parse_is_dropped_with_a_warning() -> None:
    # admitted (the webhook retries with http://), but Go's url.Parse rejects "127.0.0.1:5000/..."
    plan = plan_of(workload(), plugin("bad-url", url="127.0.0.1:5000/plugin:v1"), plugin("good"))
    assert names(plan) == ["good"]
    assert any("bad-url" in w for w in plan.warnings)
    result = load_text(yaml.safe_dump(plugin("bad-url", url="127.0.0.1:5000/plugin:v1")), "t.yaml")
    assert result.ok
    assert [w.field for w in result.warnings] == ["spec.url"]
    assert "drops" in result.warnings[0].reason
