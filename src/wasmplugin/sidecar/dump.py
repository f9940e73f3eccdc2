"""``/config_dump``: the running configuration in Envoy's admin shape.

Sections (each an object with Envoy's ``@type``): bootstrap (node), listeners (with the Wasm HTTP
filters by ECDS name, in chain order), clusters, ECDS (one ``TypedExtensionConfig`` per WasmPlugin,
as istiod + istio-agent would send it), and wasmplugin's own section with the config version, the
last reload error and the config layer's ``ChainPlan`` dict. ``wasmplugin proxy-config --admin``
reads this.
"""

from __future__ import annotations

import time
from typing import Any

from wasmplugin.sidecar.reload import ReloadStatus
from wasmplugin.sidecar.state import ConfigState

T_BOOTSTRAP = "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump"
T_LISTENERS = "type.googleapis.com/envoy.admin.v3.ListenersConfigDump"
T_CLUSTERS = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"
T_ECDS = "type.googleapis.com/envoy.admin.v3.EcdsConfigDump"
T_SIDECAR = "type.googleapis.com/wasmplugin.admin.v1.SidecarConfigDump"
T_TYPED_EXT = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
T_WASM = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
T_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
T_HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _socket(address: str, port: int | None) -> dict[str, Any]:
    return {"socket_address": {"address": address, "port_value": port or 0}}


def _http_filters(plugins: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    for p in plugins:
        if p.get("direction") != direction:
            continue
        filters.append(
            {
                "name": p["ecds_name"],
                "config_discovery": {
                    "config_source": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
                    "type_urls": [T_WASM, T_RBAC],
                },
                "wasmplugin_port": p.get("port"),
            }
        )
    filters.append({"name": "envoy.filters.http.router"})
    return filters


def _ecds(p: dict[str, Any], version: str, loaded: str) -> dict[str, Any]:
    if p.get("state") == "load_failed":
        allow = p.get("fail_strategy") == "FAIL_OPEN"
        typed: dict[str, Any] = {
            "@type": T_RBAC,
            "rules_stat_prefix": "wasm-default-allow" if allow else "wasm-default-deny",
        }
        if not allow:
            typed["rules"] = {}
    else:
        typed = {
            "@type": T_WASM,
            "config": {
                "name": p["name"],
                "root_id": p.get("root_id", ""),
                "vm_config": {
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": p.get("local_path", "")}},
                    "environment_variables": {"key_values": dict(p.get("env", {}))} if p.get("env") else {},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": p.get("configuration", ""),
                }
                if p.get("configuration")
                else {},
                "failure_policy": {"FAIL_OPEN": "FAIL_OPEN", "FAIL_RELOAD": "FAIL_RELOAD"}.get(
                    str(p.get("fail_strategy")), "FAIL_CLOSED"
                ),
            },
        }
    return {
        "version_info": version,
        "ecds_filter": {"@type": T_TYPED_EXT, "name": p["ecds_name"], "typed_config": typed},
        "last_updated": loaded,
    }


def config_dump(
    state: ConfigState,
    *,
    workload: str,
    ports: dict[str, int],
    address: str,
    reload_status: ReloadStatus | None,
    node: Any = None,
) -> dict[str, Any]:
    version = str(state.version)
    loaded = _iso(state.loaded_at or time.time())
    plugins = state.plugins
    node_obj: dict[str, Any] = {"id": f"sidecar~{address}~{workload.replace('/', '.')}", "cluster": workload}
    if node is not None:
        node_obj = {
            "id": getattr(node, "id", node_obj["id"]),
            "cluster": getattr(node, "cluster", node_obj["cluster"]),
            "metadata": {k: v for k, v in dict(getattr(node, "metadata", {})).items() if _jsonable(v)},
        }
    listeners = []
    for name, direction, envoy_name in (
        ("inbound", "inbound", "virtualInbound"),
        ("outbound", "outbound", "virtualOutbound"),
    ):
        listeners.append(
            {
                "name": envoy_name,
                "active_state": {
                    "version_info": version,
                    "listener": {
                        "name": envoy_name,
                        "address": _socket(address, ports.get(name)),
                        "traffic_direction": direction.upper(),
                        "filter_chains": [
                            {
                                "filters": [
                                    {
                                        "name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": {
                                            "@type": T_HCM,
                                            "stat_prefix": f"{name}_{address}_{ports.get(name)}",
                                            "http_filters": _http_filters(plugins, direction),
                                        },
                                    }
                                ]
                            }
                        ],
                    },
                    "last_updated": loaded,
                },
            }
        )
    clusters = []
    for c in state.routes.clusters():
        clusters.append(
            {
                "version_info": version,
                "cluster": {
                    "name": c.name,
                    "type": "STATIC",
                    "connect_timeout": "10s",
                    "load_assignment": {
                        "cluster_name": c.name,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {"endpoint": {"address": _socket(e.address, e.port)}} for e in c.endpoints
                                ]
                            }
                        ],
                    },
                    "alt_stat_name": c.host or c.name,
                },
                "last_updated": loaded,
            }
        )
    seen: set[str] = set()
    ecds = []
    for p in plugins:
        if p["ecds_name"] in seen:
            continue
        seen.add(p["ecds_name"])
        ecds.append(_ecds(p, version, loaded))
    own = {
        "@type": T_SIDECAR,
        "workload": workload,
        "config_version": state.version,
        "fingerprint": state.fingerprint,
        "loaded_at": loaded,
        "last_reload_error": reload_status.last_error if reload_status else None,
        "last_reload_error_at": _iso(reload_status.last_error_at)
        if reload_status and reload_status.last_error
        else None,
        "reload_attempts": reload_status.attempts if reload_status else 0,
        "reload_failures": reload_status.failures if reload_status else 0,
        "warnings": list(state.warnings),
        "plugins": plugins,
    }
    return {
        "configs": [
            {
                "@type": T_BOOTSTRAP,
                "bootstrap": {"node": node_obj, "admin": {"address": _socket(address, ports.get("admin"))}},
            },
            {"@type": T_LISTENERS, "version_info": version, "dynamic_listeners": listeners},
            {"@type": T_CLUSTERS, "version_info": version, "dynamic_active_clusters": clusters},
            {"@type": T_ECDS, "ecds_filters": ecds},
            own,
            *([state.plan] if state.plan and "@type" in state.plan else []),
        ]
    }


def _jsonable(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool, list, dict)) or v is None
