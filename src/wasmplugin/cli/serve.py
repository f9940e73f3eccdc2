"""``wasmplugin serve``: run the sidecar of one workload (listeners, plugins, admin, hot reload)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from wasmplugin.cli.argtypes import port, positive_int
from wasmplugin.errors import UsageError

DESCRIPTION = """\
Run the sidecar of one workload, as Envoy runs in its pod: an inbound listener (SERVER mode) that
forwards to the WorkloadEntry's address and target port, an outbound listener (CLIENT mode) that
routes by Host to ServiceEntry destinations, and the admin endpoint (/stats, /stats/prometheus,
/config_dump, /logging, /ready, /clusters, /server_info). WasmPlugins that select the workload run
in the filter chain by phase and priority. The directory is watched: a change is loaded beside the
running configuration and swapped in whole; a bad change is rejected with a one-line error and the
last good configuration keeps serving.

Port 0 picks a free port; the bound ports are printed on the line starting with "ready".
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the sidecar of a workload: listeners, plugins, admin endpoint, hot reload",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-f",
        "--filename",
        required=True,
        metavar="DIR",
        help="directory (or file) of WasmPlugin, WorkloadEntry, ServiceEntry, Secret, ConfigMap YAML",
    )
    p.add_argument(
        "--workload", required=True, metavar="NS/NAME", help="the WorkloadEntry whose sidecar this is"
    )
    p.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--inbound-port", type=port, default=15006, help="inbound listener port (default 15006)")
    p.add_argument(
        "--outbound-port", type=port, default=15001, help="outbound listener port (default 15001)"
    )
    p.add_argument("--admin-port", type=port, default=15000, help="admin endpoint port (default 15000)")
    p.add_argument(
        "--target-port",
        type=port,
        default=None,
        help="workload port for inbound traffic when the WorkloadEntry has several and none named http",
    )
    p.add_argument(
        "--concurrency",
        type=positive_int,
        default=1,
        help="worker processes sharing the listen ports, each with its own VMs (default 1)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        help="trace|debug|info|warning|error|critical|off (Istio proxies default to warning)",
    )
    p.add_argument(
        "--reload-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how often the directory is checked for changes (default 1)",
    )
    p.add_argument("--no-watch", action="store_true", help="do not reload when files change")
    p.add_argument("--access-log", action="store_true", help="log one line per request")
    p.add_argument(
        "--upstream-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="route timeout for proxied requests (default 15, Envoy's)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="reject the blog's non-Istio forms instead of accepting them with a warning",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wasmplugin.abi.enums import LogLevel
    from wasmplugin.limits import DEFAULT_LIMITS
    from wasmplugin.sidecar.process import ServeConfig

    try:
        level = LogLevel.parse(args.log_level)
    except KeyError:
        raise UsageError(f"--log-level: unknown level {args.log_level!r}") from None
    if "/" not in args.workload:
        raise UsageError(f"--workload: expected NS/NAME, got {args.workload!r}")
    limits = DEFAULT_LIMITS
    if args.upstream_timeout is not None:
        limits = limits.with_overrides(upstream_timeout_s=args.upstream_timeout)
    cfg = ServeConfig(
        directory=Path(args.filename),
        workload=args.workload,
        address=args.address,
        inbound_port=args.inbound_port,
        outbound_port=args.outbound_port,
        admin_port=args.admin_port,
        target_port=args.target_port,
        concurrency=args.concurrency,
        limits=limits,
        log_level=level,
        reload_interval_s=args.reload_interval,
        watch=not args.no_watch,
        access_log=args.access_log,
        strict=args.strict,
    )
    if cfg.concurrency > 1:
        from wasmplugin.sidecar.workers import serve_workers

        return serve_workers(cfg)
    from wasmplugin.sidecar.runner import serve_single

    return serve_single(cfg)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
