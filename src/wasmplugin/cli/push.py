"""``wasmplugin push REF plugin.wasm``: upload a module; print the manifest digest (spec.sha256)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from wasmplugin.cli import fetch_args

EPILOG = """\
formats:
  oci      OCI Wasm artifact, 2 layers (Wasm content + config) - the default; Istio accepts it
  compat   OCI image, plugin.wasm in a tar+gzip layer; Istio accepts it
  docker   Docker v2 image, plugin.wasm in a tar+gzip layer; Istio accepts it
  oras     the blog's single-layer `oras push` artifact; Istio REJECTS it (wasmplugin accepts it)

The manifest digest is printed alone on stdout: use it as spec.sha256, e.g.
  SHA=$(wasmplugin push localhost:5000/header-modifier:v1 plugin.wasm --insecure-registry localhost:5000)
Credentials: --auth-file (docker config JSON or a dockerconfigjson Secret), else ~/.docker/config.json.
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "push",
        help="push a Wasm module to an OCI registry; prints the manifest digest",
        description="Push a Wasm module to an OCI registry in a layout Istio accepts, and print the "
        "manifest digest - the value for spec.sha256.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ref", help="target, REGISTRY/REPO[:TAG] with or without oci:// (TAG defaults to latest)")
    p.add_argument("module", help="the .wasm file")
    p.add_argument(
        "--format", choices=["oci", "compat", "docker", "oras"], default="oci", help="image layout"
    )
    p.add_argument(
        "--auth-file", metavar="FILE", help="docker config JSON or dockerconfigjson Secret with credentials"
    )
    fetch_args.add_registry_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wasmplugin.errors import UsageError
    from wasmplugin.fetch.credentials import (
        DockerConfig,
        Keychain,
        load_docker_config,
        read_pull_secret_file,
    )
    from wasmplugin.fetch.layouts import ORAS_WARNING, Layout
    from wasmplugin.fetch.progress import TerminalProgress
    from wasmplugin.fetch.push import push_module

    try:
        wasm = Path(args.module).read_bytes()
    except OSError as exc:
        raise UsageError(f"{args.module}: cannot read module: {exc.strerror}") from None
    if args.auth_file:
        keychain = Keychain(
            pull_secret=DockerConfig.from_bytes(read_pull_secret_file(args.auth_file), source=args.auth_file)
        )
    else:
        keychain = Keychain(docker_config=load_docker_config())
    layout = Layout(args.format)
    result = push_module(
        args.ref,
        wasm,
        layout,
        keychain=keychain,
        tls=fetch_args.tls_policy(args),
        limits=fetch_args.limits(),
        progress=TerminalProgress(sys.stderr),
        timeout_s=args.timeout,
    )
    print(
        f"pushed {result.url} ({layout.value}: {layout.description}; {result.uploaded} blob(s) uploaded, "
        f"{result.skipped} already present)",
        file=sys.stderr,
    )
    if layout is Layout.ORAS:
        print(f"warning: {ORAS_WARNING}", file=sys.stderr)
    print("manifest digest (spec.sha256):", file=sys.stderr)
    print(result.digest_hex)
    return 0
