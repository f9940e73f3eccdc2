"""Build a ``FilterChain`` from plugins to load: the bridge from config + fetch to chain + host.

``serve``, ``run`` and the pytest harness all build chains here, so a plugin behaves the same way
in each. Free of asyncio and sockets: the caller passes the ``HostServices`` (its scheduler decides
where deferred work runs).

Failure semantics (``docs/filter-chain.md``):

* a module that could not be fetched, compiled, linked or instantiated becomes what istio-agent
  gives Envoy instead: a deny-all RBAC filter (FAIL_CLOSE, FAIL_RELOAD: 403 ``RBAC: access
  denied``) or nothing (FAIL_OPEN: allow-all). The error is kept in ``ChainBuild.errors``;
* a plugin whose start fails (``on_vm_start``/``on_configure`` returned false, or it trapped while
  starting) is a *configuration rejection*: Envoy NACKs the update and keeps serving the previous
  configuration, whatever the failStrategy. With ``reject_start_failure`` (the sidecar) the build
  raises and the caller keeps its last good chain; without it (``wasmplugin run``, which has no
  previous configuration) the plugin is treated like a load failure — which is also what Istio's
  ECDS default config for the Wasm filter (deny-all / allow-all RBAC) gives a listener that never
  got a valid config.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from wasmplugin.abi.enums import LogLevel
from wasmplugin.chain.chain import DEFAULT_OPTIONS, ChainOptions, FilterChain
from wasmplugin.chain.runtime import FailStrategy, PluginRuntime, PluginVMLike
from wasmplugin.errors import ModuleLoadError, PluginRuntimeError, PluginStartError, WasmPluginError
from wasmplugin.host.api import HostServices, LogSink

if TYPE_CHECKING:
    from wasmplugin.host.module import CompiledModule
    from wasmplugin.host.runtime import WasmRuntime
    from wasmplugin.host.settings import PluginSettings


#: Wraps every VM a runtime creates (the pytest harness uses it to inject faults); identity when unset.
VMWrapper = Callable[[PluginVMLike], PluginVMLike]


@dataclass(frozen=True)
class PluginToLoad:
    """One chain entry before loading. ``wasm`` is ``None`` when fetching failed (``error`` says why)."""

    settings: PluginSettings
    wasm: bytes | None
    strategy: FailStrategy = FailStrategy.FAIL_CLOSE
    error: WasmPluginError | None = None
    #: Where the module came from (url or path), for messages.
    source: str = ""


@dataclass
class ChainBuild:
    chain: FilterChain
    #: Load failures turned into deny-all (FAIL_CLOSE/FAIL_RELOAD) or skipped (FAIL_OPEN) plugins.
    errors: list[WasmPluginError] = field(default_factory=list)
    #: Names of plugins left out of the chain because they failed to load under FAIL_OPEN.
    bypassed: list[str] = field(default_factory=list)


class StartLog:
    """Passes plugin logs through to ``sink`` and keeps the last warning-or-worse message, so a
    refused start can say why, as Envoy prints the plugin's own log before "failed to start"."""

    def __init__(self, sink: LogSink) -> None:
        self.sink = sink
        self.level = sink.level  # the threshold check stays one call
        self.last_warning: str | None = None

    def log(self, plugin: str, level: LogLevel, message: str) -> None:
        if level >= LogLevel.WARN:
            self.last_warning = message
        self.sink.log(plugin, level, message)


def new_runtime(
    wasm_runtime: WasmRuntime,
    module: CompiledModule,
    settings: PluginSettings,
    services: HostServices,
    strategy: FailStrategy,
    vm_wrapper: VMWrapper | None = None,
) -> PluginRuntime:
    """A runtime whose VMs are ``PluginVM(wasm_runtime, module, settings, services)`` (not started),
    passed through ``vm_wrapper`` when given."""
    from wasmplugin.host.vm import PluginVM  # wasmtime only when plugins are loaded

    def factory() -> PluginVMLike:
        vm = PluginVM(wasm_runtime, module, settings, services)
        return vm_wrapper(vm) if vm_wrapper is not None else vm

    return PluginRuntime(
        settings.name,
        strategy=strategy,
        vm_factory=factory,
        scheduler=services.scheduler,
        clock=services.clock,
        limits=services.limits,
        log_sink=services.log,
    )


def load_plugin(
    item: PluginToLoad,
    *,
    wasm_runtime: WasmRuntime,
    services: HostServices,
    reject_start_failure: bool = True,
    vm_wrapper: VMWrapper | None = None,
) -> tuple[PluginRuntime, WasmPluginError | None]:
    """Compile and start one plugin. Returns the runtime and the load error it stands in for."""
    name = item.settings.name
    if item.wasm is None:
        err = item.error or ModuleLoadError("module could not be fetched", plugin=name)
        return PluginRuntime.load_failed(name, err, item.strategy), err
    start_log = StartLog(services.log)
    try:
        module = wasm_runtime.compile(item.wasm, name=name)
        rt = new_runtime(
            wasm_runtime, module, item.settings, replace(services, log=start_log), item.strategy, vm_wrapper
        )
    except ModuleLoadError as err:
        return PluginRuntime.load_failed(name, err, item.strategy), err
    try:
        rt.start()
    except (PluginStartError, PluginRuntimeError) as err:
        rt.close()
        said = start_log.last_warning
        if isinstance(err, PluginStartError) and said:
            err = PluginStartError(f"{err.reason} (the plugin logged: {said})", plugin=name)
        if reject_start_failure:
            raise err from None
        return PluginRuntime.load_failed(name, err, item.strategy), err
    except ModuleLoadError as err:  # instantiation failed
        rt.close()
        return PluginRuntime.load_failed(name, err, item.strategy), err
    return rt, None


def build_chain(
    plugins: Sequence[PluginToLoad],
    *,
    wasm_runtime: WasmRuntime,
    services: HostServices,
    options: ChainOptions = DEFAULT_OPTIONS,
    reject_start_failure: bool = True,
    name: str = "",
    vm_wrapper: VMWrapper | None = None,
) -> ChainBuild:
    """Load ``plugins`` (in chain order) into a new chain. On a rejection (see module docstring)
    everything already started is closed and the error propagates."""
    runtimes: list[PluginRuntime] = []
    errors: list[WasmPluginError] = []
    bypassed: list[str] = []
    try:
        for item in plugins:
            rt, err = load_plugin(
                item, wasm_runtime=wasm_runtime, services=services,
                reject_start_failure=reject_start_failure, vm_wrapper=vm_wrapper,
            )
            if err is not None:
                errors.append(err)
                if item.strategy is FailStrategy.FAIL_OPEN:
                    bypassed.append(rt.name)
                    continue
            runtimes.append(rt)
    except BaseException:
        for rt in runtimes:
            rt.close()
        raise
    chain = FilterChain(
        runtimes,
        scheduler=services.scheduler,
        clock=services.clock,
        limits=services.limits,
        options=options,
        name=name,
    )
    return ChainBuild(chain, errors, bypassed)
