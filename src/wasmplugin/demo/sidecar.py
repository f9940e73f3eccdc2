"""The sidecar the demo runs: ``wasmplugin serve`` as a child process, exactly as a user runs it.

Started in its own session (Ctrl-C at the terminal reaches the demo only, which then stops the
child in order) with the parent-death signal set, so the child cannot outlive a killed demo. Its
output goes to a log file in the run directory; the demo waits for its ``ready`` line.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wasmplugin.errors import DemoError

_READY = re.compile(r"^ready inbound=(\S+):(\d+) outbound=(\S+):(\d+) admin=(\S+):(\d+)\s*$")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass(frozen=True)
class SidecarPorts:
    host: str
    inbound: int
    outbound: int
    admin: int

    @property
    def admin_address(self) -> str:
        return f"{self.host}:{self.admin}"


class SidecarChild:
    """``python -m wasmplugin serve -f MESH --workload NS/NAME`` with ports chosen by the caller
    (0 = ephemeral). :meth:`start` returns the bound ports; :meth:`stop` ends it (SIGTERM, then
    SIGKILL after ``grace_s``)."""

    def __init__(
        self,
        mesh_dir: Path,
        workload: str,
        *,
        log_path: Path,
        cache_dir: Path,
        host: str = "127.0.0.1",
        inbound_port: int = 0,
        outbound_port: int = 0,
        admin_port: int = 0,
        log_level: str = "info",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.mesh_dir = mesh_dir
        self.workload = workload
        self.log_path = log_path
        self.cache_dir = cache_dir
        self.host = host
        self.args = (
            "serve", "-f", str(mesh_dir), "--workload", workload, "--address", host,
            "--inbound-port", str(inbound_port), "--outbound-port", str(outbound_port),
            "--admin-port", str(admin_port), "--log-level", log_level, *extra_args,
        )  # fmt: skip
        self.process: asyncio.subprocess.Process | None = None
        self.ports: SidecarPorts | None = None
        #: The last lines the child wrote (for error messages).
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        self._log: IO[str] | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._ready: asyncio.Future[SidecarPorts] | None = None
        self._line_waiters: list[tuple[re.Pattern[str], asyncio.Future[str]]] = []

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "wasmplugin", *self.args]

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self, timeout_s: float) -> SidecarPorts:
        await self.spawn()
        return await self.wait_ready(timeout_s)

    async def spawn(self) -> int:
        """Start the child; returns its pid. :meth:`wait_ready` waits for its ``ready`` line."""
        loop = asyncio.get_running_loop()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        self._log.write("$ " + " ".join(self.command) + "\n")
        self._log.flush()
        env = {**os.environ, "WASMPLUGIN_CACHE_DIR": str(self.cache_dir), "PYTHONUNBUFFERED": "1"}
        self._ready = loop.create_future()
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        except OSError as exc:
            raise DemoError(f"cannot start the sidecar ({self.command[0]}): {exc.strerror or exc}") from None
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            loop.create_task(self._read(self.process.stdout)),
            loop.create_task(self._read(self.process.stderr)),
        ]
        return self.process.pid

    async def wait_ready(self, timeout_s: float) -> SidecarPorts:
        loop = asyncio.get_running_loop()
        assert self.process is not None and self._ready is not None
        exited = loop.create_task(self.process.wait())
        waiting: set[asyncio.Future[Any]] = {self._ready, exited}
        try:
            done, _ = await asyncio.wait(waiting, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not exited.done():
                exited.cancel()
        if self._ready in done:
            self.ports = self._ready.result()
            return self.ports
        if exited in done:
            await asyncio.gather(*self._readers, return_exceptions=True)
            code = self.process.returncode
            raise DemoError(f"the sidecar exited with code {code} before it was ready: {self.last_error()}")
        raise DemoError(f"the sidecar was not ready after {timeout_s:g}s (its log: {self.log_path})")

    def last_error(self) -> str:
        """The child's last ``error:`` line, else its last line."""
        for line in reversed(self.tail):
            if line.startswith("error:") or "][error][" in line:
                return line
        return self.tail[-1] if self.tail else "(no output)"

    def wait_for_line(self, pattern: str) -> asyncio.Future[str]:
        """A future for the next output line matching ``pattern`` (e.g. a reload message)."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._line_waiters.append((re.compile(pattern), fut))
        return fut

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while True:
            raw = await stream.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.tail.append(line)
            if self._log is not None:
                self._log.write(line + "\n")
                self._log.flush()
            m = _READY.match(line)
            if m and self._ready is not None and not self._ready.done():
                self._ready.set_result(
                    SidecarPorts(m.group(1), int(m.group(2)), int(m.group(4)), int(m.group(6)))
                )
            for pattern, fut in list(self._line_waiters):
                if not fut.done() and pattern.search(line):
                    fut.set_result(line)
                    self._line_waiters.remove((pattern, fut))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM (the sidecar drains and exits), SIGKILL if it is still there after ``grace_s``."""
        proc = self.process
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._readers:
            await asyncio.gather(*self._readers, return_exceptions=True)
            self._readers = []
        if self._log is not None:
            self._log.close()
            self._log = None
        return proc.returncode if proc is not None else None
