"""Properties: proxy_get_property, proxy_set_property (lookup rules in ``host/properties.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import NOT_FOUND, SERIALIZATION_FAILURE
from wasmplugin.host.properties import SerializationError, split_path

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM


def proxy_get_property(vm: PluginVM, a: Args) -> int:
    path = split_path(vm.mem.read(a[0], a[4]))
    try:
        value = vm.properties.lookup(path, vm.effective.host)
    except SerializationError:
        return SERIALIZATION_FAILURE
    if value is None:
        return NOT_FOUND
    return vm.copy_out(value, a[8], a[12])


def proxy_set_property(vm: PluginVM, a: Args) -> int:
    """Stored by the stream (Envoy: filter state ``wasm.<path>``); no stream → NOT_FOUND."""
    mem = vm.mem
    path = split_path(mem.read(a[0], a[4]))
    value = mem.read(a[8], a[12])
    host = vm.effective.host
    if host is None:
        return NOT_FOUND
    return int(host.set_property(path, value))
