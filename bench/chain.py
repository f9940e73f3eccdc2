"""µs per request through the filter chain alone (no sockets): ``python bench/chain.py``.

Rows:
* harness floor — the same calls on a stand-in stream that only makes the request's three events:
  what the loop, the calls and the events cost whatever the chain does (subtract it from the
  next rows for the chain's own cost);
* zero plugins, passthrough — what a transport pays when it sees ``chain.passthrough`` and skips
  the chain (nothing);
* zero plugins, through a stream — ``chain.new_stream()`` of an empty chain (a ``PassthroughStream``):
  headers-only GET, 200 with a 5-byte body, ``complete()``;
* one no-op plugin — the same request through one plugin whose stream context returns Continue at
  once: the chain's own bookkeeping for one plugin, without any wasm;
* header-modifier (the blog's plugin and config) — the same request through the real plugin, next
  to the host alone (the same callbacks driven directly on the VM), the difference being the
  chain's own cost per request.

Header maps (and the host-alone row's stream hosts) are built before the timed loop: a transport
builds them whether or not there is a chain. Best of ``--repeat`` runs of ``--n`` requests each, in
CPU time of this thread (``time.thread_time``), so that other load on the machine distorts the
figures less; the header-modifier's two rows are measured in alternation, so their difference
holds. ``--instructions`` adds the instructions per request counted by callgrind
(``bench/instructions.py``; slow, but the same on a loaded machine).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from instructions import (
    CONFIG,
    HEADER_MODIFIER,
    REQ,
    RESP,
    Case,
    FloorChain,
    chain_case,
    header_modifier_chain,
    instructions_per_op,
    noop_chain,
    runtime_for_bench,
)

from wasmplugin.abi.enums import LogLevel
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.chain import FilterChain
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import SimpleStreamHost, make_services
from wasmplugin.host.vm import PluginVM


def per_request_us(cases: list[Case], n: int, repeat: int) -> list[float]:
    """Best CPU µs per request of each case; the cases' runs are interleaved, so that a change in
    the machine's load hits them alike (their difference is then meaningful)."""
    for prepare, run in cases:
        prepare(min(n, 100))
        run(min(n, 100))  # warm up
    best = [float("inf")] * len(cases)
    for _ in range(repeat):
        for i, (prepare, run) in enumerate(cases):
            prepare(n)
            gc.collect()
            gc.freeze()
            t0 = time.thread_time()
            run(n)
            best[i] = min(best[i], time.thread_time() - t0)
            gc.unfreeze()
    return [b / n * 1e6 for b in best]


def host_alone(vm: PluginVM) -> Case:
    """The callbacks the chain makes for one request, driven directly on the VM."""
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
            ctx = create(host)
            ctx.on_request_headers(len(REQ), True)
            ctx.on_response_headers(len(RESP), False)
            ctx.on_response_body(5, True)
            ctx.on_log()
            ctx.on_done()
            ctx.on_delete()

    return prepare, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--instructions", action="store_true", help="also count instructions (callgrind)")
    args = ap.parse_args()

    runtime = runtime_for_bench()
    hm_chain = header_modifier_chain(runtime)
    module = runtime.compile(HEADER_MODIFIER.read_bytes(), name="header-modifier")
    services = make_services(log=CollectingLogSink(LogLevel.WARN))
    vm = PluginVM(runtime, module, PluginSettings(name="header-modifier", configuration=CONFIG), services)
    vm.start()
    n_wasm = max(args.n // 4, 1000)
    try:
        cases = [chain_case(FloorChain()), chain_case(FilterChain()), chain_case(noop_chain())]
        floor, zero, noop = per_request_us(cases, args.n, args.repeat)
        total, alone = per_request_us([chain_case(hm_chain), host_alone(vm)], n_wasm, args.repeat)
    finally:
        vm.close()
        hm_chain.close()
        runtime.close()

    def count(case: str) -> Callable[[], str]:
        return lambda: f"{instructions_per_op(case):,.0f}"

    rows: list[tuple[str, float, Callable[[], str]]] = [
        ("harness floor (stand-in stream making the same events)", floor, count("floor")),
        ("zero plugins, passthrough (transport skips the chain)", 0.0, lambda: "0"),
        ("zero plugins, through a stream", zero, count("chain-0")),
        ("one no-op plugin (chain bookkeeping only)", noop, count("chain-noop")),
        ("header-modifier: chain + host", total, count("hm-chain")),
        ("header-modifier: host alone (same callbacks on the VM)", alone, lambda: "—"),
        ("header-modifier: chain's own cost", total - alone, lambda: "—"),
    ]
    if args.instructions:
        print("| case | CPU µs/request (best) | instructions/request |")
        print("|---|---:|---:|")
        for name, us, count in rows:
            print(f"| {name} | {us:.2f} | {count()} |", flush=True)
    else:
        print("| case | CPU µs/request (best) |")
        print("|---|---:|")
        for name, us, _ in rows:
            print(f"| {name} | {us:.2f} |")


if __name__ == "__main__":
    main()
