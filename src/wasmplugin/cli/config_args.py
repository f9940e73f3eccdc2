"""What ``validate``, ``get``, ``describe`` and ``proxy-config`` share: ``-f`` sources, namespace
flags, kubectl-style tables and ages, YAML output that reads back the same, and the admin client."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

from wasmplugin.errors import AdminError, UsageError

if TYPE_CHECKING:
    from wasmplugin.config.loader import LoadResult
    from wasmplugin.config.plan import ChainPlan

#: kubectl's namespace when neither -n nor -A is given.
DEFAULT_NAMESPACE = "default"
#: Seconds to wait for an admin endpoint.
ADMIN_TIMEOUT_S = 10.0


def add_source_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        default=[],
        required=required,
        metavar="PATH",
        help="YAML/JSON file or directory of configuration (repeatable; - reads stdin)",
    )
    parser.add_argument(
        "-R", "--recursive", action="store_true", help="read directories given with -f recursively"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="reject the blog's forms that Istio rejects (for config that must also run on a cluster)",
    )


def add_admin_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--admin", metavar="HOST:PORT", help="read a running sidecar's admin /config_dump instead of -f"
    )


def check_one_source(args: argparse.Namespace) -> None:
    """``-f`` and ``--admin`` exclude each other, and one of them is needed."""
    if args.admin and args.filename:
        raise UsageError("use either -f or --admin, not both")
    if not args.admin and not args.filename:
        raise UsageError("give the configuration with -f PATH, or a running sidecar with --admin HOST:PORT")


def add_namespace_args(parser: argparse.ArgumentParser, *, all_namespaces: bool = True) -> None:
    parser.add_argument("-n", "--namespace", metavar="NS", help=f"namespace (default: {DEFAULT_NAMESPACE})")
    if all_namespaces:
        parser.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")


def load_config(args: argparse.Namespace, err: TextIO | None = None) -> LoadResult:
    """Load ``-f`` sources. Errors are printed to stderr (the documents with errors are left
    out, as ``kubectl apply`` skips them); the caller exits 1 when ``result.ok`` is false."""
    from wasmplugin.config.loader import load

    result = load(args.filename, strict=args.strict, recursive=args.recursive)
    if result.ok:
        return result
    stream = err or sys.stderr
    for diag in result.errors:
        print(str(diag), file=stream)
    print(
        f"error: {len(result.errors)} error(s) in the configuration; the documents with errors are left "
        "out below (`wasmplugin validate` lists errors and warnings)",
        file=stream,
    )
    return result


def exit_code(result: LoadResult) -> int:
    return 0 if result.ok else 1


# --- output helpers ----------------------------------------------------------------------------


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """kubectl's table: left-aligned columns separated by three spaces, no trailing blanks."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    for line in format_table(rows):
        print(line, file=out)


def human_age(created: datetime | None, now: datetime | None = None) -> str:
    """kubectl's AGE (apimachinery ``duration.HumanDuration``); ``<unknown>`` when unset."""
    if created is None or created.year == 1:
        return "<unknown>"
    d = (now or datetime.now(UTC)) - created
    seconds = int(d.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = int(d / timedelta(minutes=1))
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = int(d / timedelta(hours=1))
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def dump_yaml(value: Any) -> str:
    """YAML as kubectl prints it (keys sorted, block style), with every string that go-yaml would
    read as something else quoted, so the output loads back unchanged."""
    import yaml

    from wasmplugin.config.yamlio import resolve_plain

    class Dumper(yaml.SafeDumper):
        pass

    def represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
        needs_quotes = resolve_plain(data)[0] != "tag:yaml.org,2002:str"
        style = '"' if needs_quotes else ("|" if "\n" in data else None)
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, represent_str)
    return yaml.dump(value, Dumper=Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True)


def dump_json(value: Any) -> str:
    """JSON as kubectl prints it (4-space indent)."""
    return json.dumps(value, indent=4, ensure_ascii=False) + "\n"


# --- admin endpoint ----------------------------------------------------------------------------


def fetch_config_dump(admin: str) -> dict[str, Any]:
    """GET ``http://HOST:PORT/config_dump`` of a running sidecar."""
    host, sep, port = admin.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--admin {admin!r}: expected HOST:PORT")
    url = f"http://{admin}/config_dump"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP proxy
    try:
        with opener.open(url, timeout=ADMIN_TIMEOUT_S) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise AdminError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AdminError(f"cannot reach the admin endpoint {url}: {reason}") from None
    try:
        dump = json.loads(body)
    except ValueError as exc:
        raise AdminError(f"{url}: not JSON ({exc})") from None
    if not isinstance(dump, dict):
        raise AdminError(f"{url}: not a config dump")
    return dump


def plan_from_admin(admin: str) -> tuple[ChainPlan, dict[str, Any]]:
    """The chain plan a running sidecar serves (and its whole config dump)."""
    from wasmplugin.config.plan import PlanFormatError, plan_from_config_dump

    dump = fetch_config_dump(admin)
    try:
        return plan_from_config_dump(dump), dump
    except PlanFormatError as exc:
        raise AdminError(f"http://{admin}/config_dump: {exc}") from None
