"""``WasmRuntime``: one wasmtime Engine, its epoch ticker thread, host callbacks and compile cache.

One per process / sidecar worker / test. The engine has epoch interruption on (every guest call
runs under ``Limits.callback_deadline_ms``) and ``memory_may_move = False`` (a VM's cached view of
its linear memory stays valid across growth). ``close()`` stops the ticker; VMs still alive then
keep working but are no longer interrupted, so close VMs first.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import wasmtime

from wasmplugin.errors import ModuleLoadError
from wasmplugin.host.linking import CallbackFactory
from wasmplugin.host.module import (
    CompiledModule,
    ModuleArtifact,
    ModuleDescription,
    check_binary,
    compile_module,
    describe,
    raise_for_problems,
    sha256_of,
)
from wasmplugin.limits import DEFAULT_LIMITS, Limits


def _cache_config(directory: Path) -> Path:
    """wasmtime's cache TOML for ``directory`` (only ``directory`` is accepted by 50.0.1)."""
    directory.mkdir(parents=True, exist_ok=True)
    toml = directory / "wasmtime-cache.toml"
    text = f'[cache]\ndirectory = "{directory.resolve().as_posix()}"\n'
    if not toml.exists() or toml.read_text() != text:
        tmp = toml.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(toml)
    return toml


def deadline_ticks(limits: Limits) -> int:
    """``Limits.callback_deadline_ms`` in whole epoch ticks, plus one: the tick in progress when a
    call starts may end at once."""
    return -(-limits.callback_deadline_ms // limits.epoch_tick_ms) + 1


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/wasmplugin/compiled`` (``~/.cache/...``): where tools keep compiled code."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wasmplugin" / "compiled"


class EpochTicker:
    """Increments the engine's epoch every ``period_s``; ``epoch`` mirrors it for Python, and
    ``deadline`` is the epoch by which a guest call starting now must end (``deadline_ticks``
    later): one attribute read per guest call."""

    def __init__(self, engine: wasmtime.Engine, period_s: float, deadline_ticks: int) -> None:
        self.epoch = 0
        self.deadline_ticks = deadline_ticks
        self.deadline = deadline_ticks
        self._engine = engine
        self._period = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wasm-epoch-ticker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._engine.increment_epoch()
            self.epoch += 1
            self.deadline = self.epoch + self.deadline_ticks

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


class WasmRuntime:
    """One wasmtime Engine (epoch interruption on) + its epoch ticker thread + compile cache."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS, *, cache_dir: str | Path | None = None) -> None:
        """``cache_dir``: optional directory for wasmtime's on-disk compilation cache (keyed by
        module bytes, engine settings and wasmtime version). Compiling a 3 MB Go plugin takes
        seconds; a cache hit takes about a millisecond. Use a directory only you can write."""
        self.limits = limits
        config = wasmtime.Config()
        config.epoch_interruption = True
        config.memory_may_move = False
        if cache_dir is not None:
            config.cache = str(_cache_config(Path(cache_dir)))
        self.engine = wasmtime.Engine(config)
        self._callbacks = CallbackFactory()
        self._artifacts: dict[str, ModuleArtifact] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._ticker = EpochTicker(self.engine, limits.epoch_tick_ms / 1000.0, deadline_ticks(limits))

    def compile(self, wasm: bytes, *, name: str) -> CompiledModule:
        """Validate, compile (cached by sha256) and audit a module.

        Raises InvalidModule (not wasm / fails validation / lacks memory or allocator),
        UnknownAbiVersion (no ABI marker), MissingImport (an import the host does not provide
        for that ABI version; the message names it)."""
        self._check_open()
        wasm = bytes(wasm)
        try:
            check_binary(wasm, self.limits.module_max_bytes)
        except ModuleLoadError as exc:
            raise type(exc)(exc.reason, plugin=name) from None
        sha = sha256_of(wasm)
        artifact = self._artifacts.get(sha)
        if artifact is None:
            try:
                module = compile_module(self.engine, wasm)
            except ModuleLoadError as exc:
                raise type(exc)(exc.reason, plugin=name) from None
            description, sigs, host_imports = describe(module, name, sha, len(wasm))
            raise_for_problems(description)
            artifact = ModuleArtifact(module, description, sigs, host_imports, self._callbacks, self.engine)
            with self._lock:
                artifact = self._artifacts.setdefault(sha, artifact)
        return CompiledModule(name, artifact)

    def describe(self, wasm: bytes, *, name: str) -> ModuleDescription:
        """Imports, exports, memory and ABI of a module, with the reasons it could not run —
        without raising for them (``wasmplugin inspect``). Raises InvalidModule for non-wasm."""
        self._check_open()
        wasm = bytes(wasm)
        try:
            check_binary(wasm, self.limits.module_max_bytes)
            module = compile_module(self.engine, wasm)
        except ModuleLoadError as exc:
            raise type(exc)(exc.reason, plugin=name) from None
        description, _sigs, _imports = describe(module, name, sha256_of(wasm), len(wasm))
        return description

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._ticker.stop()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("WasmRuntime is closed")

    def __enter__(self) -> WasmRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
