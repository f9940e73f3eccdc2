"""``PluginVM``: one VM instance (wasmtime Store + Instance), its root context and its streams.

Calls into the guest go through ``wasmtime_func_call_unchecked`` with a preallocated argument
array per export; host calls come back through this VM's own unchecked callbacks
(``host/linking.py``), closures over the VM.

Safety: every call runs under the runtime's epoch deadline (``Limits.callback_deadline_ms``) and
the store's memory cap (``Limits.vm_memory_bytes``). A trap, a deadline or an out-of-memory marks
the VM failed and raises the typed error naming the plugin and the callback; every later call
raises ``PluginFailed``. A fresh VM from the same ``CompiledModule`` is cheap (InstancePre).
"""

from __future__ import annotations

import contextlib
import ctypes
import struct
import traceback
from collections.abc import Callable
from ctypes import c_void_p
from typing import TYPE_CHECKING, Any

import wasmtime

from wasmplugin.abi.buffers import BodyBuffer
from wasmplugin.abi.enums import AbiVersion, LogLevel, MetricType
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.errors import (
    PluginDeadlineExceeded,
    PluginFailed,
    PluginMemoryExceeded,
    PluginRuntimeError,
    PluginStartError,
    PluginTrap,
)
from wasmplugin.host import native
from wasmplugin.host.api import (
    ForeignFunction,
    HostServices,
    HttpCallResponse,
    StreamHost,
    TimerHandle,
)
from wasmplugin.host.contexts import STREAM_EXPORTS, Context, RootContext, StreamContext
from wasmplugin.host.faults import GuestAbort
from wasmplugin.host.foreign import builtin_foreign_functions
from wasmplugin.host.guest import CallResponse, CleanExit, GuestFunc
from wasmplugin.host.linking import host_callback
from wasmplugin.host.memory import GuestMemory
from wasmplugin.host.metrics import RUNTIME_ACTIVE, RUNTIME_CREATED, Metric
from wasmplugin.host.properties import PropertyResolver
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.traps import cause, describe_trap, fmt_mib

if TYPE_CHECKING:
    from wasmplugin.host.module import CompiledModule
    from wasmplugin.host.runtime import WasmRuntime

_call = native.func_call_prebuilt
_ALLOCATORS = ("malloc", "proxy_on_memory_allocate")
_pack_u32 = struct.Struct("<I").pack_into


class PluginVM:
    """One VM instance (Store + Instance) and its root context.

    Limits: the deadline and the memory cap come from ``runtime.limits`` (they belong to the
    engine and its ticker); codec limits (pairs, random_get) from ``services.limits``."""

    # Slots: the hot path reads a dozen of these per call; a slot is the cheapest attribute.
    __slots__ = (
        "_closed",
        "_ctx",
        "_dead",
        "_deadline_epoch",
        "_deadline_hit",
        "_deadline_ms",
        "_epoch_cb",
        "_exit_code",
        "_exports",
        "_extra_funcs",
        "_f_configure",
        "_f_context_create",
        "_f_delete",
        "_f_done",
        "_f_foreign",
        "_f_http_call_response",
        "_f_initialize",
        "_f_log",
        "_f_main",
        "_f_main_void",
        "_f_malloc",
        "_f_queue_ready",
        "_f_start",
        "_f_stream",
        "_f_tick",
        "_f_vm_start",
        "_failure",
        "_host_callbacks",
        "_in_start_function",
        "_memory_limit",
        "_next_context_id",
        "_next_http_token",
        "_next_metric_ids",
        "_pending_done",
        "_pending_failure",
        "_started",
        "_store",
        "_ticker",
        "_tracer",
        "_trap",
        "_trap2",
        "_trap2_addr",
        "_trap_addr",
        "abi",
        "clock",
        "configuring",
        "contexts",
        "effective",
        "foreign_args",
        "foreign_functions",
        "http_response",
        "in_log",
        "log_sink",
        "mem",
        "metric_ids",
        "module",
        "on_failure",
        "plugin_name",
        "properties",
        "root",
        "root_context_id",
        "runtime",
        "services",
        "settings",
        "vm_context",
    )

    def __init__(
        self,
        runtime: WasmRuntime,
        module: CompiledModule,
        settings: PluginSettings,
        services: HostServices,
    ) -> None:
        runtime._check_open()
        self.runtime = runtime
        self.module = module
        self.settings = settings
        self.services = services
        self.plugin_name = settings.name
        self.abi: AbiVersion = module.abi_version
        self._failure: PluginRuntimeError | None = None
        self._closed = False
        self._dead = False  # failed or closed: the one flag the hot path checks
        self.on_failure: Callable[[PluginRuntimeError], None] | None = None
        self.root_context_id = 0
        self.root: RootContext | None = None
        self.contexts: dict[int, Context] = {}
        self.properties = PropertyResolver(settings, services.node, services.limits.property_cache_entries)
        self.foreign_functions: dict[str, ForeignFunction] = {
            **builtin_foreign_functions(),
            **services.foreign_functions,
        }
        self.metric_ids: dict[int, Metric] = {}
        self._next_metric_ids = [0, 1, 2]
        self._next_context_id = 1
        self._next_http_token = 0
        # What host calls may see right now (Envoy: availability of buffers 4/6/7/8, maps 6/7).
        self.http_response: CallResponse | None = None
        self.foreign_args: BodyBuffer | None = None
        self.configuring = False
        self.in_log = False
        # Failure bookkeeping (set inside host callbacks, read after the guest call returns).
        self._pending_failure: tuple[type[PluginRuntimeError], str] | None = None
        self._deadline_hit = False
        self._exit_code: int | None = None
        self._in_start_function = False
        self._started = False
        self._pending_done = False
        self._tracer = services.tracer
        self.log_sink = services.log
        self.clock = services.clock

        limits = runtime.limits
        self._deadline_ms = limits.callback_deadline_ms
        self._memory_limit = limits.vm_memory_bytes
        self._ticker = runtime._ticker
        #: This VM's host-call callbacks: referenced for as long as the store may call them.
        self._host_callbacks: list[Any] = []

        store = wasmtime.Store(runtime.engine)
        store.set_limits(memory_size=limits.vm_memory_bytes, table_elements=limits.vm_table_elements)
        self._store: wasmtime.Store | None = store
        self._ctx = native.context_of(store)
        self._epoch_cb = native.EPOCH_CALLBACK(self._on_epoch_deadline)
        native.store_epoch_deadline_callback(native.store_ptr(store), self._epoch_cb, None, None)
        native.context_set_epoch_deadline(self._ctx, self._ticker.deadline_ticks)
        self._trap = c_void_p()
        self._trap_addr = ctypes.addressof(self._trap)
        self._trap2 = c_void_p()
        self._trap2_addr = ctypes.addressof(self._trap2)

        # Context 0 is the VM context: _initialize/_start and the start section run "on" it.
        self.vm_context = RootContext(self, 0)
        self.effective: Context = self.vm_context
        # Until instantiation returns, linear memory is not reachable: host calls made by a start
        # section that touch memory answer INVALID_MEMORY_ACCESS (as in Envoy).
        self.mem = GuestMemory(self._ctx, None)
        instance = self._instantiate(module, store)
        exports = instance.exports(store)
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self.mem = GuestMemory(self._ctx, memory)
        self._exports = exports
        self._extra_funcs: dict[str, GuestFunc] = {}
        self._bind_exports(exports)
        metrics = services.metrics
        metrics.counter(RUNTIME_CREATED).add(1)
        metrics.gauge(RUNTIME_ACTIVE).add(1)

    # ------------------------------------------------------------------------------------------
    # loading
    # ------------------------------------------------------------------------------------------
    def _instantiate(self, module: CompiledModule, store: wasmtime.Store) -> wasmtime.Instance:
        traced = self._tracer is not None
        views = native.ArgsViews(self.services.limits.args_views_entries)
        pre, self._host_callbacks = module._instance_pre(lambda fn: host_callback(self, fn, traced, views))
        self._deadline_epoch = self._ticker.deadline
        try:
            return pre.instantiate(store)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            reason = self._start_failure_reason(exc)
            self._store = None
            store.close()
            self._host_callbacks = []
            raise PluginStartError(f"instantiation failed: {reason}", plugin=self.plugin_name) from None

    def _start_failure_reason(self, exc: Exception) -> str:
        if self._pending_failure is not None:
            return self._pending_failure[1]
        if self._deadline_hit:
            return f"start function exceeded the {self._deadline_ms} ms deadline"
        text = cause(str(exc))
        if "memory" in text and ("limit" in text or "exceeds" in text):
            return f"{text} (memory limit {fmt_mib(self._memory_limit)})"
        return text

    def _bind_exports(self, exports: Any) -> None:
        sigs = self.module._func_signatures

        def get(name: str) -> GuestFunc | None:
            sig = sigs.get(name)
            if sig is None:
                return None
            func = exports[name]
            assert isinstance(func, wasmtime.Func)
            trap_addr = self._trap2_addr if name in _ALLOCATORS else self._trap_addr
            return GuestFunc(name, func, len(sig[0]), len(sig[1]), self._ctx, trap_addr)

        self._f_initialize = get("_initialize")
        self._f_start = get("_start")
        main_sig = sigs.get("main")
        self._f_main = get("main") if main_sig == (("i32", "i32"), ("i32",)) else None
        main_void_sig = sigs.get("__main_void")
        self._f_main_void = get("__main_void") if main_void_sig == ((), ("i32",)) else None
        malloc = get("malloc") or get("proxy_on_memory_allocate")
        assert malloc is not None  # checked at compile time
        self._f_malloc = malloc
        self._f_context_create = get("proxy_on_context_create")
        self._f_vm_start = get("proxy_on_vm_start")
        self._f_configure = get("proxy_on_configure")
        self._f_tick = get("proxy_on_tick")
        self._f_queue_ready = get("proxy_on_queue_ready")
        self._f_foreign = get("proxy_on_foreign_function")
        self._f_http_call_response = get("proxy_on_http_call_response")
        #: proxy_on_{request,response}_{headers,body,trailers} (``contexts.STREAM_EXPORTS``)
        self._f_stream: tuple[GuestFunc | None, ...] = tuple(get(name) for name in STREAM_EXPORTS)
        self._f_log = get("proxy_on_log")
        self._f_done = get("proxy_on_done")
        self._f_delete = get("proxy_on_delete")

    # ------------------------------------------------------------------------------------------
    # public lifecycle
    # ------------------------------------------------------------------------------------------
    @property
    def failure(self) -> PluginRuntimeError | None:
        """Set once the VM failed; every later call then raises PluginFailed."""
        return self._failure

    @failure.setter
    def failure(self, value: PluginRuntimeError | None) -> None:
        self._failure = value
        self._dead = value is not None or self._closed

    def start(self) -> None:
        """Envoy's start order: _initialize (+ main / __main_void) or _start; then
        on_context_create(root, 0), on_vm_start(root, vm_config_size), on_configure(root,
        plugin_config_size). Raises PluginStartError when on_vm_start / on_configure return false,
        or a PluginRuntimeError subclass naming the callback."""
        if self._started:
            raise RuntimeError("PluginVM.start() called twice")
        self._started = True
        vm_ctx = self.vm_context
        if self._f_initialize is not None:
            self._run_start_function(self._f_initialize, vm_ctx)
            if self._f_main is not None:
                self._run_start_function(self._f_main, vm_ctx)  # main(argc=0, argv=0)
            elif self._f_main_void is not None:
                self._run_start_function(self._f_main_void, vm_ctx)
        elif self._f_start is not None:
            self._run_start_function(self._f_start, vm_ctx)

        root = RootContext(self, self._take_context_id())
        self.root = root
        self.root_context_id = root.context_id
        self.contexts[root.context_id] = root
        self._call2(self._f_context_create, root, 0)
        root.created = True
        if self._f_vm_start is not None:
            ok = self._call2(self._f_vm_start, root, len(self.settings.vm_configuration))
            if ok == 0:
                raise self._start_refused("proxy_on_vm_start returned false")
        if self._f_configure is not None:
            self.configuring = True
            try:
                ok = self._call2(self._f_configure, root, len(self.settings.configuration))
            finally:
                self.configuring = False
            if ok == 0:
                raise self._start_refused("proxy_on_configure returned false")

    def create_stream(self, host: StreamHost) -> StreamContext:
        """A new stream context (next id from the shared counter), announced to the plugin with
        proxy_on_context_create(id, root_id)."""
        root = self.root
        if root is None:
            raise RuntimeError("PluginVM.create_stream() before start()")
        cid = self._next_context_id  # self._take_context_id(), inlined (once per request)
        self._next_context_id = cid + 1
        ctx = StreamContext(self, cid, root, host)
        self.contexts[cid] = ctx
        f = self._f_context_create
        if f is not None:  # self._call2(f, ctx, root.context_id), inlined
            raw = f.raw
            raw[0] = cid
            raw[4] = root.context_id
            self._invoke(f, ctx)
        ctx.created = True
        return ctx

    def memory_size(self) -> int:
        """Current linear memory size in bytes (0 once closed)."""
        if self._closed:
            return 0
        return self.mem.current_size()

    def close(self) -> None:
        """Best-effort root on_done / on_delete, then release timers, queues and the store.

        If the root's on_done returns false the VM stays alive ("pending done", Envoy) until the
        plugin calls proxy_done or close() is called again."""
        if self._closed:
            return
        root = self.root
        if not self._pending_done and self.failure is None and root is not None and root.created:
            try:
                done = self._call1(self._f_done, root) if self._f_done is not None else 1
                if done == 0:
                    self._pending_done = True
                    return
                self._call1(self._f_delete, root)
            except PluginRuntimeError:
                pass
        self._release()

    def call_export(self, name: str, *args: int, context_id: int | None = None) -> int | None:
        """Call any exported function with i32 arguments, as a host→VM callback on context
        ``context_id`` (default: the root, or the VM context before start). For tests, tools and
        benchmarks; returns the i32 result, or ``None`` for a function without results."""
        f = self._extra_funcs.get(name)
        if f is None:
            sig = self.module._func_signatures.get(name)
            if sig is None:
                raise KeyError(f"plugin {self.plugin_name} has no exported function {name!r}")
            if any(t != "i32" for t in (*sig[0], *sig[1])) or len(sig[1]) > 1:
                raise TypeError(f"{name} has type {sig}; only i32 functions can be called here")
            func = self._exports[name]
            assert isinstance(func, wasmtime.Func)
            f = GuestFunc(name, func, len(sig[0]), len(sig[1]), self._ctx, self._trap_addr)
            self._extra_funcs[name] = f
        if len(args) != f.nparams:
            raise TypeError(f"{name} takes {f.nparams} argument(s), got {len(args)}")
        ctx: Context
        if context_id is None:
            ctx = self.root if self.root is not None else self.vm_context
        else:
            found = self.contexts.get(context_id)
            if found is None:
                raise KeyError(f"no context {context_id}")
            ctx = found
        raw = f.raw
        for i, v in enumerate(args):
            raw[4 * i] = v & 0xFFFFFFFF  # the i32's bits, as a ctypes c_int32 would keep them
        result = self._invoke(f, ctx)
        return result if f.has_result else None

    def deliver_foreign_function(self, function_id: int, args: bytes) -> None:
        """Schedule proxy_on_foreign_function(root, function_id, len(args)); args in buffer 8."""
        self.services.scheduler.call_soon(lambda: self._foreign_callback(function_id, args))

    # ------------------------------------------------------------------------------------------
    # guest calls (hot path)
    # ------------------------------------------------------------------------------------------
    def _invoke(self, f: GuestFunc, ctx: Context) -> int:
        if self._dead:
            raise self._refused(f.name)
        outer = self.effective  # restored below: a nested call must not leak its context
        self.effective = ctx
        self._deadline_epoch = self._ticker.deadline
        if self._tracer is not None:
            self._tracer.guest_call(self.plugin_name, f.name, tuple(f.raw[0 : 4 * f.nargs : 4]))
        err = _call(*f.cargs)
        self.effective = outer
        if err or self._trap.value:
            self._fail(f.name, err)
        return f.result[0]

    def _call1(self, f: GuestFunc | None, ctx: Context) -> int:
        if f is None:
            return 0
        f.raw[0] = ctx.context_id
        return self._invoke(f, ctx)

    def _call2(self, f: GuestFunc | None, ctx: Context, a: int) -> int:
        if f is None:
            return 0
        raw = f.raw
        raw[0] = ctx.context_id
        raw[4] = a
        return self._invoke(f, ctx)

    def _call3(self, f: GuestFunc | None, ctx: Context, a: int, b: int) -> int:
        if f is None:
            return 0
        raw = f.raw
        raw[0] = ctx.context_id
        raw[4] = a
        raw[8] = b
        return self._invoke(f, ctx)

    def _run_start_function(self, f: GuestFunc, ctx: Context) -> None:
        """Run _initialize / _start / main / __main_void; proc_exit(0) there is a normal end."""
        f.raw[0] = f.raw[4] = 0
        self._in_start_function = True
        try:
            self._invoke(f, ctx)
        except CleanExit:
            pass
        finally:
            self._in_start_function = False

    def alloc(self, size: int) -> int:
        """Allocate ``size`` bytes in the guest (``malloc`` / ``proxy_on_memory_allocate``); only
        from inside a host call. 0 means the allocator failed."""
        f = self._f_malloc
        raw = f.raw
        raw[0] = size
        if self._tracer is not None:
            self._tracer.guest_call(self.plugin_name, f.name, (size,))
        err = _call(*f.cargs)
        if err or self._trap2.value:
            self._nested_failure(f.name, err)
        return raw[0]

    def _on_epoch_deadline(self, _ctx: int, _data: int, delta: Any, kind: Any) -> int:
        """Epoch callback: extend to this call's deadline, or stop the guest once it has passed."""
        try:
            remaining = self._deadline_epoch - self._ticker.epoch
            if remaining > 0:
                delta[0] = remaining
                kind[0] = 0
                return 0
            self._deadline_hit = True
            return native.new_error(f"exceeded the {self._deadline_ms} ms deadline")
        except BaseException:  # never unwind into wasmtime
            return native.new_error("epoch deadline callback failed")

    # ------------------------------------------------------------------------------------------
    # failure
    # ------------------------------------------------------------------------------------------
    def _fail(self, callback: str, err: int | None) -> None:
        trap_ptr = self._trap.value
        self._trap.value = None
        failure = self._classify(callback, trap_ptr, err)
        if self._in_start_function and self._exit_code == 0:
            self._pending_failure = None
            self._exit_code = None
            raise CleanExit
        self._mark_failed(failure)
        raise failure

    def _nested_failure(self, callback: str, err: int | None) -> None:
        """The allocator trapped inside a host call: record why and abort the outer guest call."""
        trap_ptr = self._trap2.value
        self._trap2.value = None
        failure = self._classify(callback, trap_ptr, err)
        self._pending_failure = (type(failure), f"{callback}: {failure.reason}")
        raise GuestAbort(failure.reason)

    def _classify(self, callback: str, trap_ptr: int | None, err: int | None) -> PluginRuntimeError:
        detail = ""
        code: wasmtime.TrapCode | None = None
        if trap_ptr:
            trap = native.take_trap(trap_ptr)
            detail = describe_trap(trap)
            code = trap.trap_code
        if err:
            error_text = cause(str(native.take_error(err)))
            detail = detail or error_text
        name = self.plugin_name
        if self._pending_failure is not None:
            cls, reason = self._pending_failure
            return cls(reason, plugin=name, callback=callback)
        if self._deadline_hit or code == wasmtime.TrapCode.INTERRUPT:
            return PluginDeadlineExceeded(
                f"exceeded the {self._deadline_ms} ms deadline", plugin=name, callback=callback
            )
        if self._memory_exhausted():
            return PluginMemoryExceeded(
                f"linear memory limit of {fmt_mib(self._memory_limit)} exceeded "
                f"(memory at {fmt_mib(self.mem.current_size())}; {detail or 'trap'})",
                plugin=name,
                callback=callback,
            )
        return PluginTrap(detail or "trap", plugin=name, callback=callback)

    def _memory_exhausted(self) -> bool:
        """A trap counts as out-of-memory when linear memory is within 1/16 of the cap: wasmtime
        only makes memory.grow return -1 there, and the guest allocator then traps."""
        slack = max(self._memory_limit // 16, 65536)
        try:
            return self.mem.current_size() + slack >= self._memory_limit
        except Exception:
            return False

    def _mark_failed(self, failure: PluginRuntimeError) -> None:
        self.failure = failure
        for ctx in list(self.contexts.values()):
            if isinstance(ctx, RootContext):
                ctx.cancel_timer()
        self._forget_queues()
        self.services.log.log(self.plugin_name, LogLevel.ERROR, str(failure))

    def _refused(self, callback: str) -> PluginFailed:
        if self._closed:
            reason = "VM is closed"
        else:
            assert self.failure is not None
            reason = f"VM failed earlier ({self.failure.callback}: {self.failure.reason})"
        return PluginFailed(reason, plugin=self.plugin_name, callback=callback)

    def _start_refused(self, reason: str) -> PluginStartError:
        self.failure = PluginFailed(reason, plugin=self.plugin_name, callback="start")
        return PluginStartError(reason, plugin=self.plugin_name)

    def _report_async_failure(self, failure: PluginRuntimeError) -> None:
        callback = self.on_failure
        if callback is not None:
            self.services.scheduler.call_soon(lambda: callback(failure))

    def internal_error(self, hostcall: str, exc: BaseException) -> None:
        """A bug in the host or its embedder surfaced inside a host call: log it (the guest gets
        INTERNAL_FAILURE)."""
        where = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        self.services.log.log(self.plugin_name, LogLevel.CRITICAL, f"host error in {hostcall}: {where}")

    # ------------------------------------------------------------------------------------------
    # asynchronous deliveries (through services.scheduler)
    # ------------------------------------------------------------------------------------------
    def _alive(self) -> bool:
        return self.failure is None and not self._closed

    def _schedule_tick(self, root: RootContext, period_ms: int) -> TimerHandle:
        return self.services.scheduler.call_later(period_ms / 1000.0, lambda: self._tick(root))

    def _tick(self, root: RootContext) -> None:
        root.timer = None
        if not self._alive() or root.tick_period_ms <= 0 or self._f_tick is None:
            return
        if self.contexts.get(root.context_id) is not root:
            return
        try:
            self._call1(self._f_tick, root)
        except PluginRuntimeError as exc:
            self._report_async_failure(exc)
            return
        if self._alive() and root.tick_period_ms > 0 and root.timer is None:
            root.timer = self._schedule_tick(root, root.tick_period_ms)

    def _post_queue_ready(self, root: RootContext, token: int) -> None:
        self.services.scheduler.call_soon(lambda: self._queue_ready(root, token))

    def _queue_ready(self, root: RootContext, token: int) -> None:
        if not self._alive() or self.contexts.get(root.context_id) is not root:
            return
        try:
            self._call2(self._f_queue_ready, root, token)
        except PluginRuntimeError as exc:
            self._report_async_failure(exc)

    def next_http_call_token(self) -> int:
        """Envoy's numbering: HTTP call tokens step by 4 from 4 (gRPC uses the other low bits)."""
        self._next_http_token = (self._next_http_token + 4) & 0xFFFFFFFF
        return self._next_http_token

    def _http_call_done(self, root: RootContext, token: int, response: HttpCallResponse | None) -> None:
        self.services.scheduler.call_soon(lambda: self._http_call_response(root, token, response))

    def _http_call_response(self, root: RootContext, token: int, response: HttpCallResponse | None) -> None:
        if not self._alive() or self.contexts.get(root.context_id) is not root:
            return
        f = self._f_http_call_response
        if f is None:
            return
        # A reset has no response at all: map 6/7 then answer BAD_ARGUMENT, buffer 4 NOT_FOUND (Envoy).
        self.http_response = CallResponse(response) if response is not None else None
        raw = f.raw
        raw[0] = root.context_id
        raw[4] = token
        if response is None:
            root.status = (11, b"reset")
            raw[8] = raw[12] = raw[16] = 0
        else:
            raw[8] = len(response.headers)
            raw[12] = len(response.body)
            raw[16] = len(response.trailers)
        try:
            self._invoke(f, root)
        except PluginRuntimeError as exc:
            self._report_async_failure(exc)
        finally:
            self.http_response = None

    def _foreign_callback(self, function_id: int, args: bytes) -> None:
        root = self.root
        if not self._alive() or root is None or self._f_foreign is None:
            return
        self.foreign_args = BodyBuffer(args, mutable=False)
        try:
            self._call3(self._f_foreign, root, function_id & 0xFFFFFFFF, len(args))
        except PluginRuntimeError as exc:
            self._report_async_failure(exc)
        finally:
            self.foreign_args = None

    def proxy_done(self, root: RootContext) -> bool:
        """proxy_done(): finish a pending root shutdown (after the current call returns)."""
        if not self._pending_done or root is not self.root:
            return False
        self.services.scheduler.call_soon(self._finish_pending_done)
        return True

    def _finish_pending_done(self) -> None:
        root = self.root
        if self._closed or root is None:
            return
        if self.failure is None:
            with contextlib.suppress(PluginRuntimeError):
                self._call1(self._f_delete, root)
        self._release()

    # ------------------------------------------------------------------------------------------
    # helpers for host calls
    # ------------------------------------------------------------------------------------------
    def _take_context_id(self) -> int:
        cid = self._next_context_id
        self._next_context_id += 1
        return cid

    def copy_out(self, data: bytes, ptr_ptr: int, size_ptr: int) -> int:
        """Return bytes to the guest: allocate, copy, write pointer and size (u32 each).
        Zero bytes → pointer 0 / size 0 and no allocation (Envoy; Go's allocator traps on 0)."""
        mem = self.mem
        if ptr_ptr + 4 > mem.size or size_ptr + 4 > mem.size:
            mem.check(ptr_ptr, 4)
            mem.check(size_ptr, 4)
        n = len(data)
        if n == 0:
            view = mem.view
            _pack_u32(view, ptr_ptr, 0)
            _pack_u32(view, size_ptr, 0)
            return 0
        # self.alloc(n), inlined: this is the path of every value a plugin reads.
        f = self._f_malloc
        raw = f.raw
        raw[0] = n
        if self._tracer is not None:
            self._tracer.guest_call(self.plugin_name, f.name, (n,))
        err = _call(*f.cargs)
        if err or self._trap2.value:
            self._nested_failure(f.name, err)
        p = raw[0]
        if p == 0:
            return 6  # INVALID_MEMORY_ACCESS: allocation failed
        if p + n > mem.size:  # the allocator may have grown memory
            mem.check(p, n)
        view = mem.view
        view[p : p + n] = data
        _pack_u32(view, ptr_ptr, p)
        _pack_u32(view, size_ptr, n)
        return 0

    def header_map(self, map_type: int) -> HeaderMap | None:
        """Map 0–3 from the effective stream, 6/7 from the http_call response being delivered."""
        if map_type <= 3:
            host = self.effective.host
            if host is None:
                return None
            return host.header_map(map_type)
        if map_type == 6 or map_type == 7:
            response = self.http_response
            if response is None:
                return None
            return response.headers if map_type == 6 else response.trailers
        return None

    def buffer(self, buffer_type: int) -> BodyBuffer | None:
        """Buffer 0–3 from the effective stream; 4 call response; 6/7 configuration; 8 foreign
        args. ``None`` → NOT_FOUND."""
        if buffer_type <= 3:
            host = self.effective.host
            if host is None:
                return None
            return host.buffer(buffer_type)
        if buffer_type == 4:
            response = self.http_response
            return response.body if response is not None else None
        if buffer_type == 6:
            return BodyBuffer(self.settings.vm_configuration, mutable=False)
        if buffer_type == 7:
            if not self.configuring:
                return None
            return BodyBuffer(self.settings.configuration, mutable=False)
        if buffer_type == 8:
            return self.foreign_args
        return None

    def define_metric(self, kind: int, name: str) -> int:
        """Envoy's ids: type in the low 2 bits, stepping by 4 per type (counter 4, gauge 5, …)."""
        stat = self.services.metrics.define(MetricType(kind), name)
        self._next_metric_ids[kind] += 4
        metric_id = self._next_metric_ids[kind]
        self.metric_ids[metric_id] = stat
        return metric_id

    # ------------------------------------------------------------------------------------------
    # release
    # ------------------------------------------------------------------------------------------
    def _forget_queues(self) -> None:
        queues = self.services.shared_queues
        for ctx in list(self.contexts.values()):
            if isinstance(ctx, RootContext):
                queues.forget_notifier(ctx.queue_notifier)

    def _release(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._dead = True
        for ctx in list(self.contexts.values()):
            if isinstance(ctx, RootContext):
                ctx.cancel_timer()
        self._forget_queues()
        self.contexts.clear()
        self.services.metrics.gauge(RUNTIME_ACTIVE).add(-1)
        self.mem.release()
        store = self._store
        self._store = None
        if store is not None:
            store.close()
        self._host_callbacks = []

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("failed" if self.failure else "running")
        return f"PluginVM({self.plugin_name!r}, abi={self.abi.value}, {state})"
