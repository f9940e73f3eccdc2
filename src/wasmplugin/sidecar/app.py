"""The sidecar of one workload, in one process: listeners, upstream pool, config state, admin.

``Sidecar`` owns everything it creates and closes it in ``close()``. Configuration arrives as a
:class:`~wasmplugin.sidecar.state.ConfigState` (built by :mod:`wasmplugin.sidecar.mesh` from a
directory, or by hand in tests) and is replaced whole by :meth:`Sidecar.swap`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wasmplugin.chain.api import Direction
from wasmplugin.limits import DEFAULT_LIMITS, Limits
from wasmplugin.sidecar.listeners import bind_tcp, bound_port, serve_socket
from wasmplugin.sidecar.proxy import DownstreamConnection, ListenerContext
from wasmplugin.sidecar.routing import Cluster
from wasmplugin.sidecar.state import ConfigState
from wasmplugin.sidecar.stats import ClusterStats, StatsSnapshot
from wasmplugin.sidecar.upstream import UpstreamPool


@dataclass
class SidecarOptions:
    address: str = "127.0.0.1"
    inbound_port: int = 15006
    outbound_port: int = 15001
    limits: Limits = DEFAULT_LIMITS
    #: Share listen ports with sibling worker processes (SO_REUSEPORT).
    reuse_port: bool = False
    #: Pre-bound listening sockets (worker processes inherit them from the parent); keys
    #: "inbound" / "outbound".
    sockets: dict[str, socket.socket] = field(default_factory=dict)
    access_log: Callable[[str], None] | None = None


class Sidecar:
    """Inbound (SERVER) and outbound (CLIENT) listeners over one upstream pool."""

    def __init__(self, options: SidecarOptions, state: ConfigState, pool: UpstreamPool | None = None) -> None:
        self.options = options
        self.limits = options.limits
        self._state = state
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pool: UpstreamPool | None = pool
        self.listeners: dict[str, ListenerContext] = {}
        self.ports: dict[str, int] = {}
        self._servers: list[asyncio.Server] = []
        self._cluster_stats: dict[str, ClusterStats] = {}
        self.started_at = time.time()
        self.ready = False
        #: Called with (old, new) after every swap (admin, logs).
        self.on_swap: list[Callable[[ConfigState, ConfigState], None]] = []

    # -- configuration ---------------------------------------------------------------------------
    @property
    def state(self) -> ConfigState:
        return self._state

    def current_state(self) -> ConfigState:
        return self._state

    def swap(self, new: ConfigState) -> ConfigState:
        """Make ``new`` current; the old chains close once their in-flight exchanges finish."""
        old = self._state
        self._state = new
        if old.chains is not new.chains:
            old.chains.retire()
        for cb in self.on_swap:
            cb(old, new)
        return old

    def cluster_stats(self, cluster: Cluster) -> ClusterStats:
        cs = self._cluster_stats.get(cluster.name)
        if cs is None:
            cs = self._cluster_stats[cluster.name] = ClusterStats(cluster.name)
        return cs

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.loop = loop
        if self.pool is None:
            self.pool = UpstreamPool(loop, self.limits)
        opts = self.options
        for name, direction, port in (
            ("inbound", Direction.INBOUND, opts.inbound_port),
            ("outbound", Direction.OUTBOUND, opts.outbound_port),
        ):
            sock = opts.sockets.get(name) or bind_tcp(opts.address, port, reuse_port=opts.reuse_port)
            actual = bound_port(sock)
            lc = ListenerContext(
                name=f"{name}_{opts.address}_{actual}",
                direction=direction,
                loop=loop,
                pool=self.pool,
                state=self.current_state,
                cluster_stats=self.cluster_stats,
                access_log=opts.access_log,
            )
            lc.local_address = (opts.address, actual)
            self._servers.append(await serve_socket(loop, sock, _factory(lc)))
            lc.start_sweeper()
            self.listeners[name] = lc
            self.ports[name] = actual
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        for server in self._servers:
            server.close()
        for lc in self.listeners.values():
            lc.stop_sweeper()
            for conn in list(lc.connections):
                conn.close()
        for server in self._servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        if self.pool is not None:
            self.pool.close()
        self._state.chains.retire()
        self._servers.clear()

    # -- observability -----------------------------------------------------------------------------
    def snapshot(self) -> StatsSnapshot:
        snap = StatsSnapshot()
        for lc in self.listeners.values():
            for kind, name, value in lc.stats.items():
                snap.add(kind, name, value)
        for cluster in self._state.routes.clusters():
            self.cluster_stats(cluster)
        for cs in self._cluster_stats.values():
            for kind, name, value in cs.items():
                snap.add(kind, name, value)
        snap.add("gauge", "server.live", 1 if self.ready else 0)
        snap.add("gauge", "server.uptime", int(time.time() - self.started_at))
        snap.add("gauge", "server.config_version", self._state.version)
        return snap


def _factory(lc: ListenerContext) -> Callable[[], DownstreamConnection]:
    return lambda: DownstreamConnection(lc)
