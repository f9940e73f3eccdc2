"""Lifecycle in Envoy's order: start functions, root context, streams, shutdown."""

# ruff: noqa: E501  (inline WAT keeps one function per line)

from __future__ import annotations

from collections.abc import Callable

import pytest

from wasmplugin.errors import PluginFailed, PluginStartError, PluginTrap
from wasmplugin.host.module import CompiledModule
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import SimpleStreamHost, make_services
from wasmplugin.host.vm import PluginVM

from .conftest import RecordingTracer

MakeVm = Callable[..., PluginVM]
CompileWat = Callable[..., CompiledModule]


def traced(make_vm: MakeVm, module: CompiledModule, **kw: object) -> tuple[PluginVM, RecordingTracer]:
    tracer = RecordingTracer()
    vm = make_vm(module, services_=make_services(tracer=tracer), **kw)
    return vm, tracer


def test_start_and_stream_order_match_envoy(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    vm, tracer = traced(
        make_vm,
        compile_wat("hostcalls_v021"),
        settings=PluginSettings(name="ns.p", vm_configuration=b"vmcfg", configuration=b"plugincfg"),
    )
    assert vm.root_context_id == 1
    stream = vm.create_stream(SimpleStreamHost())
    assert stream.context_id == 2
    stream.on_request_headers(3, False)
    stream.on_request_body(10, True)
    stream.on_response_headers(2, False)
    stream.on_response_body(5, True)
    stream.on_log()
    stream.on_done()
    stream.on_delete()
    calls = [(name, args) for _, name, args in tracer.guest_calls if name != "malloc"]
    assert calls == [
        ("_initialize", ()),
        ("proxy_on_context_create", (1, 0)),
        ("proxy_on_vm_start", (1, 5)),
        ("proxy_on_configure", (1, 9)),
        ("proxy_on_context_create", (2, 1)),
        ("proxy_on_request_headers", (2, 3, 0)),
        ("proxy_on_request_body", (2, 10, 1)),
        ("proxy_on_response_headers", (2, 2, 0)),
        ("proxy_on_response_body", (2, 5, 1)),
        ("proxy_on_log", (2,)),
        ("proxy_on_done", (2,)),
        ("proxy_on_delete", (2,)),
    ]
    # on_vm_start read buffer 6 (VM configuration), on_configure buffer 7 (plugin configuration)
    mem = vm.mem
    assert mem.get_u32(0x3308) == 0 and mem.read(mem.get_u32(0x3300), mem.get_u32(0x3304)) == b"vmcfg"
    assert mem.get_u32(0x3208) == 0 and mem.read(mem.get_u32(0x3200), mem.get_u32(0x3204)) == b"plugincfg"


def test_context_ids_share_one_counter(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    vm = make_vm(compile_wat("header_adder"))
    ids = [vm.create_stream(SimpleStreamHost()).context_id for _ in range(3)]
    assert vm.root_context_id == 1 and ids == [2, 3, 4]


def test_plugin_configuration_is_only_available_in_on_configure(
    make_vm: MakeVm, compile_wat: CompileWat
) -> None:
    vm = make_vm(compile_wat("hostcalls_v021"), settings=PluginSettings(name="ns.p", configuration=b"cfg"))
    # after start, buffer 7 is gone (NOT_FOUND); buffer 6 stays (Envoy getBuffer)
    assert vm.call_export("call_proxy_get_buffer_bytes", 7, 0, 100, 0x100, 0x104) == 1
    assert vm.call_export("call_proxy_get_buffer_bytes", 6, 0, 100, 0x100, 0x104) == 0


def test_vm_start_returning_false_is_a_start_error(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    vm = make_vm(compile_wat("hostcalls_v021"), start=False)
    vm.call_export("set_vm_start_result", 0)
    with pytest.raises(PluginStartError, match=r"^plugin test\.plugin: proxy_on_vm_start returned false$"):
        vm.start()
    with pytest.raises(PluginFailed):
        vm.create_stream(SimpleStreamHost())


def test_configure_returning_false_is_a_start_error(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    vm = make_vm(compile_wat("hostcalls_v021"), start=False)
    vm.call_export("set_configure_result", 0)
    with pytest.raises(PluginStartError, match="proxy_on_configure returned false"):
        vm.start()


def test_trap_during_start_names_the_callback(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    vm = make_vm(compile_wat("hostcalls_v021"), start=False)
    vm.call_export("set_mode", 1)
    with pytest.raises(PluginTrap) as err:
        vm.start()
    assert str(err.value).startswith("plugin test.plugin: proxy_on_vm_start: unreachable")


START_VARIANTS = """
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "initialize") (data (i32.const 32) "main") (data (i32.const 48) "main_void")
  (data (i32.const 64) "start")
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 4096))
  EXPORTS
)
"""


@pytest.mark.parametrize(
    ("exports", "expected"),
    [
        (
            '(func (export "_initialize") (drop (call $log (i32.const 2) (i32.const 16) (i32.const 10))))'
            '(func (export "main") (param i32 i32) (result i32) (drop (call $log (i32.const 2) (i32.const 32) (i32.const 4))) (i32.const 0))'
            '(func (export "__main_void") (result i32) (drop (call $log (i32.const 2) (i32.const 48) (i32.const 9))) (i32.const 0))',
            ["initialize", "main"],
        ),
        (
            '(func (export "_initialize") (drop (call $log (i32.const 2) (i32.const 16) (i32.const 10))))'
            '(func (export "__main_void") (result i32) (drop (call $log (i32.const 2) (i32.const 48) (i32.const 9))) (i32.const 0))',
            ["initialize", "main_void"],
        ),
        (
            '(func (export "_start") (drop (call $log (i32.const 2) (i32.const 64) (i32.const 5))) (call $exit (i32.const 0)))'
            '(func (export "_initialize_not") )',
            ["start"],
        ),
        (
            '(func (export "_initialize") (drop (call $log (i32.const 2) (i32.const 16) (i32.const 10))))'
            '(func (export "_start") (drop (call $log (i32.const 2) (i32.const 64) (i32.const 5))))',
            ["initialize"],
        ),
    ],
)
def test_start_functions_like_envoy(
    make_vm: MakeVm, compile_wat: CompileWat, services: object, exports: str, expected: list[str]
) -> None:
    vm = make_vm(compile_wat(START_VARIANTS.replace("EXPORTS", exports)))
    assert vm.services.log.messages() == expected  # type: ignore[attr-defined]
    assert vm.failure is None


def test_proc_exit_nonzero_in_start_fails(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    text = START_VARIANTS.replace("EXPORTS", '(func (export "_start") (call $exit (i32.const 7)))')
    vm = make_vm(compile_wat(text), start=False)
    with pytest.raises(PluginTrap, match=r"_start: proc_exit\(7\)"):
        vm.start()


def test_missing_callbacks_default_to_continue(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    text = '(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1")) (func (export "malloc") (param i32) (result i32) (i32.const 8)))'
    vm = make_vm(compile_wat(text))
    s = vm.create_stream(SimpleStreamHost())
    assert s.on_request_headers(1, True) == 0
    assert s.on_response_body(1, True) == 0
    s.on_log()
    s.on_done()
    s.on_delete()


def test_v010_header_callbacks_get_two_arguments(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    text = """(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_1_0"))
      (func (export "malloc") (param i32) (result i32) (i32.const 8))
      (global $n (mut i32) (i32.const 0))
      (func (export "proxy_on_request_headers") (param i32 i32) (result i32) (global.set $n (local.get 1)) (i32.const 1))
      (func (export "seen") (result i32) (global.get $n)))"""
    vm = make_vm(compile_wat(text))
    s = vm.create_stream(SimpleStreamHost())
    assert s.on_request_headers(7, True) == 1
    assert vm.call_export("seen") == 7


def test_close_runs_root_done_then_delete(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    vm, tracer = traced(make_vm, compile_wat("hostcalls_v021"))
    tracer.guest_calls.clear()
    vm.close()
    assert tracer.callbacks() == ["proxy_on_done", "proxy_on_delete"]
    assert vm.memory_size() == 0
    with pytest.raises(PluginFailed, match="VM is closed"):
        vm.create_stream(SimpleStreamHost())


def test_root_done_false_waits_for_proxy_done(
    make_vm: MakeVm, compile_wat: CompileWat, scheduler: object
) -> None:
    vm, tracer = traced(make_vm, compile_wat("hostcalls_v021"))
    vm.call_export("set_done_result", 0)
    tracer.guest_calls.clear()
    vm.close()
    assert tracer.callbacks() == ["proxy_on_done"]
    # the plugin finishes later (e.g. from on_tick): proxy_done → on_delete after the call returns
    assert vm.call_export("call_proxy_done") == 0
    vm.services.scheduler.run_until_idle()  # type: ignore[attr-defined]
    assert tracer.callbacks()[-1] == "proxy_on_delete"
    assert vm.memory_size() == 0


def test_proxy_done_without_pending_shutdown_is_not_found(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    vm = make_vm(compile_wat("hostcalls_v021"))
    assert vm.call_export("call_proxy_done") == 1


def test_two_vms_from_one_module_are_independent(make_vm: MakeVm, compile_wat: CompileWat) -> None:
    m = compile_wat("hostcalls_v021")
    a = make_vm(m)
    b = make_vm(m)
    a.call_export("set_action", 1)
    assert a.create_stream(SimpleStreamHost()).on_request_headers(0, True) == 1
    assert b.create_stream(SimpleStreamHost()).on_request_headers(0, True) == 0
    assert a.call_export("init_count") == 1 and b.call_export("init_count") == 1


def test_tracer_sees_every_host_call_with_context_args_and_result(
    make_vm: MakeVm, compile_wat: CompileWat
) -> None:
    vm, tracer = traced(make_vm, compile_wat("hostcalls_v021"))
    stream = vm.create_stream(SimpleStreamHost())
    tracer.host_calls.clear()
    vm.call_export("call_proxy_log", 9, 0, 0, context_id=stream.context_id)
    vm.call_export("call_proxy_increment_metric", 404, -5, context_id=stream.context_id)
    assert tracer.host_calls == [
        ("test.plugin", stream.context_id, "proxy_log", (9, 0, 0), 2),
        ("test.plugin", stream.context_id, "proxy_increment_metric", (404, -5), 1),
    ]


START_SECTION_LOGS = """
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $status (mut i32) (i32.const -1))
  (data (i32.const 16) "from start")
  (func $init (global.set $status (call $log (i32.const 2) (i32.const 16) (i32.const 10))))
  (start $init)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "status") (result i32) (global.get $status)))
"""


def test_host_calls_from_a_start_section_cannot_reach_memory(
    make_vm: MakeVm, compile_wat: CompileWat
) -> None:
    vm = make_vm(compile_wat(START_SECTION_LOGS))
    assert vm.call_export("status") == 6  # INVALID_MEMORY_ACCESS, as in Envoy; no crash, no host error
    assert vm.services.log.messages() == []  # type: ignore[attr-defined]
