"""WASI preview1 with Envoy's behaviour, under both module names."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from wasmplugin.abi.enums import LogLevel
from wasmplugin.errors import PluginFailed, PluginTrap
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.module import CompiledModule
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import SimpleStreamHost
from wasmplugin.host.vm import PluginVM

from .conftest import Guest

SUCCESS, BADF, FAULT, INVAL, NOENT, NOSYS, NOTDIR, NOTSUP = 0, 8, 21, 28, 44, 52, 54, 58


@pytest.fixture
def vm(make_vm: Callable[..., PluginVM], compile_wat: Callable[..., CompiledModule]) -> PluginVM:
    return make_vm(
        compile_wat("hostcalls_v021", plugin="ns.wasi"),
        settings=PluginSettings(name="ns.wasi", env=(("LANG", "C"), ("GREETING", "hello world"))),
    )


@pytest.fixture
def g(vm: PluginVM) -> Guest:
    return Guest(vm)


def wasi(g: Guest, name: str, *args: int) -> int:
    result = g.vm.call_export(f"wasi_{name}", *args)
    assert result is not None
    return result


def iovecs(g: Guest, *chunks: bytes) -> tuple[int, int]:
    ptrs = [g.put(c) for c in chunks]
    table, _ = g.put(b"".join(struct.pack("<II", p, n) for p, n in ptrs))
    return table, len(chunks)


def test_fd_write_stdout_and_stderr_become_plugin_logs(g: Guest, logs: CollectingLogSink) -> None:
    logs.clear()
    (nwritten,) = g.slots(1)
    iov, n = iovecs(g, b"hello ", b"stdout\n")
    assert wasi(g, "fd_write", 1, iov, n, nwritten) == SUCCESS and g.u32(nwritten) == 13
    iov, n = iovecs(g, b"oops\n\n")
    assert wasi(g, "fd_write", 2, iov, n, nwritten) == SUCCESS
    assert [(e.level, e.message) for e in logs.entries] == [
        (LogLevel.INFO, "hello stdout"),
        (LogLevel.ERROR, "oops\n"),
    ]  # one trailing newline stripped
    assert {e.plugin for e in logs.entries} == {"ns.wasi"}


def test_fd_write_under_wasi_unstable(g: Guest, logs: CollectingLogSink) -> None:
    logs.clear()
    (nwritten,) = g.slots(1)
    iov, n = iovecs(g, b"legacy")
    assert g.vm.call_export("unstable_fd_write", 1, iov, n, nwritten) == SUCCESS
    assert logs.messages() == ["legacy"]


def test_fd_write_errors(g: Guest) -> None:
    (nwritten,) = g.slots(1)
    iov, n = iovecs(g, b"x")
    assert wasi(g, "fd_write", 3, iov, n, nwritten) == BADF
    assert wasi(g, "fd_write", 1, 0x7FFF0000, 1, nwritten) == FAULT
    bad, _ = g.put(struct.pack("<II", 0x7FFF0000, 10))
    assert wasi(g, "fd_write", 1, bad, 1, nwritten) == FAULT


def test_environ_comes_from_settings_only(g: Guest) -> None:
    count, size = g.slots(2)
    assert wasi(g, "environ_sizes_get", count, size) == SUCCESS
    assert (g.u32(count), g.u32(size)) == (2, len("LANG=C\0GREETING=hello world\0"))
    ptrs, _ = g.put(b"\0" * 8)
    buf, _ = g.put(b"\0" * 64)
    assert wasi(g, "environ_get", ptrs, buf) == SUCCESS
    assert g.vm.mem.read(g.u32(ptrs), 7) == b"LANG=C\0"
    assert g.vm.mem.read(g.u32(ptrs + 4), 21) == b"GREETING=hello world\0"


def test_no_arguments(g: Guest) -> None:
    argc, size = g.slots(2)
    assert wasi(g, "args_sizes_get", argc, size) == SUCCESS
    assert (g.u32(argc), g.u32(size)) == (0, 0)
    assert wasi(g, "args_get", argc, size) == SUCCESS


def test_clocks_read_the_services_clock(g: Guest, scheduler: VirtualScheduler) -> None:
    scheduler.advance(2)
    (slot,) = g.slots(1)
    g.put(b"\0" * 8)
    assert wasi(g, "clock_time_get", 0, slot) == SUCCESS and g.u64(slot) == scheduler.clock.now_ns()
    assert wasi(g, "clock_time_get", 1, slot) == SUCCESS and g.u64(slot) == 3_000_000_000  # starts at 1 s
    assert wasi(g, "clock_time_get", 2, slot) == NOTSUP
    assert wasi(g, "clock_res_get", 1, slot) == SUCCESS and g.u64(slot) == 1
    assert wasi(g, "clock_time_get", 0, 0x7FFF0000) == FAULT


def test_random_get(g: Guest) -> None:
    buf, _ = g.put(b"\0" * 32)
    assert wasi(g, "random_get", buf, 32) == SUCCESS
    assert g.vm.mem.read(buf, 32) != b"\0" * 32
    assert wasi(g, "random_get", buf, 64 * 1024 + 1) == INVAL


def test_poll_and_yield_never_block(g: Guest) -> None:
    (nevents,) = g.slots(1)
    assert wasi(g, "poll_oneoff", 0, 0, 1, nevents) == SUCCESS and g.u32(nevents) == 0
    assert wasi(g, "sched_yield") == SUCCESS


def test_fd_stubs_answer_envoys_errnos(g: Guest, logs: CollectingLogSink) -> None:
    stat, _ = g.put(b"\xff" * 24)
    assert wasi(g, "fd_fdstat_get", 1, stat) == SUCCESS
    assert g.vm.mem.read(stat, 24) == struct.pack("<QQQ", 0, 64, 0)
    assert wasi(g, "fd_fdstat_get", 5, stat) == BADF
    assert wasi(g, "fd_prestat_get", 3, stat) == BADF
    assert wasi(g, "fd_prestat_dir_name", 3, stat, 4) == NOSYS
    assert wasi(g, "fd_filestat_get", 3, stat) == BADF
    assert wasi(g, "fd_fdstat_set_flags", 1, 0) == NOSYS
    assert wasi(g, "fd_read", 0, 0, 0, stat) == NOSYS
    assert wasi(g, "fd_readdir", 3, 0, 0, 0, stat) == NOTDIR
    assert wasi(g, "sock_send", 3, 0, 0, 0, stat) == NOTSUP
    p, n = g.put("file.txt")
    assert wasi(g, "path_open", p, n) == NOENT
    logs.clear()
    assert wasi(g, "fd_close", 3) == SUCCESS
    assert wasi(g, "fd_seek", 3, stat) == SUCCESS
    assert [e.level for e in logs.entries] == [LogLevel.ERROR, LogLevel.ERROR]


@pytest.mark.parametrize("export", ["wasi_proc_exit", "unstable_proc_exit"])
def test_proc_exit_stops_the_guest(vm: PluginVM, export: str) -> None:
    with pytest.raises(PluginTrap, match=rf"^plugin ns.wasi: {export}: proc_exit\(255\)$"):
        vm.call_export(export, 255)
    assert vm.failure is not None
    with pytest.raises(PluginFailed):
        vm.create_stream(SimpleStreamHost())


def test_proc_exit_inside_a_callback_fails_that_callback(vm: PluginVM) -> None:
    vm.call_export("set_mode", 4)
    stream = vm.create_stream(SimpleStreamHost())
    with pytest.raises(PluginTrap, match=r"proxy_on_request_headers: proc_exit\(3\)"):
        stream.on_request_headers(0, True)
