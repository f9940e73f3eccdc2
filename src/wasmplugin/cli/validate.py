"""``wasmplugin validate -f PATH...``: check configuration as a cluster would admit it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from wasmplugin.cli.config_args import add_source_args

EPILOG = """\
Each problem is one line: FILE#DOC: Kind namespace/name: field.path: reason (DOC counts the
YAML documents in the file from 1). Warnings start with "warning:". The exit code is 1 when
there is any error.

The checks are the WasmPlugin CRD's schema and CEL rules, then istiod's admission webhook;
WorkloadEntry, ServiceEntry, Secret and ConfigMap are checked as Istio and Kubernetes do, and
references between them (pull secrets, env Secrets/ConfigMaps) are cross-checked.

The blog's forms that Istio rejects (phase: UNSPECIFIED, sha256: sha256:<hex>, valueFrom
fieldRef/secretKeyRef/configMapKeyRef, a kubectl command in a YAML file, priorityOrder:
ascending) are accepted with a warning naming Istio's form; --strict makes them errors.

examples:
  wasmplugin validate -f examples/blog/
  wasmplugin validate -f plugin.yaml --strict
  kubectl get wasmplugins -A -o yaml | wasmplugin validate -f -
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="validate WasmPlugin (and related) YAML as Istio would admit it",
        description="Validate WasmPlugin, WorkloadEntry, ServiceEntry, Secret, ConfigMap and mesh-config "
        "documents with Istio's rules. Prints one line per error or warning.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_args(p)
    p.add_argument(
        "-o", "--output", choices=["text", "json"], default="text", help="output format (default: text)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only, no warnings or summary")
    p.set_defaults(func=run)


def _as_json(diag: Any) -> dict[str, Any]:
    return {
        "severity": diag.severity.value,
        "file": diag.location.file,
        "document": diag.location.document,
        "line": diag.location.line,
        "resource": diag.resource,
        "field": diag.field,
        "reason": diag.reason,
        "origin": diag.origin,
        "extension": diag.extension,
        "message": str(diag),
    }


def run(args: argparse.Namespace) -> int:
    from wasmplugin.config.loader import load

    result = load(args.filename, strict=args.strict, recursive=args.recursive)
    shown = [d for d in result.diagnostics if d.is_error or not args.quiet]
    if args.output == "json":
        report = {
            "valid": result.ok,
            "files": len(result.files),
            "documents": result.documents,
            "errors": len(result.errors),
            "warnings": len(result.warnings),
            "diagnostics": [_as_json(d) for d in shown],
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 0 if result.ok else 1
    for diag in shown:
        print(str(diag))
    if not args.quiet:
        verdict = "valid" if result.ok else "invalid"
        print(
            f"{result.documents} document(s) in {len(result.files)} file(s): {len(result.errors)} error(s), "
            f"{len(result.warnings)} warning(s): {verdict}"
        )
    return 0 if result.ok else 1
