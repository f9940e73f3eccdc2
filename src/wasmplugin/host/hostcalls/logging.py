"""Logging, time and the log level: proxy_log, proxy_get_log_level,
proxy_get_current_time_nanoseconds."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from wasmplugin.abi.enums import LogLevel
from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import BAD_ARGUMENT, OK

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM

_LEVELS = tuple(LogLevel)
_pack_u64 = struct.Struct("<Q").pack_into
_U64_MAX = 0xFFFFFFFFFFFFFFFF


def proxy_log(vm: PluginVM, a: Args) -> int:
    level = a[0]
    if level > 5:
        return BAD_ARGUMENT
    ptr = a[4]
    size = a[8]
    mem = vm.mem
    if ptr + size > mem.size:
        mem.check(ptr, size)
    sink = vm.log_sink
    name = vm.plugin_name
    if level >= sink.level(name):
        sink.log(name, _LEVELS[level], str(mem.view[ptr : ptr + size], "utf-8", "replace"))
    return OK


def proxy_get_log_level(vm: PluginVM, a: Args) -> int:
    vm.mem.put_u32(a[0], int(vm.services.log.level(vm.plugin_name)))
    return OK


def proxy_get_current_time_nanoseconds(vm: PluginVM, a: Args) -> int:
    ptr = a[0]
    mem = vm.mem
    if ptr + 8 > mem.size:
        mem.check(ptr, 8)
    _pack_u64(mem.view, ptr, vm.clock.now_ns() & _U64_MAX)
    return OK
