"""Foreign functions and the non-spec imports Envoy also offers (Emscripten helpers, DNS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import NOT_FOUND, OK, UNIMPLEMENTED

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM


def proxy_call_foreign_function(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    name = mem.read(a[0], a[4]).decode("utf-8", "replace")
    args = mem.read(a[8], a[12])
    ret_ptr_ptr = a[16]
    ret_size_ptr = a[20]
    fn = vm.foreign_functions.get(name)
    if fn is None:
        return NOT_FOUND
    status, result = fn(vm.plugin_name, args)
    if status != OK:
        return int(status)
    if ret_ptr_ptr == 0:
        return OK  # caller discards the result
    return vm.copy_out(result, ret_ptr_ptr, ret_size_ptr)


def emscripten_notify_memory_growth(vm: PluginVM, a: Args) -> None:
    vm.mem.refresh()


def pthread_equal(vm: PluginVM, a: Args) -> int:
    return 1 if a[0] == a[4] else 0


def envoy_resolve_dns(vm: PluginVM, a: Args) -> int:
    """Envoy-only DNS lookup (answered through envoy_on_resolve_dns); not offered here."""
    return UNIMPLEMENTED
