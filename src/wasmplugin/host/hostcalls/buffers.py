"""Buffers: proxy_get_buffer_bytes, proxy_set_buffer_bytes, proxy_get_buffer_status, and 0.1.0's
proxy_get_configuration.

Availability (Envoy ``getBuffer``): 0/1 bodies from the stream, 2/3 not served (no TCP filters),
4 during on_http_call_response, 5 never (no gRPC), 6 always, 7 during on_configure, 8 during
on_foreign_function. Unavailable → NOT_FOUND.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import BAD_ARGUMENT, NOT_FOUND, OK

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM

_U32_MAX = 0xFFFFFFFF


def proxy_get_buffer_bytes(vm: PluginVM, a: Args) -> int:
    kind = a[0]
    start = a[4]
    max_size = a[8]
    if kind > 8:
        return BAD_ARGUMENT
    buf = vm.buffer(kind)
    if buf is None:
        return NOT_FOUND
    if start + max_size > _U32_MAX:
        return BAD_ARGUMENT
    return vm.copy_out(buf.view(start, max_size), a[12], a[16])


def proxy_set_buffer_bytes(vm: PluginVM, a: Args) -> int:
    kind = a[0]
    if kind > 8:
        return BAD_ARGUMENT
    data = vm.mem.read(a[12], a[16])
    buf = vm.buffer(kind)
    if buf is None:
        return NOT_FOUND
    return int(buf.set_bytes(a[4], a[8], data))


def proxy_get_buffer_status(vm: PluginVM, a: Args) -> int:
    kind = a[0]
    if kind > 8:
        return BAD_ARGUMENT
    buf = vm.buffer(kind)
    if buf is None:
        return NOT_FOUND
    mem = vm.mem
    mem.check(a[4], 4)
    mem.check(a[8], 4)
    mem.put_u32(a[4], len(buf))
    mem.put_u32(a[8], 0)  # Envoy never reports END_OF_STREAM here
    return OK


def proxy_get_configuration(vm: PluginVM, a: Args) -> int:
    """0.1.0: the plugin configuration during on_configure, the VM configuration otherwise."""
    settings = vm.settings
    data = settings.configuration if vm.configuring else settings.vm_configuration
    return vm.copy_out(data, a[0], a[4])
