"""Properties: proxy_get_property, proxy_set_property (lookup rules in ``host/properties.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import NOT_FOUND, SERIALIZATION_FAILURE
from wasmplugin.host.properties import SerializationError

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM


def proxy_get_property(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    ptr = a[0]
    end = ptr + a[4]
    if end > mem.size:  # mem.read, inlined (a plugin may ask for a dozen properties per request)
        mem.check(ptr, a[4])
    try:
        value = vm.properties.lookup_raw(mem.view[ptr:end].tobytes(), vm.effective.host)
    except SerializationError:
        return SERIALIZATION_FAILURE
    if value is None:
        return NOT_FOUND
    return vm.copy_out(value, a[8], a[12])


def proxy_set_property(vm: PluginVM, a: Args) -> int:
    """Stored by the stream (Envoy: filter state ``wasm.<path>``); no stream → NOT_FOUND."""
    mem = vm.mem
    path = vm.properties.path(mem.read(a[0], a[4]))
    value = mem.read(a[8], a[12])
    host = vm.effective.host
    if host is None:
        return NOT_FOUND
    return int(host.set_property(path, value))
