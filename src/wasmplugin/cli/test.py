"""``wasmplugin test FILE.yaml ...``: declarative plugin tests, for authors who do not write Python.

Each file names a plugin (or WasmPlugin YAML for a chain), upstream answers, and cases: a request,
the backend's answer, and what to expect (status, headers, body, local reply, logs, metrics,
http_calls). The format is in docs/testing-plugins.md. Exit 0 when every case passed, 1 when one
failed or a plugin could not load, 2 when a test file is invalid.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "test",
        help="run declarative plugin tests (YAML: requests, upstream answers, expectations)",
        description=(
            "Run declarative tests against compiled plugins or WasmPlugin chains, on virtual time with "
            "fake upstreams. Exit 0 when every case passed, 1 when a case failed or a plugin did not "
            "load, 2 when a test file is invalid. Format: docs/testing-plugins.md."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE.yaml", help="test files")
    p.add_argument("-k", dest="only", metavar="TEXT", help="run only the cases whose name contains TEXT")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.add_argument("-v", "--verbose", action="store_true", help="show every case's plugin logs")
    p.set_defaults(func=test_command)


def test_command(args: argparse.Namespace) -> int:
    from wasmplugin.errors import ConfigError
    from wasmplugin.host.runtime import WasmRuntime, default_cache_dir
    from wasmplugin.testing.report import render_text, to_json
    from wasmplugin.testing.testfile import load_test_file
    from wasmplugin.testing.testrun import run_test_file

    # failStrategy decisions are in each case's report; keep the chain's Python log out of the output.
    logging.getLogger("wasmplugin").addHandler(logging.NullHandler())
    try:
        files = [load_test_file(Path(f)) for f in args.files]  # every file is checked before any runs
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    runtime = WasmRuntime(cache_dir=default_cache_dir())
    try:
        results = [run_test_file(tf, runtime=runtime, only=args.only) for tf in files]
    finally:
        runtime.close()
    if args.output == "json":
        json.dump(to_json(results), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(results, verbose=args.verbose))
    return EXIT_PASSED if all(r.passed for r in results) else EXIT_FAILED
