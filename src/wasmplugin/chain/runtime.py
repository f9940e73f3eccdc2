"""``PluginRuntime``: one plugin of a chain — its VM, failStrategy, failure and reload state, counters.

A chain entry is a runtime, not a VM, because the VM behind a plugin changes: FAIL_RELOAD replaces a
failed VM with a fresh one for new requests (Envoy ``FailurePolicy::FAIL_RELOAD``, PR #36456) while
streams that started on the old one keep their old contexts. The runtime also stands in for a
plugin whose module could not be fetched or loaded: istio-agent then gives Envoy a deny-all RBAC
filter (FAIL_CLOSE, FAIL_RELOAD → 403 ``RBAC: access denied``) or an allow-all one (FAIL_OPEN →
traffic passes), see ``docs/filter-chain.md``.

State machine::

    READY ──runtime failure──▶ FAILED ──(FAIL_RELOAD, backoff elapsed, next new stream)──▶ READY
    LOAD_FAILED                        (terminal; deny or bypass every stream)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from wasmplugin.abi.enums import LogLevel
from wasmplugin.errors import PluginRuntimeError, WasmPluginError
from wasmplugin.host.api import Clock, LogSink, Scheduler, StreamHost
from wasmplugin.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from wasmplugin.chain.stream import ActiveFilter

log = logging.getLogger("wasmplugin.chain")


class FailStrategy(Enum):
    """WasmPlugin ``failStrategy`` (Istio enum names; unset = FAIL_CLOSE)."""

    FAIL_CLOSE = "FAIL_CLOSE"
    FAIL_OPEN = "FAIL_OPEN"
    FAIL_RELOAD = "FAIL_RELOAD"

    @classmethod
    def parse(cls, text: str) -> FailStrategy:
        return cls[text.strip().upper().replace("-", "_")]


class RuntimeState(Enum):
    READY = "ready"
    FAILED = "failed"
    LOAD_FAILED = "load_failed"


class StreamContextLike(Protocol):
    """What the chain calls on a stream context (``wasmplugin.host.vm.StreamContext``)."""

    context_id: int

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> int: ...
    def on_request_body(self, body_size: int, end_of_stream: bool) -> int: ...
    def on_request_trailers(self, num_trailers: int) -> int: ...
    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> int: ...
    def on_response_body(self, body_size: int, end_of_stream: bool) -> int: ...
    def on_response_trailers(self, num_trailers: int) -> int: ...
    def on_log(self) -> None: ...
    def on_done(self) -> None: ...
    def on_delete(self) -> None: ...


class PluginVMLike(Protocol):
    """What the chain needs from a VM (``wasmplugin.host.vm.PluginVM``)."""

    failure: PluginRuntimeError | None
    on_failure: Callable[[PluginRuntimeError], None] | None

    def start(self) -> None: ...
    def create_stream(self, host: StreamHost) -> StreamContextLike: ...
    def close(self) -> None: ...


#: Builds a new, not yet started VM for the plugin (closes over runtime, module, settings, services).
VMFactory = Callable[[], PluginVMLike]


@dataclass(slots=True)
class PluginStats:
    """Per-plugin counters shown by the admin endpoint (``/stats``)."""

    #: Streams whose request headers reached this plugin (a context was created or failStrategy
    #: applied).
    requests: int = 0
    #: Streams the plugin saw only on_log for: rejected by an earlier plugin before its headers
    #: reached this one (Envoy still logs them in every filter). Not counted in ``requests``.
    log_only: int = 0
    #: Runtime failures (trap, deadline, memory) of this plugin's VMs.
    failures: int = 0
    #: Streams answered by failStrategy: 503 wasm_fail_stream (runtime) or 403 (load failure).
    denied: int = 0
    #: Streams that skipped the plugin under FAIL_OPEN.
    bypassed: int = 0
    #: Fresh VMs started by FAIL_RELOAD.
    reloads: int = 0
    #: Local replies the plugin sent.
    local_replies: int = 0
    #: Stream callbacks run, and the wall time spent in them.
    callbacks: int = 0
    callback_ns: int = 0
    max_callback_ns: int = 0


class PluginRuntime:
    """One plugin in a chain. Owns its VMs (``close()``)."""

    def __init__(
        self,
        name: str,
        *,
        strategy: FailStrategy = FailStrategy.FAIL_CLOSE,
        vm_factory: VMFactory | None = None,
        scheduler: Scheduler | None = None,
        clock: Clock | None = None,
        limits: Limits = DEFAULT_LIMITS,
        load_error: WasmPluginError | None = None,
        log_sink: LogSink | None = None,
    ) -> None:
        self.name = name
        #: Where failStrategy notices go (the plugin log sink: one line, the user's format);
        #: the ``wasmplugin.chain`` Python logger when unset.
        self._log_sink = log_sink
        self.strategy = strategy
        self.limits = limits
        self.stats = PluginStats()
        self._vm_factory = vm_factory
        self._scheduler = scheduler
        self._clock = clock
        self.vm: PluginVMLike | None = None
        #: Incremented for every VM; a stream context belongs to one generation.
        self.generation = 0
        #: The last runtime failure (FAILED) or ``None``.
        self.failure: PluginRuntimeError | None = None
        self.load_error = load_error
        self.state = RuntimeState.LOAD_FAILED if load_error is not None else RuntimeState.READY
        self._consecutive_failures = 0
        self._reload_at_ns = 0
        #: Streams holding a context on the current VM, to fail them when the VM fails elsewhere.
        self._active: set[ActiveFilter] = set()

    @classmethod
    def load_failed(
        cls, name: str, error: WasmPluginError, strategy: FailStrategy = FailStrategy.FAIL_CLOSE
    ) -> PluginRuntime:
        """A plugin whose module could not be fetched or loaded (deny-all / allow-all stand-in)."""
        return cls(name, strategy=strategy, load_error=error)

    # -- VM lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Create and start the first VM. Raises ``ModuleLoadError`` / ``PluginRuntimeError``."""
        if self.state is RuntimeState.LOAD_FAILED:
            return
        self._install(self._new_vm())

    def _new_vm(self) -> PluginVMLike:
        assert self._vm_factory is not None, "a loaded plugin needs a VM factory"
        vm = self._vm_factory()
        try:
            vm.start()
        except BaseException:
            vm.close()
            raise
        return vm

    def _install(self, vm: PluginVMLike) -> None:
        old = self.vm
        self.vm = vm
        self.generation += 1
        self.state = RuntimeState.READY
        self.failure = None
        self._active = set()
        vm.on_failure = self._vm_failed_outside_stream
        if old is not None:
            old.on_failure = None
            old.close()

    def vm_for_new_stream(self) -> PluginVMLike | None:
        """The VM a new stream should use, or ``None`` (failed / load failed). FAIL_RELOAD starts a
        fresh VM here once the backoff has elapsed, as Envoy does when it creates the filter."""
        if self.state is RuntimeState.READY:
            return self.vm
        if (
            self.state is RuntimeState.FAILED
            and self.strategy is FailStrategy.FAIL_RELOAD
            and self._now_ns() >= self._reload_at_ns
        ):
            try:
                vm = self._new_vm()
            except PluginRuntimeError as err:
                self._record_failure(err)
                return None
            except WasmPluginError as err:  # start refused (on_configure false): keep backing off
                self._consecutive_failures += 1
                self._schedule_reload()
                self._notice(LogLevel.WARN, f"FAIL_RELOAD: a fresh VM did not start: {err}")
                return None
            self._install(vm)
            self.stats.reloads += 1
            self._notice(LogLevel.INFO, f"FAIL_RELOAD: started VM generation {self.generation}")
            return vm
        return None

    # -- failures ---------------------------------------------------------------------------------
    def failed(self, err: PluginRuntimeError, *, origin: ActiveFilter | None = None) -> None:
        """The current VM failed inside a stream callback (``origin``); fail its other streams."""
        if self.state is not RuntimeState.READY:
            return
        self._record_failure(err)
        self._fail_streams(err, origin, defer=True)

    def _vm_failed_outside_stream(self, err: PluginRuntimeError) -> None:
        # PluginVM.on_failure: on_tick / on_queue_ready / on_http_call_response trapped. Already
        # running from the scheduler, so the paused streams can be failed right away.
        if self.state is not RuntimeState.READY:
            return
        self._record_failure(err)
        self._fail_streams(err, None, defer=False)

    def _record_failure(self, err: PluginRuntimeError) -> None:
        self.state = RuntimeState.FAILED
        self.failure = err
        self.stats.failures += 1
        self._consecutive_failures += 1
        strategy = self.strategy
        if strategy is FailStrategy.FAIL_RELOAD:
            delay = self._schedule_reload()
            then = f"a fresh VM starts for new requests in {delay:g}s"
        elif strategy is FailStrategy.FAIL_OPEN:
            then = "new requests bypass the plugin"
        else:
            then = "new requests are answered 503 (wasm_fail_stream)"
        self._notice(LogLevel.WARN, f"failStrategy {strategy.value}: {err.kind} in {err.callback}; {then}")

    def _notice(self, level: LogLevel, message: str) -> None:
        """A failStrategy notice about this plugin: one line through the plugin log sink (the
        sidecar's log, ``wasmplugin run``'s output), else the ``wasmplugin.chain`` logger."""
        sink = self._log_sink
        if sink is not None:
            if level >= sink.level(self.name):
                sink.log(self.name, level, message)
        elif level >= LogLevel.WARN:
            log.warning("plugin %s: %s", self.name, message)

    def _schedule_reload(self) -> float:
        """Back off before the next FAIL_RELOAD attempt; returns the delay in seconds."""
        n = max(self._consecutive_failures, 1)
        delay = min(self.limits.fail_reload_backoff_s * (2 ** (n - 1)), self.limits.fail_reload_backoff_max_s)
        self._reload_at_ns = self._now_ns() + int(delay * 1e9)
        return float(delay)

    def _fail_streams(self, err: PluginRuntimeError, origin: ActiveFilter | None, *, defer: bool) -> None:
        victims = [af for af in self._active if af is not origin]
        self._active = set()
        for af in victims:
            if defer and self._scheduler is not None:
                self._scheduler.call_soon(_failer(af, err))
            else:
                af.stream._plugin_failed_async(af, err)

    def _now_ns(self) -> int:
        return self._clock.monotonic_ns() if self._clock is not None else 0

    # -- stream bookkeeping (called by the chain) ---------------------------------------------------
    # ``HttpStream._enter`` adds a filter to ``_active`` itself; ``_finish_one`` inlines ``detach``
    # on the per-request path: keep it in sync.
    def detach(self, af: ActiveFilter, *, ok: bool) -> None:
        self._active.discard(af)
        if ok and af.generation == self.generation:
            self._consecutive_failures = 0

    def close(self) -> None:
        vm, self.vm = self.vm, None
        self._active = set()
        if vm is not None:
            vm.on_failure = None
            vm.close()

    def __repr__(self) -> str:
        return f"PluginRuntime({self.name!r}, {self.strategy.value}, {self.state.value})"


def _failer(af: ActiveFilter, err: PluginRuntimeError) -> Callable[[], None]:
    def run() -> None:
        af.stream._plugin_failed_async(af, err)

    return run
