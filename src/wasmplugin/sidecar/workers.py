"""``--concurrency N``: N worker processes sharing the listen ports, as Envoy's worker threads.

Python runs one request at a time per process, so Envoy's worker *threads* become worker
*processes* here. Each worker is a full :class:`~wasmplugin.sidecar.process.SidecarProcess`
(its own VMs, shared data, queues and metrics — what Envoy shares per process is per worker here)
listening on the same ports with SO_REUSEPORT; the kernel spreads connections across them.

The parent owns what there is one of: it reserves the ports (bound, not listening, so it never
receives a connection), serves the admin endpoint, and watches the directory. On a change it asks
every worker to reload; the new version counts as applied when all workers applied it.

Admin aggregation: ``/stats`` and ``/stats/prometheus`` add up the workers' values (Envoy's stats
are process-wide, so a sidecar shows one number per stat whatever its concurrency); ``/config_dump``
is worker 0's (every worker runs the same configuration) plus a ``workers`` list; ``/server_info``
lists each worker's pid, version and request count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from typing import Any

from wasmplugin.abi.enums import LogLevel
from wasmplugin.sidecar.admin import AdminProtocol
from wasmplugin.sidecar.listeners import bind_tcp, bound_port, serve_socket
from wasmplugin.sidecar.logs import SidecarLog
from wasmplugin.sidecar.process import ServeConfig, server_info
from wasmplugin.sidecar.stats import ProcessStats, StatsSnapshot, merge_prometheus, merge_text


def config_to_json(cfg: ServeConfig) -> str:
    data = {
        "directory": str(cfg.directory),
        "workload": cfg.workload,
        "address": cfg.address,
        "inbound_port": cfg.inbound_port,
        "outbound_port": cfg.outbound_port,
        "target_port": cfg.target_port,
        "concurrency": cfg.concurrency,
        "limits": asdict(cfg.limits),
        "log_level": int(cfg.log_level),
        "reload_interval_s": cfg.reload_interval_s,
        "access_log": cfg.access_log,
        "strict": cfg.strict,
    }
    return json.dumps(data)


def config_from_json(text: str) -> ServeConfig:
    from pathlib import Path

    from wasmplugin.limits import Limits

    d = json.loads(text)
    return ServeConfig(
        directory=Path(d["directory"]),
        workload=d["workload"],
        address=d["address"],
        inbound_port=d["inbound_port"],
        outbound_port=d["outbound_port"],
        admin_port=0,
        target_port=d["target_port"],
        concurrency=d["concurrency"],
        limits=Limits(**d["limits"]),
        log_level=LogLevel(d["log_level"]),
        reload_interval_s=d["reload_interval_s"],
        watch=False,
        access_log=d["access_log"],
        strict=d["strict"],
    )


class Worker:
    """The parent's handle on one worker: the process and its control channel."""

    def __init__(self, index: int, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.index = index
        self.proc = proc
        self.sock = sock
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.lock = asyncio.Lock()
        self.next_id = 0
        self.ready: dict[str, Any] | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_unix_connection(sock=self.sock)

    async def read_message(self) -> dict[str, Any] | None:
        assert self.reader is not None
        line = await self.reader.readline()
        if not line:
            return None
        msg: dict[str, Any] = json.loads(line)
        return msg

    async def call(self, cmd: str, **args: Any) -> Any:
        async with self.lock:
            assert self.writer is not None
            self.next_id += 1
            self.writer.write((json.dumps({"id": self.next_id, "cmd": cmd, **args}) + "\n").encode())
            await self.writer.drain()
            msg = await self.read_message()
            if msg is None:
                raise ConnectionError(f"worker {self.index} exited")
            if "error" in msg:
                raise RuntimeError(msg["error"])
            return msg.get("result")


class WorkerPool:
    """The parent process: admin backend over N workers, reload coordinator."""

    def __init__(self, cfg: ServeConfig, log: SidecarLog) -> None:
        self.cfg = cfg
        self.log = log
        self.workers: list[Worker] = []
        self.quit_event = asyncio.Event()
        self.started_at = time.time()
        self.version = 1
        self.last_error: str | None = None
        self.reload_attempts = 0
        self.reload_failures = 0
        self._reserved: list[socket.socket] = []
        self.ports: dict[str, int] = {}
        self._ready = False
        self._tasks: list[asyncio.Task[None]] = []
        self.exit_code = 0

    # -- start-up ----------------------------------------------------------------------------------
    def reserve_ports(self) -> None:
        """Bind (without listening) so port 0 resolves once and no one else takes the ports."""
        for name, port in (("inbound", self.cfg.inbound_port), ("outbound", self.cfg.outbound_port)):
            family = socket.AF_INET6 if ":" in self.cfg.address else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((self.cfg.address, port))
            self._reserved.append(s)
            self.ports[name] = int(s.getsockname()[1])

    async def spawn(self, index: int) -> Worker:
        parent_sock, child_sock = socket.socketpair()
        cfg = ServeConfig(**{**self.cfg.__dict__})
        cfg.inbound_port = self.ports["inbound"]
        cfg.outbound_port = self.ports["outbound"]
        argv = [
            sys.executable,
            "-m",
            "wasmplugin.sidecar.worker",
            str(index),
            str(child_sock.fileno()),
            config_to_json(cfg),
        ]
        proc = subprocess.Popen(argv, pass_fds=(child_sock.fileno(),), stdin=subprocess.DEVNULL)
        child_sock.close()
        w = Worker(index, proc, parent_sock)
        await w.open()
        msg = await w.read_message()
        if msg is None or not msg.get("ready"):
            code = proc.wait()
            raise WorkerStartError(code)
        w.ready = msg
        return w

    async def start(self) -> None:
        self.reserve_ports()
        # Worker 0 first: a bad configuration is reported once, by one process.
        self.workers.append(await self.spawn(0))
        rest = await asyncio.gather(*(self.spawn(i) for i in range(1, self.cfg.concurrency)))
        self.workers.extend(rest)
        sock = bind_tcp(self.cfg.address, self.cfg.admin_port)
        self.ports["admin"] = bound_port(sock)
        loop = asyncio.get_running_loop()
        self.admin_server = await serve_socket(loop, sock, lambda: AdminProtocol(self))
        self._ready = True
        self._tasks = [loop.create_task(self._watch_exit(w)) for w in self.workers]
        if self.cfg.watch:
            self._tasks.append(loop.create_task(self._watch_dir()))

    async def _watch_exit(self, w: Worker) -> None:
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(None, w.proc.wait)
        if not self.quit_event.is_set():
            self.log.error(
                "main", f"worker {w.index} (pid {w.proc.pid}) exited with status {code}; shutting down"
            )
            self.exit_code = 1
            self.quit_event.set()

    async def _watch_dir(self) -> None:
        """Worker 0 computes the fingerprint (it knows which module files its plugins load)."""
        first = self.workers[0]
        fp = await first.call("fingerprint", current=True)
        while not self.quit_event.is_set():
            await asyncio.sleep(self.cfg.reload_interval_s)
            try:
                now = await first.call("fingerprint")
            except (ConnectionError, RuntimeError):
                return  # worker 0 went away: _watch_exit shuts the sidecar down
            if now == fp:
                continue
            fp = await self.reload() or now

    async def reload(self) -> str | None:
        """Ask every worker to reload; returns worker 0's fingerprint afterwards."""
        self.reload_attempts += 1
        results = await asyncio.gather(*(w.call("reload") for w in self.workers), return_exceptions=True)
        errors = [
            r.get("error") if isinstance(r, dict) else str(r)
            for r in results
            if not isinstance(r, dict) or not r.get("applied")
        ]
        if errors:
            self.reload_failures += 1
            self.last_error = next((e for e in errors if e), "reload failed")
            self.log.error(
                "config", f"reload rejected, keeping config version {self.version}: {self.last_error}"
            )
        else:
            self.version = max(int(r["version"]) for r in results if isinstance(r, dict))
            self.last_error = None
            self.log.info("config", f"reload applied: config version {self.version}")
        first = results[0]
        return str(first["fingerprint"]) if isinstance(first, dict) and first.get("fingerprint") else None

    async def close(self) -> None:
        for w in self.workers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(w.call("quit"), 5)
        for w in self.workers:
            try:
                await asyncio.get_running_loop().run_in_executor(None, w.proc.wait, 15)
            except subprocess.TimeoutExpired:
                w.proc.kill()
        for s in self._reserved:
            s.close()

    # -- AdminBackend ------------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return self._ready and all(w.proc.poll() is None for w in self.workers)

    async def _each(self, cmd: str, **args: Any) -> list[Any]:
        return list(await asyncio.gather(*(w.call(cmd, **args) for w in self.workers)))

    async def stats(self) -> ProcessStats:
        parts = await self._each("stats")
        own = StatsSnapshot()
        own.add("gauge", "server.concurrency", len(self.workers))
        own.add("counter", "wasmplugin.reload.attempts", self.reload_attempts)
        own.add("counter", "wasmplugin.reload.failures", self.reload_failures)
        texts = [p["text"] for p in parts]
        proms = [p["prometheus"] for p in parts]
        # Per-process gauges that must not add up: reported once, from the parent.
        texts = [
            "\n".join(
                x
                for x in t.splitlines()
                if not x.startswith(("server.config_version", "server.uptime", "server.live"))
            )
            for t in texts
        ]
        own.add("gauge", "server.config_version", self.version)
        own.add("gauge", "server.uptime", int(time.time() - self.started_at))
        own.add("gauge", "server.live", 1 if self.is_ready() else 0)
        proms = [
            "\n".join(
                x
                for x in t.splitlines()
                if not x.startswith(
                    (
                        "envoy_server_config_version",
                        "envoy_server_uptime",
                        "envoy_server_live",
                        "# TYPE envoy_server_config_version",
                        "# TYPE envoy_server_uptime",
                        "# TYPE envoy_server_live",
                    )
                )
            )
            for t in proms
        ]
        return ProcessStats(
            merge_text([own.render_text(), *texts]), merge_prometheus([own.render_prometheus(), *proms])
        )

    async def config_dump(self) -> dict[str, Any]:
        dump: dict[str, Any] = await self.workers[0].call("config_dump")
        for section in dump.get("configs", []):
            if section.get("@type", "").endswith("SidecarConfigDump"):
                section["config_version"] = self.version
                section["last_reload_error"] = self.last_error
                section["workers"] = [{"index": w.index, "pid": w.proc.pid} for w in self.workers]
            if section.get("@type", "").endswith("BootstrapConfigDump"):
                section["bootstrap"].setdefault("admin", {})["address"] = {
                    "socket_address": {"address": self.cfg.address, "port_value": self.ports.get("admin", 0)}
                }
        return dump

    async def clusters_text(self) -> str:
        texts = await self._each("clusters")
        totals: dict[str, int] = {}
        order: list[str] = []
        other: dict[str, str] = {}
        for text in texts:
            for line in text.splitlines():
                key, _, value = line.rpartition("::")
                if value.isdigit():
                    if key not in totals:
                        order.append(key)
                        totals[key] = 0
                    totals[key] += int(value)
                elif key not in other:
                    order.append(key)
                    other[key] = value
        return "".join(f"{k}::{totals[k] if k in totals else other[k]}\n" for k in order)

    async def server_info(self) -> dict[str, Any]:
        workers = await self._each("info")
        info = server_info(self, self.last_error)
        info["workers"] = workers
        return info

    async def set_log_level(self, logger: str | None, level: LogLevel) -> None:
        if logger is not None and logger not in self.log.levels:
            raise KeyError(logger)
        await self._each("log_level", logger=logger, level=int(level))
        self.log.apply(logger, level)

    def log_levels(self) -> dict[str, str]:
        return self.log.level_names()

    def quit(self) -> None:
        self.quit_event.set()


class WorkerStartError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"worker exited with status {code}")
        self.code = code


async def _main(cfg: ServeConfig) -> int:
    log = SidecarLog(cfg.log_level)
    pool = WorkerPool(cfg, log)
    try:
        await pool.start()
    except WorkerStartError as err:
        await pool.close()
        return err.code or 1
    except OSError as err:
        print(f"error: cannot listen: {err.strerror or err}", file=sys.stderr, flush=True)
        await pool.close()
        return 1
    summary = (pool.workers[0].ready or {}).get("summary", {})
    plugins = summary.get("plugins", 0)
    print(
        f"wasmplugin serve: workload {cfg.workload}, config version 1, {plugins} plugin(s), "
        f"{len(pool.workers)} worker(s)"
    )
    a = cfg.address
    print(f"  inbound   {a}:{pool.ports['inbound']} -> {summary.get('inbound', '-')}")
    print(f"  outbound  {a}:{pool.ports['outbound']} ({summary.get('clusters', 0)} cluster(s), CLIENT)")
    print(f"  admin     {a}:{pool.ports['admin']}")
    print(
        f"ready inbound={a}:{pool.ports['inbound']} outbound={a}:{pool.ports['outbound']} "
        f"admin={a}:{pool.ports['admin']}",
        flush=True,
    )
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, pool.quit_event.set)

    await pool.quit_event.wait()
    await pool.close()
    return pool.exit_code


def serve_workers(cfg: ServeConfig) -> int:
    from wasmplugin.sidecar.runner import install_loop

    install_loop()
    try:
        return asyncio.run(_main(cfg))
    except KeyboardInterrupt:
        return 130
