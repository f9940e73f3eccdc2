"""``wasmplugin proxy-config wasm|ecds WORKLOAD``: a workload's plugin chains, from configuration
files (``-f``) or from a running sidecar (``--admin HOST:PORT``).

``proxy-config wasm`` is the blog's ``istioctl proxy-config wasm`` (which Istio does not have):
the ordered chain per direction and port. ``proxy-config ecds`` is istioctl's real command: the
ECDS resources (``extensions.istio.io/wasmplugin/NS.NAME``) the proxy gets.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from wasmplugin.cli.config_args import (
    DEFAULT_NAMESPACE,
    add_admin_arg,
    add_source_args,
    check_one_source,
    dump_json,
    dump_yaml,
    exit_code,
    format_table,
    load_config,
    plan_from_admin,
    table,
)
from wasmplugin.errors import AdminError, ConfigError, UsageError

if TYPE_CHECKING:
    from wasmplugin.config.mesh import Mesh
    from wasmplugin.config.plan import ChainPlan, PortChain
    from wasmplugin.config.resources import WorkloadEntry

#: ``KIND/NAME`` prefixes accepted for a workload, as with kubectl/istioctl.
KIND_PREFIXES = frozenset(
    {"deploy", "deployment", "deployments", "pod", "pods", "po", "workloadentry", "workloadentries", "we"}
)
ECDS_DUMP_TYPE = "type.googleapis.com/envoy.admin.v3.EcdsConfigDump"

EPILOG = """\
WORKLOAD is NAMESPACE/NAME, NAME (with -n), NAME.NAMESPACE (istioctl's form) or KIND/NAME such
as deploy/api-gateway (the blog's form): a WorkloadEntry of that name, else the one WorkloadEntry
labelled app=NAME. With --admin the plan comes from a running sidecar's /config_dump and
WORKLOAD may be left out.

examples:
  wasmplugin proxy-config wasm default/api-gateway -f examples/demo/
  wasmplugin proxy-config wasm deploy/api-gateway -n default -f examples/demo/
  wasmplugin proxy-config ecds default/api-gateway -f examples/demo/ -o json
  wasmplugin pc wasm --admin 127.0.0.1:15000     # `serve`'s default admin port; `demo` prints its own
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "proxy-config",
        aliases=["pc"],
        help="show a workload's plugin chains (proxy-config wasm) or ECDS resources (proxy-config ecds)",
        description="Show the Wasm filter chains of one workload, from configuration files or a "
        "running sidecar's admin endpoint.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = p.add_subparsers(dest="config_type", metavar="TYPE", required=True)
    wasm = kinds.add_parser(
        "wasm",
        help="ordered plugins per direction and port",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ecds = kinds.add_parser(
        "ecds",
        aliases=["ec"],
        help="ECDS resources (istioctl proxy-config ecds)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for q, outputs in ((wasm, ["short", "wide", "json", "yaml"]), (ecds, ["short", "json", "yaml"])):
        q.add_argument("workload", metavar="WORKLOAD", nargs="?", help="the workload (see below)")
        q.add_argument(
            "-n", "--namespace", metavar="NS", help=f"the workload's namespace (default: {DEFAULT_NAMESPACE})"
        )
        add_source_args(q, required=False)
        add_admin_arg(q)
        q.add_argument(
            "-o", "--output", choices=outputs, default="short", help="output format (default: short)"
        )
    wasm.add_argument("--direction", choices=["inbound", "outbound"], help="only this direction")
    wasm.add_argument("--port", type=int, metavar="PORT", help="only this port")
    wasm.set_defaults(func=run_wasm)
    ecds.set_defaults(func=run_ecds)


# --- finding the workload ----------------------------------------------------------------------


def parse_workload_arg(text: str, namespace: str | None) -> tuple[str | None, str, bool]:
    """(namespace or None, name, by_kind) from the WORKLOAD argument."""
    head, sep, tail = text.partition("/")
    if sep:
        if not head or not tail or "/" in tail:
            raise UsageError(f"workload {text!r}: expected NAMESPACE/NAME, KIND/NAME or NAME")
        if head.lower() in KIND_PREFIXES:
            return namespace, tail, True
        if namespace and namespace != head:
            raise UsageError(f"workload {text!r} is in namespace {head}, but -n says {namespace}")
        return head, tail, False
    return namespace, text, False


def find_workload(mesh: Mesh, text: str, namespace: str | None) -> WorkloadEntry:
    ns, name, by_kind = parse_workload_arg(text, namespace)
    ns_given = ns is not None
    ns = ns or DEFAULT_NAMESPACE
    found = mesh.workload(ns, name)
    if found is None and not ns_given and "." in name:
        short, _, dotted_ns = name.rpartition(".")
        found = mesh.workload(dotted_ns, short)
        if found is not None:
            ns, name = dotted_ns, short
    if found is None and by_kind:
        matches = [w for w in mesh.workloads if w.namespace == ns and w.labels.get("app") == name]
        if len(matches) == 1:
            found = matches[0]
        elif len(matches) > 1:
            names = ", ".join(w.name for w in matches)
            raise ConfigError(
                f"{len(matches)} WorkloadEntries in {ns} are labelled app={name} ({names}); name one"
            )
    if found is None:
        known = ", ".join(f"{w.namespace}/{w.name}" for w in mesh.workloads) or "none are declared"
        raise ConfigError(f"no WorkloadEntry {ns}/{name} (workloads: {known})")
    return found


def load_plan(args: argparse.Namespace) -> tuple[ChainPlan, dict[str, Any] | None, int]:
    """(plan, config dump or None, exit code) from -f files or --admin. With -f, configuration
    errors are printed and the exit code is 1 (a sidecar would keep its last good config)."""
    from wasmplugin.config.planner import build_plan

    check_one_source(args)
    if args.admin:
        plan, dump = plan_from_admin(args.admin)
        if args.workload:
            ns, name, _ = parse_workload_arg(args.workload, args.namespace)
            if name != plan.workload.name or (ns is not None and ns != plan.workload.namespace):
                raise AdminError(
                    f"the sidecar at {args.admin} serves {plan.workload.ref}, not {args.workload}"
                )
        return plan, dump, 0
    if not args.workload:
        raise UsageError("WORKLOAD is required with -f (e.g. default/api-gateway)")
    result = load_config(args)
    workload = find_workload(result.mesh, args.workload, args.namespace)
    return build_plan(result.mesh, workload), None, exit_code(result)


# --- proxy-config wasm -----------------------------------------------------------------------


def _chain_title(chain: PortChain) -> str:
    port = "(no port)" if chain.port is None else str(chain.port)
    title = f"{chain.direction.value.upper()} {port}/{chain.protocol or 'auto'}  [{chain.listener}]"
    if chain.services:
        title += "  " + ", ".join(chain.services)
    return title


def print_wasm(plan: ChainPlan, out: TextIO, *, wide: bool = False, chains: Any = None) -> None:
    workload = plan.workload
    labels = ",".join(f"{k}={v}" for k, v in sorted(workload.labels.items())) or "<none>"
    order = (
        "descending (Istio: higher runs first)"
        if plan.priority_order == "descending"
        else ("ascending (blog extension: lower runs first)")
    )
    print(f"Workload:        {workload.ref} ({workload.address or 'no address'}, labels {labels})", file=out)
    print(f"Root namespace:  {plan.root_namespace}", file=out)
    print(f"Priority order:  {order}", file=out)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=out)
    selected = plan.chains if chains is None else chains
    if not selected:
        print("\n(no listeners)", file=out)
    for chain in selected:
        print(file=out)
        print(_chain_title(chain), file=out)
        entries = chain.entries
        if not entries:
            print("  (no plugins)", file=out)
            continue
        rows = [["#", "PHASE", "PRIORITY", "PLUGIN", "TYPE", "FAILSTRATEGY", "SHA256", "URL"]]
        for i, e in enumerate(entries, 1):
            sha = e.sha256 if wide or not e.sha256 else e.sha256[:12] + "..."
            rows.append(
                [
                    str(i),
                    e.phase,
                    "<unset>" if e.priority is None else str(e.priority),
                    e.ref,
                    e.type,
                    e.fail_strategy,
                    sha or "<none>",
                    e.url,
                ]
            )
        for line in format_table(rows):
            print("  " + line, file=out)


def run_wasm(args: argparse.Namespace) -> int:
    from wasmplugin.chain.api import Direction

    plan, _, code = load_plan(args)
    chains = plan.chains
    if args.direction:
        chains = tuple(c for c in chains if c.direction is Direction(args.direction))
    if args.port is not None:
        chains = tuple(c for c in chains if c.port == args.port)
    out = sys.stdout
    if args.output in ("json", "yaml"):
        data = plan.to_dict()
        out.write(dump_json(data) if args.output == "json" else dump_yaml(data))
        return code
    print_wasm(plan, out, wide=args.output == "wide", chains=chains)
    return code


# --- proxy-config ecds -----------------------------------------------------------------------


def _ecds_from_dump(dump: dict[str, Any]) -> list[dict[str, Any]] | None:
    for section in dump.get("configs", []):
        if isinstance(section, dict) and section.get("@type") == ECDS_DUMP_TYPE:
            filters = section.get("ecds_filters")
            return filters if isinstance(filters, list) else []
    return None


def run_ecds(args: argparse.Namespace) -> int:
    from wasmplugin.config.ecds import ecds_resource

    plan, dump, code = load_plan(args)
    out = sys.stdout
    served = _ecds_from_dump(dump) if dump is not None else None
    if served is not None:
        # What the running sidecar actually loaded (after the agent's rewrite or RBAC fallback).
        resources = [f.get("ecds_filter", {}) for f in served if isinstance(f, dict)]
    else:
        resources = [ecds_resource(e) for e in plan.entries()]
    if args.output in ("json", "yaml"):
        value = {"ecds_filters": [{"ecds_filter": r} for r in resources]}
        out.write(dump_json(value) if args.output == "json" else dump_yaml(value))
        return code
    rows = [["NAME", "TYPE"]]
    for resource in resources:
        typed = resource.get("typed_config", {}) if isinstance(resource, dict) else {}
        kind = str(typed.get("@type", "")) if isinstance(typed, dict) else ""
        rows.append([str(resource.get("name", "")), kind.removeprefix("type.googleapis.com/")])
    if len(rows) == 1:
        print(f"No ECDS resources for {plan.workload.ref}.", file=sys.stderr)
        return code
    table(rows, out)
    return code
