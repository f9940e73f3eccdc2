"""One sidecar process: host services, the proxy, hot reload and the admin endpoint, wired together.

``SidecarProcess`` is what ``wasmplugin serve`` runs with ``--concurrency 1``, and what each worker
runs (without an admin listener) with ``--concurrency N``. It is the admin backend of a single
process; :mod:`wasmplugin.sidecar.workers` aggregates N of them for the parent's admin endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from wasmplugin import __version__
from wasmplugin.abi.enums import LogLevel
from wasmplugin.chain.runtime import PluginStats
from wasmplugin.limits import DEFAULT_LIMITS, Limits
from wasmplugin.sidecar.admin import AdminProtocol
from wasmplugin.sidecar.app import Sidecar, SidecarOptions
from wasmplugin.sidecar.listeners import bind_tcp, bound_port, serve_socket
from wasmplugin.sidecar.logs import SidecarLog, level_name
from wasmplugin.sidecar.reload import Reloader, StateBuilder
from wasmplugin.sidecar.services import HttpCallClient, LoopClock, LoopScheduler
from wasmplugin.sidecar.state import ConfigState
from wasmplugin.sidecar.stats import PLUGIN_PROM_TYPES, ProcessStats, add_plugin_stats, plugin_stats_lines
from wasmplugin.sidecar.upstream import UpstreamPool


@dataclass
class ServeConfig:
    """Everything ``wasmplugin serve`` was asked to do."""

    directory: Path
    workload: str
    address: str = "127.0.0.1"
    inbound_port: int = 15006
    outbound_port: int = 15001
    admin_port: int = 15000
    target_port: int | None = None
    concurrency: int = 1
    limits: Limits = DEFAULT_LIMITS
    log_level: LogLevel = LogLevel.INFO
    reload_interval_s: float = 1.0
    watch: bool = True
    access_log: bool = False
    strict: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class HostBundle:
    """The per-process host services the builder gives every VM (shared data, queues and
    metrics are per process, as in Envoy)."""

    loop: asyncio.AbstractEventLoop
    scheduler: LoopScheduler
    clock: LoopClock
    log: SidecarLog
    http: HttpCallClient
    pool: UpstreamPool
    metrics: Any = None
    shared_data: Any = None
    shared_queues: Any = None
    fetch_metrics: Any = None


BuilderFactory = Callable[[ServeConfig, HostBundle], StateBuilder]


def default_builder_factory(cfg: ServeConfig, host: HostBundle) -> StateBuilder:
    from wasmplugin.sidecar.mesh import MeshStateBuilder

    return MeshStateBuilder(cfg, host)


class SidecarProcess:
    """Start with :meth:`start`, stop with :meth:`close`; :attr:`quit_event` is set by /quitquitquit."""

    def __init__(
        self,
        cfg: ServeConfig,
        *,
        log: SidecarLog | None = None,
        builder_factory: BuilderFactory = default_builder_factory,
        serve_admin: bool = True,
        sockets: dict[str, socket.socket] | None = None,
        reuse_port: bool = False,
        worker_id: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.log = log or SidecarLog(cfg.log_level)
        self.builder_factory = builder_factory
        self.serve_admin = serve_admin
        self.sockets = sockets or {}
        self.reuse_port = reuse_port
        self.worker_id = worker_id
        self.sidecar: Sidecar | None = None
        self.host: HostBundle | None = None
        self.builder: StateBuilder | None = None
        self.reloader: Reloader | None = None
        self.admin_server: asyncio.Server | None = None
        self.admin_port: int | None = None
        self.quit_event = asyncio.Event()
        self.started_at = time.time()

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Build the first configuration, then open the listeners and the admin endpoint. A bad
        configuration at start raises its ``WasmPluginError`` (there is nothing to keep serving)."""
        loop = asyncio.get_running_loop()
        cfg = self.cfg
        pool = UpstreamPool(loop, cfg.limits)
        holder: dict[str, Sidecar] = {}

        def routes() -> Any:
            return holder["sidecar"].state.routes

        def cstats(cluster: Any) -> Any:
            return holder["sidecar"].cluster_stats(cluster)

        self.host = HostBundle(
            loop=loop,
            scheduler=LoopScheduler(loop),
            clock=LoopClock(),
            log=self.log,
            http=HttpCallClient(pool, routes, cstats, cfg.limits),
            pool=pool,
        )
        self.builder = self.builder_factory(cfg, self.host)
        state = await loop.run_in_executor(None, self.builder.build, 1)
        # After the build: the fingerprint covers the modules that build loaded (and if the
        # directory changed meanwhile, an empty one makes the first poll reload).
        fingerprint = await loop.run_in_executor(None, self.builder.fingerprint)
        state.fingerprint = fingerprint
        stale = getattr(self.builder, "changed_since_build", None)
        if stale is not None and await loop.run_in_executor(None, stale):
            fingerprint = ""
        options = SidecarOptions(
            address=cfg.address,
            inbound_port=cfg.inbound_port,
            outbound_port=cfg.outbound_port,
            limits=cfg.limits,
            reuse_port=self.reuse_port,
            sockets=self.sockets,
            access_log=self._access_log if cfg.access_log else None,
        )
        sidecar = Sidecar(options, state, pool)
        holder["sidecar"] = sidecar
        self.sidecar = sidecar
        await sidecar.start()
        if self.serve_admin:
            sock = bind_tcp(cfg.address, cfg.admin_port)
            self.admin_port = bound_port(sock)
            self.admin_server = await serve_socket(loop, sock, lambda: AdminProtocol(self))
        self.reloader = Reloader(
            self.builder,
            self.apply_state,
            interval_s=cfg.reload_interval_s,
            log=self._config_log,
            initial_fingerprint=fingerprint,
        )
        if cfg.watch:
            self.reloader.start()

    def apply_state(self, state: ConfigState) -> None:
        assert self.sidecar is not None
        self.sidecar.swap(state)

    async def close(self) -> None:
        if self.reloader is not None:
            await self.reloader.stop()
        if self.admin_server is not None:
            self.admin_server.close()
        if self.sidecar is not None:
            await self.sidecar.close()
        close = getattr(self.builder, "close", None)
        if close is not None:
            close()

    def _config_log(self, level: str, message: str) -> None:
        if self.worker_id is not None:
            # A worker's reloads are the parent's to report (once, for all workers).
            self.log.emit("config", LogLevel.DEBUG, message)
            return
        self.log.emit("config", LogLevel.ERROR if level == "error" else LogLevel.INFO, message)

    def _access_log(self, line: str) -> None:
        self.log.info("http", line)

    @property
    def ports(self) -> dict[str, int]:
        out = dict(self.sidecar.ports) if self.sidecar else {}
        if self.admin_port is not None:
            out["admin"] = self.admin_port
        return out

    @property
    def version(self) -> int:
        return (
            self.reloader.status.version
            if self.reloader
            else (self.sidecar.state.version if self.sidecar else 0)
        )

    # -- AdminBackend ------------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return self.sidecar is not None and self.sidecar.ready

    async def stats(self) -> ProcessStats:
        return self.process_stats()

    def process_stats(self) -> ProcessStats:
        assert self.sidecar is not None
        own = self.sidecar.snapshot()
        if self.reloader is not None:
            own.add("counter", "wasmplugin.reload.attempts", self.reloader.status.attempts)
            own.add("counter", "wasmplugin.reload.failures", self.reloader.status.failures)
        text = [own.render_text()]
        prom = [own.render_prometheus()]
        plugin_prom: list[str] = []
        for name, stats in self._plugin_stats():
            t, p = plugin_stats_lines(name, stats)
            text.append(t)
            plugin_prom.append(p)
        if plugin_prom:
            prom.append(PLUGIN_PROM_TYPES)
            prom.extend(plugin_prom)
        host = self.host
        if host is not None and host.metrics is not None:
            text.append(host.metrics.render_text())
            prom.append(host.metrics.render_prometheus())
        if host is not None and host.fetch_metrics is not None:
            prom.append(host.fetch_metrics.render_prometheus())
        return ProcessStats("".join(text), "".join(prom))

    def _plugin_stats(self) -> list[tuple[str, PluginStats]]:
        """Per-plugin counters, one entry per plugin name: a plugin in several chains (inbound
        and outbound listeners) has a runtime in each, and its series add up (Envoy's
        ``wasm_filter`` stats are per plugin, not per listener)."""
        assert self.sidecar is not None
        out: dict[str, PluginStats] = {}
        seen: set[int] = set()
        for chain in self.sidecar.state.chains.chains().values():
            for rt in getattr(chain, "plugins", ()):
                if id(rt) in seen:
                    continue
                seen.add(id(rt))
                name = str(getattr(rt, "name", "?"))
                out[name] = add_plugin_stats(out.get(name), rt.stats)
        return list(out.items())

    async def config_dump(self) -> dict[str, Any]:
        return self.config_dump_sync()

    def config_dump_sync(self) -> dict[str, Any]:
        assert self.sidecar is not None
        from wasmplugin.sidecar.dump import config_dump

        status = self.reloader.status if self.reloader else None
        return config_dump(
            self.sidecar.state,
            workload=self.cfg.workload,
            ports=self.ports,
            address=self.cfg.address,
            reload_status=status,
            node=getattr(self.builder, "node", None),
        )

    async def clusters_text(self) -> str:
        return self.clusters_text_sync()

    def clusters_text_sync(self) -> str:
        assert self.sidecar is not None and self.sidecar.pool is not None
        lines: list[str] = []
        for cluster in self.sidecar.state.routes.clusters():
            cs = self.sidecar.cluster_stats(cluster)
            for ep in cluster.endpoints:
                p = f"{cluster.name}::{ep.address}:{ep.port}::"
                lines.append(p + f"cx_active::{cs.cx_active}")
                lines.append(p + f"cx_connect_fail::{cs.cx_connect_fail}")
                lines.append(p + f"cx_total::{cs.cx_total}")
                lines.append(p + f"rq_total::{cs.rq_total}")
                lines.append(p + f"rq_timeout::{cs.rq_timeout}")
                idle = self.sidecar.pool.idle_count((cluster.name, ep.address, ep.port))
                lines.append(p + f"idle_connections::{idle}")
                lines.append(p + "health_flags::healthy")
        return "\n".join(lines) + ("\n" if lines else "")

    async def server_info(self) -> dict[str, Any]:
        return self.server_info_sync()

    def server_info_sync(self) -> dict[str, Any]:
        status = self.reloader.status if self.reloader else None
        info = server_info(self, status.last_error if status else None)
        info["python"] = sys.version.split()[0]
        return info

    async def set_log_level(self, logger: str | None, level: LogLevel) -> None:
        self.log.apply(logger, level)

    def log_levels(self) -> dict[str, str]:
        return self.log.level_names()

    def quit(self) -> None:
        self.quit_event.set()


async def wait_quit(proc: SidecarProcess) -> None:
    """Until /quitquitquit, SIGINT or SIGTERM."""
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, proc.quit_event.set)
    await proc.quit_event.wait()


class _InfoSource(Protocol):
    cfg: ServeConfig
    log: SidecarLog
    started_at: float

    @property
    def ports(self) -> dict[str, int]: ...
    @property
    def version(self) -> int: ...
    def is_ready(self) -> bool: ...


def server_info(src: _InfoSource, last_error: str | None) -> dict[str, Any]:
    """``/server_info`` of a sidecar process or of the parent of its workers."""
    cfg, ports = src.cfg, src.ports
    return {
        "version": f"wasmplugin/{__version__}",
        "state": "LIVE" if src.is_ready() else "PRE_INITIALIZING",
        "uptime_current_epoch": f"{int(time.time() - src.started_at)}s",
        "pid": os.getpid(),
        "workload": cfg.workload,
        "config_version": src.version,
        "last_reload_error": last_error,
        "command_line_options": {
            "concurrency": cfg.concurrency,
            "config_dir": str(cfg.directory),
            "inbound_port": ports.get("inbound"),
            "outbound_port": ports.get("outbound"),
            "admin_port": ports.get("admin"),
            "log_level": level_name(src.log.levels["main"]),
        },
    }
