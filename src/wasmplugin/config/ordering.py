"""The order of plugins in a chain — istiod's ``WasmPluginsByListenerInfo``.

1. Gather: the proxy's namespace, then the root namespace (then, for waypoints, the namespaces of
   the services bound to it), de-duplicated; inside a namespace oldest ``creationTimestamp``
   first, then name, then namespace (``sortConfigByCreationTime``). Unset creation time is Go's
   zero time: before any real time.
2. A *stable* sort by priority, descending (higher runs first); unset priority is MinInt32, so it
   runs after every set priority, negatives included. Equal priorities keep the gathering order.
   With the mesh option ``priorityOrder: ascending`` (blog extension) lower runs first; unset
   still runs last.
3. Grouped by phase, in chain position: AUTHN, AUTHZ, STATS, UNSPECIFIED_PHASE.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from wasmplugin.config.mesh import Mesh
from wasmplugin.config.resources import PHASE_ORDER, Phase, PriorityOrder, WasmPlugin, WorkloadEntry
from wasmplugin.config.selection import WorkloadKind, bound_services, workload_kind

__all__ = ["candidate_namespaces", "gather", "order_by_phase", "sort_by_priority"]


def candidate_namespaces(mesh: Mesh, workload: WorkloadEntry) -> tuple[str, ...]:
    namespaces = [workload.namespace, mesh.root_namespace]
    if workload_kind(workload) is WorkloadKind.WAYPOINT:
        namespaces.extend(ref.split("/", 1)[0] for ref in bound_services(mesh, workload))
    return tuple(dict.fromkeys(namespaces))


def gather(mesh: Mesh, workload: WorkloadEntry) -> list[WasmPlugin]:
    """Candidate plugins in gathering order (before attachment and traffic filters)."""
    gathered: list[WasmPlugin] = []
    for namespace in candidate_namespaces(mesh, workload):
        gathered.extend(mesh.plugins_in(namespace))
    return gathered


def sort_by_priority(plugins: Iterable[WasmPlugin], order: PriorityOrder) -> list[WasmPlugin]:
    """Stable sort by priority; see the module docstring."""
    if order is PriorityOrder.ASCENDING:
        return sorted(plugins, key=lambda p: (p.spec.priority is None, p.spec.priority or 0))
    return sorted(plugins, key=lambda p: -p.spec.sort_priority)


def order_by_phase(plugins: Sequence[WasmPlugin], order: PriorityOrder) -> list[WasmPlugin]:
    """Plugins of one chain in execution order: phase groups, priority inside each."""
    by_phase: dict[Phase, list[WasmPlugin]] = {phase: [] for phase in PHASE_ORDER}
    for plugin in sort_by_priority(plugins, order):
        by_phase[plugin.spec.effective_phase].append(plugin)
    return [p for phase in PHASE_ORDER for p in by_phase[phase]]
