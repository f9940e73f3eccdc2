"""Options shared by ``pull``, ``push`` and ``cache`` (registry access, TLS, cache location)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from wasmplugin.fetch import options
from wasmplugin.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from wasmplugin.fetch.transport import TlsPolicy


def add_registry_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry access")
    group.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="do not verify TLS for this host, and allow plain HTTP for it (repeatable; "
        "added to WASM_INSECURE_REGISTRIES, a comma-separated list where * means all)",
    )
    group.add_argument(
        "--ca-file",
        metavar="FILE",
        help="extra trusted CA certificates (PEM) on top of the system's (env WASMPLUGIN_CA_FILE)",
    )
    group.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="overall time limit (default: 30 for pull)"
    )


def add_cache_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="module cache (default: $WASMPLUGIN_CACHE_DIR, else $XDG_CACHE_HOME/wasmplugin, "
        "else ~/.cache/wasmplugin)",
    )


def cache_dir(args: argparse.Namespace) -> Path:
    return Path(args.cache_dir) if getattr(args, "cache_dir", None) else options.default_cache_dir()


def insecure_hosts(args: argparse.Namespace) -> list[str]:
    return [*options.insecure_registries(), *args.insecure_registry]


def ca_file(args: argparse.Namespace) -> str | None:
    return str(args.ca_file) if args.ca_file else options.ca_file()


def tls_policy(args: argparse.Namespace) -> TlsPolicy:
    from wasmplugin.fetch.transport import TlsPolicy

    return TlsPolicy.create(insecure_hosts(args), ca_file(args))


def limits() -> Limits:
    return options.limits_from_env(DEFAULT_LIMITS)
