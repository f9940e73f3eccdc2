"""The few wasmtime C-API entry points the hot path uses, called through ctypes directly.

wasmtime-py's public API costs 13–60 µs per crossing; these cost about 1–2 µs (measurements in
``docs/performance.md``). Each entry point is a *fresh* ctypes function object taken from the
library with our own ``argtypes`` (plain ``c_void_p`` addresses, which convert fastest), so
wasmtime-py's own objects are never modified. ``wasmtime==50.0.1`` is pinned because
``wasmtime._bindings`` is private.

Ownership rules (wasmtime-from-python §8): FuncTypes and callbacks are created per Engine and kept
referenced by their owner for as long as native code may use them.
"""

from __future__ import annotations

import ctypes
from ctypes import CFUNCTYPE, POINTER, c_char_p, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p
from typing import Any

import wasmtime
from wasmtime import _bindings as _b

_dll = _b.dll  # type: ignore[attr-defined]


def _entry(name: str, restype: Any, argtypes: list[Any] | None) -> Any:
    fn = _dll[name]  # __getitem__ returns a new function object (not the cached attribute)
    fn.restype = restype
    if argtypes is not None:
        fn.argtypes = argtypes
    return fn


#: ``size_t cb(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args_and_results, size_t n)``.
#: ``args_and_results`` arrives as an address (see ``ArgsViews``); its slots are read as u32 words:
#: the i32 in slot ``k`` is word ``4k`` (a val_raw is 16 bytes), an i64 is words ``4k`` and
#: ``4k+1``. The callback returns 0, or a ``wasm_trap_t*`` to trap.
HOST_CALLBACK = CFUNCTYPE(c_size_t, c_void_p, c_void_p, c_void_p, c_size_t)

#: Words a view of ``args_and_results`` spans: 16 slots, more than any import's parameters (12).
ARGS_VIEW_WORDS = 64


class ArgsViews(dict[int, memoryview]):
    """u32 memoryviews of wasmtime's ``args_and_results`` arrays, by address.

    wasmtime hands every host call a pointer into its own stack, so the same few addresses come
    back call after call: a view built once per address is cheaper than the pointer object ctypes
    would build per call, and indexes faster. A view is only read while its address is the
    current call's array, and only within that call's own slots. Up to ``max_entries`` distinct
    addresses (guest stack depths, threads; ``Limits.args_views_entries``), then it starts over."""

    __slots__ = ("max_entries",)

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = max_entries

    def view(self, address: int) -> memoryview:
        if len(self) >= self.max_entries:
            self.clear()
        words = (c_uint32 * ARGS_VIEW_WORDS).from_address(address)
        view = self[address] = memoryview(words).cast("B").cast("I")
        return view


#: ``wasmtime_error_t* cb(wasmtime_context_t*, void *data, uint64_t *delta, uint8_t *kind)``.
EPOCH_CALLBACK = CFUNCTYPE(c_size_t, c_void_p, c_void_p, POINTER(c_uint64), POINTER(c_uint8))

func_call_unchecked = _entry(
    "wasmtime_func_call_unchecked", c_void_p, [c_void_p, c_void_p, c_void_p, c_size_t, c_void_p]
)
#: The same entry point with no argtypes: called with prebuilt argument objects (``GuestFunc.cargs``,
#: see ``word_arg``), which skips per-call argument conversion.
func_call_prebuilt = _entry("wasmtime_func_call_unchecked", c_void_p, None)
linker_define_func_unchecked = _entry(
    "wasmtime_linker_define_func_unchecked",
    c_void_p,
    [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_void_p, HOST_CALLBACK, c_void_p, c_void_p],
)
store_epoch_deadline_callback = _entry(
    "wasmtime_store_epoch_deadline_callback", None, [c_void_p, EPOCH_CALLBACK, c_void_p, c_void_p]
)
context_set_epoch_deadline = _entry("wasmtime_context_set_epoch_deadline", None, [c_void_p, c_uint64])
memory_data = _entry("wasmtime_memory_data", c_void_p, [c_void_p, c_void_p])
memory_data_size = _entry("wasmtime_memory_data_size", c_size_t, [c_void_p, c_void_p])
trap_new = _entry("wasmtime_trap_new", c_void_p, [c_char_p, c_size_t])
error_new = _entry("wasmtime_error_new", c_void_p, [c_char_p])


def word_arg(value: int) -> Any:
    """A prebuilt argument passing ``value`` to C as a 64-bit word (a pointer or a size_t).

    ``byref`` of a one-byte object placed at address ``value`` (nothing is read or written
    there): ctypes hands such an argument object to libffi as it is, with no conversion and no
    temporary object per call (~700 instructions less per guest call than a pointer object)."""
    return ctypes.byref(ctypes.c_char.from_address(value))


def new_trap(message: str) -> int:
    """A new ``wasm_trap_t*`` for a host callback to return (wasmtime takes ownership)."""
    data = message.encode("utf-8", "replace")
    return int(trap_new(data, len(data)))


def new_error(message: str) -> int:
    """A new ``wasmtime_error_t*`` (returned by the epoch callback to stop the guest)."""
    return int(error_new(message.encode("utf-8", "replace")))


def address(obj: Any) -> int:
    """Address of a ctypes object or of the native object behind a wasmtime-py wrapper pointer."""
    if isinstance(obj, ctypes._Pointer):
        return int(ctypes.cast(obj, c_void_p).value or 0)
    return ctypes.addressof(obj)


def take_trap(ptr: int) -> wasmtime.Trap:
    """Adopt a ``wasm_trap_t*`` returned by a call; the Trap object frees it."""
    return wasmtime.Trap._from_ptr(ctypes.cast(ptr, POINTER(_b.wasm_trap_t)))


def take_error(ptr: int) -> wasmtime.WasmtimeError:
    """Adopt a ``wasmtime_error_t*`` returned by a call; the error object frees it."""
    return wasmtime.WasmtimeError._from_ptr(ctypes.cast(ptr, POINTER(_b.wasmtime_error_t)))


def context_of(store: wasmtime.Store) -> int:
    return address(store._context())


def store_ptr(store: wasmtime.Store) -> int:
    return address(store.ptr())


def linker_ptr(linker: wasmtime.Linker) -> int:
    return address(linker.ptr())


def functype_ptr(ty: wasmtime.FuncType) -> int:
    return address(ty.ptr())


def func_address(func: wasmtime.Func) -> int:
    """Address of the ``wasmtime_func_t`` inside a wasmtime-py Func (kept alive by the Func)."""
    return ctypes.addressof(func._func)


def memory_address(memory: wasmtime.Memory) -> tuple[int, Any]:
    """Address of the ``wasmtime_memory_t`` and the ctypes struct owning it."""
    raw = memory._memory
    return ctypes.addressof(raw), raw
