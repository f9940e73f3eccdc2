"""The mesh config: Istio's ``istio`` ConfigMap.

As on a cluster, mesh-wide settings live in a ConfigMap named ``istio`` (normally in
``istio-system``) whose ``data.mesh`` is MeshConfig YAML; wasmplugin reads ``rootNamespace``
(default ``istio-system``) and ignores the rest. wasmplugin's own options go in the same
ConfigMap under ``data.wasmplugin``, which a real Istio ignores::

    apiVersion: v1
    kind: ConfigMap
    metadata: {name: istio, namespace: istio-system}
    data:
      mesh: |
        rootNamespace: istio-system
      wasmplugin: |
        priorityOrder: descending     # or ascending: the blog's "lower runs first" (an extension)
        limits:                       # any field of wasmplugin.limits.Limits
          callback_deadline_ms: 500
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from wasmplugin.config.collect import Collector
from wasmplugin.config.diagnostics import Diagnostic
from wasmplugin.config.frozen import FrozenDict
from wasmplugin.config.meta import dns1123_label_problem
from wasmplugin.config.resources import ConfigMap, MeshConfig, PriorityOrder
from wasmplugin.config.schema import describe_value
from wasmplugin.limits import Limits

__all__ = ["MESH_CONFIG_NAME", "parse_mesh_config"]

#: Name of the ConfigMap holding the mesh config.
MESH_CONFIG_NAME = "istio"

_OPTIONS = ("priorityOrder", "limits")


def _embedded_yaml(out: Collector, text: str, path: str) -> dict[str, Any] | None:
    from wasmplugin.config.yamlio import read_text

    docs, problems = read_text(text, path)
    for problem in problems:
        out.error(path, problem.reason, "mesh")
    if problems:
        return None
    if not docs:
        return {}
    if len(docs) > 1 or not isinstance(docs[0].body, dict):
        out.error(path, "must be one YAML mapping", "mesh")
        return None
    body: dict[str, Any] = docs[0].body
    return body


def _limits(out: Collector, raw: Any) -> dict[str, int | float]:
    if not isinstance(raw, dict):
        out.error(
            "data.wasmplugin.limits",
            f"must be a mapping of limit names to numbers, got {describe_value(raw)}",
            "mesh",
        )
        return {}
    types = {f.name: f.type for f in fields(Limits)}
    result: dict[str, int | float] = {}
    for name, value in raw.items():
        path = f"data.wasmplugin.limits.{name}"
        if name not in types:
            out.error(path, f"unknown limit; known: {', '.join(sorted(types))}", "mesh")
            continue
        is_int = types[name] in ("int", int)
        ok = (isinstance(value, int) if is_int else isinstance(value, int | float)) and not isinstance(
            value, bool
        )
        if not ok:
            out.error(
                path, f"must be {'an integer' if is_int else 'a number'}, got {describe_value(value)}", "mesh"
            )
        elif value <= 0:
            out.error(path, f"must be greater than 0, got {value!r}", "mesh")
        else:
            result[name] = value
    return result


def parse_mesh_config(
    config_map: ConfigMap, *, strict: bool = False
) -> tuple[MeshConfig | None, list[Diagnostic]]:
    """The mesh config held by an ``istio`` ConfigMap."""
    out = Collector(config_map.location, config_map.label, strict)
    root = "istio-system"
    order = PriorityOrder.DESCENDING
    limits: dict[str, int | float] = {}
    mesh_text = config_map.data.get("mesh")
    if mesh_text is not None:
        mesh = _embedded_yaml(out, mesh_text, "data.mesh")
        if mesh is not None:
            value = mesh.get("rootNamespace")
            if value is not None:
                if not isinstance(value, str) or not value:
                    out.error(
                        "data.mesh.rootNamespace",
                        f"must be a namespace name, got {describe_value(value)}",
                        "mesh",
                    )
                elif (problem := dns1123_label_problem(value)) is not None:
                    out.error(
                        "data.mesh.rootNamespace",
                        f"invalid namespace {describe_value(value)}: {problem}",
                        "mesh",
                    )
                else:
                    root = value
    options_text = config_map.data.get("wasmplugin")
    if options_text is not None:
        options = _embedded_yaml(out, options_text, "data.wasmplugin")
        if options is not None:
            for key in options:
                if key not in _OPTIONS:
                    out.error(
                        f"data.wasmplugin.{key}", f"unknown option; known: {', '.join(_OPTIONS)}", "mesh"
                    )
            value = options.get("priorityOrder")
            if value is not None:
                if value not in ("descending", "ascending"):
                    out.error(
                        "data.wasmplugin.priorityOrder",
                        f"must be descending or ascending, got {describe_value(value)}",
                        "mesh",
                    )
                elif value == "ascending":
                    order = PriorityOrder.ASCENDING
                    out.warning(
                        "data.wasmplugin.priorityOrder",
                        "ascending is the blog's reading (lower priority runs first); Istio runs higher "
                        "priorities first",
                        "extension",
                        "priority-ascending",
                    )
            if options.get("limits") is not None:
                limits = _limits(out, options["limits"])
    if out.has_errors:
        return None, out.diagnostics
    return (
        MeshConfig(
            root_namespace=root, priority_order=order, limits=FrozenDict(limits), location=config_map.location
        ),
        out.diagnostics,
    )
