"""Hot reload: watch the configuration directory, build a new state beside the old one, swap it.

Polling file metadata (no new dependency, works everywhere): every ``interval`` the watcher takes a
fingerprint of the files under the directory (path, size, mtime); when it changes, the builder runs
in a worker thread (compiling modules must not stall the data path), and the new
:class:`~wasmplugin.sidecar.state.ConfigState` is swapped in on the event loop. In-flight requests
finish on the chains they started with. A failed build is logged as one line and the last good
state keeps serving; ``/config_dump`` and ``/server_info`` show the version and the last error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from wasmplugin.errors import WasmPluginError
from wasmplugin.sidecar.state import ConfigState

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def directory_fingerprint(root: Path) -> str:
    """Hash of (relative path, size, mtime_ns) of every config file under ``root``."""
    h = hashlib.sha256()
    if root.is_file():
        files = [root]
        base = root.parent
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in CONFIG_SUFFIXES)
        base = root
    for p in files:
        try:
            st = p.stat()
        except OSError:
            continue
        h.update(f"{p.relative_to(base)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class StateBuilder(Protocol):
    """Turns the configuration on disk into a runnable state (routes + chains)."""

    def fingerprint(self) -> str: ...

    def build(self, version: int) -> ConfigState:
        """Raise a ``WasmPluginError`` (one-line message: file, resource, field) when unusable."""
        ...


@dataclass
class ReloadStatus:
    version: int = 1
    last_reload_at: float = 0.0
    last_error: str | None = None
    last_error_at: float = 0.0
    attempts: int = 0
    failures: int = 0


class Reloader:
    """Polls ``builder.fingerprint()``; on change builds and hands the new state to ``apply``."""

    def __init__(
        self,
        builder: StateBuilder,
        apply: Callable[[ConfigState], None],
        *,
        interval_s: float,
        log: Callable[[str, str], None],
        initial_fingerprint: str,
        initial_version: int = 1,
    ) -> None:
        self.builder = builder
        self.apply = apply
        self.interval_s = interval_s
        self.log = log
        self.status = ReloadStatus(version=initial_version, last_reload_at=time.time())
        self._fingerprint = initial_fingerprint
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def fingerprint(self) -> str:
        """What the running configuration was built from (a poll compares against it)."""
        return self._fingerprint

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.check()

    async def check(self, *, force: bool = False) -> bool:
        """Reload if the files changed (or ``force``). Returns True when a new state was applied."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            fp = await loop.run_in_executor(None, self.builder.fingerprint)
            if fp == self._fingerprint and not force:
                return False
            self._fingerprint = fp
            version = self.status.version + 1
            self.status.attempts += 1
            try:
                state = await loop.run_in_executor(None, self.builder.build, version)
            except WasmPluginError as err:
                self.status.failures += 1
                self.status.last_error = str(err)
                self.status.last_error_at = time.time()
                self.log("error", f"reload rejected, keeping config version {self.status.version}: {err}")
                return False
            # The build may have changed what the fingerprint covers (the modules it loaded).
            after = await loop.run_in_executor(None, self.builder.fingerprint)
            stale = getattr(self.builder, "changed_since_build", None)
            # Edited while building: keep the old fingerprint so the next poll reloads again.
            self._fingerprint = fp if stale is not None and stale() else after
            state.fingerprint = after
            self.apply(state)
            self.status.version = version
            self.status.last_reload_at = time.time()
            self.status.last_error = None
            self.log("info", f"reload applied: config version {version}")
            return True
