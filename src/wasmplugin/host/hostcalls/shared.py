"""Shared data (with CAS) and shared queues, scoped per vm_id (``host/shared.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import NOT_FOUND, OK

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM


def proxy_get_shared_data(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    key = mem.read(a[0], a[4])
    cas_ptr = a[16]
    mem.check(cas_ptr, 4)
    found = vm.services.shared_data.get(vm.settings.vm_id, key)
    if found is None:
        return NOT_FOUND
    value, cas = found
    status = vm.copy_out(value, a[8], a[12])
    if status == OK:
        mem.put_u32(cas_ptr, cas)
    return status


def proxy_set_shared_data(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    key = mem.read(a[0], a[4])
    value = mem.read(a[8], a[12])
    return int(vm.services.shared_data.set(vm.settings.vm_id, key, value, a[16]))


def proxy_register_shared_queue(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    name = mem.read(a[0], a[4]).decode("utf-8", "surrogateescape")
    mem.check(a[8], 4)
    root = vm.effective.root
    token = vm.services.shared_queues.register(vm.settings.vm_id, name, root.queue_notifier)
    mem.put_u32(a[8], token)
    return OK


def proxy_resolve_shared_queue(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    vm_id = mem.read(a[0], a[4]).decode("utf-8", "surrogateescape") or vm.settings.vm_id
    name = mem.read(a[8], a[12]).decode("utf-8", "surrogateescape")
    mem.check(a[16], 4)
    token = vm.services.shared_queues.resolve(vm_id, name)
    if token is None:
        return NOT_FOUND
    mem.put_u32(a[16], token)
    return OK


def proxy_enqueue_shared_queue(vm: PluginVM, a: Args) -> int:
    value = vm.mem.read(a[4], a[8])
    return int(vm.services.shared_queues.enqueue(a[0], value))


def proxy_dequeue_shared_queue(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    mem.check(a[4], 4)
    mem.check(a[8], 4)
    status, value = vm.services.shared_queues.dequeue(a[0])
    if status != OK:
        return int(status)
    return vm.copy_out(value, a[4], a[8])
