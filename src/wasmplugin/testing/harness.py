"""``Harness``: everything the plugins of one test share, and nothing shared with other tests.

One harness owns a virtual clock and scheduler, a ``HostServices`` (collected logs, metrics, shared
data and queues, fake upstreams for http_call, a host-call trace), the fault plans, and every plugin
or chain it loaded. Plugins loaded by one harness see each other's shared data and metrics, as VMs
of one Envoy process do. Nothing is module-level: tests run in parallel (pytest-xdist) safely.

Only the ``WasmRuntime`` (engine + compiled modules) may be shared between harnesses — compiling a
Go plugin takes seconds — and the pytest plugin shares one per worker process.
"""

from __future__ import annotations

import json as jsonlib
import random
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmplugin.abi.enums import LogLevel
from wasmplugin.errors import (
    ModuleLoadError,
    PluginRuntimeError,
    WasmPluginError,
)
from wasmplugin.host.api import ForeignFunction, HostServices, NodeInfo
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.metrics import MetricsRegistry
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.shared import SharedData, SharedQueues
from wasmplugin.limits import DEFAULT_LIMITS, Limits
from wasmplugin.testing.clock import TestClock
from wasmplugin.testing.faults import LOAD_FAILURES, FaultPlan, load_failure, wrapper_for
from wasmplugin.testing.logs import LogView, parse_level
from wasmplugin.testing.metrics import MetricsView
from wasmplugin.testing.target import ChainTarget, PluginHandle, PluginTarget, Target
from wasmplugin.testing.trace import HostCallTrace
from wasmplugin.testing.upstreams import FakeUpstream, FakeUpstreams

if TYPE_CHECKING:
    from wasmplugin.chain.build import ChainBuild, PluginToLoad
    from wasmplugin.fetch.fetcher import ModuleFetcher
    from wasmplugin.host.runtime import WasmRuntime
    from wasmplugin.testing.exchange import InFlight

#: Plugin configuration as a test gives it: a dict/list (sent as compact JSON, as istiod does),
#: text or bytes (sent byte for byte), or None (empty).
ConfigInput = Mapping[str, Any] | Sequence[Any] | str | bytes | None


def config_bytes(config: ConfigInput) -> bytes:
    if config is None:
        return b""
    if isinstance(config, bytes):
        return config
    if isinstance(config, str):
        return config.encode()
    return jsonlib.dumps(config, separators=(",", ":")).encode()


def plugin_name_for(path: Path) -> str:
    """Default plugin name: the file's stem, or its directory's name for ``plugin.wasm`` and alike."""
    path = path.resolve()
    if path.stem in ("plugin", "main", "module", "optimized") and path.parent.name:
        return path.parent.name
    return path.stem


class Harness:
    """One test's world. Load plugins with :meth:`plugin` and chains with :meth:`chain`."""

    def __init__(
        self,
        *,
        runtime: WasmRuntime | None = None,
        limits: Limits | None = None,
        log_level: str | int | LogLevel = "trace",
        trace: bool = True,
        envoy_headers: bool = True,
        node: NodeInfo | None = None,
        foreign_functions: Mapping[str, ForeignFunction] | None = None,
        compile_cache: str | Path | bool | None = True,
        work_dir: str | Path | None = None,
    ) -> None:
        """``runtime``: a WasmRuntime to share (used only when its limits equal ``limits``).
        ``compile_cache``: True for the user cache directory, a path, or False/None for none.
        ``envoy_headers``: add ``x-forwarded-proto`` and ``x-request-id`` as Envoy's connection
        manager does before the filters run."""
        self.limits = (
            limits if limits is not None else (runtime.limits if runtime is not None else DEFAULT_LIMITS)
        )
        self._own_runtime: WasmRuntime | None = None
        if runtime is not None and runtime.limits == self.limits:
            self.runtime = runtime
        else:
            self.runtime = self._own_runtime = _new_runtime(self.limits, compile_cache)
        self.scheduler = VirtualScheduler()
        self.clock = TestClock(self.scheduler, self._pump_all)
        self.log_sink = CollectingLogSink(parse_level(log_level))
        self.trace = HostCallTrace(self._now_s)
        self.trace.recording = trace
        self.upstreams = FakeUpstreams(self.scheduler, self._now_s, self.limits.http_call_response_max_bytes)
        self.services = HostServices(
            clock=self.scheduler.clock,
            scheduler=self.scheduler,
            log=self.log_sink,
            http=self.upstreams,
            shared_data=SharedData(),
            shared_queues=SharedQueues(),
            metrics=MetricsRegistry(),
            node=node if node is not None else NodeInfo(),
            foreign_functions=dict(foreign_functions or {}),
            limits=self.limits,
            tracer=self.trace if trace else None,
        )
        #: Every plugin log line (all plugins of this harness), live.
        self.logs = LogView(self.log_sink)
        self.metrics = MetricsView(self.services.metrics)
        self.envoy_headers = envoy_headers
        #: Seeded: request ids are the same on every run.
        self.rng = random.Random(0)
        self._targets: list[Target] = []
        self._inflight: list[InFlight] = []
        self._work_dir = Path(work_dir) if work_dir is not None else None
        self._tmp: str | None = None
        self._fetcher: ModuleFetcher | None = None
        self._closed = False

    # -- shared pieces -----------------------------------------------------------------------------
    def upstream(self, cluster: str) -> FakeUpstream:
        return self.upstreams.upstream(cluster)

    def _now_s(self) -> float:
        return self.scheduler.clock.elapsed_s

    # -- loading one plugin ------------------------------------------------------------------------------
    def plugin(
        self,
        wasm: str | Path | bytes,
        *,
        name: str | None = None,
        config: ConfigInput = None,
        vm_config: ConfigInput = None,
        root_id: str = "",
        vm_id: str = "",
        env: Mapping[str, str] | None = None,
        fail_strategy: str = "FAIL_CLOSE",
        force: str | None = None,
        allow_load_failure: bool = False,
    ) -> PluginTarget:
        """Load and start one plugin (a one-plugin chain, built as the sidecar builds chains).

        ``config`` is the plugin configuration (a dict becomes compact JSON, like a WasmPlugin's
        ``pluginConfig``); ``root_id`` the WasmPlugin ``pluginName``; ``env`` the VM environment.
        A plugin that cannot load or start raises the typed error (its message includes what the
        plugin logged at error level) — unless ``allow_load_failure`` or ``force`` (one of
        ``fetch_failure``, ``checksum_mismatch``, ``invalid_module``), which put failStrategy's
        stand-in (deny-all / allow-all) in its place instead, as Istio does."""
        from wasmplugin.chain.build import PluginToLoad
        from wasmplugin.chain.runtime import FailStrategy

        self._check_open()
        source = "<bytes>" if isinstance(wasm, bytes) else str(wasm)
        if name is None:
            name = "plugin" if isinstance(wasm, bytes) else plugin_name_for(Path(wasm))
        try:
            strategy = FailStrategy.parse(fail_strategy)
        except KeyError:
            raise ValueError(
                f"fail_strategy {fail_strategy!r}: use FAIL_CLOSE, FAIL_OPEN or FAIL_RELOAD"
            ) from None
        settings = PluginSettings(
            name=name,
            root_id=root_id,
            vm_id=vm_id,
            configuration=config_bytes(config),
            vm_configuration=config_bytes(vm_config),
            env=tuple((env or {}).items()),
        )
        if force is not None:
            if force not in LOAD_FAILURES:
                raise ValueError(f"force={force!r}: choose one of {', '.join(LOAD_FAILURES)}")
            item = PluginToLoad(
                settings, None, strategy, load_failure(force, plugin=name, source=source), source
            )
        else:
            if isinstance(wasm, bytes):
                data: bytes = wasm
            else:
                try:
                    data = Path(wasm).read_bytes()
                except OSError as exc:
                    raise ModuleLoadError(f"cannot read {wasm}: {exc.strerror}", plugin=name) from None
            item = PluginToLoad(settings, data, strategy, source=source)
        built, plans = self._build([item], allow_load_failure or force is not None, name=name)
        target = PluginTarget(self, built.chain, self._handles(built, plans), list(built.errors))
        if not target.plugins:  # FAIL_OPEN load failure: the plugin is not in the chain at all
            target.plugins = [self._standin_handle(name, built, strategy)]
        self._targets.append(target)
        return target

    # -- loading a chain from WasmPlugin YAML --------------------------------------------------------------
    def chain(
        self,
        *files: str | Path,
        workload: str | None = None,
        labels: Mapping[str, str] | None = None,
        namespace: str | None = None,
        direction: str = "inbound",
        port: int | None = None,
        force: Mapping[str, str] | None = None,
        allow_load_failure: bool = False,
    ) -> ChainTarget:
        """The chain the sidecar builds for one workload from WasmPlugin YAML (files or directories,
        with Secrets, ConfigMaps, ServiceEntries, WorkloadEntries as needed).

        The workload is ``workload`` ("ns/name"), else the files' only WorkloadEntry, else a
        synthesized sidecar in ``namespace`` with ``labels`` (default: what the plugins' selectors
        ask for). ``force`` maps plugin names to a load failure to force (see :meth:`plugin`)."""
        from dataclasses import replace

        from wasmplugin.testing.yamlchain import load_items, select_chain

        self._check_open()
        if not files:
            raise ValueError("chain() needs at least one YAML file or directory")
        selection = select_chain(
            [Path(f) for f in files],
            workload=workload,
            labels=dict(labels) if labels is not None else None,
            namespace=namespace,
            direction=direction,
            port=port,
        )
        items = load_items(selection, self.fetcher)
        forced = dict(force or {})
        for i, (entry, item) in enumerate(zip(selection.entries, items, strict=True)):
            kind = _pop_forced(forced, entry.namespace, entry.name)
            if kind is not None:
                if kind not in LOAD_FAILURES:
                    raise ValueError(
                        f"force[{entry.ref!r}]={kind!r}: choose one of {', '.join(LOAD_FAILURES)}"
                    )
                err = load_failure(
                    kind, plugin=item.settings.name, source=entry.url, sha256=entry.sha256 or None
                )
                items[i] = replace(item, wasm=None, error=err)
        if forced:
            raise KeyError(
                f"force names plugins not in this chain: {', '.join(forced)} "
                f"(chain: {', '.join(e.ref for e in selection.entries)})"
            )
        built, plans = self._build(items, allow_load_failure or bool(force), name=selection.describe())
        target = ChainTarget(
            self,
            built.chain,
            self._handles(built, plans),
            list(built.errors),
            selection,
            list(built.bypassed),
        )
        self._targets.append(target)
        return target

    @property
    def fetcher(self) -> ModuleFetcher:
        """The module fetcher for chains (its cache lives in the harness's work directory)."""
        if self._fetcher is None:
            from wasmplugin.fetch.fetcher import ModuleFetcher

            self._fetcher = ModuleFetcher(cache_dir=self._dir() / "module-cache", limits=self.limits)
        return self._fetcher

    # -- building -------------------------------------------------------------------------------------------
    def _build(
        self, items: list[PluginToLoad], allow_load_failure: bool, *, name: str
    ) -> tuple[ChainBuild, dict[str, FaultPlan]]:
        """``build_chain`` with every VM wrapped for fault injection; one fault plan per plugin of
        this chain (kept for the VMs FAIL_RELOAD starts later)."""
        from wasmplugin.chain.build import build_chain

        mark = self.logs.mark()
        plans: dict[str, FaultPlan] = {}
        try:
            built = build_chain(
                items,
                wasm_runtime=self.runtime,
                services=self.services,
                reject_start_failure=True,
                name=name,
                vm_wrapper=wrapper_for(plans),
            )
        except (ModuleLoadError, PluginRuntimeError) as err:
            raise self._explained(err, mark) from None
        self.clock.run_pending()  # deliveries the start scheduled (queue notifications, answers)
        if built.errors and not allow_load_failure:
            built.chain.close()
            raise self._explained(built.errors[0], mark)
        return built, plans

    def _explained(self, err: WasmPluginError, mark: int) -> WasmPluginError:
        """The same error, with what the plugin logged at error level (why it refused to start)."""
        plugin = getattr(err, "plugin", None)
        lines = [
            e.message
            for e in self.logs.since(mark)
            if e.level >= LogLevel.ERROR and e.message != str(err) and (plugin is None or e.plugin == plugin)
        ]
        if not lines:
            return err
        note = " (plugin log: " + " | ".join(lines[-3:]) + ")"
        try:
            if isinstance(err, PluginRuntimeError):
                return type(err)(err.reason + note, plugin=err.plugin, callback=err.callback)
            if isinstance(err, ModuleLoadError):
                return type(err)(err.reason + note, plugin=err.plugin)
        except TypeError:
            pass
        return err

    def _handles(self, built: ChainBuild, plans: dict[str, FaultPlan]) -> list[PluginHandle]:
        return [PluginHandle(self, rt, plans.setdefault(rt.name, FaultPlan())) for rt in built.chain.plugins]

    def _standin_handle(self, name: str, built: ChainBuild, strategy: Any) -> PluginHandle:
        from wasmplugin.chain.runtime import PluginRuntime

        err = built.errors[0] if built.errors else ModuleLoadError("not loaded", plugin=name)
        rt = PluginRuntime.load_failed(name, err, strategy)
        return PluginHandle(self, rt, FaultPlan())

    # -- streams in flight ----------------------------------------------------------------------------------
    def _started(self, flight: InFlight) -> None:
        self._inflight.append(flight)

    def _finished(self, flight: InFlight) -> None:
        if flight in self._inflight:
            self._inflight.remove(flight)

    def _pump_all(self) -> None:
        for flight in list(self._inflight):
            flight.pump()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def _dir(self) -> Path:
        if self._work_dir is not None:
            self._work_dir.mkdir(parents=True, exist_ok=True)
            return self._work_dir
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="wasmplugin-harness-")
        return Path(self._tmp)

    def close(self) -> None:
        """Close every plugin and chain (root on_done/on_delete), the fetcher and an own runtime."""
        if self._closed:
            return
        self._closed = True
        for t in self._targets:
            t.close()
        self._targets.clear()
        if self._fetcher is not None:
            self._fetcher.close()
        if self._own_runtime is not None:
            self._own_runtime.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this harness is closed")

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pop_forced(forced: dict[str, str], namespace: str, name: str) -> str | None:
    for key in (f"{namespace}/{name}", f"{namespace}.{name}", name):
        if key in forced:
            return forced.pop(key)
    return None


def _new_runtime(limits: Limits, compile_cache: str | Path | bool | None) -> WasmRuntime:
    from wasmplugin.host.runtime import WasmRuntime, default_cache_dir

    cache: Path | None
    if compile_cache is True:
        cache = default_cache_dir()
    elif compile_cache in (False, None):
        cache = None
    else:
        cache = Path(compile_cache)  # type: ignore[arg-type]
    return WasmRuntime(limits, cache_dir=cache)
