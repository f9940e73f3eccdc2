#!/usr/bin/env python3
"""CPU cost of the sidecar's own data path per request, without sockets or syscalls.

Drives the real ``DownstreamConnection``/``UpstreamConnection`` protocol objects with in-memory
transports: a keep-alive GET goes in, the request bytes come out on the upstream side, a typical
upstream response goes in, the response bytes come out downstream. What remains in a real run is
the event loop and the four socket syscalls per request. ``python bench/proxy_path.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wasmplugin.chain.api import Direction
from wasmplugin.limits import DEFAULT_LIMITS
from wasmplugin.sidecar.app import Sidecar, SidecarOptions
from wasmplugin.sidecar.chains import ChainSet
from wasmplugin.sidecar.proxy import DownstreamConnection, ListenerContext
from wasmplugin.sidecar.routing import Cluster, Endpoint, RouteTable
from wasmplugin.sidecar.state import ConfigState
from wasmplugin.sidecar.upstream import UpstreamConnection, UpstreamPool

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:15006\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 21:46:11 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n"
)


class MemTransport:
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


async def main(n: int = 100_000) -> None:
    loop = asyncio.get_running_loop()
    pool = UpstreamPool(loop, DEFAULT_LIMITS)
    ep = Endpoint("127.0.0.1", 8080)
    cluster = Cluster("inbound|8080||", "app", 8080, (ep,))
    state = ConfigState(1, RouteTable(inbound=cluster), ChainSet())
    sc = Sidecar(SidecarOptions(), state, pool)
    lc = ListenerContext(
        name="inbound",
        direction=Direction.INBOUND,
        loop=loop,
        pool=pool,
        state=sc.current_state,
        cluster_stats=sc.cluster_stats,
    )
    down = DownstreamConnection(lc)
    dt = MemTransport()
    down.connection_made(dt)  # type: ignore[arg-type]
    up = UpstreamConnection(pool, cluster.pool_keys[0], sc.cluster_stats(cluster))
    ut = MemTransport()
    up.connection_made(ut)  # type: ignore[arg-type]
    pool.release(up)
    for _ in range(1000):
        down.data_received(REQUEST)
        up.data_received(RESPONSE)
    assert dt.out[-1].endswith(b"ok\n"), dt.out[-1]
    assert ut.out[-1].startswith(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:15006\r\n"), ut.out[-1]
    best = float("inf")
    for _ in range(5):
        dt.out.clear()
        ut.out.clear()
        t0 = time.process_time()
        for _ in range(n):
            down.data_received(REQUEST)
            up.data_received(RESPONSE)
        best = min(best, (time.process_time() - t0) / n * 1e6)
    print(f"sidecar fast path, Python side only: {best:.2f} us/request (best of 5 x {n})")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
