"""``wasmplugin cache ls|prune|dir``: inspect and clean the module cache."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from wasmplugin.cli import fetch_args


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "cache",
        help="list or prune the module cache",
        description="The module cache istio-agent keeps: one file per (module, checksum), plus the "
        "tag -> checksum map pull policies use.",
    )
    fetch_args.add_cache_args(p)
    csub = p.add_subparsers(dest="cache_command", metavar="SUBCOMMAND")

    ls = csub.add_parser("ls", help="list cached modules")
    ls.add_argument("--json", action="store_true", help="print JSON")
    fetch_args.add_cache_args(ls)
    ls.set_defaults(func=run_ls)

    prune = csub.add_parser(
        "prune",
        help="delete expired modules (unused for 24 h, or WASM_MODULE_EXPIRY) and stray files",
    )
    prune.add_argument("--all", action="store_true", help="delete every cached module")
    prune.add_argument("--older-than", metavar="DURATION", help="expiry to apply instead, e.g. 1h, 30m, 0s")
    fetch_args.add_cache_args(prune)
    prune.set_defaults(func=run_prune)

    where = csub.add_parser("dir", help="print the cache directory")
    fetch_args.add_cache_args(where)
    where.set_defaults(func=run_dir)

    def show_help(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=show_help)


def _ago(ts: float) -> str:
    s = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


def run_ls(args: argparse.Namespace) -> int:
    from wasmplugin.fetch.cache import ModuleCache

    cache = ModuleCache(fetch_args.cache_dir(args))
    entries = cache.entries()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": e.name,
                        "checksum": e.checksum,
                        "path": str(cache.absolute(e)),
                        "size": e.size,
                        "module_sha256": e.module_sha256,
                        "manifest_digest": e.manifest_digest,
                        "layout": e.layout,
                        "last_used": e.last_used,
                        "urls": e.urls,
                    }
                    for e in entries
                ],
                indent=2,
            )
        )
        return 0
    if not entries:
        print(f"no cached modules in {cache.directory}")
        return 0
    rows = [("MODULE", "CHECKSUM", "SIZE", "LAST USED", "LAYOUT", "URLS")]
    rows += [
        (e.name, e.checksum[:12], f"{e.size}", _ago(e.last_used), e.layout or "-", ", ".join(e.urls))
        for e in entries
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5])
    total = sum(e.size for e in entries)
    print(f"{len(entries)} module(s), {total} bytes in {cache.directory}")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from wasmplugin.fetch.cache import ModuleCache
    from wasmplugin.fetch.options import parse_duration

    cache = ModuleCache(fetch_args.cache_dir(args))
    if not cache.directory.exists():
        print(f"nothing to prune: {cache.directory} does not exist")
        return 0
    if args.all:
        removed = cache.clear()
    else:
        expiry = (
            parse_duration(args.older_than, what="--older-than")
            if args.older_than
            else fetch_args.limits().cache_module_expiry_s
        )
        removed = cache.purge(expiry)
    strays = cache.remove_orphans()
    size = sum(e.size for e in removed)
    print(
        f"removed {len(removed)} module(s) ({size} bytes) and {len(strays)} stray file(s) "
        f"from {cache.directory}"
    )
    return 0


def run_dir(args: argparse.Namespace) -> int:
    print(fetch_args.cache_dir(args))
    return 0
