"""``wasmplugin get wasmplugins``: list WasmPlugins as ``kubectl get`` does."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from wasmplugin.cli.config_args import (
    DEFAULT_NAMESPACE,
    add_namespace_args,
    add_source_args,
    dump_json,
    dump_yaml,
    exit_code,
    human_age,
    load_config,
    table,
)
from wasmplugin.errors import ConfigError, UsageError

if TYPE_CHECKING:
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

examples:
  wasmplugin get wasmplugins -A -f examples/blog/
  wasmplugin get wasmplugin jwt-validator -n istio-system -o yaml -f examples/blog/
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
    add_source_args(p)
    p.set_defaults(func=run)


def as_object(plugin: WasmPlugin) -> dict[str, Any]:
    """The resource as ``kubectl get -o yaml`` shows it: as written, namespace filled in."""
    from wasmplugin.config.frozen import thaw

    body: dict[str, Any] = thaw(plugin.raw)
    meta = body.setdefault("metadata", {})
    meta["namespace"] = plugin.namespace
    return body


def _rows(plugins: list[WasmPlugin], args: argparse.Namespace) -> list[list[str]]:
    wide = args.output == "wide"
    header = (["NAMESPACE"] if args.all_namespaces else []) + ["NAME", "AGE"]
    if wide:
        header += ["PHASE", "PRIORITY", "TYPE", "FAILSTRATEGY", "URL"]
    rows = [] if args.no_headers else [header]
    for p in plugins:
        row = ([p.namespace] if args.all_namespaces else []) + [
            p.name,
            human_age(p.meta.created if p.meta.creation_timestamp else None),
        ]
        if wide:
            spec = p.spec
            row += [
                spec.effective_phase.value,
                "<unset>" if spec.priority is None else str(spec.priority),
                spec.effective_type.value,
                spec.effective_fail_strategy.value,
                spec.normalized_url or spec.url,
            ]
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
    result = load_config(args)
    namespace = args.namespace or DEFAULT_NAMESPACE
    plugins = sorted(result.mesh.plugins, key=lambda p: (p.namespace, p.name))
    if not args.all_namespaces:
        plugins = [p for p in plugins if p.namespace == namespace]
    if args.name:
        plugins = [p for p in plugins if p.name == args.name]
        if not plugins:
            raise ConfigError(f'{QUALIFIED} "{args.name}" not found in namespace {namespace}')
    if not plugins:
        where = "" if args.all_namespaces else f" in {namespace} namespace"
        print(f"No resources found{where}.", file=sys.stderr)
        return exit_code(result)
    out = sys.stdout
    if args.output in ("yaml", "json"):
        objects = [as_object(p) for p in plugins]
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
    return exit_code(result)
