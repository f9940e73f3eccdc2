"""Traps, deadlines and memory caps: the VM fails with a one-line typed error, the process lives
on, and a fresh VM from the same module works."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from wasmplugin.abi.enums import LogLevel, WasmResult
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.errors import (
    PluginDeadlineExceeded,
    PluginFailed,
    PluginMemoryExceeded,
    PluginRuntimeError,
    PluginStartError,
    PluginTrap,
)
from wasmplugin.host.api import HostServices
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.runtime import WasmRuntime
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import SimpleStreamHost, make_services
from wasmplugin.host.vm import PluginVM

from .conftest import wat_bytes

MakeVm = Callable[..., PluginVM]


@pytest.fixture
def module(strict_runtime: WasmRuntime):  # type: ignore[no-untyped-def]
    return strict_runtime.compile(wat_bytes("hostcalls_v021"), name="ns.bad")


def fresh(make_vm: MakeVm, module: object, strict_runtime: WasmRuntime) -> PluginVM:
    return make_vm(module, runtime_=strict_runtime, settings=PluginSettings(name="ns.bad"))


def assert_fresh_vm_works(make_vm: MakeVm, module: object, strict_runtime: WasmRuntime) -> None:
    vm = fresh(make_vm, module, strict_runtime)
    vm.call_export("set_action", 1)
    assert vm.create_stream(SimpleStreamHost()).on_request_headers(1, True) == 1


def test_trap_fails_the_vm_with_one_line(
    make_vm: MakeVm, module: object, strict_runtime: WasmRuntime, logs: CollectingLogSink
) -> None:
    vm = fresh(make_vm, module, strict_runtime)
    stream = vm.create_stream(SimpleStreamHost())
    vm.call_export("set_mode", 1)
    with pytest.raises(PluginTrap) as err:
        stream.on_request_headers(1, False)
    message = str(err.value)
    assert message == "plugin ns.bad: proxy_on_request_headers: unreachable (in misbehave)"
    assert err.value.plugin == "ns.bad" and err.value.callback == "proxy_on_request_headers"
    assert vm.failure is err.value
    assert logs.entries[-1].level == LogLevel.ERROR and logs.entries[-1].message == message
    with pytest.raises(PluginFailed, match="VM failed earlier"):
        stream.on_response_headers(1, True)
    with pytest.raises(PluginFailed):
        vm.create_stream(SimpleStreamHost())
    assert_fresh_vm_works(make_vm, module, strict_runtime)


def test_infinite_loop_is_stopped_at_the_deadline(
    make_vm: MakeVm, module: object, strict_runtime: WasmRuntime
) -> None:
    vm = fresh(make_vm, module, strict_runtime)
    stream = vm.create_stream(SimpleStreamHost())
    vm.call_export("set_mode", 2)
    started = time.monotonic()
    with pytest.raises(PluginDeadlineExceeded) as err:
        stream.on_request_body(10, True)
    elapsed = time.monotonic() - started
    assert str(err.value) == "plugin ns.bad: proxy_on_request_body: exceeded the 200 ms deadline"
    assert 0.15 <= elapsed < 2.0
    assert_fresh_vm_works(make_vm, module, strict_runtime)


def test_deadline_applies_to_each_call_not_the_vm_lifetime(
    make_vm: MakeVm, module: object, strict_runtime: WasmRuntime
) -> None:
    vm = fresh(make_vm, module, strict_runtime)
    stream = vm.create_stream(SimpleStreamHost())
    end = time.monotonic() + 0.5  # longer than the deadline in total, each call short
    n = 0
    while time.monotonic() < end:
        stream.on_request_headers(1, False)
        n += 1
    assert n > 10 and vm.failure is None


def test_unbounded_memory_growth_hits_the_cap(
    make_vm: MakeVm, module: object, strict_runtime: WasmRuntime
) -> None:
    vm = fresh(make_vm, module, strict_runtime)
    stream = vm.create_stream(SimpleStreamHost())
    vm.call_export("set_mode", 3)
    with pytest.raises(PluginMemoryExceeded) as err:
        stream.on_request_headers(1, True)
    assert str(err.value).startswith(
        "plugin ns.bad: proxy_on_request_headers: linear memory limit of 16 MiB exceeded"
    )
    assert "\n" not in str(err.value)
    assert vm.memory_size() <= 16 << 20
    assert_fresh_vm_works(make_vm, module, strict_runtime)


def test_deadline_during_start(make_vm: MakeVm, module: object, strict_runtime: WasmRuntime) -> None:
    vm = make_vm(module, runtime_=strict_runtime, settings=PluginSettings(name="ns.bad"), start=False)
    vm.call_export("set_mode", 2)
    with pytest.raises(PluginDeadlineExceeded, match="proxy_on_vm_start: exceeded the 200 ms deadline"):
        vm.start()


def test_loop_in_start_section_fails_instantiation(
    make_vm: MakeVm, strict_runtime: WasmRuntime, services: HostServices
) -> None:
    text = """(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_0"))
      (func (export "malloc") (param i32) (result i32) (i32.const 8))
      (func $spin (loop $l (br $l))) (start $spin))"""
    module = strict_runtime.compile(wat_bytes(text), name="ns.spin")
    with pytest.raises(
        PluginStartError,
        match=r"^plugin ns\.spin: instantiation failed: start function exceeded the 200 ms deadline$",
    ):
        PluginVM(strict_runtime, module, PluginSettings(name="ns.spin"), services)


def test_module_needing_more_memory_than_the_cap(strict_runtime: WasmRuntime, services: HostServices) -> None:
    text = """(module (memory (export "memory") 512) (func (export "proxy_abi_version_0_2_0"))
      (func (export "malloc") (param i32) (result i32) (i32.const 8)))"""
    module = strict_runtime.compile(wat_bytes(text), name="ns.big")
    with pytest.raises(PluginStartError) as err:
        PluginVM(strict_runtime, module, PluginSettings(name="ns.big"), services)
    assert str(err.value).startswith("plugin ns.big: instantiation failed:") and "\n" not in str(err.value)


def test_failure_in_on_tick_reaches_on_failure(
    make_vm: MakeVm, module: object, strict_runtime: WasmRuntime, scheduler: VirtualScheduler
) -> None:
    vm = fresh(make_vm, module, strict_runtime)
    failures: list[PluginRuntimeError] = []
    vm.on_failure = failures.append
    vm.call_export("call_proxy_set_tick_period_milliseconds", 50)
    scheduler.advance(0.05)
    assert vm.call_export("tick_count") == 1
    vm.call_export("set_mode", 1)
    scheduler.advance(0.05)
    assert len(failures) == 1 and isinstance(failures[0], PluginTrap)
    assert failures[0].callback == "proxy_on_tick"
    assert scheduler.pending_timers() == 0  # the failed VM's timer is gone
    scheduler.advance(1)
    assert len(failures) == 1


ALLOC_TRAPS = """
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) ":path")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) unreachable)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $get (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 100) (i32.const 104)))
    (i32.const 0)))
"""


def test_trap_in_the_allocator_inside_a_host_call(make_vm: MakeVm, strict_runtime: WasmRuntime) -> None:
    module = strict_runtime.compile(wat_bytes(ALLOC_TRAPS), name="ns.alloc")
    vm = make_vm(module, runtime_=strict_runtime)
    stream = vm.create_stream(SimpleStreamHost(request_headers=HeaderMap([(":path", "/")])))
    with pytest.raises(PluginTrap) as err:
        stream.on_request_headers(1, True)
    assert (
        str(err.value) == "plugin ns.alloc: proxy_on_request_headers: proxy_on_memory_allocate: unreachable"
    )


class ExplodingHost(SimpleStreamHost):
    def header_map(self, map_type: int) -> HeaderMap | None:
        raise RuntimeError("bug in the embedder")


def test_python_exception_in_a_host_call_never_reaches_wasmtime(
    make_vm: MakeVm, module: object, strict_runtime: WasmRuntime, logs: CollectingLogSink
) -> None:
    vm = fresh(make_vm, module, strict_runtime)
    stream = vm.create_stream(ExplodingHost())
    status = vm.call_export("call_proxy_get_header_map_pairs", 0, 0x100, 0x104, context_id=stream.context_id)
    assert status == WasmResult.INTERNAL_FAILURE
    assert logs.entries[-1].level == LogLevel.CRITICAL
    assert (
        "host error in proxy_get_header_map_pairs: RuntimeError: bug in the embedder"
        in logs.entries[-1].message
    )
    assert vm.failure is None


def test_vms_in_two_threads_keep_their_own_host_calls(runtime: WasmRuntime) -> None:
    module = runtime.compile(wat_bytes("header_adder"), name="ns.threads")
    errors: list[BaseException] = []
    results: dict[int, list[int]] = {}

    def worker(k: int) -> None:
        try:
            vm = PluginVM(runtime, module, PluginSettings(name=f"t{k}"), make_services())
            vm.start()
            counts = []
            for _ in range(300):
                host = SimpleStreamHost()
                s = vm.create_stream(host)
                s.on_request_headers(0, True)
                assert host.request_headers is not None
                counts.append(len(host.request_headers.get_all("x-wat")))
            results[k] = counts
            vm.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert all(counts == [1] * 300 for counts in results.values()) and len(results) == 3


def test_closing_the_runtime_stops_its_ticker() -> None:
    rt = WasmRuntime()
    assert rt._ticker._thread.is_alive()
    rt.close()
    assert not rt._ticker._thread.is_alive()
    with pytest.raises(RuntimeError):
        rt.compile(wat_bytes("header_adder"), name="x")
