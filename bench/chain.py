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
(``bench/instructions.py``; slow, but the same on a loaded machine). The subjects and operations
live in ``bench/cases.py``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import (
    FloorChain,
    chain_case,
    header_modifier_chain,
    header_modifier_host_case,
    header_modifier_vm,
    noop_chain,
    runtime_for_bench,
    time_cases,
)
from instructions import instructions_per_op

from wasmplugin.abi.enums import LogLevel
from wasmplugin.chain import FilterChain
from wasmplugin.host.logsink import CollectingLogSink


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--instructions", action="store_true", help="also count instructions (callgrind)")
    args = ap.parse_args()

    runtime = runtime_for_bench()
    hm_chain = header_modifier_chain(runtime)
    vm = header_modifier_vm(runtime, CollectingLogSink(LogLevel.WARN))
    n_wasm = max(args.n // 4, 1000)
    try:
        cases = [chain_case(FloorChain()), chain_case(FilterChain()), chain_case(noop_chain())]
        floor, zero, noop = (t.best for t in time_cases(cases, args.n, args.repeat))
        # the host alone makes the on_response_body call the chain makes
        hm_cases = [chain_case(hm_chain), header_modifier_host_case(vm, response_body=True)]
        total, alone = (t.best for t in time_cases(hm_cases, n_wasm, args.repeat))
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
        for name, us, counted in rows:
            print(f"| {name} | {us:.2f} | {counted()} |", flush=True)
    else:
        print("| case | CPU µs/request (best) |")
        print("|---|---:|")
        for name, us, _ in rows:
            print(f"| {name} | {us:.2f} |")


if __name__ == "__main__":
    main()
