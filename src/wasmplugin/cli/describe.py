"""``wasmplugin describe wasmplugin NAME``: a WasmPlugin as ``kubectl describe`` shows it, plus
what only the mesh knows — the workloads it lands on, its position in each of their chains,
the module it loads and its resolved environment (Secret values redacted)."""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any

from wasmplugin.cli.config_args import (
    DEFAULT_NAMESPACE,
    add_admin_arg,
    add_namespace_args,
    add_source_args,
    check_one_source,
    exit_code,
    load_config,
    plan_from_admin,
)
from wasmplugin.cli.get import QUALIFIED, RESOURCE_NAMES
from wasmplugin.cli.served import as_object, positions, shown_value
from wasmplugin.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from wasmplugin.config.mesh import Mesh
    from wasmplugin.config.plan import ChainPlan, PlanEntry
    from wasmplugin.config.resources import WasmPlugin

_ACRONYMS = {"API", "URL", "UID", "OSB", "GUID"}
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|-")

EPILOG = """\
With --admin HOST:PORT the WasmPlugins are those a running sidecar serves, read from its
/config_dump: the module, environment and chain positions as the sidecar runs them (defaults
applied, Secret values redacted); the selector and labels are not kept by a sidecar.

examples:
  wasmplugin describe wasmplugin jwt-validator -n istio-system -f examples/demo/
  wasmplugin describe wasmplugins -n default -f examples/blog/      # every plugin in the namespace
  wasmplugin describe wasmplugin jwt-validator -n istio-system --admin 127.0.0.1:15000
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "describe",
        help="show a WasmPlugin in detail: workloads, chain positions, module, env",
        description="Describe WasmPlugin resources like kubectl describe, plus the workloads each "
        "selects, its position in every chain, its module and its resolved environment.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("resource", metavar="RESOURCE", help="wasmplugin (or wasmplugins)")
    p.add_argument("name", metavar="NAME", nargs="?", help="the WasmPlugin (default: all in the namespace)")
    add_namespace_args(p, all_namespaces=False)
    add_source_args(p, required=False)
    add_admin_arg(p)
    p.set_defaults(func=run)


def smart_label(field: str) -> str:
    """kubectl's ``smartLabelFor``: ``pluginConfig`` → ``Plugin Config``; names with digits,
    underscores or other symbols stay as written."""
    if any(not (c.isalpha() or c == "-") for c in field):
        return field
    parts = _CAMEL.findall(field)
    return " ".join(p.upper() if p.upper() in _ACRONYMS else p[:1].upper() + p[1:] for p in parts)


def _scalar(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _render(value: Any, indent: int, lines: list[str]) -> None:
    """kubectl's rendering of unstructured content: keys sorted and turned into labels, nested
    maps and lists indented, scalar values of one map aligned."""
    pad = " " * indent
    if isinstance(value, dict):
        keys = sorted(value, key=str)
        scalars = [smart_label(str(k)) for k in keys if not (isinstance(value[k], dict | list) and value[k])]
        width = max((len(label) for label in scalars), default=0) + 3
        for key in keys:
            item = value[key]
            label = smart_label(str(key))
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{label}:")
                _render(item, indent + 2, lines)
            else:
                shown = "" if isinstance(item, dict | list) else _scalar(item)
                lines.append(f"{pad}{label + ':':<{width}}{shown}".rstrip())
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                _render(item, indent, lines)
            else:
                lines.append(f"{pad}{_scalar(item)}")


def _labels(values: Any) -> list[str]:
    items = [f"{k}={v}" for k, v in sorted(dict(values).items())]
    return items or ["<none>"]


def _field(lines: list[str], label: str, values: list[str], width: int = 14) -> None:
    lines.append(f"{label + ':':<{width}}{values[0]}")
    lines.extend(" " * width + v for v in values[1:])


def _module(plugin: WasmPlugin, mesh: Mesh, lines: list[str]) -> None:
    from wasmplugin.config.env import resolve_pull_secret

    spec = plugin.spec
    url = spec.normalized_url or f"{spec.url} (istiod cannot parse it: the plugin is dropped)"
    if spec.normalized_url and spec.normalized_url != spec.url:
        url += f" (written {spec.url})"
    if spec.sha256:
        sha = spec.sha256
    elif url.startswith("file://"):
        sha = "<none> (ignored for file://)"
    else:
        sha = "<none> (not verified)"
    policy = spec.image_pull_policy.value if spec.image_pull_policy else "<unset>"
    secret, problem = resolve_pull_secret(mesh, plugin)
    if secret is None:
        secret_text = "<none>" if problem is None else f"<ignored> ({problem})"
    elif secret.resolved:
        secret_text = f"{secret.name} (resolved, {len(secret.dockerconfigjson.reveal())} bytes, <redacted>)"
    else:
        secret_text = f"{secret.name} (NOT resolved: the fetch fails)"
    rows = [
        ("URL", url),
        ("SHA256", sha),
        ("Image Pull Policy", policy),
        ("Image Pull Secret", secret_text),
        ("Phase", spec.effective_phase.value + ("" if spec.phase else " (default)")),
        ("Priority", "<unset> (sorts last)" if spec.priority is None else str(spec.priority)),
        ("Fail Strategy", spec.effective_fail_strategy.value + ("" if spec.fail_strategy else " (default)")),
        ("Type", spec.effective_type.value + ("" if spec.type else " (default)")),
        ("Root ID", spec.plugin_name or "<empty>"),
        ("ECDS Name", plugin.ecds_name),
        ("Configuration", _configuration(spec.configuration)),
    ]
    _module_rows(rows, lines)


def _configuration(data: bytes) -> str:
    """The configuration bytes as text, cut to 200 characters."""
    text = data.decode("utf-8", errors="replace") or "<empty>"
    return text if len(text) <= 200 else text[:197] + "..."


def _module_rows(rows: list[tuple[str, str]], lines: list[str]) -> None:
    lines.append("Module:")
    lines.extend(f"  {label + ':':<20}{value}" for label, value in rows)


def _env(plugin: WasmPlugin, mesh: Mesh, lines: list[str]) -> None:
    if not plugin.spec.env:
        return
    lines.append("Env:")
    ns = plugin.namespace
    for var in plugin.spec.env:
        ref = var.ref
        if ref is None:
            if var.effective_source.value == "HOST":
                text = "(HOST: the sidecar's own environment variable)"
            else:
                text = f"{var.value or ''} (INLINE)"
        elif ref.kind == "fieldRef":
            text = f"(per workload: fieldRef {ref.field_path})"
        elif ref.kind == "secretKeyRef":
            secret = mesh.secret(ns, ref.name)
            found = secret is not None and ref.key in secret.data
            text = ("<redacted>" if found else "<missing>") + f" ({ref.describe(ns)})"
        else:
            config_map = mesh.config_map(ns, ref.name)
            value = config_map.data.get(ref.key) if config_map is not None else None
            text = (value if value is not None else "<missing>") + f" ({ref.describe(ns)})"
        lines.append(f"  {var.name}:  {text}")


def _workloads(plugin: WasmPlugin, mesh: Mesh, lines: list[str]) -> None:
    from wasmplugin.config.ordering import candidate_namespaces
    from wasmplugin.config.planner import build_plan
    from wasmplugin.config.selection import attachment

    lines.append("Workloads:")
    selected = [w for w in mesh.workloads if plugin.namespace in candidate_namespaces(mesh, w)]
    attached = [(w, attachment(plugin, w, mesh)[1]) for w in selected if attachment(plugin, w, mesh)[0]]
    if not attached:
        scope = "mesh-wide" if plugin.namespace == mesh.root_namespace else f"namespace {plugin.namespace}"
        selector = plugin.spec.selector
        what = ",".join(f"{k}={v}" for k, v in selector.items()) if selector else "any labels"
        lines.append(f"  <none> (no declared WorkloadEntry matches {what}, {scope})")
        return
    for workload, why in attached:
        lines.append(f"  {workload.namespace}/{workload.name} ({workload.address}): {why}")
        try:
            plan = build_plan(mesh, workload)
        except ConfigError as exc:
            lines.append(f"    cannot be configured: {exc.reason}")
            continue
        lines.extend("    " + line for line in positions(plan, plugin.ecds_name))
        entry = next((e for e in plan.entries() if e.ecds_name == plugin.ecds_name), None)
        if entry is not None:
            for var in entry.env:
                if var.source == "fieldRef":
                    lines.append(f"    env {var.name}={var.value} (fieldRef {var.reference})")
        if not plan.chains:
            lines.append("    (the workload has no ports)")


def describe(plugin: WasmPlugin, mesh: Mesh) -> str:
    from wasmplugin.config.frozen import thaw

    lines: list[str] = []
    meta = plugin.meta
    _field(lines, "Name", [meta.name])
    _field(lines, "Namespace", [meta.namespace])
    _field(lines, "Labels", _labels(meta.labels))
    _field(lines, "Annotations", _labels(meta.annotations))
    _field(lines, "API Version", ["extensions.istio.io/v1alpha1"])
    _field(lines, "Kind", ["WasmPlugin"])
    lines.append("Metadata:")
    lines.append(f"  Creation Timestamp:  {meta.creation_timestamp or '<unset>'}")
    version = meta.resource_version or f"{meta.content_hash} (content hash: no resourceVersion written)"
    lines.append(f"  Resource Version:    {version}")
    lines.append("Spec:")
    _render(thaw(plugin.raw).get("spec") or {}, 2, lines)
    _field(lines, "Source", [str(plugin.location)])
    _module(plugin, mesh, lines)
    _env(plugin, mesh, lines)
    _workloads(plugin, mesh, lines)
    if plugin.warnings:
        lines.append("Warnings:")
        for warning in plugin.warnings:
            lines.append(f"  {warning.field + ': ' if warning.field else ''}{warning.reason}")
    _field(lines, "Events", ["<none>"])
    return "\n".join(lines) + "\n"


def describe_served(entry: PlanEntry, plan: ChainPlan, admin: str) -> str:
    """``describe`` of a plugin a running sidecar serves: what its /config_dump says of it."""
    lines: list[str] = []
    _field(lines, "Name", [entry.name])
    _field(lines, "Namespace", [entry.namespace])
    _field(lines, "API Version", ["extensions.istio.io/v1alpha1"])
    _field(lines, "Kind", ["WasmPlugin"])
    lines.append("Metadata:")
    lines.append(f"  Creation Timestamp:  {entry.creation_timestamp or '<unset>'}")
    lines.append(f"  Resource Version:    {entry.resource_version or '<unset>'}")
    lines.append("Spec:")
    _render(as_object(entry)["spec"], 2, lines)
    _field(lines, "Source", [f"the sidecar at {admin} (/config_dump)"])
    secret = entry.image_pull_secret
    if secret is None:
        secret_text = "<none>"
    else:
        state = "resolved, <redacted>" if secret.resolved else "NOT resolved: the fetch fails"
        secret_text = f"{secret.name} ({state})"
    rows = [
        ("URL", entry.url),
        ("SHA256", entry.sha256 or "<none>"),
        ("Image Pull Policy", entry.image_pull_policy),
        ("Image Pull Secret", secret_text),
        ("Phase", entry.phase),
        ("Priority", "<unset> (sorts last)" if entry.priority is None else str(entry.priority)),
        ("Fail Strategy", entry.fail_strategy),
        ("Type", entry.type),
        ("Root ID", entry.root_id or "<empty>"),
        ("ECDS Name", entry.ecds_name),
        ("Configuration", _configuration(entry.configuration)),
    ]
    _module_rows(rows, lines)
    if entry.env:
        lines.append("Env:")
        for var in entry.env:
            if var.source == "HOST":
                text = "(HOST: the sidecar's own environment variable)"
            else:
                text = f"{shown_value(var)} ({var.reference or var.source})"
            lines.append(f"  {var.name}:  {text}")
    workload = plan.workload
    lines.append("Workloads:")
    lines.append(f"  {workload.ref} ({workload.address}): served by this sidecar")
    lines.extend("    " + line for line in positions(plan, entry.ecds_name))
    if entry.warnings:
        lines.append("Warnings:")
        lines.extend(f"  {warning}" for warning in entry.warnings)
    _field(lines, "Events", ["<none>"])
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.resource.lower() not in RESOURCE_NAMES:
        raise UsageError(
            f'the server doesn\'t have a resource type "{args.resource}" (this tool knows wasmplugins)'
        )
    check_one_source(args)
    if args.admin:
        return _run_admin(args)
    result = load_config(args)
    namespace = args.namespace or DEFAULT_NAMESPACE
    mesh = result.mesh
    plugins = sorted((p for p in mesh.plugins if p.namespace == namespace), key=lambda p: p.name)
    if args.name:
        plugins = [p for p in plugins if p.name == args.name]
        if not plugins:
            raise ConfigError(f'{QUALIFIED} "{args.name}" not found in namespace {namespace}')
    if not plugins:
        print(f"No resources found in {namespace} namespace.", file=sys.stderr)
        return exit_code(result)
    sys.stdout.write("\n\n".join(describe(p, mesh).rstrip("\n") for p in plugins) + "\n")
    return exit_code(result)


def _run_admin(args: argparse.Namespace) -> int:
    plan, _ = plan_from_admin(args.admin)
    namespace = args.namespace or DEFAULT_NAMESPACE
    entries = sorted((e for e in plan.entries() if e.namespace == namespace), key=lambda e: e.name)
    if args.name:
        entries = [e for e in entries if e.name == args.name]
        if not entries:
            raise ConfigError(
                f'{QUALIFIED} "{args.name}" is not served by the sidecar at {args.admin} '
                f"in namespace {namespace}"
            )
    if not entries:
        print(f"No resources found in {namespace} namespace.", file=sys.stderr)
        return 0
    sys.stdout.write("\n\n".join(describe_served(e, plan, args.admin).rstrip("\n") for e in entries) + "\n")
    return 0
