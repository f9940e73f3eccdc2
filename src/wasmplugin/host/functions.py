"""``HostFunction``: one import the host offers, with its exact wasm type and ABI-version gate.

The full table is assembled in ``host/hostcalls/table.py``; linking (``host/linking.py``) turns
each entry into a wasmtime callback and module loading (``host/module.py``) audits imports
against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wasmplugin.abi.enums import AbiVersion, WasiErrno, WasmResult

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM

#: Arguments as the callback sees them: a u32 memoryview over wasmtime's val_raw slots.
#: i32 parameter ``k`` is ``a[4 * k]``; an i64 is ``a[4 * k] | a[4 * k + 1] << 32``; the result
#: goes to ``a[0]``.
Args = Any

#: A shim: reads its arguments, does the work, returns the i32 status (``None`` for void imports).
Shim = Callable[["PluginVM", Args], "int | None"]

ALL_VERSIONS = frozenset(AbiVersion)
V010 = frozenset({AbiVersion.V0_1_0})
V02X = frozenset({AbiVersion.V0_2_0, AbiVersion.V0_2_1})
V021 = frozenset({AbiVersion.V0_2_1})

ENV = "env"
WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")


@dataclass(frozen=True)
class HostFunction:
    name: str
    params: tuple[str, ...]
    results: tuple[str, ...]
    shim: Shim
    #: ABI versions for which Envoy registers this import (WASI: all).
    versions: frozenset[AbiVersion] = ALL_VERSIONS
    #: False when the shim only answers a fixed "not supported" status (documented stubs).
    implemented: bool = True
    #: Status returned when a pointer argument is out of bounds.
    fault_status: int = int(WasmResult.INVALID_MEMORY_ACCESS)

    @property
    def signature(self) -> str:
        return format_signature(self.params, self.results)


def i32s(n: int) -> tuple[str, ...]:
    return ("i32",) * n


def wasi_fault() -> int:
    return int(WasiErrno.FAULT)


def format_signature(params: tuple[str, ...] | list[str], results: tuple[str, ...] | list[str]) -> str:
    res = ", ".join(results) if results else "()"
    if len(results) > 1:
        res = f"({res})"
    return f"({', '.join(params)}) -> {res}"
