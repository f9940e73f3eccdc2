"""µs per request through the filter chain alone (no sockets): ``python bench/chain.py``.

Rows:
* zero plugins, passthrough — what a transport pays when it sees ``chain.passthrough`` and skips
  the chain (nothing);
* zero plugins, HttpStream — a stream through an empty chain (headers-only GET, 200 with a body);
* header-modifier (the blog's plugin and config) — the same request through one plugin, next to the
  host alone (the same callbacks driven directly on the VM), the difference being the chain's own
  cost per request.

Best of ``--repeat`` runs of ``--n`` requests each, in CPU time of this process (``time.process_time``)
so that other load on the machine distorts the figures less.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from wasmplugin.abi.enums import LogLevel
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.chain import FilterChain, PluginRuntime
from wasmplugin.chain.build import PluginToLoad, build_chain
from wasmplugin.chain.canned import CannedUpstreams
from wasmplugin.host.api import HostServices
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.metrics import MetricsRegistry
from wasmplugin.host.runtime import WasmRuntime
from wasmplugin.host.scheduling import SystemClock, VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.shared import SharedData, SharedQueues
from wasmplugin.host.simplehost import SimpleStreamHost

REPO = Path(__file__).resolve().parents[1]
CONFIG = json.dumps({
    "request_headers": [{"name": "x-custom-header", "value": "added-by-wasm"},
                        {"name": "x-request-id", "value": "generated-id"}],
    "response_headers": [{"name": "x-processed-by", "value": "wasm-plugin"}],
    "enable_logging": True,
    "log_level": "info",
}).encode()

REQ = [(b":authority", b"example.com"), (b":path", b"/api/items"), (b":method", b"GET"),
       (b":scheme", b"http"), (b"user-agent", b"wrk"), (b"x-forwarded-proto", b"http"),
       (b"x-request-id", b"9b1f7e4a-4c52-4b8e-9a77-0c6f0e1d2a33")]
RESP = [(b":status", b"200"), (b"content-length", b"5"), (b"content-type", b"text/plain")]


def per_request_us(fn: Callable[[], None], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


def through_chain(chain: FilterChain) -> Callable[[], None]:
    def one() -> None:
        s = chain.new_stream()
        s.request_headers(HeaderMap.from_lowered(list(REQ)), True)
        s.events()
        s.response_headers(HeaderMap.from_lowered(list(RESP)), False)
        s.response_data(b"hello", True)
        s.events()
        s.complete()

    return one


class NoopContext:
    """Stand-in stream context (benchmark only): every callback returns Continue at once, so the
    row measures the chain's own bookkeeping for one plugin, without any wasm."""

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    rows: list[tuple[str, float]] = []
    empty = FilterChain()
    rows.append(("zero plugins, passthrough (transport skips the chain)", 0.0))
    rows.append(("zero plugins, HttpStream", per_request_us(through_chain(empty), args.n, args.repeat)))

    noop = PluginRuntime("noop", vm_factory=NoopVM, scheduler=VirtualScheduler())
    noop.start()
    one_noop = FilterChain([noop], scheduler=VirtualScheduler())
    rows.append(("one plugin, no-op context (chain bookkeeping only)",
                 per_request_us(through_chain(one_noop), args.n, args.repeat)))

    clock = SystemClock()
    scheduler = VirtualScheduler()
    services = HostServices(
        clock=clock, scheduler=scheduler, log=CollectingLogSink(LogLevel.WARN),
        http=CannedUpstreams({}, scheduler), shared_data=SharedData(), shared_queues=SharedQueues(),
        metrics=MetricsRegistry(),
    )
    runtime = WasmRuntime()
    try:
        wasm = (REPO / "plugins" / "header-modifier" / "plugin.wasm").read_bytes()
        settings = PluginSettings(name="header-modifier", configuration=CONFIG)
        chain = build_chain([PluginToLoad(settings, wasm)], wasm_runtime=runtime, services=services).chain
        n = max(args.n // 4, 1000)
        total = per_request_us(through_chain(chain), n, args.repeat)

        module = runtime.compile(wasm, name="header-modifier")
        from wasmplugin.host.vm import PluginVM

        vm = PluginVM(runtime, module, settings, services)
        vm.start()

        def direct() -> None:
            host = SimpleStreamHost(request_headers=HeaderMap.from_lowered(list(REQ)),
                                    response_headers=HeaderMap.from_lowered(list(RESP)))
            ctx = vm.create_stream(host)
            ctx.on_request_headers(len(REQ), True)
            ctx.on_response_headers(len(RESP), False)
            ctx.on_response_body(5, True)
            ctx.on_log()
            ctx.on_done()
            ctx.on_delete()

        host_only = per_request_us(direct, n, args.repeat)
        vm.close()
        chain.close()
    finally:
        runtime.close()
    rows.append(("header-modifier: chain + host", total))
    rows.append(("header-modifier: host alone (same callbacks on the VM)", host_only))
    rows.append(("header-modifier: chain's own cost", total - host_only))

    width = max(len(r[0]) for r in rows)
    print(f"{'case'.ljust(width)}  µs/request")
    print(f"{'-' * width}  ----------")
    for name, us in rows:
        print(f"{name.ljust(width)}  {us:10.2f}")


if __name__ == "__main__":
    main()
