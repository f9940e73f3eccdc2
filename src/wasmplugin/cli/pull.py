"""``wasmplugin pull URL``: fetch a module as istio-agent would and show where it is cached."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import Any

from wasmplugin.cli import fetch_args

EPILOG = """\
URL schemes: oci:// (the default when there is none), https://, http://, file://.
--sha256 is what a WasmPlugin's spec.sha256 holds: for oci:// the manifest digest (what
`wasmplugin push` prints), for http(s):// the sha256 of the module, ignored for file://.

examples:
  wasmplugin pull oci://ghcr.io/acme/header-modifier:v1
  wasmplugin pull localhost:5000/header-modifier:v1 --insecure-registry localhost:5000
  wasmplugin pull oci://registry.example.com/p:v1 --sha256 3f1c... --pull-secret secret.yaml
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "pull",
        help="fetch a Wasm module (oci://, http(s)://, file://) into the cache",
        description="Fetch a Wasm module exactly as istio-agent does (layouts, checksum, cache and "
        "pull policy) and print where it is cached and its digests.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("url", help="module URL, e.g. oci://REGISTRY/REPO:TAG or https://host/plugin.wasm")
    p.add_argument("--sha256", metavar="HEX", help="expected checksum (spec.sha256); a mismatch fails")
    p.add_argument(
        "--pull-secret",
        metavar="FILE",
        help="docker config JSON, or a kubernetes.io/dockerconfigjson Secret (YAML/JSON); "
        "default: ~/.docker/config.json (or $DOCKER_CONFIG)",
    )
    p.add_argument(
        "--pull-policy",
        choices=["IfNotPresent", "Always"],
        help="imagePullPolicy (default: unset, i.e. IfNotPresent, or Always for an oci :latest tag)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="also copy the module to FILE")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--istio-strict",
        action="store_true",
        help="reject the single-layer ORAS artifact as Istio does (accepted with a warning by default)",
    )
    fetch_args.add_cache_args(p)
    fetch_args.add_registry_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wasmplugin.fetch.credentials import read_pull_secret_file
    from wasmplugin.fetch.fetcher import ModuleFetcher
    from wasmplugin.fetch.progress import TerminalProgress

    secret = read_pull_secret_file(args.pull_secret) if args.pull_secret else None
    fetcher = ModuleFetcher(
        fetch_args.cache_dir(args),
        fetch_args.limits(),
        fetch_args.insecure_hosts(args),
        ca_file=fetch_args.ca_file(args),
        progress=TerminalProgress(sys.stderr),
        allow_single_layer=not args.istio_strict,
    )
    module = fetcher.get(
        args.url,
        sha256=args.sha256,
        pull_policy=args.pull_policy,
        pull_secret=secret,
        pull_secret_name=args.pull_secret,
        timeout_s=args.timeout,
    )
    for warning in module.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.output:
        shutil.copyfile(module.path, args.output)
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(module.path),
                    "url": module.url,
                    "checksum": module.checksum,
                    "manifest_digest": module.manifest_digest,
                    "module_sha256": module.module_sha256,
                    "layout": module.layout,
                    "size": module.size,
                    "cache_hit": module.cache_hit,
                    "warnings": list(module.warnings),
                },
                indent=2,
            )
        )
        return 0
    rows = [("path" if module.scheme == "file" else "cached", str(module.path)), ("url", module.url)]
    if module.manifest_digest:
        rows.append(("manifest digest", f"{module.manifest_digest}   (spec.sha256 for this oci:// URL)"))
    rows.append(
        (
            "module sha256",
            module.module_sha256 + ("   (spec.sha256)" if module.scheme in ("http", "https") else ""),
        )
    )
    if module.layout:
        from wasmplugin.fetch.layouts import Layout

        rows.append(("layout", f"{module.layout} - {Layout(module.layout).description}"))
    rows.append(("size", f"{module.size} bytes"))
    rows.append(
        (
            "source",
            "cache" if module.cache_hit else ("local file" if module.scheme == "file" else "downloaded"),
        )
    )
    if args.output:
        rows.append(("copied to", args.output))
    width = max(len(k) for k, _ in rows) + 1
    for key, value in rows:
        print(f"{key + ':':<{width}} {value}")
    return 0
