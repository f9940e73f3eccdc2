"""The sidecar's own statistics, named as Envoy names them, and their text renderings.

Hot-path counters are plain attributes on small objects (one per listener, one per cluster), so a
request costs a few integer increments. :class:`StatsSnapshot` is the plain-data form the admin
endpoint renders and that worker processes send to the parent for aggregation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field


class ListenerStats:
    """``http.<stat_prefix>.*`` of one HTTP connection manager (Envoy names)."""

    __slots__ = (
        "cx_active",
        "cx_total",
        "rq_active",
        "rq_by_class",
        "rq_timeout",
        "rq_total",
        "stat_prefix",
    )

    def __init__(self, stat_prefix: str) -> None:
        self.stat_prefix = stat_prefix
        self.cx_total = 0
        self.cx_active = 0
        self.rq_total = 0
        self.rq_active = 0
        self.rq_timeout = 0
        #: downstream_rq_1xx .. 5xx at index 1..5.
        self.rq_by_class = [0, 0, 0, 0, 0, 0]

    def items(self) -> Iterable[tuple[str, str, int]]:
        p = f"http.{self.stat_prefix}."
        yield "counter", p + "downstream_cx_total", self.cx_total
        yield "gauge", p + "downstream_cx_active", self.cx_active
        yield "counter", p + "downstream_rq_total", self.rq_total
        yield "gauge", p + "downstream_rq_active", self.rq_active
        for i in range(1, 6):
            yield "counter", p + f"downstream_rq_{i}xx", self.rq_by_class[i]
        yield "counter", p + "downstream_rq_timeout", self.rq_timeout


class ClusterStats:
    """``cluster.<name>.*`` (Envoy names)."""

    __slots__ = (
        "cx_active",
        "cx_connect_fail",
        "cx_total",
        "name",
        "rq_by_class",
        "rq_reset",
        "rq_timeout",
        "rq_total",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.cx_total = 0
        self.cx_active = 0
        self.cx_connect_fail = 0
        self.rq_total = 0
        self.rq_timeout = 0
        self.rq_reset = 0
        self.rq_by_class = [0, 0, 0, 0, 0, 0]

    def items(self) -> Iterable[tuple[str, str, int]]:
        p = f"cluster.{self.name}."
        yield "counter", p + "upstream_cx_total", self.cx_total
        yield "gauge", p + "upstream_cx_active", self.cx_active
        yield "counter", p + "upstream_cx_connect_fail", self.cx_connect_fail
        yield "counter", p + "upstream_rq_total", self.rq_total
        for i in range(1, 6):
            yield "counter", p + f"upstream_rq_{i}xx", self.rq_by_class[i]
        yield "counter", p + "upstream_rq_timeout", self.rq_timeout
        yield "counter", p + "upstream_rq_rx_reset", self.rq_reset


@dataclass
class Histogram:
    """Cumulative-bucket histogram in plain data (upper bounds; +Inf implied by ``count``)."""

    bounds: list[float]
    buckets: list[int]
    count: int = 0
    sum: float = 0.0

    def merge(self, other: Histogram) -> None:
        if other.bounds != self.bounds:
            return
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.count += other.count
        self.sum += other.sum


@dataclass
class StatsSnapshot:
    """Every stat of one process, by Envoy name. Counters and gauges add up across workers as
    Envoy's process-wide stats do; histograms merge bucket by bucket."""

    counters: dict[str, int] = field(default_factory=dict)
    gauges: dict[str, int] = field(default_factory=dict)
    histograms: dict[str, Histogram] = field(default_factory=dict)
    #: Prometheus text for metrics that do not follow Envoy naming (istio-agent's).
    extra_prometheus: list[str] = field(default_factory=list)

    def add(self, kind: str, name: str, value: int) -> None:
        target = self.counters if kind == "counter" else self.gauges
        target[name] = target.get(name, 0) + value

    def merge(self, other: StatsSnapshot) -> None:
        for k, v in other.counters.items():
            self.counters[k] = self.counters.get(k, 0) + v
        for k, v in other.gauges.items():
            self.gauges[k] = self.gauges.get(k, 0) + v
        for k, h in other.histograms.items():
            mine = self.histograms.get(k)
            if mine is None:
                self.histograms[k] = Histogram(list(h.bounds), list(h.buckets), h.count, h.sum)
            else:
                mine.merge(h)
        for text in other.extra_prometheus:
            if text not in self.extra_prometheus:
                self.extra_prometheus.append(text)

    def to_json(self) -> dict[str, object]:
        return {
            "counters": self.counters,
            "gauges": self.gauges,
            "histograms": {
                k: {"bounds": h.bounds, "buckets": h.buckets, "count": h.count, "sum": h.sum}
                for k, h in self.histograms.items()
            },
            "extra_prometheus": self.extra_prometheus,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> StatsSnapshot:
        hist_in = data.get("histograms", {})
        assert isinstance(hist_in, dict)
        hists = {
            k: Histogram(list(v["bounds"]), list(v["buckets"]), int(v["count"]), float(v["sum"]))
            for k, v in hist_in.items()
        }
        counters = data.get("counters", {})
        gauges = data.get("gauges", {})
        extra = data.get("extra_prometheus", [])
        assert isinstance(counters, dict) and isinstance(gauges, dict) and isinstance(extra, list)
        return cls(dict(counters), dict(gauges), hists, list(extra))

    # -- renderings -------------------------------------------------------------------------------
    def render_text(self, name_filter: str | None = None, used_only: bool = False) -> str:
        """Envoy's ``/stats`` format: ``name: value`` sorted by name; histograms as
        ``P0(..) ...``-free summaries (count and sum), which is what Envoy prints for
        histograms without quantile support."""
        rx = re.compile(name_filter) if name_filter else None
        lines: list[str] = []
        for name, value in sorted({**self.counters, **self.gauges}.items()):
            if rx is not None and not rx.search(name):
                continue
            if used_only and value == 0:
                continue
            lines.append(f"{name}: {value}")
        for name, h in sorted(self.histograms.items()):
            if rx is not None and not rx.search(name):
                continue
            if used_only and h.count == 0:
                continue
            buckets = ",".join(f"B{_fmt(b)}: {c}" for b, c in zip(h.bounds, h.buckets, strict=True))
            lines.append(f"{name}: count={h.count} sum={_fmt(h.sum)} {buckets}".rstrip())
        return "\n".join(lines) + ("\n" if lines else "")

    def render_prometheus(self) -> str:
        """Prometheus text: ``envoy_`` prefix, dots → underscores, as Envoy's admin exports its
        stats; ``wasmcustom.`` metrics lose that namespace (Envoy's custom stat namespace)."""
        out: list[str] = []
        for kind, table in (("counter", self.counters), ("gauge", self.gauges)):
            for name, value in sorted(table.items()):
                metric = prometheus_name(name)
                out.append(f"# TYPE {metric} {kind}")
                out.append(f"{metric} {value}")
        for name, h in sorted(self.histograms.items()):
            metric = prometheus_name(name)
            out.append(f"# TYPE {metric} histogram")
            for bound, count in zip(h.bounds, h.buckets, strict=True):
                out.append(f'{metric}_bucket{{le="{_fmt(bound)}"}} {count}')
            out.append(f'{metric}_bucket{{le="+Inf"}} {h.count}')
            out.append(f"{metric}_sum {_fmt(h.sum)}")
            out.append(f"{metric}_count {h.count}")
        text = "\n".join(out) + ("\n" if out else "")
        for extra in self.extra_prometheus:
            text += extra if extra.endswith("\n") else extra + "\n"
        return text


_PROM_BAD = re.compile(r"[^a-zA-Z0-9_:]")


def prometheus_name(stat: str) -> str:
    if stat.startswith("wasmcustom."):
        return _PROM_BAD.sub("_", stat[len("wasmcustom.") :])
    return "envoy_" + _PROM_BAD.sub("_", stat)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))
