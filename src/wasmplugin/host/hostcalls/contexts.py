"""Context-level host calls: timers, effective context, proxy_done."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import BAD_ARGUMENT, NOT_FOUND, OK

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM


def proxy_set_tick_period_milliseconds(vm: PluginVM, a: Args) -> int:
    """Timer of the root context of the effective context; 0 stops it."""
    vm.effective.root.set_tick_period(a[0])
    return OK


def proxy_set_effective_context(vm: PluginVM, a: Args) -> int:
    ctx = vm.contexts.get(a[0])
    if ctx is None:
        return BAD_ARGUMENT
    vm.effective = ctx
    return OK


def proxy_done(vm: PluginVM, a: Args) -> int:
    return OK if vm.proxy_done(vm.effective.root) else NOT_FOUND
