"""Turning the host-function table into wasmtime imports for one VM.

Each ``HostFunction`` a module imports becomes one unchecked ctypes callback *per VM*, a closure
over that VM: a host call reaches its shim without looking anything up (a per-thread "current VM"
slot cost about 550 instructions per crossing, ~4 % of a request). The FuncTypes are created once
per Engine (``CallbackFactory``, never shared across engines: gotcha §8.1); the Linker and its
InstancePre are built per VM (``ModuleArtifact.instance_pre``), which adds ~0.2 ms to a VM's
creation and nothing to a request.

A callback never lets a Python exception reach wasmtime: ``MemoryFault`` → the function's fault
status, ``GuestAbort`` → a trap, anything else → INTERNAL_FAILURE and a log line.

The tracing variant (used when ``HostServices.tracer`` is set) also reports every call with its
arguments, effective context id and result.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import wasmtime

from wasmplugin.errors import InvalidModule, PluginTrap
from wasmplugin.host import native
from wasmplugin.host.faults import GuestAbort, MemoryFault
from wasmplugin.host.functions import Args, HostFunction
from wasmplugin.host.hostcalls import INTERNAL_FAILURE, i64_at

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM

_VALTYPES = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64}


def _internal(vm: PluginVM, name: str, exc: Exception, a: Any) -> int:
    with contextlib.suppress(Exception):
        vm.internal_error(name, exc)
    a[0] = INTERNAL_FAILURE
    return 0


def _interrupted(vm: PluginVM, name: str, exc: BaseException) -> int:
    vm._pending_failure = (PluginTrap, f"host call {name} interrupted ({type(exc).__name__})")
    return native.new_trap(f"interrupted in {name}")


def _body(vm: PluginVM, fn: HostFunction, views: native.ArgsViews) -> Any:
    """The Python function behind a callback: run the shim, turn exceptions into statuses/traps."""
    shim = fn.shim
    fault = fn.fault_status
    name = fn.name
    known = views.get
    new_view = views.view

    if fn.results:

        def call(_env: int, _caller: int, address: int, _n: int) -> int:
            a: Args = known(address) or new_view(address)
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

        def call(_env: int, _caller: int, address: int, _n: int) -> int:
            a: Args = known(address) or new_view(address)
            try:
                shim(vm, a)
            except MemoryFault:
                pass
            except GuestAbort as abort:
                return native.new_trap(abort.message)
            except Exception as exc:
                vm.internal_error(name, exc)
            except BaseException as exc:
                return _interrupted(vm, name, exc)
            return 0

    return call


def _traced(vm: PluginVM, fn: HostFunction, views: native.ArgsViews) -> Any:
    inner = _body(vm, fn, views)
    kinds = fn.params
    name = fn.name
    has_result = bool(fn.results)

    def call(env: int, caller: int, address: int, n: int) -> int:
        a = views.get(address) or views.view(address)
        args = tuple(i64_at(a, k) if t == "i64" else a[4 * k] for k, t in enumerate(kinds))
        context_id = vm.effective.context_id
        trap: int = inner(env, caller, address, n)
        tracer = vm._tracer
        if tracer is not None:
            result = a[0] if has_result and not trap else 0
            try:
                tracer.host_call(vm.plugin_name, context_id, name, args, result)
            except Exception as exc:
                vm.internal_error(f"tracer ({name})", exc)
        return trap

    return call


def host_callback(vm: PluginVM, fn: HostFunction, traced: bool, views: native.ArgsViews) -> Any:
    """The ctypes callback for ``fn`` bound to ``vm`` (keep it referenced while the store lives);
    ``views``: the VM's cache of argument views."""
    # With a parameter or a result, wasmtime always passes a real args_and_results array.
    assert fn.params or fn.results, f"{fn.name}: a host function without parameters or results"
    return native.HOST_CALLBACK(_traced(vm, fn, views) if traced else _body(vm, fn, views))


class CallbackFactory:
    """FuncTypes for one Engine (never shared across engines: gotcha §8.1) and the definition of
    one VM's callbacks in a Linker of that engine."""

    def __init__(self) -> None:
        self._functypes: dict[tuple[tuple[str, ...], tuple[str, ...]], wasmtime.FuncType] = {}
        self._lock = threading.Lock()

    def functype(self, fn: HostFunction) -> wasmtime.FuncType:
        key = (fn.params, fn.results)
        with self._lock:
            ty = self._functypes.get(key)
            if ty is None:
                ty = wasmtime.FuncType(
                    [_VALTYPES[p]() for p in fn.params], [_VALTYPES[r]() for r in fn.results]
                )
                self._functypes[key] = ty
            return ty

    def imports(self, host_imports: list[tuple[str, HostFunction]]) -> list[Import]:
        """The native arguments of every definition, computed once per module."""
        out: list[Import] = []
        for module, fn in host_imports:
            mod = module.encode()
            name = fn.name.encode()
            out.append(Import(module, fn, mod, name, native.functype_ptr(self.functype(fn))))
        return out

    def define(self, linker: wasmtime.Linker, imports: list[Import], callback_for: Any) -> list[Any]:
        """Define every import in ``linker`` with ``callback_for(fn)``; returns the callbacks."""
        linker_ptr = native.linker_ptr(linker)
        define = native.linker_define_func_unchecked
        callbacks: dict[int, Any] = {}
        for imp in imports:
            fn = imp.fn
            cb = callbacks.get(id(fn))
            if cb is None:  # the same function under wasi_snapshot_preview1 and wasi_unstable
                cb = callbacks[id(fn)] = callback_for(fn)
            mod, name = imp.mod, imp.name
            err = define(linker_ptr, mod, len(mod), name, len(name), imp.functype, cb, None, None)
            if err:
                message = str(native.take_error(err))
                raise InvalidModule(f"cannot link {imp.module}.{fn.name}: {message}")
        return list(callbacks.values())


@dataclass(frozen=True, slots=True)
class Import:
    """One host import of a module, with the native arguments of its definition."""

    module: str
    fn: HostFunction
    mod: bytes
    name: bytes
    #: ``wasm_functype_t*`` of a FuncType kept alive by the CallbackFactory.
    functype: int
