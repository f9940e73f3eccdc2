"""``MetricsView``: the stats of a harness as a mapping, named as the plugin defined them.

``plugin.metrics["requests_total"]`` finds the plugin metric ``wasmcustom.requests_total`` (the name
Envoy stores it under) or, failing that, a stat with exactly that name. Counters and gauges are
ints; histograms are :class:`~wasmplugin.host.metrics.HistogramSnapshot` (``count``, ``sum``,
``buckets``). A missing name raises KeyError listing the names that exist.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from wasmplugin.host.metrics import CUSTOM_PREFIX, MetricsRegistry, MetricValue


class MetricsView(Mapping[str, MetricValue]):
    def __init__(self, registry: MetricsRegistry) -> None:
        self._registry = registry

    def _snapshot(self) -> dict[str, MetricValue]:
        return self._registry.snapshot()

    def __getitem__(self, name: str) -> MetricValue:
        snap = self._snapshot()
        for key in (CUSTOM_PREFIX + name, name):
            if key in snap:
                return snap[key]
        plugin_names = sorted(k[len(CUSTOM_PREFIX) :] for k in snap if k.startswith(CUSTOM_PREFIX))
        raise KeyError(f"no metric {name!r}; plugin metrics: {', '.join(plugin_names) or 'none'}")

    def __iter__(self) -> Iterator[str]:
        """Plugin metric names (without ``wasmcustom.``)."""
        return iter(sorted(k[len(CUSTOM_PREFIX) :] for k in self._snapshot() if k.startswith(CUSTOM_PREFIX)))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        snap = self._snapshot()
        return CUSTOM_PREFIX + name in snap or name in snap

    def all(self) -> dict[str, MetricValue]:
        """Every stat by its full name (host runtime stats included)."""
        return self._snapshot()

    def prometheus(self) -> str:
        """The Prometheus text the sidecar's ``/stats/prometheus`` would show."""
        return self._registry.render_prometheus()

    def __repr__(self) -> str:
        return f"<metrics {dict(self.items())!r}>"
