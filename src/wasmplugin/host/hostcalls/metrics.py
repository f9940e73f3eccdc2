"""Metrics: proxy_define_metric, proxy_increment_metric, proxy_record_metric, proxy_get_metric.

Ids carry the type in their low 2 bits (Envoy); edge cases as Envoy's ``Context::*Metric``: a
counter only grows (delta ≤ 0 → BAD_ARGUMENT), histograms cannot be incremented or read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import BAD_ARGUMENT, NOT_FOUND, OK, i64_at, u64_at
from wasmplugin.host.metrics import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM


def proxy_define_metric(vm: PluginVM, a: Args) -> int:
    kind = a[0]
    if kind > 2:
        return BAD_ARGUMENT
    mem = vm.mem
    name = mem.read(a[4], a[8]).decode("utf-8", "replace")
    mem.check(a[12], 4)
    mem.put_u32(a[12], vm.define_metric(kind, name))
    return OK


def proxy_increment_metric(vm: PluginVM, a: Args) -> int:
    metric_id = a[0]
    kind = metric_id & 3
    if kind > 1:
        return BAD_ARGUMENT
    stat = vm.metric_ids.get(metric_id)
    if stat is None:
        return NOT_FOUND
    delta = i64_at(a, 1)
    if isinstance(stat, Counter):
        if delta <= 0:
            return BAD_ARGUMENT
        stat.add(delta)
    elif isinstance(stat, Gauge):
        stat.add(delta)
    return OK


def proxy_record_metric(vm: PluginVM, a: Args) -> int:
    stat = vm.metric_ids.get(a[0])
    if stat is None:
        return NOT_FOUND
    value = u64_at(a, 1)
    if isinstance(stat, Counter):
        stat.add(value)
    elif isinstance(stat, Gauge):
        stat.set(value)
    elif isinstance(stat, Histogram):
        stat.record(value)
    return OK


def proxy_get_metric(vm: PluginVM, a: Args) -> int:
    metric_id = a[0]
    if metric_id & 3 > 1:
        return BAD_ARGUMENT
    stat = vm.metric_ids.get(metric_id)
    if stat is None:
        return NOT_FOUND
    assert not isinstance(stat, Histogram)
    vm.mem.put_u64(a[4], stat.value)
    return OK
