"""Stream control: local replies, continue/close, and 0.1.0's continue_request/response and
clear_route_cache.

Envoy defers these effects until the VM call returns; here the chain (``StreamHost``) does, since
it knows when a callback returns. On a root context they are accepted and do nothing (Envoy has
no stream callbacks there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import BAD_ARGUMENT, OK, UNIMPLEMENTED, signed32
from wasmplugin.host.hostcalls.headers import read_pairs

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM


def proxy_send_local_response(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    status = a[0]
    details = mem.read(a[4], a[8]).decode("utf-8", "replace").replace(" ", "_")
    body = mem.read(a[12], a[16])
    headers = [(k.lower(), v) for k, v in read_pairs(vm, a[20], a[24])]  # Envoy: LowerCaseString
    grpc_status = signed32(a[28])
    ctx = vm.effective
    if ctx.local_reply_sent:
        return BAD_ARGUMENT  # Envoy: one local reply per context
    host = ctx.host
    if host is None:
        ctx.local_reply_sent = True
        return OK
    result = int(host.send_local_response(status, details, body, headers, grpc_status))
    if result == OK:
        ctx.local_reply_sent = True
    return result


def _continue(vm: PluginVM, stream_type: int) -> int:
    if stream_type > 3:
        return BAD_ARGUMENT
    if stream_type == 3:
        return UNIMPLEMENTED  # Envoy: continue_stream(UPSTREAM) is unimplemented
    host = vm.effective.host
    if host is None:
        return OK
    return int(host.continue_stream(stream_type))


def proxy_continue_stream(vm: PluginVM, a: Args) -> int:
    return _continue(vm, a[0])


def proxy_close_stream(vm: PluginVM, a: Args) -> int:
    stream_type = a[0]
    if stream_type > 3:
        return BAD_ARGUMENT
    host = vm.effective.host
    if host is None:
        return OK
    return int(host.close_stream(stream_type))


def proxy_continue_request(vm: PluginVM, a: Args) -> int:
    return _continue(vm, 0)


def proxy_continue_response(vm: PluginVM, a: Args) -> int:
    return _continue(vm, 1)


def proxy_clear_route_cache(vm: PluginVM, a: Args) -> int:
    """No route cache here: routing happens after the chain. Accepted as a no-op."""
    return OK
