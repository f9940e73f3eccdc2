"""Callouts: proxy_http_call, proxy_get_status, and the gRPC calls (no gRPC clusters exist here).

http_call is owned by the root context of the effective context; tokens step by 4 from 4 as in
Envoy. The response is delivered through the scheduler as proxy_on_http_call_response(root,
token, headers, body size, trailers) with map 6/7 and buffer 4; a reset arrives as
(token, 0, 0, 0) and proxy_get_status then answers 11 "reset".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmplugin.host.api import HttpCallRequest, HttpCallResponse
from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import BAD_ARGUMENT, NOT_FOUND, OK, PARSE_FAILURE
from wasmplugin.host.hostcalls.headers import read_pairs

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM

_REQUIRED = (b":method", b":path", b":authority")


def proxy_http_call(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    cluster = mem.read(a[0], a[4]).decode("utf-8", "replace")
    headers = [(k.lower(), v) for k, v in read_pairs(vm, a[8], a[12])]
    body = mem.read(a[16], a[20])
    trailers = [(k.lower(), v) for k, v in read_pairs(vm, a[24], a[28])]
    timeout_ms = a[32]
    token_ptr = a[36]
    mem.check(token_ptr, 4)
    names = {k for k, _ in headers}
    if any(required not in names for required in _REQUIRED):
        return BAD_ARGUMENT
    if body:
        headers = [(k, v) for k, v in headers if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
    root = vm.effective.root
    call = HttpCallRequest(
        plugin=vm.plugin_name,
        cluster=cluster,
        headers=tuple(headers),
        body=body,
        trailers=tuple(trailers),
        timeout_ms=timeout_ms,
    )
    token = vm.next_http_call_token()

    def on_done(response: HttpCallResponse | None) -> None:
        vm._http_call_done(root, token, response)

    result = int(vm.services.http.dispatch(call, on_done))
    if result != OK:
        return result
    mem.put_u32(token_ptr, token)
    return OK


def proxy_get_status(vm: PluginVM, a: Args) -> int:
    code, message = vm.effective.root.status
    mem = vm.mem
    mem.check(a[0], 4)
    mem.put_u32(a[0], code)
    return vm.copy_out(message, a[4], a[8])


def proxy_grpc_call(vm: PluginVM, a: Args) -> int:
    """No gRPC cluster is ever configured: Envoy answers an unknown cluster with PARSE_FAILURE."""
    return PARSE_FAILURE


def proxy_grpc_stream(vm: PluginVM, a: Args) -> int:
    return PARSE_FAILURE


def proxy_grpc_send(vm: PluginVM, a: Args) -> int:
    return NOT_FOUND  # no such call or stream


def proxy_grpc_cancel(vm: PluginVM, a: Args) -> int:
    return NOT_FOUND


def proxy_grpc_close(vm: PluginVM, a: Args) -> int:
    return NOT_FOUND
