"""A worker process of ``wasmplugin serve --concurrency N`` (started by the parent, not by users).

``python -m wasmplugin.sidecar.worker INDEX FD CONFIG_JSON``: runs a SidecarProcess on the shared
ports (SO_REUSEPORT) without an admin listener, and answers the parent's JSON-line commands on the
control socket FD: stats, config_dump, clusters, info, log_level, reload, quit.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from typing import Any

from wasmplugin.abi.enums import LogLevel
from wasmplugin.sidecar.logs import SidecarLog
from wasmplugin.sidecar.process import SidecarProcess
from wasmplugin.sidecar.runner import install_loop, start_or_exit_code, tune_gc
from wasmplugin.sidecar.workers import config_from_json


async def _handle(proc: SidecarProcess, msg: dict[str, Any]) -> Any:
    cmd = msg.get("cmd")
    if cmd == "stats":
        st = proc.process_stats()
        return {"text": st.text, "prometheus": st.prometheus}
    if cmd == "config_dump":
        return proc.config_dump_sync()
    if cmd == "clusters":
        return proc.clusters_text_sync()
    if cmd == "info":
        assert proc.sidecar is not None
        requests = sum(lc.stats.rq_total for lc in proc.sidecar.listeners.values())
        return {
            "index": proc.worker_id,
            "pid": os.getpid(),
            "config_version": proc.version,
            "requests": requests,
        }
    if cmd == "log_level":
        await proc.set_log_level(msg.get("logger"), LogLevel(int(msg["level"])))
        return None
    if cmd == "reload":
        assert proc.reloader is not None
        applied = await proc.reloader.check(force=True)
        status = proc.reloader.status
        error = None if applied else status.last_error
        return {
            "applied": applied,
            "version": status.version,
            "error": error,
            "fingerprint": proc.reloader.fingerprint,
        }
    if cmd == "fingerprint":
        assert proc.builder is not None and proc.reloader is not None
        if msg.get("current"):
            return proc.reloader.fingerprint
        return await asyncio.get_running_loop().run_in_executor(None, proc.builder.fingerprint)
    if cmd == "quit":
        proc.quit_event.set()
        return None
    raise ValueError(f"unknown command {cmd!r}")


async def _main(index: int, fd: int, config: str) -> int:
    cfg = config_from_json(config)
    log = SidecarLog(cfg.log_level)
    log.prefix = f"[worker {index}]"
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)

    def send(obj: dict[str, Any]) -> None:
        writer.write((json.dumps(obj) + "\n").encode())

    proc = SidecarProcess(cfg, log=log, serve_admin=False, reuse_port=True, worker_id=index)
    code = await start_or_exit_code(proc)
    if code is not None:
        return code
    assert proc.sidecar is not None
    state = proc.sidecar.state
    inbound = state.routes.inbound
    summary = {
        "plugins": len({p["name"] for p in state.plugins}),
        "clusters": len(state.routes.outbound),
        "inbound": f"{inbound.endpoints[0]} (SERVER, port {inbound.port})"
        if inbound and inbound.endpoints
        else "-",
    }
    tune_gc()
    send({"ready": True, "pid": os.getpid(), "summary": summary})
    await writer.drain()

    async def serve_commands() -> None:
        while True:
            line = await reader.readline()
            if not line:
                proc.quit_event.set()  # the parent went away
                return
            msg = json.loads(line)
            try:
                send({"id": msg.get("id"), "result": await _handle(proc, msg)})
            except Exception as exc:
                send({"id": msg.get("id"), "error": str(exc)})
            await writer.drain()

    task = asyncio.get_running_loop().create_task(serve_commands())
    await proc.quit_event.wait()
    task.cancel()
    await proc.close()
    return 0


def main(argv: list[str]) -> int:
    import signal

    # Ctrl-C reaches the whole process group: the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    install_loop()
    try:
        return asyncio.run(_main(int(argv[0]), int(argv[1]), argv[2]))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
