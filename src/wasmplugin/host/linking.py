"""Turning the host-function table into wasmtime imports.

Each ``HostFunction`` becomes one unchecked ctypes callback per runtime (per Engine), shared by
every module and VM: the callback finds its VM in the runtime's per-thread "current VM" slot,
which ``PluginVM`` sets around every guest call. A callback never lets a Python exception reach
wasmtime: ``MemoryFault`` → the function's fault status, ``GuestAbort`` → a trap, anything else →
INTERNAL_FAILURE and a log line.

The tracing variant (used when ``HostServices.tracer`` is set) also reports every call with its
arguments, effective context id and result.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import wasmtime

from wasmplugin.errors import InvalidModule, PluginTrap
from wasmplugin.host import native
from wasmplugin.host.faults import GuestAbort, MemoryFault
from wasmplugin.host.functions import HostFunction
from wasmplugin.host.hostcalls import INTERNAL_FAILURE, i64_at

_VALTYPES = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64}


class CallState(threading.local):
    """Per-thread slot holding the VM whose guest code is running on this thread."""

    vm: Any = None


def _internal(vm: Any, name: str, exc: Exception, a: Any) -> int:
    if vm is None:
        return native.new_trap(f"host call {name} outside a plugin call")
    with contextlib.suppress(Exception):
        vm.internal_error(name, exc)
    a[0] = INTERNAL_FAILURE
    return 0


def _interrupted(vm: Any, name: str, exc: BaseException) -> int:
    if vm is not None:
        vm._pending_failure = (PluginTrap, f"host call {name} interrupted ({type(exc).__name__})")
    return native.new_trap(f"interrupted in {name}")


def _body(state: CallState, fn: HostFunction) -> Any:
    """The Python function behind a callback: run the shim, turn exceptions into statuses/traps."""
    shim = fn.shim
    fault = fn.fault_status
    name = fn.name

    if fn.results:

        def call(_env: int, _caller: int, a: Any, _n: int) -> int:
            vm = state.vm
            try:
                a[0] = shim(vm, a)
            except MemoryFault:
                a[0] = fault
            except GuestAbort as abort:
                return native.new_trap(abort.message)
            except Exception as exc:
                return _internal(vm, name, exc, a)
            except BaseException as exc:
                return _interrupted(vm, name, exc)
            return 0

    else:

        def call(_env: int, _caller: int, a: Any, _n: int) -> int:
            vm = state.vm
            try:
                shim(vm, a)
            except MemoryFault:
                pass
            except GuestAbort as abort:
                return native.new_trap(abort.message)
            except Exception as exc:
                if vm is not None:
                    vm.internal_error(name, exc)
            except BaseException as exc:
                return _interrupted(vm, name, exc)
            return 0

    return call


def _fast(state: CallState, fn: HostFunction) -> Any:
    return native.HOST_CALLBACK(_body(state, fn))


def _traced(state: CallState, fn: HostFunction) -> Any:
    inner = _body(state, fn)
    kinds = fn.params
    name = fn.name
    has_result = bool(fn.results)

    def call(env: int, caller: int, a: Any, n: int) -> int:
        vm = state.vm
        if vm is None:
            return native.new_trap(f"host call {name} outside a plugin call")
        args = tuple(i64_at(a, k) if t == "i64" else a[4 * k] for k, t in enumerate(kinds))
        context_id = vm.effective.context_id
        trap: int = inner(env, caller, a, n)
        if vm._tracer is not None:
            result = a[0] if has_result and not trap else 0
            try:
                vm._tracer.host_call(vm.plugin_name, context_id, name, args, result)
            except Exception as exc:
                vm.internal_error(f"tracer ({name})", exc)
        return trap

    return native.HOST_CALLBACK(call)


class CallbackFactory:
    """FuncTypes and callbacks for one Engine (never shared across engines: gotcha §8.1)."""

    def __init__(self, state: CallState) -> None:
        self._state = state
        self._functypes: dict[tuple[tuple[str, ...], tuple[str, ...]], wasmtime.FuncType] = {}
        self._callbacks: dict[tuple[int, bool], Any] = {}
        self._lock = threading.Lock()

    def functype(self, fn: HostFunction) -> wasmtime.FuncType:
        key = (fn.params, fn.results)
        ty = self._functypes.get(key)
        if ty is None:
            ty = wasmtime.FuncType([_VALTYPES[p]() for p in fn.params], [_VALTYPES[r]() for r in fn.results])
            self._functypes[key] = ty
        return ty

    def callback(self, fn: HostFunction, traced: bool) -> Any:
        key = (id(fn), traced)
        with self._lock:
            cb = self._callbacks.get(key)
            if cb is None:
                cb = _traced(self._state, fn) if traced else _fast(self._state, fn)
                self._callbacks[key] = cb
            return cb

    def define(self, linker: wasmtime.Linker, module: str, fn: HostFunction, traced: bool) -> None:
        ty = self.functype(fn)
        cb = self.callback(fn, traced)
        mod = module.encode()
        name = fn.name.encode()
        err = native.linker_define_func_unchecked(
            native.linker_ptr(linker),
            mod,
            len(mod),
            name,
            len(name),
            native.functype_ptr(ty),
            cb,
            None,
            None,
        )
        if err:
            message = str(native.take_error(err))
            raise InvalidModule(f"cannot link {module}.{fn.name}: {message}")
