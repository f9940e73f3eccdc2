#!/usr/bin/env python3
"""The plugin-author tools, timed: what a test pays per request, per plugin load, per leak check.

* request: one ``plugin.request("GET", ...)`` through the harness (chain + host + fakes, virtual
  time), with the host-call trace on (the default) and off;
* load: ``Harness.plugin(...)`` with the module compiled cold (empty compile cache) and from the
  on-disk cache (what every test after the first pays);
* leak check: ``assert_no_leak`` with its defaults (1500 requests).

Usage: ``python bench/harness.py [--requests 2000]``. Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from wasmplugin.host.runtime import WasmRuntime
from wasmplugin.testing import Harness

ROOT = Path(__file__).resolve().parent.parent
CASES = [
    ("header-modifier (Rust)", "header-modifier", {"request_headers": [{"name": "x-a", "value": "1"}]}, "/x"),
    ("as-headers (AssemblyScript)", "as-headers", {"header_value": "v"}, "/x"),
    ("c-hostcalls (C)", "c-hostcalls", None, "/plain"),
    ("go-features (Go)", "go-features", None, "/plain"),
    (
        "jwt-validator (Go), allowed path",
        "jwt-validator",
        {"issuer": "https://auth.example.com", "allowed_paths": ["/health"]},
        "/health",
    ),
]


def per_request_us(harness: Harness, module: Path, config: object, path: str, n: int) -> float:
    plugin = harness.plugin(module, config=config)
    for _ in range(50):
        plugin.request("GET", path)
    t = time.perf_counter()
    for _ in range(n):
        plugin.request("GET", path)
    return (time.perf_counter() - t) / n * 1e6


def load_ms(module: Path, config: object, cache: Path, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        runtime = WasmRuntime(cache_dir=cache)
        try:
            t = time.perf_counter()
            with Harness(runtime=runtime) as h:
                h.plugin(module, config=config)
            times.append((time.perf_counter() - t) * 1000)
        finally:
            runtime.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, name, config, path in CASES:
            module = ROOT / "plugins" / name / "plugin.wasm"
            cache = Path(tmp) / name
            t = time.perf_counter()
            runtime = WasmRuntime(cache_dir=cache)
            runtime.compile(module.read_bytes(), name=name)
            runtime.close()
            cold = (time.perf_counter() - t) * 1000
            warm = load_ms(module, config, cache)
            with Harness(trace=True) as h:
                traced = per_request_us(h, module, config, path, args.requests)
            with Harness(trace=False) as h:
                plain = per_request_us(h, module, config, path, args.requests)
            rows.append((label, module.stat().st_size, cold, warm, traced, plain))
    with Harness(trace=False) as h:
        plugin = h.plugin(ROOT / "plugins" / "go-features" / "plugin.wasm")
        t = time.perf_counter()
        plugin.assert_no_leak("GET", "/plain")
        leak_s = time.perf_counter() - t
    head = ("plugin", "bytes", "compile cold", "load cached", "req traced", "req untraced")
    print(f"{head[0]:34} {head[1]:>9} {head[2]:>13} {head[3]:>12} {head[4]:>11} {head[5]:>13}")
    for label, size, cold, warm, traced, plain in rows:
        print(f"{label:34} {size:>9} {cold:>10.0f} ms {warm:>9.1f} ms {traced:>8.0f} µs {plain:>10.0f} µs")
    print(f"leak check, defaults (500 + 1000 requests), go-features /plain: {leak_s:.2f} s")


if __name__ == "__main__":
    main()
