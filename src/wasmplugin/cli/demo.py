"""``wasmplugin demo``: the blog's mesh on 127.0.0.1 — five plugins, a scripted scenario, a table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from wasmplugin.cli.argtypes import port, positive_seconds

DESCRIPTION = """\
Run the blog's mesh for real on 127.0.0.1: the five WasmPlugins of examples/demo (jwt-validator,
rbac-enforcer, custom-metrics, header-modifier, rate-limiter) in front of a small echo app, with
a JWKS key server and a policy service the demo starts itself, and `wasmplugin serve` as the
sidecar. It sends a scripted set of requests (health check, no token, expired and wrong-audience
tokens, a token without permission, valid tokens, a burst past the rate limit), prints what each
got and which plugins it reached, the chain as `proxy-config wasm` shows it and the plugin
metrics, then keeps serving until Ctrl-C and prints curl commands to try.

Exit status: 0 when every case got its expected status, 1 otherwise (or when the demo cannot
start; the message says why), 130 when interrupted before the table.
"""

EPILOG = """\
examples:
  wasmplugin demo                       # = make demo
  wasmplugin demo --once                # table, then exit (non-zero if a case failed)
  wasmplugin demo --inbound-port 15006 --admin-port 15000
See docs/demo.md.
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run the blog's five-plugin mesh on 127.0.0.1 and show what each plugin does",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--once", action="store_true", help="exit after the table (non-zero if a case failed)")
    p.add_argument(
        "--inbound-port",
        type=port,
        default=0,
        metavar="PORT",
        help="sidecar inbound listener port (default: ephemeral)",
    )
    p.add_argument(
        "--outbound-port",
        type=port,
        default=0,
        metavar="PORT",
        help="sidecar outbound listener port (default: ephemeral)",
    )
    p.add_argument(
        "--admin-port", type=port, default=0, metavar="PORT", help="sidecar admin port (default: ephemeral)"
    )
    p.add_argument(
        "--examples",
        type=Path,
        default=None,
        metavar="DIR",
        help="the demo mesh (default: examples/demo of this source tree)",
    )
    p.add_argument(
        "--plugins",
        type=Path,
        default=None,
        metavar="DIR",
        help="where plugins/<name>/plugin.wasm are (default: plugins/ of this source tree)",
    )
    p.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the run copy of the mesh, the module cache and the sidecar log here and "
        "keep them (default: a temporary directory, removed unless a case failed)",
    )
    p.add_argument(
        "--start-timeout",
        type=positive_seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long the sidecar may take to fetch, compile and start the modules (default 600)",
    )
    p.add_argument("--log-level", default="info", help="the sidecar's log level (default info)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wasmplugin.demo.runner import DemoOptions, main

    options = DemoOptions(
        examples=args.examples,
        plugins=args.plugins,
        run_dir=args.run_dir,
        inbound_port=args.inbound_port,
        outbound_port=args.outbound_port,
        admin_port=args.admin_port,
        once=args.once,
        start_timeout_s=args.start_timeout,
        log_level=args.log_level,
    )
    return main(options)
