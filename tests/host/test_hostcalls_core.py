"""Logging, time, timers, effective context, buffers and header maps: statuses and edge cases."""

# ruff: noqa: E501  (inline WAT keeps one function per line)

from __future__ import annotations

from collections.abc import Callable

import pytest

from wasmplugin.abi.buffers import BodyBuffer
from wasmplugin.abi.enums import LogLevel
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.abi.pairs import decode_pairs, encode_pairs
from wasmplugin.host.api import HostServices
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.module import CompiledModule
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import SimpleStreamHost
from wasmplugin.host.vm import PluginVM

from .conftest import Guest

OK, NOT_FOUND, BAD_ARGUMENT, IMA, UNIMPLEMENTED = 0, 1, 2, 6, 12
OUT_OF_RANGE = 0x7FFF_0000


@pytest.fixture
def vm(make_vm: Callable[..., PluginVM], compile_wat: Callable[..., CompiledModule]) -> PluginVM:
    return make_vm(
        compile_wat("hostcalls_v021", plugin="ns.hostcalls"),
        settings=PluginSettings(
            name="ns.hostcalls", root_id="root", vm_id="vm1", vm_configuration=b"vm-config"
        ),
    )


@pytest.fixture
def stream_host() -> SimpleStreamHost:
    return SimpleStreamHost(
        request_headers=HeaderMap([(":method", "GET"), (":path", "/a"), ("X-Dup", "1"), ("x-dup", "2")]),
        request_body=BodyBuffer(b"hello world"),
    )


@pytest.fixture
def g(vm: PluginVM, stream_host: SimpleStreamHost) -> Guest:
    stream = vm.create_stream(stream_host)
    return Guest(vm, stream.context_id)


# -- logging ------------------------------------------------------------------------------------
def test_log_levels_reach_the_sink(g: Guest, logs: CollectingLogSink) -> None:
    logs.clear()
    for level in range(6):
        p, n = g.put(f"message {level}")
        assert g.call("proxy_log", level, p, n) == OK
    assert [(e.level, e.message) for e in logs.entries] == [(LogLevel(i), f"message {i}") for i in range(6)]
    assert {e.plugin for e in logs.entries} == {"ns.hostcalls"}


def test_log_level_out_of_range_is_bad_argument(g: Guest) -> None:
    p, n = g.put("x")
    assert g.call("proxy_log", 6, p, n) == BAD_ARGUMENT


def test_log_with_bad_pointer_is_invalid_memory_access_even_below_threshold(
    g: Guest, logs: CollectingLogSink
) -> None:
    logs.set_level(LogLevel.ERROR)
    assert g.call("proxy_log", 2, OUT_OF_RANGE, 10) == IMA
    p, n = g.put("dropped")
    assert g.call("proxy_log", 2, p, n) == OK
    assert "dropped" not in logs.messages()


def test_get_log_level_reports_the_plugin_threshold(g: Guest, logs: CollectingLogSink) -> None:
    (slot,) = g.slots(1)
    logs.set_level(LogLevel.WARN, plugin="ns.hostcalls")
    assert g.call("proxy_get_log_level", slot) == OK and g.u32(slot) == 3
    logs.set_level(LogLevel.OFF, plugin="ns.hostcalls")
    assert g.call("proxy_get_log_level", slot) == OK and g.u32(slot) == 6
    assert g.call("proxy_get_log_level", OUT_OF_RANGE) == IMA


# -- time and timers ------------------------------------------------------------------------------
def test_current_time_comes_from_the_services_clock(g: Guest, scheduler: VirtualScheduler) -> None:
    (slot,) = g.slots(1)
    g.put(b"\0" * 4)
    assert g.call("proxy_get_current_time_nanoseconds", slot) == OK
    assert g.u64(slot) == scheduler.clock.now_ns()
    scheduler.advance(1.5)
    assert g.call("proxy_get_current_time_nanoseconds", slot) == OK
    assert g.u64(slot) == scheduler.clock.now_ns() == 1_704_067_201_500_000_000


def test_tick_period_drives_on_tick_on_the_root(vm: PluginVM, g: Guest, scheduler: VirtualScheduler) -> None:
    # called from the stream context: the timer belongs to its root (Envoy)
    assert g.call("proxy_set_tick_period_milliseconds", 100) == OK
    scheduler.advance(0.099)
    assert vm.call_export("tick_count") == 0
    scheduler.advance(0.001)
    assert vm.call_export("tick_count") == 1
    scheduler.advance(0.35)
    assert vm.call_export("tick_count") == 4
    assert g.call("proxy_set_tick_period_milliseconds", 0) == OK
    scheduler.advance(1)
    assert vm.call_export("tick_count") == 4


def test_changing_the_period_rearms_from_now(vm: PluginVM, g: Guest, scheduler: VirtualScheduler) -> None:
    g.call("proxy_set_tick_period_milliseconds", 1000)
    scheduler.advance(0.9)
    g.call("proxy_set_tick_period_milliseconds", 200)
    scheduler.advance(0.19)
    assert vm.call_export("tick_count") == 0
    scheduler.advance(0.01)
    assert vm.call_export("tick_count") == 1


def test_close_cancels_timers(vm: PluginVM, g: Guest, scheduler: VirtualScheduler) -> None:
    g.call("proxy_set_tick_period_milliseconds", 10)
    vm.close()
    assert scheduler.pending_timers() == 0
    scheduler.advance(1)


# -- effective context ----------------------------------------------------------------------------
def test_set_effective_context(vm: PluginVM, g: Guest, stream_host: SimpleStreamHost) -> None:
    k, kn = g.put("x-from-root")
    v, vn = g.put("yes")
    root = vm.root_context_id
    assert g.call("proxy_add_header_map_value", 0, k, kn, v, vn, context_id=root) == BAD_ARGUMENT
    assert g.call("proxy_set_effective_context", 99, context_id=root) == BAD_ARGUMENT
    # set_effective_context lasts for the rest of one host→VM call only; use a guest that does both
    assert g.call("proxy_set_effective_context", g.context_id or 0, context_id=root) == OK
    assert g.call("proxy_add_header_map_value", 0, k, kn, v, vn, context_id=root) == BAD_ARGUMENT
    assert stream_host.request_headers is not None and "x-from-root" not in stream_host.request_headers


EFFECTIVE = """
(module
  (import "env" "proxy_set_effective_context" (func $eff (param i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x-effective") (data (i32.const 32) "yes")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "switch_and_add") (param $ctx i32) (result i32)
    (drop (call $eff (local.get $ctx)))
    (call $add (i32.const 0) (i32.const 16) (i32.const 11) (i32.const 32) (i32.const 3))))
"""


def test_effective_context_redirects_until_the_call_returns(
    make_vm: Callable[..., PluginVM], compile_wat: Callable[..., CompiledModule]
) -> None:
    vm = make_vm(compile_wat(EFFECTIVE))
    host = SimpleStreamHost()
    s = vm.create_stream(host)
    assert vm.call_export("switch_and_add", s.context_id) == OK
    assert host.request_headers is not None and host.request_headers.get("x-effective") == b"yes"
    # next host→VM call starts on the root again: switching to an unknown id fails, add on root fails
    assert vm.call_export("switch_and_add", 77) == BAD_ARGUMENT


# -- buffers ------------------------------------------------------------------------------------
def test_get_buffer_bytes_clamps_and_copies(g: Guest) -> None:
    pp, sp = g.slots()
    assert g.call("proxy_get_buffer_bytes", 0, 0, 5, pp, sp) == OK and g.returned(pp, sp) == b"hello"
    assert g.call("proxy_get_buffer_bytes", 0, 6, 1000, pp, sp) == OK and g.returned(pp, sp) == b"world"


def test_empty_result_writes_zero_and_never_allocates(g: Guest) -> None:
    pp, sp = g.slots()
    before = g.malloc_count()
    assert g.call("proxy_get_buffer_bytes", 0, 11, 10, pp, sp) == OK
    assert g.call("proxy_get_buffer_bytes", 0, 50, 10, pp, sp) == OK
    assert (g.u32(pp), g.u32(sp)) == (0, 0)
    assert g.malloc_count() == before


def test_get_buffer_bytes_argument_checks(vm: PluginVM, g: Guest) -> None:
    pp, sp = g.slots()
    assert g.call("proxy_get_buffer_bytes", 9, 0, 1, pp, sp) == BAD_ARGUMENT
    assert g.call("proxy_get_buffer_bytes", 0, 1, 0xFFFFFFFF, pp, sp) == BAD_ARGUMENT
    assert g.call("proxy_get_buffer_bytes", 1, 0, 1, pp, sp) == OK  # empty response body
    assert g.call("proxy_get_buffer_bytes", 2, 0, 1, pp, sp) == NOT_FOUND  # no TCP here
    assert g.call("proxy_get_buffer_bytes", 4, 0, 1, pp, sp) == NOT_FOUND  # no call response now
    assert g.call("proxy_get_buffer_bytes", 0, 0, 1, pp, sp, context_id=vm.root_context_id) == NOT_FOUND
    assert g.call("proxy_get_buffer_bytes", 0, 0, 5, OUT_OF_RANGE, sp) == IMA
    assert g.call("proxy_get_buffer_bytes", 6, 0, 100, pp, sp) == OK and g.returned(pp, sp) == b"vm-config"


def test_allocator_failure_is_invalid_memory_access(vm: PluginVM, g: Guest) -> None:
    pp, sp = g.slots()
    vm.call_export("set_malloc_fail", 1)
    assert g.call("proxy_get_buffer_bytes", 0, 0, 5, pp, sp) == IMA


@pytest.mark.parametrize(
    ("start", "size", "data", "status", "result"),
    [
        (0, 0, b">>", OK, b">>hello world"),  # prepend
        (0, 5, b"HELLO", OK, b"HELLO world"),  # replace a prefix
        (0, 100, b"new", OK, b"new"),  # replace everything
        (11, 0, b"!", OK, b"hello world!"),  # append at end
        (50, 3, b"!", OK, b"hello world!"),  # append beyond end
        (3, 2, b"xx", BAD_ARGUMENT, b"hello world"),  # Envoy refuses edits in the middle
    ],
)
def test_set_buffer_bytes_follows_envoy(
    g: Guest, stream_host: SimpleStreamHost, start: int, size: int, data: bytes, status: int, result: bytes
) -> None:
    p, n = g.put(data)
    assert g.call("proxy_set_buffer_bytes", 0, start, size, p, n) == status
    assert stream_host.request_body is not None and stream_host.request_body.bytes() == result


def test_set_buffer_bytes_on_immutable_or_missing_buffers(vm: PluginVM, g: Guest) -> None:
    p, n = g.put("x")
    assert g.call("proxy_set_buffer_bytes", 6, 0, 0, p, n) == BAD_ARGUMENT
    assert g.call("proxy_set_buffer_bytes", 9, 0, 0, p, n) == BAD_ARGUMENT
    assert g.call("proxy_set_buffer_bytes", 4, 0, 0, p, n) == NOT_FOUND
    assert g.call("proxy_set_buffer_bytes", 0, 0, 0, OUT_OF_RANGE, 4) == IMA


def test_get_buffer_status(g: Guest) -> None:
    size, flags = g.slots()
    assert g.call("proxy_get_buffer_status", 0, size, flags) == OK
    assert (g.u32(size), g.u32(flags)) == (11, 0)
    assert g.call("proxy_get_buffer_status", 3, size, flags) == NOT_FOUND
    assert g.call("proxy_get_buffer_status", 10, size, flags) == BAD_ARGUMENT


# -- header maps ----------------------------------------------------------------------------------
def test_get_header_map_pairs_serializes_the_map(g: Guest) -> None:
    pp, sp = g.slots()
    assert g.call("proxy_get_header_map_pairs", 0, pp, sp) == OK
    assert decode_pairs(g.returned(pp, sp)) == [
        (b":method", b"GET"),
        (b":path", b"/a"),
        (b"x-dup", b"1"),
        (b"x-dup", b"2"),
    ]


def test_empty_map_returns_null_without_allocating(g: Guest) -> None:
    pp, sp = g.slots()
    before = g.malloc_count()
    assert g.call("proxy_get_header_map_pairs", 2, pp, sp) == OK
    assert (g.u32(pp), g.u32(sp)) == (0, 0) and g.malloc_count() == before


def test_get_header_map_value_first_value_case_insensitive(g: Guest) -> None:
    pp, sp = g.slots()
    k, kn = g.put("X-DUP")
    assert g.call("proxy_get_header_map_value", 0, k, kn, pp, sp) == OK and g.returned(pp, sp) == b"1"
    k, kn = g.put("absent")
    assert g.call("proxy_get_header_map_value", 0, k, kn, pp, sp) == NOT_FOUND


def test_header_map_writes(g: Guest, stream_host: SimpleStreamHost) -> None:
    h = stream_host.request_headers
    assert h is not None
    k, kn = g.put("X-New")
    v1, v1n = g.put("one")
    v2, v2n = g.put("two")
    assert g.call("proxy_add_header_map_value", 0, k, kn, v1, v1n) == OK
    assert g.call("proxy_add_header_map_value", 0, k, kn, v2, v2n) == OK
    assert h.get_all("x-new") == [b"one", b"two"]
    assert g.call("proxy_replace_header_map_value", 0, k, kn, v2, v2n) == OK
    assert h.get_all("x-new") == [b"two"]
    assert g.call("proxy_remove_header_map_value", 0, k, kn) == OK
    assert "x-new" not in h
    assert g.call("proxy_remove_header_map_value", 0, k, kn) == OK  # absent: still OK
    size = g.slots(1)[0]
    assert g.call("proxy_get_header_map_size", 0, size) == OK
    assert g.u32(size) == h.byte_size() == len(":methodGET:path/ax-dup1x-dup2")


def test_set_header_map_pairs_replaces_the_map(g: Guest, stream_host: SimpleStreamHost) -> None:
    p, n = g.put(encode_pairs([(b"A", b"1"), (b"b", b"2")]))
    assert g.call("proxy_set_header_map_pairs", 0, p, n) == OK
    assert stream_host.request_headers is not None
    assert stream_host.request_headers.items() == [(b"a", b"1"), (b"b", b"2")]
    bad, bn = g.put(b"\x05\x00\x00\x00garbage")
    assert g.call("proxy_set_header_map_pairs", 0, bad, bn) == OK  # Envoy: unparsable → empty list
    assert len(stream_host.request_headers) == 0


def test_header_map_availability(vm: PluginVM, g: Guest, stream_host: SimpleStreamHost) -> None:
    pp, sp = g.slots()
    k, kn = g.put("a")
    assert g.call("proxy_get_header_map_pairs", 8, pp, sp) == BAD_ARGUMENT
    assert g.call("proxy_get_header_map_pairs", 6, pp, sp) == BAD_ARGUMENT  # no call response now
    assert g.call("proxy_get_header_map_pairs", 4, pp, sp) == BAD_ARGUMENT  # no gRPC
    assert (
        g.call("proxy_get_header_map_value", 0, k, kn, pp, sp, context_id=vm.root_context_id) == BAD_ARGUMENT
    )
    stream_host.response_trailers = None
    assert g.call("proxy_get_header_map_pairs", 3, pp, sp) == BAD_ARGUMENT
    assert stream_host.request_headers is not None
    stream_host.request_headers.freeze()
    assert g.call("proxy_get_header_map_value", 0, *g.put(":path"), pp, sp) == OK
    assert g.call("proxy_add_header_map_value", 0, k, kn, k, kn) == BAD_ARGUMENT
    assert g.call("proxy_remove_header_map_value", 0, k, kn) == BAD_ARGUMENT
    assert g.call("proxy_get_header_map_value", 0, OUT_OF_RANGE, 3, pp, sp) == IMA


def test_missing_map_in_access_log_phase_is_not_found(vm: PluginVM) -> None:
    host = SimpleStreamHost(response_headers=None)
    stream = vm.create_stream(host)
    stream.on_log()  # the fixture's on_log reads response header ":status" (map 2)
    assert vm.mem.get_u32(0x3508) == NOT_FOUND
    vm.call_export(
        "call_proxy_get_header_map_value", 2, 0x3810, 7, 0x3500, 0x3504, context_id=stream.context_id
    )
    assert (
        vm.call_export(
            "call_proxy_get_header_map_value", 2, 0x3810, 7, 0x3500, 0x3504, context_id=stream.context_id
        )
        == BAD_ARGUMENT
    )


V010 = """
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_configuration" (func $cfg (param i32 i32) (result i32)))
  (import "env" "proxy_continue_request" (func $cont (result i32)))
  (import "env" "proxy_continue_response" (func $contr (result i32)))
  (import "env" "proxy_clear_route_cache" (func $clear (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "absent")
  (global $heap (mut i32) (i32.const 4096))
  (func (export "proxy_abi_version_0_1_0"))
  (func (export "malloc") (param $n i32) (result i32)
    (global.get $heap) (global.set $heap (i32.add (global.get $heap) (local.get $n))))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (i32.store (i32.const 208) (call $cfg (i32.const 200) (i32.const 204))) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (i32.store (i32.const 308) (call $cfg (i32.const 300) (i32.const 304))) (i32.const 1))
  (func (export "get_absent") (result i32) (call $get (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 100) (i32.const 104)))
  (func (export "cont") (result i32) (call $cont))
  (func (export "contr") (result i32) (call $contr))
  (func (export "clear") (result i32) (call $clear)))
"""


def test_abi_010_semantics(
    make_vm: Callable[..., PluginVM], compile_wat: Callable[..., CompiledModule]
) -> None:
    vm = make_vm(
        compile_wat(V010),
        settings=PluginSettings(name="ns.old", vm_configuration=b"VM", configuration=b"PLUGIN"),
    )
    mem = vm.mem
    # proxy_get_configuration: VM config in on_vm_start, plugin config in on_configure
    assert mem.get_u32(208) == OK and mem.read(mem.get_u32(200), mem.get_u32(204)) == b"VM"
    assert mem.get_u32(308) == OK and mem.read(mem.get_u32(300), mem.get_u32(304)) == b"PLUGIN"
    host = SimpleStreamHost()
    s = vm.create_stream(host)
    # a missing header is OK with an empty value in 0.1.0
    mem.write(100, b"\xff" * 8)
    assert vm.call_export("get_absent", context_id=s.context_id) == OK
    assert (mem.get_u32(100), mem.get_u32(104)) == (0, 0)
    assert vm.call_export("cont", context_id=s.context_id) == OK
    assert vm.call_export("contr", context_id=s.context_id) == OK
    assert vm.call_export("clear", context_id=s.context_id) == OK
    assert host.continued == [0, 1]


def test_logs_go_through_services(services: HostServices, g: Guest) -> None:
    assert isinstance(services.log, CollectingLogSink)
