"""Every import the host offers: ``env`` (proxy-wasm, gated by ABI version as Envoy registers
them) and WASI preview1 (under both module names), each with its exact wasm type."""

from __future__ import annotations

from wasmplugin.abi.enums import AbiVersion
from wasmplugin.host.functions import (
    ALL_VERSIONS,
    ENV,
    V010,
    V02X,
    V021,
    WASI_MODULES,
    HostFunction,
    Shim,
    i32s,
    wasi_fault,
)
from wasmplugin.host.hostcalls import (
    buffers,
    callouts,
    contexts,
    extras,
    headers,
    logging,
    metrics,
    properties,
    shared,
    stream,
    wasi,
)

I64 = "i64"


def _env(
    name: str,
    nparams: int | tuple[str, ...],
    shim: Shim,
    versions: frozenset[AbiVersion] = ALL_VERSIONS,
    *,
    results: tuple[str, ...] = ("i32",),
    implemented: bool = True,
) -> HostFunction:
    params = i32s(nparams) if isinstance(nparams, int) else nparams
    return HostFunction(name, params, results, shim, versions, implemented)


ENV_FUNCTIONS: tuple[HostFunction, ...] = (
    # logging, time, timers, contexts
    _env("proxy_log", 3, logging.proxy_log),
    _env("proxy_get_log_level", 1, logging.proxy_get_log_level, V021),
    _env("proxy_get_current_time_nanoseconds", 1, logging.proxy_get_current_time_nanoseconds),
    _env("proxy_set_tick_period_milliseconds", 1, contexts.proxy_set_tick_period_milliseconds),
    _env("proxy_set_effective_context", 1, contexts.proxy_set_effective_context),
    _env("proxy_done", 0, contexts.proxy_done),
    # configuration and buffers
    _env("proxy_get_configuration", 2, buffers.proxy_get_configuration, V010),
    _env("proxy_get_buffer_bytes", 5, buffers.proxy_get_buffer_bytes),
    _env("proxy_set_buffer_bytes", 5, buffers.proxy_set_buffer_bytes),
    _env("proxy_get_buffer_status", 3, buffers.proxy_get_buffer_status),
    # header maps
    _env("proxy_get_header_map_pairs", 3, headers.proxy_get_header_map_pairs),
    _env("proxy_set_header_map_pairs", 3, headers.proxy_set_header_map_pairs),
    _env("proxy_get_header_map_value", 5, headers.proxy_get_header_map_value),
    _env("proxy_add_header_map_value", 5, headers.proxy_add_header_map_value),
    _env("proxy_replace_header_map_value", 5, headers.proxy_replace_header_map_value),
    _env("proxy_remove_header_map_value", 3, headers.proxy_remove_header_map_value),
    _env("proxy_get_header_map_size", 2, headers.proxy_get_header_map_size),
    # properties
    _env("proxy_get_property", 4, properties.proxy_get_property),
    _env("proxy_set_property", 4, properties.proxy_set_property),
    # stream control
    _env("proxy_send_local_response", 8, stream.proxy_send_local_response),
    _env("proxy_continue_stream", 1, stream.proxy_continue_stream, V02X),
    _env("proxy_close_stream", 1, stream.proxy_close_stream, V02X),
    _env("proxy_continue_request", 0, stream.proxy_continue_request, V010),
    _env("proxy_continue_response", 0, stream.proxy_continue_response, V010),
    _env("proxy_clear_route_cache", 0, stream.proxy_clear_route_cache, V010),
    # callouts
    _env("proxy_http_call", 10, callouts.proxy_http_call),
    _env("proxy_get_status", 3, callouts.proxy_get_status),
    _env("proxy_grpc_call", 12, callouts.proxy_grpc_call, implemented=False),
    _env("proxy_grpc_stream", 9, callouts.proxy_grpc_stream, implemented=False),
    _env("proxy_grpc_send", 4, callouts.proxy_grpc_send, implemented=False),
    _env("proxy_grpc_cancel", 1, callouts.proxy_grpc_cancel, implemented=False),
    _env("proxy_grpc_close", 1, callouts.proxy_grpc_close, implemented=False),
    # shared data and queues
    _env("proxy_get_shared_data", 5, shared.proxy_get_shared_data),
    _env("proxy_set_shared_data", 5, shared.proxy_set_shared_data),
    _env("proxy_register_shared_queue", 3, shared.proxy_register_shared_queue),
    _env("proxy_resolve_shared_queue", 5, shared.proxy_resolve_shared_queue),
    _env("proxy_enqueue_shared_queue", 3, shared.proxy_enqueue_shared_queue),
    _env("proxy_dequeue_shared_queue", 3, shared.proxy_dequeue_shared_queue),
    # metrics
    _env("proxy_define_metric", 4, metrics.proxy_define_metric),
    _env("proxy_increment_metric", ("i32", I64), metrics.proxy_increment_metric),
    _env("proxy_record_metric", ("i32", I64), metrics.proxy_record_metric),
    _env("proxy_get_metric", 2, metrics.proxy_get_metric),
    # foreign functions and Envoy extras
    _env("proxy_call_foreign_function", 6, extras.proxy_call_foreign_function),
    _env("emscripten_notify_memory_growth", 1, extras.emscripten_notify_memory_growth, results=()),
    _env("pthread_equal", 2, extras.pthread_equal),
    _env("envoy_resolve_dns", 3, extras.envoy_resolve_dns, implemented=False),
)


def _wasi(
    name: str,
    params: int | tuple[str, ...],
    shim: Shim,
    *,
    results: tuple[str, ...] = ("i32",),
    implemented: bool = True,
) -> HostFunction:
    p = i32s(params) if isinstance(params, int) else params
    return HostFunction(name, p, results, shim, ALL_VERSIONS, implemented, wasi_fault())


_I = "i32"
WASI_FUNCTIONS: tuple[HostFunction, ...] = (
    _wasi("args_get", 2, wasi.args_get),
    _wasi("args_sizes_get", 2, wasi.args_sizes_get),
    _wasi("environ_get", 2, wasi.environ_get),
    _wasi("environ_sizes_get", 2, wasi.environ_sizes_get),
    _wasi("clock_res_get", 2, wasi.clock_res_get),
    _wasi("clock_time_get", (_I, I64, _I), wasi.clock_time_get),
    _wasi("fd_advise", (_I, I64, I64, _I), wasi._stdio_only("fd_advise"), implemented=False),
    _wasi("fd_allocate", (_I, I64, I64), wasi._stdio_only("fd_allocate"), implemented=False),
    _wasi("fd_close", 1, wasi.fd_close, implemented=False),
    _wasi("fd_datasync", 1, wasi._stdio_only("fd_datasync"), implemented=False),
    _wasi("fd_fdstat_get", 2, wasi.fd_fdstat_get),
    _wasi("fd_fdstat_set_flags", 2, wasi._errno("fd_fdstat_set_flags", wasi.NOSYS), implemented=False),
    _wasi(
        "fd_fdstat_set_rights",
        (_I, I64, I64),
        wasi._stdio_only("fd_fdstat_set_rights"),
        implemented=False,
    ),
    _wasi("fd_filestat_get", 2, wasi._errno("fd_filestat_get", wasi.BADF), implemented=False),
    _wasi("fd_filestat_set_size", (_I, I64), wasi._stdio_only("fd_filestat_set_size"), implemented=False),
    _wasi(
        "fd_filestat_set_times",
        (_I, I64, I64, _I),
        wasi._stdio_only("fd_filestat_set_times"),
        implemented=False,
    ),
    _wasi("fd_pread", (_I, _I, _I, I64, _I), wasi._errno("fd_pread", wasi.NOSYS), implemented=False),
    _wasi("fd_prestat_get", 2, wasi._errno("fd_prestat_get", wasi.BADF), implemented=False),
    _wasi("fd_prestat_dir_name", 3, wasi._errno("fd_prestat_dir_name", wasi.NOSYS), implemented=False),
    _wasi("fd_pwrite", (_I, _I, _I, I64, _I), wasi.fd_pwrite),
    _wasi("fd_read", 4, wasi.fd_read, implemented=False),
    _wasi("fd_readdir", (_I, _I, _I, I64, _I), wasi._errno("fd_readdir", wasi.NOTDIR), implemented=False),
    _wasi("fd_renumber", 2, wasi._errno("fd_renumber", wasi.NOTSUP), implemented=False),
    _wasi("fd_seek", (_I, I64, _I, _I), wasi.fd_seek, implemented=False),
    _wasi("fd_sync", 1, wasi._stdio_only("fd_sync"), implemented=False),
    _wasi("fd_tell", 2, wasi.fd_tell, implemented=False),
    _wasi("fd_write", 4, wasi.fd_write),
    _wasi("path_create_directory", 3, wasi._errno("path_create_directory", wasi.NOTSUP), implemented=False),
    _wasi("path_filestat_get", 5, wasi._errno("path_filestat_get", wasi.NOTSUP), implemented=False),
    _wasi(
        "path_filestat_set_times",
        (_I, _I, _I, _I, I64, I64, _I),
        wasi._errno("path_filestat_set_times", wasi.NOTSUP),
        implemented=False,
    ),
    _wasi("path_link", 7, wasi._errno("path_link", wasi.NOTSUP), implemented=False),
    _wasi(
        "path_open",
        (_I, _I, _I, _I, _I, I64, I64, _I, _I),
        wasi._errno("path_open", wasi.NOENT),
        implemented=False,
    ),
    _wasi("path_readlink", 6, wasi._errno("path_readlink", wasi.NOTSUP), implemented=False),
    _wasi("path_remove_directory", 3, wasi._errno("path_remove_directory", wasi.NOTSUP), implemented=False),
    _wasi("path_rename", 6, wasi._errno("path_rename", wasi.NOTSUP), implemented=False),
    _wasi("path_symlink", 5, wasi._errno("path_symlink", wasi.NOTSUP), implemented=False),
    _wasi("path_unlink_file", 3, wasi._errno("path_unlink_file", wasi.NOTSUP), implemented=False),
    _wasi("poll_oneoff", 4, wasi.poll_oneoff),
    _wasi("proc_exit", 1, wasi.proc_exit, results=()),
    _wasi("proc_raise", 1, wasi.proc_raise, implemented=False),
    _wasi("random_get", 2, wasi.random_get),
    _wasi("sched_yield", 0, wasi.sched_yield),
    _wasi("sock_accept", 3, wasi._errno("sock_accept", wasi.NOTSUP), implemented=False),
    _wasi("sock_recv", 6, wasi._errno("sock_recv", wasi.NOTSUP), implemented=False),
    _wasi("sock_send", 5, wasi._errno("sock_send", wasi.NOTSUP), implemented=False),
    _wasi("sock_shutdown", 2, wasi._errno("sock_shutdown", wasi.NOTSUP), implemented=False),
)

_ENV_BY_NAME = {f.name: f for f in ENV_FUNCTIONS}
_WASI_BY_NAME = {f.name: f for f in WASI_FUNCTIONS}


def lookup(module: str, name: str) -> HostFunction | None:
    """The host function for an import, regardless of ABI version (see ``offered``)."""
    if module == ENV:
        return _ENV_BY_NAME.get(name)
    if module in WASI_MODULES:
        return _WASI_BY_NAME.get(name)
    return None
