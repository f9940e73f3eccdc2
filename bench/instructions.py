"""Instructions per operation, counted by valgrind's callgrind: a measure the machine's load does not move.

Wall-clock and CPU-time figures on a shared 2-core machine swing by ±50 %; the number of instructions
the process executes for one request does not. Each case below runs its operation ``count`` times
after a warm-up; the orchestrator runs the case twice under ``valgrind --tool=callgrind`` (with a
small and a large count, on the same prebuilt inputs, the garbage collector's existing objects
frozen) and divides the difference of the main thread's instruction totals by the difference of
the counts, which cancels start-up, compilation and warm-up. The epoch ticker thread is left out:
it runs on wall time, which valgrind stretches by whatever the machine's load is.

Cases (the same operations as ``bench/host_calls.py`` and ``bench/chain.py``):

* ``wasm-call``   one empty wasm call (``StreamContext.on_log`` into an empty export);
* ``host-call``   one empty host call (a guest loop calling WASI ``sched_yield``);
* ``get-header``  one ``proxy_get_header_map_value`` (a guest loop; the value is copied out
                  through the guest's ``malloc``), for comparison with ``prop-*``;
* ``hm-host``     one header-modifier request driven directly on the VM (create_stream, request
                  headers, response headers, on_log, on_done, on_delete; blog configuration);
* ``floor``       the same calls on a stand-in stream that only makes the three events a request
                  produces: the part of the chain rows any transport pays (loop, calls, events);
* ``chain-0``     a request through an ``HttpStream`` of a chain with no plugin;
* ``chain-noop``  the same through one plugin whose stream context does nothing;
* ``hm-chain``    the same through the header-modifier (chain + host);
* ``prop-*``      one ``proxy_get_property`` call (``plugin_root_id``, ``request.method``,
                  ``response.code``, ``request.duration``), made in a guest loop from ``on_log``
                  through a one-plugin chain; the request around the calls is spread over them.

The subjects and operations themselves live in ``bench/cases.py``.

Usage::

    .venv/bin/python bench/instructions.py                 # every case, a table
    .venv/bin/python bench/instructions.py hm-host chain-0 # some cases
    .venv/bin/python bench/instructions.py --run hm-host --count 100   # one run, no valgrind

A run takes 10–60 s per case under valgrind. ``callgrind_annotate`` on the large run's output
(``--keep DIR``) shows where the instructions go.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import (
    PROPERTY_BATCH,
    Case,
    FloorChain,
    chain_case,
    header_modifier_chain,
    header_modifier_host_case,
    header_modifier_vm,
    host_loop_case,
    loop_vm,
    noop_chain,
    property_case,
    runtime_for_bench,
    wasm_call_case,
)

from wasmplugin.chain import FilterChain

#: (small, large) operation counts per case; the difference is what is measured.
COUNTS = {
    "wasm-call": (1000, 11000),
    "host-call": (1000, 21000),
    "hm-host": (200, 2200),
    "get-header": (1000, 21000),
    "floor": (1000, 11000),
    "chain-0": (1000, 11000),
    "chain-noop": (1000, 11000),
    "hm-chain": (200, 2200),
    "prop-root": (2 * PROPERTY_BATCH, 22 * PROPERTY_BATCH),
    "prop-method": (2 * PROPERTY_BATCH, 22 * PROPERTY_BATCH),
    "prop-code": (2 * PROPERTY_BATCH, 22 * PROPERTY_BATCH),
    "prop-duration": (2 * PROPERTY_BATCH, 22 * PROPERTY_BATCH),
}
LABELS = {
    "wasm-call": "one empty wasm call",
    "host-call": "one empty host call",
    "hm-host": "header-modifier request, host alone",
    "get-header": "proxy_get_header_map_value (+ guest malloc)",
    "floor": "stand-in stream making the same events (harness floor)",
    "chain-0": "zero plugins, through an HttpStream",
    "chain-noop": "one no-op plugin (chain bookkeeping)",
    "hm-chain": "header-modifier request, chain + host",
    "prop-root": "proxy_get_property plugin_root_id (host-answered)",
    "prop-method": "proxy_get_property request.method (stream-answered)",
    "prop-code": "proxy_get_property response.code (stream-answered)",
    "prop-duration": "proxy_get_property request.duration (stream-answered)",
}


def _loop(export: str | None) -> Case:
    # 20,000 host calls in one guest call take longer than the default deadline under valgrind;
    # the stream context keeps its VM alive
    vm, stream, host = loop_vm(runtime_for_bench(callback_deadline_ms=600_000))
    return wasm_call_case(stream) if export is None else host_loop_case(vm, stream, host, export)


def _property(name: str) -> Callable[[], Case]:
    # PROPERTY_BATCH host calls run inside one on_log: under valgrind that needs a long deadline.
    return lambda: property_case(runtime_for_bench(callback_deadline_ms=600_000), name)


CASES: dict[str, Callable[[], Case]] = {
    "wasm-call": lambda: _loop(None),
    "host-call": lambda: _loop("loop_yield"),
    "hm-host": lambda: header_modifier_host_case(header_modifier_vm(runtime_for_bench())),
    "get-header": lambda: _loop("loop_get_header"),
    "floor": lambda: chain_case(FloorChain()),
    "chain-0": lambda: chain_case(FilterChain()),
    "chain-noop": lambda: chain_case(noop_chain()),
    "hm-chain": lambda: chain_case(header_modifier_chain(runtime_for_bench())),
    "prop-root": _property("plugin_root_id"),
    "prop-method": _property("request.method"),
    "prop-code": _property("response.code"),
    "prop-duration": _property("request.duration"),
}


def run_case(name: str, count: int) -> None:
    prepare, run = CASES[name]()
    prepare(50)
    run(50)  # warm-up: caches, first-call paths, memory growth
    prepare(COUNTS[name][1])  # the same inputs for the small and the large run
    gc.collect()
    gc.freeze()  # what exists now is never scanned again: collections cost what the loop allocates
    run(count)


# ------------------------------------------------------------------------------------------------
# orchestration under valgrind
# ------------------------------------------------------------------------------------------------
_TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.M)


def _callgrind(name: str, count: int, out: Path) -> int:
    """Instructions executed by the main thread. The epoch ticker thread is left out: it wakes
    every 10 ms of wall time, which under valgrind would add load-dependent noise."""
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(Path(__file__).resolve()),
        "--run",
        name,
        "--count",
        str(count),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    main = out.with_name(out.name + "-01")
    m = _TOTALS.search(main.read_bytes())
    if m is None:
        raise RuntimeError(f"no totals in {main}")
    return int(m.group(1))


def instructions_per_op(name: str, keep: Path | None = None) -> float:
    small, large = COUNTS[name]
    with tempfile.TemporaryDirectory() as tmp:
        base = keep if keep is not None else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        a = _callgrind(name, small, base / f"callgrind.{name}.{small}")
        b = _callgrind(name, large, base / f"callgrind.{name}.{large}")
    return (b - a) / (large - small)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", help=f"cases to measure (default: all of {', '.join(CASES)})")
    ap.add_argument("--run", metavar="CASE", help="run one case (what valgrind executes)")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--keep", type=Path, help="keep the callgrind output files in this directory")
    args = ap.parse_args()
    if args.run:
        run_case(args.run, args.count)
        return
    names = args.cases or list(CASES)
    for name in names:
        if name not in CASES:
            ap.error(f"unknown case {name!r}")
    print("| measure | instructions per operation |")
    print("|---|---:|")
    for name in names:
        per_op = instructions_per_op(name, args.keep)
        print(f"| {LABELS[name]} | {per_op:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
