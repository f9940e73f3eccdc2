"""Cross-resource checks done once everything is loaded: warnings, because the missing piece
may simply be in another file (or only on the cluster)."""

from __future__ import annotations

from wasmplugin.config.diagnostics import Diagnostic, warning
from wasmplugin.config.env import env_problems, resolve_pull_secret
from wasmplugin.config.mesh import Mesh
from wasmplugin.config.resources import WasmPlugin
from wasmplugin.config.selection import WorkloadKind, workload_kind

__all__ = ["check_references"]


def _warn(plugin: WasmPlugin, field: str, reason: str) -> Diagnostic:
    return warning(reason, location=plugin.location, resource=plugin.label, field=field, origin="reference")


def check_references(mesh: Mesh) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    proxies_with_refs = any(workload_kind(w) is not WorkloadKind.SIDECAR for w in mesh.workloads)
    for plugin in mesh.plugins:
        _, problem = resolve_pull_secret(mesh, plugin)
        if problem is not None:
            found.append(_warn(plugin, "spec.imagePullSecret", problem))
        for exc in env_problems(mesh, plugin):
            found.append(_warn(plugin, exc.field or "spec.vmConfig.env", exc.reason))
        if plugin.spec.target_refs and not proxies_with_refs:
            found.append(
                _warn(
                    plugin,
                    "spec.targetRefs",
                    "plugins with targetRefs apply only to gateways and waypoints; "
                    "sidecars ignore this plugin",
                )
            )
    return found
