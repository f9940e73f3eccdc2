"""Host call costs: what crossing the wasm boundary costs in this host, and one request through the
Rust header-modifier driven directly on a PluginVM (no chain, a minimal StreamHost).

Rows:
* one empty wasm call — ``StreamContext.on_log`` into an export that does nothing;
* one empty host call — a guest loop calling WASI ``sched_yield``, per call;
* a few real host calls, each measured the same way inside one guest call;
* header-modifier, per request — ``create_stream`` + on_request_headers + on_response_headers +
  on_log + on_done + on_delete with the blog's configuration (two request headers, one response
  header, logging on: 11 host calls and 3 allocations in the guest), log lines going to a sink that
  only counts them. The stream objects (a minimal in-memory StreamHost each) are built before the
  timed loop and frozen out of the garbage collector's view, so the row is the host's own cost.

Each row is the best and the median of ``--repeat`` runs, in wall time and in CPU time of this
thread (``time.thread_time``); CPU time is what the host costs, wall time also shows contention.
``--instructions`` adds, for the empty calls and the request, the instructions per operation that
valgrind's callgrind counts (``bench/instructions.py``: slow, but the same on a loaded machine).
Usage: ``.venv/bin/python bench/host_calls.py [--repeat 9] [--requests 5000] [--instructions]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime

from wasmplugin.abi.enums import LogLevel
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.host.runtime import WasmRuntime
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import SimpleStreamHost, make_services
from wasmplugin.host.vm import PluginVM

ROOT = Path(__file__).resolve().parents[1]
HEADER_MODIFIER = ROOT / "plugins" / "header-modifier" / "plugin.wasm"
LOOP_WAT = ROOT / "bench" / "wat" / "hostcall_loop.wat"
CONFIG = json.dumps(
    {
        "request_headers": [
            {"name": "x-custom-header", "value": "added-by-wasm"},
            {"name": "x-request-id", "value": "generated-id"},
        ],
        "response_headers": [{"name": "x-processed-by", "value": "wasm-plugin"}],
        "enable_logging": True,
        "log_level": "info",
    }
).encode()
REQ = [
    (b":authority", b"example.com"),
    (b":path", b"/api/items"),
    (b":method", b"GET"),
    (b":scheme", b"http"),
    (b"user-agent", b"wrk"),
    (b"x-request-id", b"9b1f7e4a"),
]
RESP = [(b":status", b"200"), (b"content-length", b"5"), (b"content-type", b"text/plain")]


class CountingSink:
    """A log sink that keeps nothing: the cost of a log line is the host's, not an output's."""

    def __init__(self) -> None:
        self.count = 0

    def log(self, plugin: str, level: LogLevel, message: str) -> None:
        self.count += 1

    def level(self, plugin: str) -> LogLevel:
        return LogLevel.INFO


Row = tuple[str, list[float], list[float]]


def measure(run: Callable[[int], None], n: int, repeat: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    run(max(1, n // 10))  # warm up
    for _ in range(repeat):
        w, c = time.perf_counter(), time.thread_time()
        run(n)
        cpus.append((time.thread_time() - c) / n * 1e6)
        walls.append((time.perf_counter() - w) / n * 1e6)
    return walls, cpus


def loop_rows(runtime: WasmRuntime, repeat: int) -> list[Row]:
    module = runtime.compile(wasmtime.wat2wasm(LOOP_WAT.read_text()), name="bench.loop")
    vm = PluginVM(runtime, module, PluginSettings(name="bench.loop"), make_services(log=CountingSink()))
    vm.start()
    host = SimpleStreamHost(request_headers=HeaderMap.from_lowered([(b":path", b"/x")]))
    stream = vm.create_stream(host)
    rows: list[Row] = []

    def empty_calls(n: int) -> None:
        on_log = stream.on_log
        for _ in range(n):
            on_log()

    rows.append(("one empty wasm call (StreamContext.on_log)", *measure(empty_calls, 20000, repeat)))
    for export, label in [
        ("loop_yield", "one empty host call (WASI sched_yield)"),
        ("loop_log_dropped", "proxy_log below the log level"),
        ("loop_now", "proxy_get_current_time_nanoseconds"),
        ("loop_add_header", "proxy_add_header_map_value"),
        ("loop_get_header", "proxy_get_header_map_value (+ guest malloc)"),
    ]:

        def loop(n: int, export: str = export) -> None:
            vm.call_export(export, n, context_id=stream.context_id)
            assert host.request_headers is not None
            host.request_headers.remove(b"x-bench")

        rows.append((label, *measure(loop, 20000, repeat)))
    vm.close()
    return rows


def request_row(runtime: WasmRuntime, requests: int, repeat: int) -> Row:
    module = runtime.compile(HEADER_MODIFIER.read_bytes(), name="bench.header-modifier")
    sink = CountingSink()
    vm = PluginVM(
        runtime,
        module,
        PluginSettings(name="bench.header-modifier", configuration=CONFIG),
        make_services(log=sink),
    )
    vm.start()
    hosts: list[SimpleStreamHost] = []

    def prepare(n: int) -> None:
        hosts[:] = [
            SimpleStreamHost(
                request_headers=HeaderMap.from_lowered(list(REQ)),
                response_headers=HeaderMap.from_lowered(list(RESP)),
            )
            for _ in range(n)
        ]

    def run(n: int) -> None:
        create = vm.create_stream
        for host in hosts[:n]:
            s = create(host)
            s.on_request_headers(6, True)
            s.on_response_headers(3, False)
            s.on_log()
            s.on_done()
            s.on_delete()

    walls, cpus = [], []
    prepare(requests // 10)
    run(requests // 10)
    for _ in range(repeat):
        prepare(requests)  # stream objects are built outside the timed loop ...
        gc.collect()
        gc.freeze()  # ... and frozen, as a server freezes what it built at start-up
        w, c = time.perf_counter(), time.thread_time()
        run(requests)
        gc.unfreeze()
        cpus.append((time.thread_time() - c) / requests * 1e6)
        walls.append((time.perf_counter() - w) / requests * 1e6)
    check = hosts[-1]
    assert (
        check.request_headers is not None and check.request_headers.get("x-custom-header") == b"added-by-wasm"
    )
    assert (
        check.response_headers is not None and check.response_headers.get("x-processed-by") == b"wasm-plugin"
    )
    assert sink.count > 0
    vm.close()
    return ("header-modifier: one request, all callbacks (11 host calls + 3 guest mallocs)", walls, cpus)


#: Rows with an instruction count (``bench/instructions.py`` case names).
INSTRUCTION_CASES = {
    "one empty wasm call (StreamContext.on_log)": "wasm-call",
    "one empty host call (WASI sched_yield)": "host-call",
    "header-modifier: one request, all callbacks (11 host calls + 3 guest mallocs)": "hm-host",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--instructions", action="store_true", help="also count instructions (callgrind)")
    args = parser.parse_args()
    runtime = WasmRuntime()
    rows = loop_rows(runtime, args.repeat)
    if HEADER_MODIFIER.exists():
        rows.append(request_row(runtime, args.requests, args.repeat))
    runtime.close()
    print(
        f"# host call costs — {platform.python_implementation()} {platform.python_version()}, "
        f"wasmtime 50.0.1, best / median of {args.repeat} runs, µs"
    )
    print()
    if args.instructions:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from instructions import instructions_per_op

        print("| measure | CPU best | CPU median | wall best | wall median | instructions |")
        print("|---|---:|---:|---:|---:|---:|")
    else:
        print("| measure | CPU best | CPU median | wall best | wall median |")
        print("|---|---:|---:|---:|---:|")
    for label, walls, cpus in rows:
        line = (
            f"| {label} | {min(cpus):.2f} | {statistics.median(cpus):.2f} | "
            f"{min(walls):.2f} | {statistics.median(walls):.2f} |"
        )
        if args.instructions:
            case = INSTRUCTION_CASES.get(label)
            line += f" {instructions_per_op(case):,.0f} |" if case else " |"
        print(line, flush=True)


if __name__ == "__main__":
    main()
