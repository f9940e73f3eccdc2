"""From WasmPlugin YAML to the plugins of one chain, the way the sidecar gets there.

The resources are loaded and validated by ``wasmplugin.config`` (every problem is one clear line),
the workload's ``ChainPlan`` is built by the same planner (selection, ``match``, phase and priority
order), and the modules are fetched by the same ``ModuleFetcher`` (``chain/workload.plan_items``).
Only the workload may be invented: plugin authors rarely keep a WorkloadEntry next to their plugin,
so when the files have none, a sidecar workload is synthesized whose labels are what the plugins'
selectors ask for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wasmplugin.chain.api import Direction
from wasmplugin.errors import ConfigError

if TYPE_CHECKING:
    from wasmplugin.chain.build import PluginToLoad
    from wasmplugin.config.mesh import Mesh
    from wasmplugin.config.plan import ChainPlan, PlanEntry, PortChain
    from wasmplugin.config.resources import WorkloadEntry
    from wasmplugin.fetch.fetcher import ModuleFetcher

SYNTHETIC_WORKLOAD = "wasmplugin-test"
SYNTHETIC_PORT = 8080


@dataclass(frozen=True)
class ChainSelection:
    """What was picked: the workload, the listener, and the plan entries in chain order."""

    workload: WorkloadEntry
    synthesized: bool
    plan: ChainPlan
    port_chain: PortChain
    entries: tuple[PlanEntry, ...]
    base_dir: Path

    def describe(self) -> str:
        w = self.workload
        how = "synthesized " if self.synthesized else ""
        return (
            f"{how}workload {w.namespace}/{w.name} (labels {dict(w.labels)}), "
            f"{self.port_chain.direction.value} port {self.port_chain.port}: "
            f"{' -> '.join(e.ref for e in self.entries)}"
        )


def _label_source(paths: Sequence[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def select_chain(
    paths: Sequence[Path],
    *,
    workload: str | None = None,
    labels: dict[str, str] | None = None,
    namespace: str | None = None,
    direction: str = "inbound",
    port: int | None = None,
) -> ChainSelection:
    """Load ``paths`` (files or directories) and pick one chain; raises ConfigError naming the problem."""
    from wasmplugin.config.loader import load
    from wasmplugin.config.planner import build_plan

    if not paths:
        raise ConfigError("no files given")
    for p in paths:
        if not p.exists():
            raise ConfigError("no such file or directory", file=str(p))
    try:
        d = Direction(direction)
    except ValueError:
        raise ConfigError(f"direction {direction!r}: use inbound or outbound") from None
    mesh = load([str(p) for p in paths], recursive=True).raise_for_errors()
    if not mesh.plugins:
        raise ConfigError("no WasmPlugin resource found", file=_label_source(paths))
    we, synthesized = _pick_workload(mesh, paths, workload, labels, namespace)
    if synthesized:
        mesh = dataclasses.replace(mesh, workloads=(*mesh.workloads, we))
    plan = build_plan(mesh, we)
    chains = plan.inbound if d is Direction.INBOUND else plan.outbound
    if port is not None:
        pc = plan.chain(d, port)
        if pc is None:
            have = ", ".join(str(c.port) for c in chains) or "none"
            raise ConfigError(
                f"workload {we.namespace}/{we.name} has no {d.value} port {port} (ports: {have})"
            )
    else:
        with_plugins = [c for c in chains if c.http]
        pc = with_plugins[0] if with_plugins else (chains[0] if chains else None)
        if pc is None:
            raise ConfigError(
                f"workload {we.namespace}/{we.name} has no {d.value} listener "
                f"(give it ports, or add a ServiceEntry)"
            )
    if not pc.http:
        names = ", ".join(f"{p.namespace}/{p.name}" for p in mesh.plugins)
        raise ConfigError(
            f"no HTTP WasmPlugin applies to {d.value} traffic on port {pc.port} of workload "
            f"{we.namespace}/{we.name} (labels {dict(we.labels)}); plugins found: {names} — check "
            f"selector, targetRefs, match and type, or pass workload=/labels=/direction="
        )
    base = paths[0] if paths[0].is_dir() else paths[0].parent
    return ChainSelection(we, synthesized, plan, pc, pc.http, base)


def _pick_workload(
    mesh: Mesh,
    paths: Sequence[Path],
    workload: str | None,
    labels: dict[str, str] | None,
    namespace: str | None,
) -> tuple[WorkloadEntry, bool]:
    if workload is not None:
        ns, sep, name = workload.partition("/")
        if not sep or not ns or not name:
            raise ConfigError(f"workload {workload!r}: expected NAMESPACE/NAME")
        found = mesh.workload(ns, name)
        if found is None:
            have = ", ".join(f"{w.namespace}/{w.name}" for w in mesh.workloads) or "none"
            raise ConfigError(f"no WorkloadEntry {workload} (have: {have})", file=_label_source(paths))
        return found, False
    if labels is None and namespace is None:
        if len(mesh.workloads) == 1:
            return mesh.workloads[0], False
        if len(mesh.workloads) > 1:
            have = ", ".join(f"{w.namespace}/{w.name}" for w in mesh.workloads)
            raise ConfigError(f"several WorkloadEntries ({have}): pass workload='NAMESPACE/NAME'")
    return _synthesize(mesh, labels, namespace), True


def _synthesize(mesh: Mesh, labels: dict[str, str] | None, namespace: str | None) -> WorkloadEntry:
    from wasmplugin.config.loader import load_text

    if labels is None:
        merged: dict[str, str] = {}
        for p in mesh.plugins:
            for k, v in (p.spec.selector or {}).items():
                if merged.get(k, v) != v:
                    raise ConfigError(
                        f"the plugins' selectors disagree on label {k!r} ({merged[k]!r} / {v!r}): "
                        "pass labels={...} for the workload to test"
                    )
                merged[k] = v
        labels = merged
    if namespace is None:
        root = mesh.root_namespace
        namespaces = sorted({p.namespace for p in mesh.plugins if p.namespace != root})
        if len(namespaces) > 1:
            raise ConfigError(
                f"plugins in several namespaces ({', '.join(namespaces)}): pass namespace= for the workload"
            )
        namespace = namespaces[0] if namespaces else "default"
    label_lines = "".join(f"      {_q(k)}: {_q(v)}\n" for k, v in labels.items())
    text = (
        "apiVersion: networking.istio.io/v1\n"
        "kind: WorkloadEntry\n"
        f"metadata:\n  name: {SYNTHETIC_WORKLOAD}\n  namespace: {_q(namespace)}\n"
        "spec:\n  address: 127.0.0.1\n"
        f"  ports:\n    http: {SYNTHETIC_PORT}\n" + (f"  labels:\n{label_lines}" if labels else "")
    )
    result = load_text(text, "<synthesized workload>")
    if not result.ok or not result.mesh.workloads:
        first = result.errors[0].to_error() if result.errors else ConfigError("cannot build a workload")
        raise ConfigError(f"cannot synthesize the workload to test: {first}")
    return result.mesh.workloads[0]


def _q(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_items(selection: ChainSelection, fetcher: ModuleFetcher) -> list[PluginToLoad]:
    """Fetch every entry as the sidecar does (a fetch failure becomes a module-less item)."""
    from wasmplugin.chain.workload import plan_items

    return plan_items(selection.entries, fetcher, base_dir=selection.base_dir)
