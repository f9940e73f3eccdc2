"""``build_plan``: a workload's :class:`~.plan.ChainPlan`, built as istiod builds its listeners.

Listeners: a sidecar has one inbound listener per :meth:`~.mesh.Mesh.inbound_ports` entry
(compared with ``match`` ports as the target port) and one outbound listener per
:meth:`~.mesh.Mesh.outbound_ports` entry (the service port). A gateway has one listener per
WorkloadEntry port, in class GATEWAY (``match`` mode CLIENT). A waypoint has one inbound listener
without a port. Each listener gets the attached plugins that pass the traffic match, split by
type (HTTP plugins only on HTTP or sniffed ports) and ordered by :mod:`.ordering`.
"""

from __future__ import annotations

from collections.abc import Sequence

from wasmplugin.chain.api import Direction
from wasmplugin.config.env import resolve_env, resolve_pull_secret
from wasmplugin.config.mesh import HTTP_PROTOCOLS, InboundPort, Mesh, OutboundPort
from wasmplugin.config.ordering import gather, order_by_phase
from wasmplugin.config.plan import (
    LISTENER_GATEWAY,
    LISTENER_SIDECAR_INBOUND,
    LISTENER_SIDECAR_OUTBOUND,
    LISTENER_WAYPOINT,
    ChainPlan,
    PlanEntry,
    PortChain,
    WorkloadRef,
)
from wasmplugin.config.resources import PluginType, WasmPlugin, WorkloadEntry
from wasmplugin.config.selection import (
    ListenerClass,
    WorkloadKind,
    attachment,
    matches_traffic,
    workload_kind,
)

__all__ = ["attached_plugins", "build_plan", "plan_entry"]


def plan_entry(mesh: Mesh, plugin: WasmPlugin, workload: WorkloadEntry) -> PlanEntry:
    """One plugin as configured on ``workload``; raises ConfigError for an unresolvable env ref."""
    spec = plugin.spec
    pull_secret, _ = resolve_pull_secret(mesh, plugin)
    return PlanEntry(
        ecds_name=plugin.ecds_name,
        namespace=plugin.namespace,
        name=plugin.name,
        url=spec.normalized_url or spec.url,
        sha256=spec.sha256,
        image_pull_policy=spec.effective_pull_policy.value,
        image_pull_secret=pull_secret,
        phase=spec.effective_phase.value,
        priority=spec.priority,
        fail_strategy=spec.effective_fail_strategy.value,
        type=spec.effective_type.value,
        root_id=spec.plugin_name or "",
        configuration=spec.configuration,
        env=resolve_env(mesh, plugin, workload),
        resource_version=plugin.meta.effective_resource_version,
        creation_timestamp=plugin.meta.creation_timestamp,
        warnings=tuple(f"{d.field}: {d.reason}" if d.field else d.reason for d in plugin.warnings),
    )


def attached_plugins(mesh: Mesh, workload: WorkloadEntry) -> tuple[list[WasmPlugin], list[str]]:
    """Plugins attached to ``workload`` in gathering order, and plan warnings (dropped plugins)."""
    attached: list[WasmPlugin] = []
    warnings: list[str] = []
    for plugin in gather(mesh, workload):
        if not attachment(plugin, workload, mesh)[0]:
            continue
        if plugin.spec.normalized_url is None:
            warnings.append(f"{plugin.namespace}/{plugin.name}: istiod cannot parse spec.url; plugin dropped")
            continue
        attached.append(plugin)
    return attached, warnings


def build_plan(mesh: Mesh, workload: WorkloadEntry) -> ChainPlan:
    """The chain plan for one workload. Raises :class:`~wasmplugin.errors.ConfigError` when an
    attached plugin's env cannot be resolved (as a Pod with a missing Secret does not start)."""
    attached, warnings = attached_plugins(mesh, workload)
    entries: dict[str, PlanEntry] = {}

    def entry(plugin: WasmPlugin) -> PlanEntry:
        known = entries.get(plugin.ecds_name)
        if known is None:
            known = entries[plugin.ecds_name] = plan_entry(mesh, plugin, workload)
        return known

    def chain(
        direction: Direction,
        port: int | None,
        protocol: str,
        listener: str,
        cls: ListenerClass,
        services: Sequence[str],
    ) -> PortChain:
        matched = [p for p in attached if matches_traffic(p, cls, port)]
        ordered = order_by_phase(matched, mesh.priority_order)
        http = (
            [p for p in ordered if p.spec.effective_type is PluginType.HTTP]
            if protocol in HTTP_PROTOCOLS
            else []
        )
        network = [p for p in ordered if p.spec.effective_type is PluginType.NETWORK]
        return PortChain(
            direction=direction,
            port=port,
            protocol=protocol,
            listener=listener,
            services=tuple(services),
            http=tuple(entry(p) for p in http),
            network=tuple(entry(p) for p in network),
        )

    chains: list[PortChain] = []

    def listener(
        direction: Direction, ports: Sequence[InboundPort | OutboundPort], name: str, cls: ListenerClass
    ) -> None:
        """One chain per port of a listener kind."""
        chains.extend(chain(direction, p.port, p.protocol, name, cls, p.services) for p in ports)

    kind = workload_kind(workload)
    if kind is WorkloadKind.SIDECAR:
        inbound, outbound = mesh.inbound_ports(workload), mesh.outbound_ports(workload)
        listener(Direction.INBOUND, inbound, LISTENER_SIDECAR_INBOUND, ListenerClass.SIDECAR_INBOUND)
        listener(Direction.OUTBOUND, outbound, LISTENER_SIDECAR_OUTBOUND, ListenerClass.SIDECAR_OUTBOUND)
    elif kind is WorkloadKind.GATEWAY:
        listener(Direction.INBOUND, mesh.inbound_ports(workload), LISTENER_GATEWAY, ListenerClass.GATEWAY)
    else:
        chains.append(
            chain(Direction.INBOUND, None, "HTTP", LISTENER_WAYPOINT, ListenerClass.SIDECAR_INBOUND, ())
        )
    if not chains:
        warnings.append("the workload has no ports: declare spec.ports or a ServiceEntry selecting it")
    return ChainPlan(
        workload=WorkloadRef(
            namespace=workload.namespace,
            name=workload.name,
            address=workload.address,
            labels=workload.labels,
            service_account=workload.service_account,
        ),
        root_namespace=mesh.root_namespace,
        priority_order=mesh.priority_order.value,
        chains=tuple(chains),
        warnings=tuple(warnings),
    )
