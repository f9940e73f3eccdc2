"""Instructions per operation, counted by valgrind's callgrind: a measure the machine's load does not move.

Wall-clock and CPU-time figures on a shared 2-core machine swing by ±50 %; the number of instructions
the process executes for one request does not. Each case below runs its operation ``count`` times
after a warm-up; the orchestrator runs the case twice under ``valgrind --tool=callgrind`` (with a
small and a large count) and divides the difference of the two instruction totals by the difference
of the counts, which cancels start-up, compilation and warm-up.

Cases (the same operations as ``bench/host_calls.py`` and ``bench/chain.py``):

* ``wasm-call``   one empty wasm call (``StreamContext.on_log`` into an empty export);
* ``host-call``   one empty host call (a guest loop calling WASI ``sched_yield``);
* ``hm-host``     one header-modifier request driven directly on the VM (create_stream, request
                  headers, response headers, on_log, on_done, on_delete; blog configuration);
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
    "chain-0": (1000, 11000),
    "chain-noop": (1000, 11000),
    "hm-chain": (200, 2200),
}
LABELS = {
    "wasm-call": "one empty wasm call",
    "host-call": "one empty host call",
    "hm-host": "header-modifier request, host alone",
    "chain-0": "zero plugins, through an HttpStream",
    "chain-noop": "one no-op plugin (chain bookkeeping)",
    "hm-chain": "header-modifier request, chain + host",
}


# ------------------------------------------------------------------------------------------------
# cases: each returns a function running the operation ``n`` times (set up and warmed up already)
# ------------------------------------------------------------------------------------------------
def _runtime():  # type: ignore[no-untyped-def]
    from wasmplugin.host.runtime import WasmRuntime

    # The compile cache keeps Cranelift out of the (slow) valgrind runs after the first.
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wasmplugin" / "bench-compiled"
    return WasmRuntime(cache_dir=cache)


class _QuietSink:
    def __init__(self) -> None:
        self.count = 0

    def log(self, plugin: str, level: object, message: str) -> None:
        self.count += 1

    def level(self, plugin: str) -> object:
        from wasmplugin.abi.enums import LogLevel

        return LogLevel.INFO


def _loop_vm():  # type: ignore[no-untyped-def]
    import wasmtime

    from wasmplugin.abi.headers import HeaderMap
    from wasmplugin.host.settings import PluginSettings
    from wasmplugin.host.simplehost import SimpleStreamHost, make_services
    from wasmplugin.host.vm import PluginVM

    runtime = _runtime()
    module = runtime.compile(wasmtime.wat2wasm(LOOP_WAT.read_text()), name="bench.loop")
    vm = PluginVM(runtime, module, PluginSettings(name="bench.loop"), make_services(log=_QuietSink()))
    vm.start()
    host = SimpleStreamHost(request_headers=HeaderMap.from_lowered([(b":path", b"/x")]))
    return vm, vm.create_stream(host)


def case_wasm_call() -> Callable[[int], None]:
    vm, stream = _loop_vm()
    on_log = stream.on_log

    def run(n: int) -> None:
        for _ in range(n):
            on_log()

    return run


def case_host_call() -> Callable[[int], None]:
    vm, stream = _loop_vm()
    cid = stream.context_id

    def run(n: int) -> None:
        vm.call_export("loop_yield", n, context_id=cid)

    return run


def case_hm_host() -> Callable[[int], None]:
    from wasmplugin.abi.headers import HeaderMap
    from wasmplugin.host.settings import PluginSettings
    from wasmplugin.host.simplehost import SimpleStreamHost, make_services
    from wasmplugin.host.vm import PluginVM

    runtime = _runtime()
    module = runtime.compile(HEADER_MODIFIER.read_bytes(), name="bench.header-modifier")
    settings = PluginSettings(name="bench.header-modifier", configuration=CONFIG)
    vm = PluginVM(runtime, module, settings, make_services(log=_QuietSink()))
    vm.start()
    create = vm.create_stream

    def run(n: int) -> None:
        # Stream hosts are built by the caller of the host in real use (the chain); here outside
        # the per-request loop body would be fairer still, but their cost is a few hundred
        # instructions and keeps the row comparable with bench/host_calls.py.
        for _ in range(n):
            host = SimpleStreamHost(
                request_headers=HeaderMap.from_lowered(list(REQ)),
                response_headers=HeaderMap.from_lowered(list(RESP)),
            )
            s = create(host)
            s.on_request_headers(len(REQ), True)
            s.on_response_headers(len(RESP), False)
            s.on_log()
            s.on_done()
            s.on_delete()

    return run


def _through(chain) -> Callable[[int], None]:  # type: ignore[no-untyped-def]
    from wasmplugin.abi.headers import HeaderMap

    def run(n: int) -> None:
        new_stream = chain.new_stream
        for _ in range(n):
            s = new_stream()
            s.request_headers(HeaderMap.from_lowered(list(REQ)), True)
            s.events()
            s.response_headers(HeaderMap.from_lowered(list(RESP)), False)
            s.response_data(b"hello", True)
            s.events()
            s.complete()

    return run


def case_chain_0() -> Callable[[int], None]:
    from wasmplugin.chain import FilterChain

    return _through(FilterChain())


def case_chain_noop() -> Callable[[int], None]:
    from wasmplugin.chain import FilterChain, PluginRuntime
    from wasmplugin.host.scheduling import VirtualScheduler

    sys.path.insert(0, str(ROOT / "bench"))
    from chain import NoopVM

    rt = PluginRuntime("noop", vm_factory=NoopVM, scheduler=VirtualScheduler())
    rt.start()
    return _through(FilterChain([rt], scheduler=VirtualScheduler()))


def case_hm_chain() -> Callable[[int], None]:
    from wasmplugin.abi.enums import LogLevel
    from wasmplugin.chain.build import PluginToLoad, build_chain
    from wasmplugin.host.logsink import CollectingLogSink
    from wasmplugin.host.settings import PluginSettings
    from wasmplugin.host.simplehost import make_services

    runtime = _runtime()
    services = make_services(log=CollectingLogSink(LogLevel.WARN))
    settings = PluginSettings(name="header-modifier", configuration=CONFIG)
    plugin = PluginToLoad(settings, HEADER_MODIFIER.read_bytes())
    chain = build_chain([plugin], wasm_runtime=runtime, services=services).chain
    return _through(chain)


CASES: dict[str, Callable[[], Callable[[int], None]]] = {
    "wasm-call": case_wasm_call,
    "host-call": case_host_call,
    "hm-host": case_hm_host,
    "chain-0": case_chain_0,
    "chain-noop": case_chain_noop,
    "hm-chain": case_hm_chain,
}


def run_case(name: str, count: int) -> None:
    run = CASES[name]()
    run(50)  # warm-up: caches, first-call paths, memory growth
    gc.collect()
    run(count)


# ------------------------------------------------------------------------------------------------
# orchestration under valgrind
# ------------------------------------------------------------------------------------------------
_TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.M)


def _callgrind(name: str, count: int, out: Path) -> int:
    cmd = [
        "valgrind",
        "--tool=callgrind",
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
    m = _TOTALS.search(out.read_bytes())
    if m is None:
        raise RuntimeError(f"no totals in {out}")
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
