"""Module loading: ABI detection, import audit, export checks, and ``CompiledModule``.

Envoy's rules: the ABI is the first ``proxy_abi_version_*`` function export it knows (none →
refused); every import must be something the host registers *for that ABI version*, with the
exact type; the module must export ``memory`` and an allocator (``malloc`` first, then
``proxy_on_memory_allocate``). Known callbacks are type-checked as Envoy does when it looks them
up. Everything here runs once per module; the public wasmtime API is fine at load time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import wasmtime

from wasmplugin.abi.enums import ABI_MARKERS, AbiVersion
from wasmplugin.errors import InvalidModule, MissingImport, UnknownAbiVersion
from wasmplugin.host.functions import HostFunction, format_signature
from wasmplugin.host.hostcalls.table import lookup
from wasmplugin.host.traps import first_line

if TYPE_CHECKING:
    from wasmplugin.host.linking import CallbackFactory

Signature = tuple[tuple[str, ...], tuple[str, ...]]

_I = "i32"
_CB2: Signature = ((_I, _I), ())
_ACTION2: Signature = ((_I, _I), (_I,))
_ACTION3: Signature = ((_I, _I, _I), (_I,))

#: Callback exports and the type Envoy expects (0.1.0 differs only for the header callbacks).
CALLBACK_TYPES: dict[str, Signature] = {
    "proxy_on_context_create": _CB2,
    "proxy_on_vm_start": _ACTION2,
    "proxy_validate_configuration": _ACTION2,
    "proxy_on_configure": _ACTION2,
    "proxy_on_tick": ((_I,), ()),
    "proxy_on_queue_ready": _CB2,
    "proxy_on_foreign_function": ((_I, _I, _I), ()),
    "proxy_on_new_connection": ((_I,), (_I,)),
    "proxy_on_downstream_data": _ACTION3,
    "proxy_on_upstream_data": _ACTION3,
    "proxy_on_downstream_connection_close": _CB2,
    "proxy_on_upstream_connection_close": _CB2,
    "proxy_on_request_headers": _ACTION3,
    "proxy_on_request_body": _ACTION3,
    "proxy_on_request_trailers": _ACTION2,
    "proxy_on_request_metadata": _ACTION2,
    "proxy_on_response_headers": _ACTION3,
    "proxy_on_response_body": _ACTION3,
    "proxy_on_response_trailers": _ACTION2,
    "proxy_on_response_metadata": _ACTION2,
    "proxy_on_http_call_response": ((_I,) * 5, ()),
    "proxy_on_grpc_receive_initial_metadata": ((_I, _I, _I), ()),
    "proxy_on_grpc_receive": ((_I, _I, _I), ()),
    "proxy_on_grpc_receive_trailing_metadata": ((_I, _I, _I), ()),
    "proxy_on_grpc_close": ((_I, _I, _I), ()),
    "proxy_on_done": ((_I,), (_I,)),
    "proxy_on_log": ((_I,), ()),
    "proxy_on_delete": ((_I,), ()),
    "_initialize": ((), ()),
    "_start": ((), ()),
}
_V010_HEADERS = {"proxy_on_request_headers": _ACTION2, "proxy_on_response_headers": _ACTION2}
_ALLOCATORS = ("malloc", "proxy_on_memory_allocate")
_ALLOCATOR_TYPE: Signature = ((_I,), (_I,))


@dataclass(frozen=True)
class ImportInfo:
    module: str
    name: str
    kind: str  # func, memory, table, global
    signature: str
    #: The host offers this import for the module's ABI version, with this exact type.
    supported: bool
    #: Supported and really implemented (False: a documented stub answering a fixed status).
    implemented: bool
    #: Why an unsupported import is refused (empty when supported).
    problem: str = ""


@dataclass(frozen=True)
class ExportInfo:
    name: str
    kind: str
    signature: str


@dataclass(frozen=True)
class MemoryInfo:
    min_pages: int
    max_pages: int | None
    exported: bool
    imported: bool = False


@dataclass(frozen=True)
class ModuleDescription:
    """What ``inspect`` shows: everything known about a module, including why it cannot run."""

    name: str
    sha256: str
    size: int
    abi_version: AbiVersion | None
    imports: list[ImportInfo]
    exports: list[ExportInfo]
    memory: MemoryInfo | None
    problems: list[str] = field(default_factory=list)


class CompiledModule:
    """A validated, compiled module, ready to instantiate (linker + InstancePre built lazily)."""

    def __init__(self, name: str, artifact: ModuleArtifact) -> None:
        self.name = name
        self._artifact = artifact
        d = artifact.description
        self.sha256 = d.sha256
        self.size = d.size
        assert d.abi_version is not None
        self.abi_version: AbiVersion = d.abi_version
        self.imports = d.imports
        self.exports = d.exports
        self.memory = d.memory
        self._func_signatures = artifact.func_signatures

    def _instance_pre(
        self, callback_for: Callable[[HostFunction], Any]
    ) -> tuple[wasmtime.InstancePre, list[Any]]:
        return self._artifact.instance_pre(callback_for)

    def __repr__(self) -> str:
        return f"CompiledModule({self.name!r}, abi={self.abi_version.value}, sha256={self.sha256[:12]}…)"


class ModuleArtifact:
    """The compiled wasmtime Module and its analysis, shared by every CompiledModule with the
    same bytes in one runtime."""

    def __init__(
        self,
        module: wasmtime.Module,
        description: ModuleDescription,
        func_signatures: dict[str, Signature],
        host_imports: list[tuple[str, HostFunction]],
        factory: CallbackFactory,
        engine: wasmtime.Engine,
    ) -> None:
        self.module = module
        self._engine = engine
        self.description = description
        self.func_signatures = func_signatures
        self._factory = factory
        self._imports = factory.imports(host_imports)

    def instance_pre(
        self, callback_for: Callable[[HostFunction], Any]
    ) -> tuple[wasmtime.InstancePre, list[Any]]:
        """A Linker defining every import with ``callback_for(fn)`` (one VM's callbacks), ready to
        instantiate; and the callbacks, which must stay referenced while the VM's store lives."""
        linker = wasmtime.Linker(self._engine)
        callbacks = self._factory.define(linker, self._imports, callback_for)
        try:
            pre = linker.instantiate_pre(self.module)
        except wasmtime.WasmtimeError as exc:
            raise InvalidModule(first_line(str(exc))) from None
        return pre, callbacks


# --------------------------------------------------------------------------------------------
# analysis
# --------------------------------------------------------------------------------------------
def sha256_of(wasm: bytes) -> str:
    return hashlib.sha256(wasm).hexdigest()


def check_binary(wasm: bytes, max_bytes: int) -> None:
    if len(wasm) > max_bytes:
        raise InvalidModule(f"module is {len(wasm)} bytes, over the {max_bytes}-byte limit")
    if not wasm.startswith(b"\0asm"):
        raise InvalidModule("not a WebAssembly binary (no \\0asm magic)")


def compile_module(engine: wasmtime.Engine, wasm: bytes) -> wasmtime.Module:
    try:
        return wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as exc:
        raise InvalidModule(f"invalid WebAssembly module: {first_line(str(exc))}") from None


def _func_sig(ty: wasmtime.FuncType) -> Signature:
    return tuple(str(p) for p in ty.params), tuple(str(r) for r in ty.results)


def _kind_and_signature(ty: object) -> tuple[str, str]:
    if isinstance(ty, wasmtime.FuncType):
        params, results = _func_sig(ty)
        return "func", format_signature(params, results)
    if isinstance(ty, wasmtime.MemoryType):
        lim = ty.limits
        return "memory", f"pages {lim.min}..{'' if lim.max is None else lim.max}"
    if isinstance(ty, wasmtime.TableType):
        lim = ty.limits
        return "table", f"{ty.element} {lim.min}..{'' if lim.max is None else lim.max}"
    if isinstance(ty, wasmtime.GlobalType):
        return "global", f"{'mut ' if ty.mutable else ''}{ty.content}"
    return "unknown", ""


def detect_abi(module: wasmtime.Module) -> AbiVersion | None:
    """First known ``proxy_abi_version_*`` *function* export, in export order (Envoy)."""
    for export in module.exports:
        version = ABI_MARKERS.get(export.name)
        if version is not None and isinstance(export.type, wasmtime.FuncType):
            return version
    return None


def describe(
    module: wasmtime.Module, name: str, sha256: str, size: int
) -> tuple[ModuleDescription, dict[str, Signature], list[tuple[str, HostFunction]]]:
    """Everything about ``module``; ``problems`` lists why it cannot run (empty when it can)."""
    problems: list[str] = []
    abi = detect_abi(module)
    exports: list[ExportInfo] = []
    func_sigs: dict[str, Signature] = {}
    memory: MemoryInfo | None = None
    for export in module.exports:
        kind, sig = _kind_and_signature(export.type)
        exports.append(ExportInfo(export.name, kind, sig))
        if isinstance(export.type, wasmtime.FuncType):
            func_sigs[export.name] = _func_sig(export.type)
        elif isinstance(export.type, wasmtime.MemoryType) and export.name == "memory":
            lim = export.type.limits
            memory = MemoryInfo(lim.min, lim.max, exported=True)

    if abi is None:
        unknown = [e.name for e in exports if e.name.startswith("proxy_abi_version_")]
        detail = f" (found {', '.join(unknown)})" if unknown else ""
        problems.append(
            f"missing or unknown Proxy-Wasm ABI version: no proxy_abi_version_0_1_0, "
            f"_0_2_0 or _0_2_1 function export{detail}"
        )

    imports: list[ImportInfo] = []
    host_imports: list[tuple[str, HostFunction]] = []
    for imp in module.imports:
        kind, sig = _kind_and_signature(imp.type)
        imp_name = imp.name or ""
        fn = lookup(imp.module, imp_name) if kind == "func" else None
        problem = ""
        if kind == "memory" and memory is None:
            lim = imp.type.limits  # type: ignore[union-attr]
            memory = MemoryInfo(lim.min, lim.max, exported=False, imported=True)
        if fn is None:
            problem = "not provided by this host"
        elif abi is not None and abi not in fn.versions:
            offered = ", ".join(sorted(v.value for v in fn.versions))
            problem = f"offered only to ABI {offered} modules (this module declares {abi.value})"
        elif isinstance(imp.type, wasmtime.FuncType) and _func_sig(imp.type) != (fn.params, fn.results):
            problem = f"type mismatch: the host's is {fn.signature}"
        supported = not problem
        imports.append(
            ImportInfo(
                imp.module,
                imp_name,
                kind,
                sig,
                supported,
                supported and fn is not None and fn.implemented,
                problem,
            )
        )
        if supported and fn is not None and (imp.module, fn) not in host_imports:
            host_imports.append((imp.module, fn))  # Go imports fd_write twice: define it once

    missing = [i for i in imports if not i.supported]
    for i in missing:
        problems.append(f"imports {i.module}.{i.name} ({i.kind} {i.signature}): {i.problem}")

    if memory is None or not memory.exported:
        problems.append('does not export its linear memory as "memory"')
    allocator = next((a for a in _ALLOCATORS if a in func_sigs), None)
    if allocator is None:
        problems.append(
            "exports neither malloc nor proxy_on_memory_allocate (the host needs an allocator to return data)"
        )
    elif func_sigs[allocator] != _ALLOCATOR_TYPE:
        problems.append(
            f"export {allocator} has type {format_signature(*func_sigs[allocator])}, "
            f"expected {format_signature(*_ALLOCATOR_TYPE)}"
        )
    expected_types = dict(CALLBACK_TYPES)
    if abi is AbiVersion.V0_1_0:
        expected_types.update(_V010_HEADERS)
    for export_name, expected in expected_types.items():
        actual = func_sigs.get(export_name)
        if actual is not None and actual != expected:
            problems.append(
                f"export {export_name} has type {format_signature(*actual)}, "
                f"expected {format_signature(*expected)}"
            )

    description = ModuleDescription(name, sha256, size, abi, imports, exports, memory, problems)
    return description, func_sigs, host_imports


def raise_for_problems(description: ModuleDescription) -> None:
    """Raise the typed error for the first blocking problem (ABI, then imports, then exports)."""
    name = description.name
    if description.abi_version is None:
        raise UnknownAbiVersion(description.problems[0], plugin=name)
    missing = [i for i in description.imports if not i.supported]
    if missing:
        first = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MissingImport(
            f"imports {first.module}.{first.name} ({first.kind} {first.signature}), {first.problem}{more}",
            plugin=name,
        )
    if description.problems:
        raise InvalidModule(description.problems[0], plugin=name)
