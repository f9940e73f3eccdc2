"""Which plugins apply to a workload and to one of its listeners — istiod's rules.

* Attachment (``ShouldAttachPolicy``, reference §3.2): a sidecar takes plugins *without*
  targetRefs whose selector is absent or a subset of its labels; a Gateway-API gateway pod takes
  selector plugins too, and plugins whose ``Gateway`` ref names it; a waypoint takes only
  targetRef plugins (``GatewayClass istio-waypoint`` from the root namespace, its ``Gateway``,
  or a ``ServiceEntry`` bound to it with ``istio.io/use-waypoint``).
* Traffic (``matchTrafficSelectors``, §3.3): no ``match`` → applies; otherwise any selector whose
  mode fits the listener class (CLIENT = sidecar outbound and gateways, SERVER = sidecar inbound,
  UNDEFINED / CLIENT_AND_SERVER = all) and whose ports are empty or contain the listener port.

What kind of proxy a WorkloadEntry is comes from its labels: ``gateway.networking.k8s.io/
gateway-class-name: istio-waypoint`` (or ``gateway.istio.io/managed: istio.io-mesh-controller``)
makes a waypoint, ``gateway.networking.k8s.io/gateway-name`` a gateway, anything else a sidecar.
"""

from __future__ import annotations

from enum import Enum

from wasmplugin.config.mesh import Mesh, labels_match
from wasmplugin.config.resources import TargetRef, WasmPlugin, WorkloadEntry, WorkloadMode

__all__ = [
    "GATEWAY_NAME_LABEL",
    "ListenerClass",
    "WorkloadKind",
    "attachment",
    "bound_services",
    "matches_traffic",
    "workload_kind",
]

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name"
MANAGED_LABEL = "gateway.istio.io/managed"
USE_WAYPOINT_LABEL = "istio.io/use-waypoint"
WAYPOINT_CLASS = "istio-waypoint"
GATEWAY_API_GROUP = "gateway.networking.k8s.io"


class WorkloadKind(Enum):
    SIDECAR = "sidecar"
    GATEWAY = "gateway"
    WAYPOINT = "waypoint"


class ListenerClass(Enum):
    SIDECAR_INBOUND = "sidecar-inbound"
    SIDECAR_OUTBOUND = "sidecar-outbound"
    GATEWAY = "gateway"


def workload_kind(workload: WorkloadEntry) -> WorkloadKind:
    labels = workload.labels
    if (
        labels.get(GATEWAY_CLASS_LABEL) == WAYPOINT_CLASS
        or labels.get(MANAGED_LABEL) == "istio.io-mesh-controller"
    ):
        return WorkloadKind.WAYPOINT
    if GATEWAY_NAME_LABEL in labels:
        return WorkloadKind.GATEWAY
    return WorkloadKind.SIDECAR


def bound_services(mesh: Mesh, workload: WorkloadEntry) -> tuple[str, ...]:
    """``namespace/name`` of ServiceEntries bound to a waypoint (``istio.io/use-waypoint``)."""
    name = workload.labels.get(GATEWAY_NAME_LABEL, workload.name)
    return tuple(
        f"{s.namespace}/{s.name}" for s in mesh.services if s.meta.labels.get(USE_WAYPOINT_LABEL) == name
    )


def _ref_matches(
    ref: TargetRef, plugin: WasmPlugin, workload: WorkloadEntry, mesh: Mesh, kind: WorkloadKind
) -> bool:
    gateway_name = workload.labels.get(GATEWAY_NAME_LABEL)
    if ref.kind == "Gateway" and ref.canonical_group == GATEWAY_API_GROUP:
        return plugin.namespace == workload.namespace and gateway_name == ref.name
    if kind is not WorkloadKind.WAYPOINT:
        return False
    if ref.kind == "GatewayClass" and ref.canonical_group == GATEWAY_API_GROUP:
        return ref.name == WAYPOINT_CLASS and plugin.namespace == mesh.root_namespace
    if ref.kind == "ServiceEntry" and ref.canonical_group == "networking.istio.io":
        return f"{plugin.namespace}/{ref.name}" in bound_services(mesh, workload)
    return False  # core Service: there are no Kubernetes Services here


def attachment(plugin: WasmPlugin, workload: WorkloadEntry, mesh: Mesh) -> tuple[bool, str]:
    """Whether ``plugin`` attaches to ``workload``, and why (for ``describe``)."""
    kind = workload_kind(workload)
    refs = plugin.spec.target_refs
    if not refs:
        if kind is WorkloadKind.WAYPOINT:
            return False, "waypoints ignore selector-based plugins"
        selector = plugin.spec.selector
        if selector is None or not selector:
            return True, "no selector: every workload in the namespace"
        if labels_match(selector, workload.labels):
            return True, "selector matches"
        shown = ",".join(f"{k}={v}" for k, v in selector.items())
        return False, f"selector {shown} does not match"
    if kind is WorkloadKind.SIDECAR:
        return False, "has targetRefs: sidecars ignore it"
    for ref in refs:
        if _ref_matches(ref, plugin, workload, mesh, kind):
            return True, f"targetRef {ref.kind}/{ref.name} matches"
    return False, "no targetRef matches"


def matches_traffic(plugin: WasmPlugin, listener: ListenerClass, port: int | None) -> bool:
    """istiod's ``matchTrafficSelectors``. ``port`` None is the waypoint listener (no port)."""
    if not plugin.spec.match:
        return True
    for selector in plugin.spec.match:
        mode = selector.effective_mode
        if mode is WorkloadMode.CLIENT:
            mode_ok = listener in (ListenerClass.GATEWAY, ListenerClass.SIDECAR_OUTBOUND)
        elif mode is WorkloadMode.SERVER:
            mode_ok = listener is ListenerClass.SIDECAR_INBOUND
        else:
            mode_ok = True
        if not mode_ok:
            continue
        if not selector.ports or (port is not None and port in selector.ports):
            return True
    return False
