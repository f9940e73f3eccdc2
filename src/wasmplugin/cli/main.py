"""Entry point of the ``wasmplugin`` command.

Each command lives in ``wasmplugin.cli.<module>`` and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` to a ``(argparse.Namespace) -> int`` handler. Command modules keep
heavy imports (wasmtime, asyncio servers) inside their handlers so ``--help`` stays fast.

This is the one place user-facing errors are translated: a :class:`WasmPluginError` prints its
one-line message and exits with its ``exit_code``; it never shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from wasmplugin import __version__
from wasmplugin.errors import WasmPluginError

#: Command modules in the order ``--help`` lists them.
COMMAND_MODULES = (
    "run",
    "serve",
    "demo",
    "validate",
    "get",
    "describe",
    "proxy_config",
    "pull",
    "push",
    "cache",
    "inspect",
    "init",
    "test",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wasmplugin",
        description=(
            "Istio's WasmPlugin system on one machine: run proxy-wasm plugins, serve them in a "
            "sidecar, validate and inspect WasmPlugin resources, pull and push modules."
        ),
    )
    parser.add_argument("--version", action="version", version=f"wasmplugin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"wasmplugin.cli.{name}")
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name == f"wasmplugin.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except WasmPluginError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
