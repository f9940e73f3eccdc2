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
* ``hm-host``     one header-modifier request driven directly on the VM (create_stream, request
                  headers, response headers, on_log, on_done, on_delete; blog configuration);
* ``floor``       the same calls on a stand-in stream that only makes the three events a request
                  produces: the part of the chain rows any transport pays (loop, calls, events);
* ``chain-0``     a request through an ``HttpStream`` of a chain with no plugin;
* ``chain-noop``  the same through one plugin whose stream context does nothing;
* ``hm-chain``    the same through the header-modifier (chain + host).

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
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import wasmtime

from wasmplugin.abi.enums import LogLevel
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.chain import FilterChain, PluginRuntime
from wasmplugin.chain.api import SendRequestHeaders, SendResponseData, SendResponseHeaders
from wasmplugin.chain.build import PluginToLoad, build_chain
from wasmplugin.host.contexts import StreamContext
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.runtime import WasmRuntime
from wasmplugin.host.scheduling import VirtualScheduler
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
    (b"x-forwarded-proto", b"http"),
    (b"x-request-id", b"9b1f7e4a-4c52-4b8e-9a77-0c6f0e1d2a33"),
]
RESP = [(b":status", b"200"), (b"content-length", b"5"), (b"content-type", b"text/plain")]

#: (small, large) operation counts per case; the difference is what is measured.
COUNTS = {
    "wasm-call": (1000, 11000),
    "host-call": (1000, 21000),
    "hm-host": (200, 2200),
    "floor": (1000, 11000),
    "chain-0": (1000, 11000),
    "chain-noop": (1000, 11000),
    "hm-chain": (200, 2200),
}
LABELS = {
    "wasm-call": "one empty wasm call",
    "host-call": "one empty host call",
    "hm-host": "header-modifier request, host alone",
    "floor": "stand-in stream making the same events (harness floor)",
    "chain-0": "zero plugins, through an HttpStream",
    "chain-noop": "one no-op plugin (chain bookkeeping)",
    "hm-chain": "header-modifier request, chain + host",
}


# ------------------------------------------------------------------------------------------------
# cases: each sets up (and warms up) its subject and returns ``run(n)``, which runs the operation
# ``n`` times on inputs built by ``prepare(n)`` beforehand
# ------------------------------------------------------------------------------------------------
Run = Callable[[int], None]
Case = tuple[Callable[[int], None], Run]


def runtime_for_bench() -> WasmRuntime:
    # The compile cache keeps Cranelift out of the (slow) valgrind runs after the first.
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return WasmRuntime(cache_dir=Path(base) / "wasmplugin" / "bench-compiled")


class CountingSink:
    """A log sink that keeps nothing (the blog configuration logs two lines per request)."""

    def __init__(self) -> None:
        self.count = 0

    def log(self, plugin: str, level: LogLevel, message: str) -> None:
        self.count += 1

    def level(self, plugin: str) -> LogLevel:
        return LogLevel.INFO


def _nothing(n: int) -> None:
    pass


def _loop_vm() -> tuple[PluginVM, StreamContext]:
    runtime = runtime_for_bench()
    module = runtime.compile(wasmtime.wat2wasm(LOOP_WAT.read_text()), name="bench.loop")
    vm = PluginVM(runtime, module, PluginSettings(name="bench.loop"), make_services(log=CountingSink()))
    vm.start()
    host = SimpleStreamHost(request_headers=HeaderMap.from_lowered([(b":path", b"/x")]))
    return vm, vm.create_stream(host)


def case_wasm_call() -> Case:
    _vm, stream = _loop_vm()  # the stream context keeps its VM alive
    on_log = stream.on_log

    def run(n: int) -> None:
        for _ in range(n):
            on_log()

    return _nothing, run


def case_host_call() -> Case:
    vm, stream = _loop_vm()
    cid = stream.context_id

    def run(n: int) -> None:
        vm.call_export("loop_yield", n, context_id=cid)

    return _nothing, run


def case_hm_host() -> Case:
    runtime = runtime_for_bench()
    module = runtime.compile(HEADER_MODIFIER.read_bytes(), name="bench.header-modifier")
    settings = PluginSettings(name="bench.header-modifier", configuration=CONFIG)
    vm = PluginVM(runtime, module, settings, make_services(log=CountingSink()))
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
            s.on_request_headers(len(REQ), True)
            s.on_response_headers(len(RESP), False)
            s.on_log()
            s.on_done()
            s.on_delete()
        last = hosts[n - 1].response_headers if n else None
        if last is not None and last.get(b"x-processed-by") != b"wasm-plugin":
            raise SystemExit("the plugin did not run")

    return prepare, run


def chain_case(chain: FilterChain | FloorChain) -> Case:
    """One request through ``chain``: headers-only GET, 200 with a 5-byte body, ``complete()``.
    Header maps are built beforehand (a transport builds them with or without a chain)."""
    maps: list[tuple[HeaderMap, HeaderMap]] = []

    def prepare(n: int) -> None:
        maps[:] = [(HeaderMap.from_lowered(list(REQ)), HeaderMap.from_lowered(list(RESP))) for _ in range(n)]

    def run(n: int) -> None:
        new_stream = chain.new_stream
        s = None
        for req, resp in maps[:n]:
            s = new_stream()
            s.request_headers(req, True)
            s.events()
            s.response_headers(resp, False)
            s.response_data(b"hello", True)
            s.events()
            s.complete()
        if s is not None and (s.error is not None or s.local_reply_sent is not None):
            raise SystemExit(f"the request failed: {s.error or s.local_reply_sent}")

    return prepare, run


class FloorStream:
    """Stand-in for a stream: takes the same calls and makes the same three events, nothing else."""

    error = None
    local_reply_sent = None

    def __init__(self) -> None:
        self._events: list[object] = []

    def request_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        self._events.append(SendRequestHeaders(headers, end_stream))

    def response_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        self._events.append(SendResponseHeaders(headers, end_stream))

    def response_data(self, data: bytes, end_stream: bool) -> None:
        self._events.append(SendResponseData(data, end_stream))

    def events(self) -> list[object]:
        ev, self._events = self._events, []
        return ev

    def complete(self) -> None:
        pass


class FloorChain:
    def new_stream(self) -> FloorStream:
        return FloorStream()


class NoopContext:
    """Stand-in stream context (benchmark only): every callback returns Continue at once, so a
    chain row measures the chain's own bookkeeping for one plugin, without any wasm."""

    context_id = 2

    def on_request_headers(self, n: int, eos: bool) -> int:
        return 0

    on_response_headers = on_request_body = on_response_body = on_request_headers

    def on_request_trailers(self, n: int) -> int:
        return 0

    on_response_trailers = on_request_trailers

    def on_log(self) -> None:
        pass

    on_done = on_delete = on_log


class NoopVM:
    failure = None
    on_failure = None
    _ctx = NoopContext()

    def start(self) -> None:
        pass

    def create_stream(self, host: object) -> NoopContext:
        return self._ctx

    def close(self) -> None:
        pass


def noop_chain() -> FilterChain:
    rt = PluginRuntime("noop", vm_factory=NoopVM, scheduler=VirtualScheduler())
    rt.start()
    return FilterChain([rt], scheduler=VirtualScheduler())


def header_modifier_chain(runtime: WasmRuntime) -> FilterChain:
    services = make_services(log=CollectingLogSink(LogLevel.WARN))
    settings = PluginSettings(name="header-modifier", configuration=CONFIG)
    plugin = PluginToLoad(settings, HEADER_MODIFIER.read_bytes())
    return build_chain([plugin], wasm_runtime=runtime, services=services).chain


CASES: dict[str, Callable[[], Case]] = {
    "wasm-call": case_wasm_call,
    "host-call": case_host_call,
    "hm-host": case_hm_host,
    "floor": lambda: chain_case(FloorChain()),
    "chain-0": lambda: chain_case(FilterChain()),
    "chain-noop": lambda: chain_case(noop_chain()),
    "hm-chain": lambda: chain_case(header_modifier_chain(runtime_for_bench())),
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
