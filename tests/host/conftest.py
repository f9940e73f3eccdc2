"""Fixtures for the host tests: a runtime, WAT fixtures compiled at test time, VMs with services
on a virtual scheduler, and a recording tracer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import wasmtime

from wasmplugin.host.api import HostServices
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.module import CompiledModule
from wasmplugin.host.runtime import WasmRuntime
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import make_services
from wasmplugin.host.vm import PluginVM
from wasmplugin.limits import DEFAULT_LIMITS

WAT_DIR = Path(__file__).parent / "wat"
REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"


def wat_bytes(name_or_text: str) -> bytes:
    """Compile ``tests/host/wat/<name>.wat`` (or inline WAT text) to a binary module."""
    if "(module" in name_or_text:
        return wasmtime.wat2wasm(name_or_text)
    return wasmtime.wat2wasm((WAT_DIR / f"{name_or_text}.wat").read_text())


@dataclass
class RecordingTracer:
    host_calls: list[tuple[str, int, str, tuple[int, ...], int]] = field(default_factory=list)
    guest_calls: list[tuple[str, str, tuple[int, ...]]] = field(default_factory=list)

    def host_call(self, plugin: str, context_id: int, name: str, args: tuple[int, ...], result: int) -> None:
        self.host_calls.append((plugin, context_id, name, args, result))

    def guest_call(self, plugin: str, name: str, args: tuple[int, ...]) -> None:
        self.guest_calls.append((plugin, name, args))

    def names(self) -> list[str]:
        return [c[2] for c in self.host_calls]

    def callbacks(self) -> list[str]:
        return [c[1] for c in self.guest_calls]


@pytest.fixture(scope="session")
def runtime() -> Iterator[WasmRuntime]:
    rt = WasmRuntime()
    yield rt
    rt.close()


@pytest.fixture
def scheduler() -> VirtualScheduler:
    return VirtualScheduler()


@pytest.fixture
def services(scheduler: VirtualScheduler) -> HostServices:
    return make_services(scheduler=scheduler, clock=scheduler.clock)


@pytest.fixture
def logs(services: HostServices) -> CollectingLogSink:
    assert isinstance(services.log, CollectingLogSink)
    return services.log


@pytest.fixture
def compile_wat(runtime: WasmRuntime) -> Callable[..., CompiledModule]:
    def compile_(name_or_text: str, plugin: str = "test.plugin") -> CompiledModule:
        return runtime.compile(wat_bytes(name_or_text), name=plugin)

    return compile_


@pytest.fixture
def make_vm(runtime: WasmRuntime, services: HostServices) -> Iterator[Callable[..., PluginVM]]:
    vms: list[PluginVM] = []

    def make(
        module: CompiledModule,
        *,
        settings: PluginSettings | None = None,
        services_: HostServices | None = None,
        runtime_: WasmRuntime | None = None,
        start: bool = True,
    ) -> PluginVM:
        vm = PluginVM(
            runtime_ or runtime,
            module,
            settings or PluginSettings(name=module.name, root_id="root", vm_id="vm"),
            services_ or services,
        )
        vms.append(vm)
        if start:
            vm.start()
        return vm

    yield make
    for vm in vms:
        vm.close()


@pytest.fixture
def strict_runtime() -> Iterator[WasmRuntime]:
    """A runtime with a 200 ms deadline and a 16 MiB memory cap, for the safety tests."""
    rt = WasmRuntime(DEFAULT_LIMITS.with_overrides(callback_deadline_ms=200, vm_memory_bytes=16 << 20))
    yield rt
    rt.close()


class Guest:
    """Drive the hostcalls_v021 fixture: place bytes in its scratch memory, call ``call_<host
    function>`` wrappers on a chosen context, read results back."""

    SCRATCH = 0x400
    SCRATCH_END = 0x2F00

    def __init__(self, vm: PluginVM, context_id: int | None = None) -> None:
        self.vm = vm
        self.context_id = context_id
        self._next = self.SCRATCH

    def put(self, data: bytes | str) -> tuple[int, int]:
        raw = data.encode() if isinstance(data, str) else data
        ptr = self._next
        self._next = (ptr + len(raw) + 8) & ~7
        assert self._next < self.SCRATCH_END, "scratch full"
        self.vm.mem.write(ptr, raw)
        return ptr, len(raw)

    def slots(self, n: int = 2) -> list[int]:
        """``n`` zeroed u32 out-slots."""
        ptrs = []
        for _ in range(n):
            ptr, _ = self.put(b"\xee\xee\xee\xee")
            ptrs.append(ptr)
        return ptrs

    def call(self, name: str, *args: int, context_id: int | None = None) -> int:
        ctx = context_id if context_id is not None else self.context_id
        result = self.vm.call_export(f"call_{name}", *args, context_id=ctx)
        assert result is not None
        return result

    def u32(self, ptr: int) -> int:
        return self.vm.mem.get_u32(ptr)

    def u64(self, ptr: int) -> int:
        return int.from_bytes(self.vm.mem.read(ptr, 8), "little")

    def returned(self, pp: int, sp: int) -> bytes:
        """The bytes a host call returned through (ptr_ptr, size_ptr)."""
        return self.vm.mem.read(self.u32(pp), self.u32(sp))

    def malloc_count(self) -> int:
        n = self.vm.call_export("malloc_count")
        assert n is not None
        return n
