"""Host call costs: what crossing the wasm boundary costs in this host, and one request through the
Rust header-modifier driven directly on a PluginVM (no chain, a minimal StreamHost).

Rows:
* one empty wasm call — ``StreamContext.on_log`` into an export that does nothing;
* one empty host call — a guest loop calling WASI ``sched_yield``, per call;
* a few real host calls, each measured the same way inside one guest call;
* ``proxy_get_property`` on a host-answered name (``plugin_root_id``) and on stream-answered ones
  (``request.method``, ``response.code``, ``request.duration``): a guest loop in ``on_log`` of a
  one-plugin chain, so the values come from the chain's stream as for a real plugin (the request
  around the calls, spread over ``PROPERTY_BATCH`` calls, adds well under 1 µs to each);
* header-modifier, per request — ``create_stream`` + on_request_headers + on_response_headers +
  on_log + on_done + on_delete with the blog's configuration (two request headers, one response
  header, logging on: 11 host calls and 3 allocations in the guest), log lines going to a sink that
  only counts them. The stream objects (a minimal in-memory StreamHost each) are built before the
  timed loop and frozen out of the garbage collector's view, so the row is the host's own cost.

Each row is the best and the median of ``--repeat`` runs, in wall time and in CPU time of this
thread (``time.thread_time``); CPU time is what the host costs, wall time also shows contention.
``--instructions`` adds, for the rows that have one, the instructions per operation that valgrind's
callgrind counts (``bench/instructions.py``: slow, but the same on a loaded machine).
The subjects and operations live in ``bench/cases.py``.
Usage: ``.venv/bin/python bench/host_calls.py [--repeat 9] [--requests 5000] [--instructions]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import (
    HEADER_MODIFIER,
    PROPERTY_PATHS,
    Case,
    CountingSink,
    header_modifier_host_case,
    header_modifier_vm,
    host_loop_case,
    loop_vm,
    property_case,
    runtime_for_bench,
    time_cases,
    wasm_call_case,
)

#: Host calls made by one guest loop of the fixture: (export, row label).
LOOPS = [
    ("loop_yield", "one empty host call (WASI sched_yield)"),
    ("loop_log_dropped", "proxy_log below the log level"),
    ("loop_now", "proxy_get_current_time_nanoseconds"),
    ("loop_add_header", "proxy_add_header_map_value"),
    ("loop_get_header", "proxy_get_header_map_value (+ guest malloc)"),
]
WASM_CALL = "one empty wasm call (StreamContext.on_log)"
REQUEST = "header-modifier: one request, all callbacks (11 host calls + 3 guest mallocs)"

#: Rows with an instruction count (``bench/instructions.py`` case names).
INSTRUCTION_CASES = {
    WASM_CALL: "wasm-call",
    "one empty host call (WASI sched_yield)": "host-call",
    "proxy_get_header_map_value (+ guest malloc)": "get-header",
    "proxy_get_property plugin_root_id": "prop-root",
    "proxy_get_property request.method": "prop-method",
    "proxy_get_property response.code": "prop-code",
    "proxy_get_property request.duration": "prop-duration",
    REQUEST: "hm-host",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=20000, help="host calls per run of a loop row")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (callgrind)")
    args = parser.parse_args()
    # A property row makes PROPERTY_BATCH host calls in one callback: give it time on a loaded VM.
    runtime = runtime_for_bench(callback_deadline_ms=60_000)
    vm, stream, host = loop_vm(runtime)
    loops: list[tuple[str, Case]] = [(WASM_CALL, wasm_call_case(stream))]
    loops += [(label, host_loop_case(vm, stream, host, export)) for export, label in LOOPS]
    loops += [(f"proxy_get_property {name}", property_case(runtime, name)) for name in PROPERTY_PATHS]
    timings = time_cases([case for _, case in loops], args.calls, args.repeat)
    rows = [(label, t) for (label, _), t in zip(loops, timings, strict=True)]
    if HEADER_MODIFIER.exists():
        sink = CountingSink()
        hm_vm = header_modifier_vm(runtime, sink)
        rows.append((REQUEST, time_cases([header_modifier_host_case(hm_vm)], args.requests, args.repeat)[0]))
        assert sink.count > 0
        hm_vm.close()
    vm.close()
    runtime.close()
    print(
        f"# host call costs — {platform.python_implementation()} {platform.python_version()}, "
        f"best / median of {args.repeat} runs, µs"
    )
    print()
    head = "| measure | CPU best | CPU median | wall best | wall median |"
    if args.instructions:
        from instructions import instructions_per_op

        print(head + " instructions |")
        print("|---|---:|---:|---:|---:|---:|")
    else:
        print(head)
        print("|---|---:|---:|---:|---:|")
    for label, t in rows:
        wall = f"{min(t.wall):.2f} | {statistics.median(t.wall):.2f}"
        line = f"| {label} | {t.best:.2f} | {t.median:.2f} | {wall} |"
        if args.instructions:
            case = INSTRUCTION_CASES.get(label)
            line += f" {instructions_per_op(case):,.0f} |" if case else " |"
        print(line, flush=True)


if __name__ == "__main__":
    main()
