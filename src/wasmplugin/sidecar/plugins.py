"""The sidecar's chains for one configuration: ``ChainPlan`` → fetched modules → ``FilterChain``s.

One chain per planned listener (inbound: per target port; outbound: per service port), built with
``chain.build.build_chain`` exactly as ``wasmplugin run`` builds them. A plugin whose
``on_vm_start``/``on_configure`` fails rejects the whole configuration (Envoy NACKs the update):
the sidecar keeps its previous chains. A module that cannot be fetched or loaded becomes the
deny-all / allow-all stand-in istio-agent would give Envoy, per failStrategy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmplugin.abi.values import PropertyValue
from wasmplugin.chain.api import Direction
from wasmplugin.sidecar.chains import ChainSet
from wasmplugin.sidecar.state import ConfigState

if TYPE_CHECKING:
    from wasmplugin.config.mesh import Mesh
    from wasmplugin.config.resources import WorkloadEntry
    from wasmplugin.sidecar.mesh import MeshStateBuilder


def node_info(we: WorkloadEntry, address: str) -> Any:
    """What ``xds.node`` answers: Istio's node id and metadata for this workload."""
    from wasmplugin.host.api import NodeInfo

    ns, name = we.namespace, we.name
    labels: dict[str, PropertyValue] = {str(k): str(v) for k, v in dict(we.labels).items()}
    metadata: dict[str, PropertyValue] = {
        "NAME": name,
        "NAMESPACE": ns,
        "LABELS": labels,
        "WORKLOAD_NAME": name,
        "SERVICE_ACCOUNT": we.service_account or "default",
        "CLUSTER_ID": "Kubernetes",
        "MESH_ID": "cluster.local",
        "INSTANCE_IPS": we.address or address,
    }
    return NodeInfo(
        id=f"sidecar~{we.address or address}~{name}.{ns}~{ns}.svc.cluster.local",
        cluster=f"{name}.{ns}",
        metadata=metadata,
    )


def ensure_services(b: MeshStateBuilder, we: WorkloadEntry) -> None:
    """Create the process-wide HostServices, WasmRuntime and fetcher on first use."""
    if b.services is not None:
        return
    from wasmplugin.fetch.fetcher import ModuleFetcher
    from wasmplugin.fetch.metrics import FetchMetrics
    from wasmplugin.host.api import HostServices
    from wasmplugin.host.metrics import MetricsRegistry
    from wasmplugin.host.runtime import WasmRuntime
    from wasmplugin.host.shared import SharedData, SharedQueues

    host = b.host
    limits = b.cfg.limits
    b.node = node_info(we, b.cfg.address)
    metrics = MetricsRegistry()
    fetch_metrics = host.fetch_metrics if host.fetch_metrics is not None else FetchMetrics()
    b.services = HostServices(
        clock=host.clock,
        scheduler=host.scheduler,
        log=host.log,
        http=host.http,
        shared_data=SharedData(),
        shared_queues=SharedQueues(),
        metrics=metrics,
        node=b.node,
        limits=limits,
    )
    host.metrics = metrics
    host.fetch_metrics = fetch_metrics
    host.shared_data = b.services.shared_data
    host.shared_queues = b.services.shared_queues
    b.wasm_runtime = WasmRuntime(limits)
    b._closers.append(b.wasm_runtime.close)
    b.fetcher = ModuleFetcher(limits=limits, metrics=fetch_metrics)
    b._closers.append(b.fetcher.close)


def build_chains(b: MeshStateBuilder, state: ConfigState, mesh: Mesh, we: WorkloadEntry) -> None:
    """Fill ``state.chains``, ``state.plan``, ``state.plugins`` and ``state.warnings``."""
    from wasmplugin.chain.build import build_chain
    from wasmplugin.chain.workload import FetchMemo, plan_items
    from wasmplugin.config.plan import config_dump_section
    from wasmplugin.config.planner import build_plan

    plan = build_plan(mesh, we)
    state.plan = config_dump_section(plan)
    state.warnings = list(plan.warnings)
    for entry in plan.entries():
        state.warnings.extend(f"{entry.ref}: {w}" for w in entry.warnings)
    if not any(pc.http for pc in plan.chains):
        return
    ensure_services(b, we)
    base_dir = b.cfg.directory if b.cfg.directory.is_dir() else b.cfg.directory.parent
    built: dict[tuple[Direction, int | None], Any] = {}
    fetched: FetchMemo = {}  # a module in several chains is fetched once
    log = b.host.log
    try:
        for pc in plan.chains:
            if not pc.http:
                continue
            items = plan_items(pc.http, b.fetcher, base_dir=Path(base_dir), memo=fetched)
            result = build_chain(
                items,
                wasm_runtime=b.wasm_runtime,
                services=b.services,
                reject_start_failure=True,
                name=f"{pc.direction.value}:{pc.port}",
            )
            built[(pc.direction, pc.port)] = result.chain
            for entry, item in zip(pc.http, items, strict=True):
                error = item.error
                if error is None:
                    error = next(
                        (e for e in result.errors if getattr(e, "plugin", None) == entry.plugin_name), None
                    )
                record: dict[str, Any] = {
                    "name": entry.plugin_name,
                    "ecds_name": entry.ecds_name,
                    "direction": pc.direction.value,
                    "port": pc.port,
                    "phase": entry.phase,
                    "priority": entry.priority,
                    "fail_strategy": entry.fail_strategy,
                    "url": entry.url,
                    "sha256": entry.sha256,
                    "root_id": entry.root_id,
                    "configuration": entry.configuration.decode("utf-8", "replace"),
                    "state": "load_failed" if error is not None else "ready",
                    "error": str(error) if error is not None else None,
                }
                if item.wasm is not None:
                    import hashlib

                    record["module_sha256"] = hashlib.sha256(item.wasm).hexdigest()
                state.plugins.append(record)
                if error is not None:
                    outcome = (
                        "traffic passes (FAIL_OPEN)"
                        if entry.fail_strategy == "FAIL_OPEN"
                        else ("requests get 403 RBAC: access denied")
                    )
                    log.warn("wasm", f"plugin {entry.plugin_name} not loaded, {outcome}: {error}")
    except BaseException:
        for chain in built.values():
            chain.close()
        raise
    state.chains = ChainSet(built)
