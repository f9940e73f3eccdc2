"""``wasmplugin get wasmplugins``: list WasmPlugins as ``kubectl get`` does."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wasmplugin.cli import served
from wasmplugin.cli.config_args import (
    DEFAULT_NAMESPACE,
    add_admin_arg,
    add_namespace_args,
    add_source_args,
    check_one_source,
    dump_json,
    dump_yaml,
    exit_code,
    human_age,
    load_config,
    plan_from_admin,
    table,
)
from wasmplugin.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from wasmplugin.config.plan import PlanEntry
    from wasmplugin.config.resources import WasmPlugin

#: Names ``kubectl get`` accepts for the resource (plural, singular, fully qualified).
RESOURCE_NAMES = (
    "wasmplugins",
    "wasmplugin",
    "wasmplugins.extensions.istio.io",
    "wasmplugin.extensions.istio.io",
)
QUALIFIED = "wasmplugins.extensions.istio.io"

EPILOG = """\
The table is kubectl's: NAME and AGE (the CRD's only printer column), NAMESPACE first with -A.
-o wide adds what a plugin author asks next: PHASE, PRIORITY, TYPE, FAILSTRATEGY and URL
(kubectl shows no extra columns for WasmPlugin). -o yaml/json print the resources as written,
with metadata.namespace filled in; several resources come as a kind: List.

With --admin HOST:PORT the list is the WasmPlugins a running sidecar serves (those selecting its
workload), read from its /config_dump; -o yaml/json then show them as the sidecar runs them:
defaults applied, Secret values redacted, no selector or match.

examples:
  wasmplugin get wasmplugins -A -f examples/blog/
  wasmplugin get wasmplugin jwt-validator -n istio-system -o yaml -f examples/blog/
  wasmplugin get wasmplugins -A -o wide --admin 127.0.0.1:15000
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "get",
        help="list WasmPlugins (kubectl get wasmplugins)",
        description="List WasmPlugin resources from configuration files, as kubectl get does.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("resource", metavar="RESOURCE", help="wasmplugins (or wasmplugin)")
    p.add_argument("name", metavar="NAME", nargs="?", help="only this WasmPlugin")
    add_namespace_args(p)
    p.add_argument(
        "-o", "--output", choices=["wide", "yaml", "json", "name"], help="output format (default: a table)"
    )
    p.add_argument("--no-headers", action="store_true", help="omit the table header")
    add_source_args(p, required=False)
    add_admin_arg(p)
    p.set_defaults(func=run)


def as_object(plugin: WasmPlugin) -> dict[str, Any]:
    """The resource as ``kubectl get -o yaml`` shows it: as written, namespace filled in."""
    from wasmplugin.config.frozen import thaw

    body: dict[str, Any] = thaw(plugin.raw)
    meta = body.setdefault("metadata", {})
    meta["namespace"] = plugin.namespace
    return body


@dataclass(frozen=True)
class Listed:
    """One WasmPlugin as ``get`` prints it, from a file or from a running sidecar."""

    namespace: str
    name: str
    created: datetime | None
    #: PHASE, PRIORITY, TYPE, FAILSTRATEGY, URL (the -o wide columns).
    wide: tuple[str, str, str, str, str]
    #: What -o yaml/json prints.
    body: dict[str, Any]


def from_file(p: WasmPlugin) -> Listed:
    spec = p.spec
    wide = (
        spec.effective_phase.value,
        "<unset>" if spec.priority is None else str(spec.priority),
        spec.effective_type.value,
        spec.effective_fail_strategy.value,
        spec.normalized_url or spec.url,
    )
    created = p.meta.created if p.meta.creation_timestamp else None
    return Listed(p.namespace, p.name, created, wide, as_object(p))


def from_sidecar(e: PlanEntry) -> Listed:
    priority = "<unset>" if e.priority is None else str(e.priority)
    wide = (e.phase, priority, e.type, e.fail_strategy, e.url)
    return Listed(e.namespace, e.name, served.created(e), wide, served.as_object(e))


def _rows(plugins: list[Listed], args: argparse.Namespace) -> list[list[str]]:
    wide = args.output == "wide"
    header = (["NAMESPACE"] if args.all_namespaces else []) + ["NAME", "AGE"]
    if wide:
        header += ["PHASE", "PRIORITY", "TYPE", "FAILSTRATEGY", "URL"]
    rows = [] if args.no_headers else [header]
    for p in plugins:
        row = ([p.namespace] if args.all_namespaces else []) + [p.name, human_age(p.created)]
        if wide:
            row += list(p.wide)
        rows.append(row)
    return rows


def run(args: argparse.Namespace) -> int:
    if args.resource.lower() not in RESOURCE_NAMES:
        raise UsageError(
            f'the server doesn\'t have a resource type "{args.resource}" (this tool knows wasmplugins)'
        )
    if args.all_namespaces and args.namespace:
        raise UsageError("-n and -A cannot be used together")
    if args.all_namespaces and args.name:
        raise UsageError("a resource cannot be retrieved by name across all namespaces")
    check_one_source(args)
    listed: list[Listed]
    if args.admin:
        plan, _ = plan_from_admin(args.admin)
        listed, code = [from_sidecar(e) for e in plan.entries()], 0
    else:
        result = load_config(args)
        listed, code = [from_file(p) for p in result.mesh.plugins], exit_code(result)
    namespace = args.namespace or DEFAULT_NAMESPACE
    plugins = sorted(listed, key=lambda p: (p.namespace, p.name))
    if not args.all_namespaces:
        plugins = [p for p in plugins if p.namespace == namespace]
    if args.name:
        plugins = [p for p in plugins if p.name == args.name]
        if not plugins:
            raise ConfigError(f'{QUALIFIED} "{args.name}" not found in namespace {namespace}')
    if not plugins:
        where = "" if args.all_namespaces else f" in {namespace} namespace"
        print(f"No resources found{where}.", file=sys.stderr)
        return code
    out = sys.stdout
    if args.output in ("yaml", "json"):
        objects = [p.body for p in plugins]
        value: Any = (
            objects[0]
            if args.name
            else {"apiVersion": "v1", "items": objects, "kind": "List", "metadata": {"resourceVersion": ""}}
        )
        out.write(dump_yaml(value) if args.output == "yaml" else dump_json(value))
    elif args.output == "name":
        for p in plugins:
            print(f"wasmplugin.extensions.istio.io/{p.name}", file=out)
    else:
        table(_rows(plugins, args), out)
    return code
