"""Loading a configuration: files → documents → validated resources → a :class:`~.mesh.Mesh`.

Every problem becomes a :class:`~.diagnostics.Diagnostic`; a document with an error contributes
no resource, the others still load (so ``validate`` reports everything at once). Callers that
must not run on a broken config (the sidecar, ``proxy-config``) check :attr:`LoadResult.ok`
and keep their last good config otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from wasmplugin.config.core import parse_config_map, parse_secret
from wasmplugin.config.diagnostics import Diagnostic, Location, error, warning
from wasmplugin.config.mesh import Mesh
from wasmplugin.config.meshconfig import MESH_CONFIG_NAME, parse_mesh_config
from wasmplugin.config.networking import parse_service_entry, parse_workload_entry
from wasmplugin.config.references import check_references
from wasmplugin.config.resources import (
    ConfigMap,
    MeshConfig,
    Secret,
    ServiceEntry,
    WasmPlugin,
    WorkloadEntry,
)
from wasmplugin.config.schema import describe_value
from wasmplugin.config.wasmplugin import parse_wasmplugin
from wasmplugin.config.yamlio import RawDocument, expand_paths, read_paths, read_text
from wasmplugin.errors import ConfigError
from wasmplugin.limits import DEFAULT_LIMITS, Limits

__all__ = ["KINDS", "LoadResult", "load", "load_documents", "load_text"]

Parser = Callable[..., tuple[Any, list[Diagnostic]]]

#: (group, kind) → (served versions, parser).
KINDS: dict[tuple[str, str], tuple[tuple[str, ...], Parser]] = {
    ("extensions.istio.io", "WasmPlugin"): (("v1alpha1",), parse_wasmplugin),
    ("networking.istio.io", "WorkloadEntry"): (("v1", "v1beta1", "v1alpha3"), parse_workload_entry),
    ("networking.istio.io", "ServiceEntry"): (("v1", "v1beta1", "v1alpha3"), parse_service_entry),
    ("", "Secret"): (("v1",), parse_secret),
    ("", "ConfigMap"): (("v1",), parse_config_map),
}

Resource = WasmPlugin | WorkloadEntry | ServiceEntry | Secret | ConfigMap


@dataclass(frozen=True)
class LoadResult:
    mesh: Mesh
    diagnostics: tuple[Diagnostic, ...]
    #: Files read, in order.
    files: tuple[str, ...] = ()
    #: Documents decoded (empty documents not counted).
    documents: int = 0

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> Mesh:
        """The mesh, or :class:`ConfigError` for the first error (its message names the others'
        count)."""
        errors = self.errors
        if not errors:
            return self.mesh
        first = errors[0].to_error()
        if len(errors) > 1:
            first = ConfigError(
                f"{first.reason} (and {len(errors) - 1} more errors)",
                file=first.file,
                document=first.document,
                resource=first.resource,
                field=first.field,
            )
        raise first


def _split_api_version(value: str) -> tuple[str, str]:
    group, slash, version = value.rpartition("/")
    return (group, version) if slash else ("", value)


def _expand_lists(doc: RawDocument, out: list[Diagnostic]) -> list[RawDocument]:
    """``kind: List`` (or ``*List``) documents → their items, as kubectl does."""
    body = doc.body
    kind = body.get("kind") if isinstance(body, dict) else None
    if not (isinstance(kind, str) and kind.endswith("List") and "items" in body):
        return [doc]
    items = body.get("items")
    if not isinstance(items, list):
        out.append(
            error(
                f"must be a list, got {describe_value(items)}",
                location=doc.location,
                field="items",
                origin="kind",
            )
        )
        return []
    return [RawDocument(doc.location, item, doc.derived_from) for item in items if item is not None]


def _dispatch(doc: RawDocument, strict: bool) -> tuple[Resource | None, list[Diagnostic]]:
    body = doc.body
    where = doc.location
    if not isinstance(body, dict):
        return None, [
            error(
                "not a Kubernetes object: expected a mapping with apiVersion and kind, got "
                + describe_value(body),
                location=where,
                origin="kind",
            )
        ]
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if not isinstance(kind, str) or not kind:
        return None, [error("kind is missing", location=where, field="kind", origin="kind")]
    if not isinstance(api_version, str) or not api_version:
        return None, [
            error(f"apiVersion is missing ({kind})", location=where, field="apiVersion", origin="kind")
        ]
    group, version = _split_api_version(api_version)
    known = KINDS.get((group, kind))
    if known is None:
        served = [f"{g + '/' if g else ''}{v[0]}" for (g, k), (v, _) in KINDS.items() if k == kind]
        if served:
            return None, [
                error(
                    f"{kind} is served as {served[0]}, not {api_version}",
                    location=where,
                    field="apiVersion",
                    origin="kind",
                )
            ]
        return None, [
            warning(f"{api_version} {kind} is not used by wasmplugin; ignored", location=where, origin="kind")
        ]
    versions, parser = known
    if version not in versions:
        return None, [
            error(
                f"{kind} is served as {group + '/' if group else ''}{', '.join(versions)}, not {api_version}",
                location=where,
                field="apiVersion",
                origin="kind",
            )
        ]
    resource, diagnostics = parser(body, where, strict=strict)
    return resource, diagnostics


def load_documents(
    documents: Sequence[RawDocument],
    diagnostics: Sequence[Diagnostic] = (),
    *,
    strict: bool = False,
    files: Sequence[str] = (),
) -> LoadResult:
    """Validate decoded documents and assemble the mesh."""
    diags: list[Diagnostic] = [d.resolve(strict) for d in diagnostics]
    resources: list[Resource] = []
    seen: dict[tuple[str, str, str], Location] = {}
    count = 0
    for top in documents:
        if strict and top.derived_from is not None:
            continue  # a blog form (kubectl command) yields nothing under --strict
        for doc in _expand_lists(top, diags):
            count += 1
            resource, found = _dispatch(doc, strict)
            diags.extend(found)
            if resource is None or any(d.is_error for d in found):
                continue
            key = (resource.kind, resource.meta.namespace, resource.meta.name)
            if key in seen:
                diags.append(
                    error(
                        f"defined twice; first at {seen[key]}",
                        location=doc.location,
                        resource=resource.label,
                        origin="kind",
                    )
                )
                continue
            seen[key] = doc.location
            resources.append(resource)
    mesh_config = MeshConfig()
    config_maps = [r for r in resources if isinstance(r, ConfigMap)]
    mesh_maps = [c for c in config_maps if c.meta.name == MESH_CONFIG_NAME]
    for extra in mesh_maps[1:]:
        diags.append(
            error(
                f"a second mesh config; the first is {mesh_maps[0].label} at {mesh_maps[0].location}",
                location=extra.location,
                resource=extra.label,
                origin="mesh",
            )
        )
    if mesh_maps:
        parsed, found = parse_mesh_config(mesh_maps[0], strict=strict)
        diags.extend(found)
        if parsed is not None:
            mesh_config = parsed
    mesh = Mesh(
        config=mesh_config,
        plugins=tuple(r for r in resources if isinstance(r, WasmPlugin)),
        workloads=tuple(r for r in resources if isinstance(r, WorkloadEntry)),
        services=tuple(r for r in resources if isinstance(r, ServiceEntry)),
        secrets=tuple(r for r in resources if isinstance(r, Secret)),
        config_maps=tuple(config_maps),
    )
    reference_diags = check_references(mesh)
    diags.extend(reference_diags)
    if reference_diags:
        by_plugin: dict[str, list[Diagnostic]] = {}
        for d in reference_diags:
            by_plugin.setdefault(d.resource or "", []).append(d)
        plugins = tuple(
            replace(p, warnings=p.warnings + tuple(by_plugin.get(p.label, ()))) for p in mesh.plugins
        )
        mesh = replace(mesh, plugins=plugins)
    diags.sort(key=lambda d: (d.location.file or "", d.location.line or 0, d.location.document or 0))
    return LoadResult(mesh=mesh, diagnostics=tuple(diags), files=tuple(files), documents=count)


def load(
    paths: Sequence[str],
    *,
    strict: bool = False,
    recursive: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> LoadResult:
    """Read and validate files and directories (``-`` = stdin)."""
    documents, diagnostics = read_paths(paths, recursive=recursive, limits=limits)
    files, _ = expand_paths(paths, recursive=recursive)
    names = tuple("<stdin>" if f == "-" else f for f in files)
    return load_documents(documents, diagnostics, strict=strict, files=names)


def load_text(text: str | bytes, name: str = "<string>", *, strict: bool = False) -> LoadResult:
    """Validate YAML (or JSON when ``name`` ends in ``.json``) given as text."""
    documents, diagnostics = read_text(text, name)
    return load_documents(documents, diagnostics, strict=strict, files=(name,))
