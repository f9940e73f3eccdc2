#!/usr/bin/env python3
"""CPU cost of the sidecar's own data path per request, without sockets or syscalls.

Builds a real sidecar (``SidecarProcess``, the configuration ``wasmplugin serve`` would load from a
directory, real plugins) and drives its ``DownstreamConnection``/``UpstreamConnection`` protocol
objects with in-memory transports: a keep-alive GET goes in, the request bytes come out on the
upstream side, a typical upstream response goes in, the response bytes come out downstream. What
remains in a real run is the event loop and the four socket syscalls per request.

Cases (``--case``, default all): ``none`` (no plugin: the fast path), ``noop`` (one plugin whose
stream context does nothing and runs no wasm: the sidecar's chain path plus the chain's own
bookkeeping), ``header-mod`` (the blog's header-modifier in STATS, as ``bench/run.py`` configures it)
and ``4-phases`` (four header-modifiers, one per phase).

``python bench/proxy_path.py [--case none] [--n 20000] [--repeat 5] [--profile]``. ``--run CASE
--count N`` runs exactly N requests and nothing else (for ``valgrind --tool=callgrind``: the
difference between two counts is the per-request instruction count).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wasmplugin.abi.enums import LogLevel
from wasmplugin.sidecar.logs import SidecarLog
from wasmplugin.sidecar.process import ServeConfig, SidecarProcess
from wasmplugin.sidecar.proxy import DownstreamConnection
from wasmplugin.sidecar.upstream import UpstreamConnection

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import NoopVM  # bench/cases.py: the stand-in VM the chain benchmarks use too
from run import PLUGIN_SETS, sidecar_dir  # bench/run.py: the same meshes as the wrk benchmark

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:15006\r\nUser-Agent: wrk\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 21:46:11 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n"
)

#: ``noop`` uses the no-plugin mesh and installs a chain with a stand-in VM (``install_noop_chain``).
CASES: dict[str, list[tuple[str, str]]] = {
    "none": PLUGIN_SETS["none"],
    "noop": PLUGIN_SETS["none"],
    "header-mod": PLUGIN_SETS["header-mod"],
    "4-phases": PLUGIN_SETS["4-phases"],
}


class MemTransport:
    """Just enough of ``asyncio.Transport`` for the protocol objects (benchmark only)."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def write_mesh(d: Path, case: str) -> Path:
    """The directory ``bench/run.py`` gives ``wasmplugin serve`` for the same plugins."""
    sub = d / case
    sub.mkdir()
    return sidecar_dir(sub, 8080, CASES[case])


class Driver:
    """One sidecar process (no admin, no watcher) and one keep-alive downstream/upstream pair."""

    def __init__(self, proc: SidecarProcess) -> None:
        assert proc.sidecar is not None and proc.sidecar.pool is not None
        lc = proc.sidecar.listeners["inbound"]
        cluster = proc.sidecar.state.routes.inbound
        assert cluster is not None
        self.proc = proc
        self.down = DownstreamConnection(lc)
        self.dt = MemTransport()
        self.down.connection_made(self.dt)  # type: ignore[arg-type]
        stats = proc.sidecar.cluster_stats(cluster)
        self.up = UpstreamConnection(proc.sidecar.pool, cluster.pool_keys[0], stats)
        self.ut = MemTransport()
        self.up.connection_made(self.ut)  # type: ignore[arg-type]
        proc.sidecar.pool.release(self.up)

    def run(self, n: int) -> None:
        down, up = self.down, self.up
        dt, ut = self.dt, self.ut
        for _ in range(n):
            down.data_received(REQUEST)
            up.data_received(RESPONSE)
        dt.out.clear()
        ut.out.clear()

    def check(self) -> None:
        self.down.data_received(REQUEST)
        sent = self.ut.out[-1]
        self.up.data_received(RESPONSE)
        got = self.dt.out[-1]
        assert sent.startswith(b"GET / HTTP/1.1\r\n"), sent
        assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b"ok\n"), got
        self.dt.out.clear()
        self.ut.out.clear()


async def start(case: str, tmp: Path) -> Driver:
    cfg = ServeConfig(
        directory=write_mesh(tmp, case),
        workload="bench/app",
        inbound_port=0,
        outbound_port=0,
        admin_port=0,
        log_level=LogLevel.WARN,
        watch=False,
    )
    proc = SidecarProcess(cfg, log=SidecarLog(LogLevel.WARN), serve_admin=False)
    await proc.start()
    if case == "noop":
        install_noop_chain(proc)
    return Driver(proc)


def install_noop_chain(proc: SidecarProcess) -> None:
    """One plugin whose VM and stream context do nothing: the chain path without any wasm."""
    from wasmplugin.chain import FilterChain, PluginRuntime
    from wasmplugin.chain.api import Direction
    from wasmplugin.sidecar.chains import ChainSet
    from wasmplugin.sidecar.services import LoopScheduler

    assert proc.sidecar is not None and proc.sidecar.loop is not None
    scheduler = LoopScheduler(proc.sidecar.loop)
    rt = PluginRuntime("noop", vm_factory=NoopVM, scheduler=scheduler)  # type: ignore[arg-type]
    rt.start()
    state = proc.sidecar.state
    assert state.routes.inbound is not None
    chain = FilterChain([rt], scheduler=scheduler)
    state.chains = ChainSet({(Direction.INBOUND, state.routes.inbound.port): chain})


def measure(drv: Driver, n: int, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t0 = time.process_time()
        drv.run(n)
        samples.append((time.process_time() - t0) / n * 1e6)
    samples.sort()
    return samples[0], samples[len(samples) // 2]


async def main(args: argparse.Namespace) -> None:
    from wasmplugin.sidecar.runner import tune_gc

    with tempfile.TemporaryDirectory(prefix="wasmplugin-proxy-path-") as tmp:
        if args.run:
            drv = await start(args.run, Path(tmp))
            drv.check()  # a broken setup (e.g. no plugin: 403s) must not be counted
            tune_gc()
            drv.run(args.count)
            await drv.proc.close()
            return
        cases = [args.case] if args.case else list(CASES)
        rows = []
        for case in cases:
            drv = await start(case, Path(tmp))
            drv.check()
            drv.run(min(2000, args.n))
            tune_gc()
            if args.profile:
                prof = cProfile.Profile()
                prof.enable()
                drv.run(args.n)
                prof.disable()
                print(f"--- {case}: cProfile of {args.n} requests")
                pstats.Stats(prof).sort_stats("tottime").print_stats(35)
            best, med = measure(drv, args.n, args.repeat)
            rows.append((case, best, med))
            await drv.proc.close()
        print(f"sidecar data path, Python side only (no sockets), CPU µs/request, {args.repeat} x {args.n}:")
        print(f"{'case':<12} {'best':>8} {'median':>8}")
        for case, best, med in rows:
            print(f"{case:<12} {best:8.2f} {med:8.2f}")


if __name__ == "__main__":
    import uvloop

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=list(CASES), default=None, help="one case (default: all)")
    ap.add_argument("--n", type=int, default=20000, help="requests per run (default 20000)")
    ap.add_argument("--repeat", type=int, default=5, help="runs; best and median shown (default 5)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one run per case")
    ap.add_argument("--run", choices=list(CASES), default=None, help="run --count requests only (callgrind)")
    ap.add_argument("--count", type=int, default=1000)
    sys.exit(uvloop.run(main(ap.parse_args())))
