"""Run one sidecar process in the foreground (``wasmplugin serve --concurrency 1``)."""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import Any

from wasmplugin.errors import WasmPluginError
from wasmplugin.sidecar.process import ServeConfig, SidecarProcess, wait_quit


def announce(cfg: ServeConfig, ports: dict[str, int], state: Any, workers: int = 1) -> None:
    """The start-up lines; tests and scripts wait for the one starting with ``ready``."""
    a = cfg.address
    routes = state.routes
    inbound = routes.inbound
    target = f"{inbound.endpoints[0]}" if inbound is not None and inbound.endpoints else "-"
    port = inbound.port if inbound is not None else 0
    plugins = len({p["name"] for p in state.plugins})
    print(
        f"wasmplugin serve: workload {cfg.workload}, config version {state.version}, "
        f"{plugins} plugin(s), {workers} worker(s)"
    )
    print(f"  inbound   {a}:{ports['inbound']} -> {target} (SERVER, port {port})")
    print(f"  outbound  {a}:{ports['outbound']} ({len(routes.outbound)} cluster(s), CLIENT)")
    print(f"  admin     {a}:{ports['admin']}")
    print(
        f"ready inbound={a}:{ports['inbound']} outbound={a}:{ports['outbound']} admin={a}:{ports['admin']}",
        flush=True,
    )


def install_loop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a dependency
        pass


def tune_gc() -> None:
    """Long-lived objects (modules, config) leave the GC's view; young collections get rarer. The
    data path creates no reference cycles per request, so this only trims pauses."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def start_or_exit_code(proc: SidecarProcess) -> int | None:
    """Start ``proc``; on a bad configuration or a port that cannot be bound, print one
    ``error:`` line, close it and return the exit code (None: started)."""
    try:
        await proc.start()
    except WasmPluginError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        await proc.close()
        return err.exit_code
    except OSError as err:
        print(f"error: cannot listen: {err.strerror or err}", file=sys.stderr, flush=True)
        await proc.close()
        return 1
    return None


async def _main(cfg: ServeConfig) -> int:
    proc = SidecarProcess(cfg)
    code = await start_or_exit_code(proc)
    if code is not None:
        return code
    assert proc.sidecar is not None
    tune_gc()
    announce(cfg, proc.ports, proc.sidecar.state)
    try:
        await wait_quit(proc)
    finally:
        await proc.close()
    return 0


def serve_single(cfg: ServeConfig) -> int:
    install_loop()
    try:
        return asyncio.run(_main(cfg))
    except KeyboardInterrupt:
        return 130
