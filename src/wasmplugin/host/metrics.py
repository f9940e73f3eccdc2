"""Stats: plugin metrics (``proxy_define_metric`` …) and host counters, with Prometheus rendering.

Plugin metrics live under Envoy's custom stat namespace ``wasmcustom.`` and are shared by name
across every VM using the same registry (one per process / worker / test), as Envoy's stats scope
is. Metric *ids* are per VM and are handed out by the VM (``host/hostcalls/metrics.py``).

Prometheus names follow Envoy: custom-namespace stats lose the namespace and get no ``envoy_``
prefix; every other stat gets ``envoy_``. Tags come from ``.key=value`` name segments by default
(``custom_api_requests_total.method=GET`` → ``custom_api_requests_total{method="GET"}``), and from
optional Envoy-style ``stats_tags`` rules (a regex whose first group is cut out of the name and
whose second group is the tag value).
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wasmplugin.abi.enums import MetricType

CUSTOM_NAMESPACE = "wasmcustom"
CUSTOM_PREFIX = CUSTOM_NAMESPACE + "."

#: Envoy's default histogram buckets (``stats_config.histogram_bucket_settings`` unset).
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
)

#: Host runtime stats Envoy keeps per Wasm runtime.
RUNTIME_CREATED = "wasm.envoy.wasm.runtime.wasmtime.created"
RUNTIME_ACTIVE = "wasm.envoy.wasm.runtime.wasmtime.active"


class _Value:
    """A named integer metric (the part counters and gauges share; neither is the other)."""

    __slots__ = ("name", "value")

    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0

    def add(self, n: int) -> None:
        self.value += n


class Counter(_Value):
    __slots__ = ()
    kind = MetricType.COUNTER


class Gauge(_Value):
    __slots__ = ()
    kind = MetricType.GAUGE

    def set(self, v: int) -> None:
        self.value = v


class Histogram:
    __slots__ = ("bounds", "bucket_counts", "count", "name", "sum")
    kind = MetricType.HISTOGRAM

    def __init__(self, name: str, bounds: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.name = name
        self.bounds = tuple(bounds)
        self.bucket_counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0

    def record(self, value: int) -> None:
        self.count += 1
        self.sum += value
        self.bucket_counts[bisect.bisect_left(self.bounds, value)] += 1


Metric = Counter | Gauge | Histogram


@dataclass(frozen=True)
class HistogramSnapshot:
    count: int
    sum: int
    #: ``(upper bound, cumulative count)``, the last bound being +inf.
    buckets: tuple[tuple[float, int], ...]


MetricValue = int | HistogramSnapshot


@dataclass(frozen=True)
class StatsTagRule:
    """Envoy ``stats_config.stats_tags`` entry: ``regex``'s first group is removed from the name,
    its second group (usually nested in the first; else the first) is the value of ``tag_name``."""

    tag_name: str
    regex: str


class MetricsRegistry:
    """Every stat of one process / worker / test."""

    def __init__(self, tag_rules: Iterable[StatsTagRule] = ()) -> None:
        self._lock = threading.Lock()
        self._stats: dict[tuple[MetricType, str], Metric] = {}
        self._tag_rules = [(r.tag_name, re.compile(r.regex)) for r in tag_rules]

    # -- definition ------------------------------------------------------------------------------
    def define(self, kind: MetricType, name: str) -> Metric:
        """A plugin metric: ``name`` is stored as ``wasmcustom.<name>``; same name → same stat."""
        return self._get(kind, CUSTOM_PREFIX + name)

    def counter(self, name: str) -> Counter:
        stat = self._get(MetricType.COUNTER, name)
        assert isinstance(stat, Counter)
        return stat

    def gauge(self, name: str) -> Gauge:
        stat = self._get(MetricType.GAUGE, name)
        assert isinstance(stat, Gauge)
        return stat

    def histogram(self, name: str) -> Histogram:
        stat = self._get(MetricType.HISTOGRAM, name)
        assert isinstance(stat, Histogram)
        return stat

    def _get(self, kind: MetricType, full_name: str) -> Metric:
        key = (kind, full_name)
        stat = self._stats.get(key)
        if stat is not None:
            return stat
        with self._lock:
            stat = self._stats.get(key)
            if stat is None:
                stat = _NEW[kind](full_name)
                self._stats[key] = stat
            return stat

    # -- reading ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, MetricValue]:
        """Full stat name → value (histograms as :class:`HistogramSnapshot`)."""
        out: dict[str, MetricValue] = {}
        for stat in self._all():
            out[stat.name] = _value(stat)
        return out

    def value(self, name: str) -> MetricValue | None:
        """Value of the stat with full name ``name`` (e.g. ``wasmcustom.requests``), if any."""
        for stat in self._all():
            if stat.name == name:
                return _value(stat)
        return None

    def render_text(self) -> str:
        """Envoy admin ``/stats`` style: ``name: value`` lines, sorted."""
        lines = []
        for stat in sorted(self._all(), key=lambda s: s.name):
            v = _value(stat)
            if isinstance(v, HistogramSnapshot):
                lines.append(f"{stat.name}: count={v.count} sum={v.sum}")
            else:
                lines.append(f"{stat.name}: {v}")
        return "\n".join(lines) + ("\n" if lines else "")

    def render_prometheus(self) -> str:
        """Prometheus text exposition (format 0.0.4) of every stat."""
        families: dict[str, tuple[str, list[tuple[dict[str, str], Metric]]]] = {}
        for stat in sorted(self._all(), key=lambda s: s.name):
            name, tags = self.prometheus_name(stat.name)
            type_name = _PROM_TYPES[stat.kind]
            fam = families.setdefault(name, (type_name, []))
            fam[1].append((tags, stat))
        out: list[str] = []
        for name, (type_name, members) in families.items():
            out.append(f"# TYPE {name} {type_name}")
            for tags, stat in members:
                if isinstance(stat, Histogram):
                    cumulative = 0
                    for bound, n in zip((*stat.bounds, math.inf), stat.bucket_counts, strict=True):
                        cumulative += n
                        le = "+Inf" if bound == math.inf else _fmt_number(bound)
                        out.append(f"{name}_bucket{_labels({**tags, 'le': le})} {cumulative}")
                    out.append(f"{name}_sum{_labels(tags)} {stat.sum}")
                    out.append(f"{name}_count{_labels(tags)} {stat.count}")
                else:
                    out.append(f"{name}{_labels(tags)} {stat.value}")
        return "\n".join(out) + ("\n" if out else "")

    def prometheus_name(self, full_name: str) -> tuple[str, dict[str, str]]:
        """Metric family name and tags for a full stat name."""
        custom = full_name.startswith(CUSTOM_PREFIX)
        name = full_name[len(CUSTOM_PREFIX) :] if custom else full_name
        tags: dict[str, str] = {}
        for tag_name, rx in self._tag_rules:
            m = rx.search(name)
            if m is None or rx.groups < 1 or m.start(1) < 0:
                continue
            value = m.group(2) if rx.groups >= 2 and m.group(2) is not None else m.group(1)
            tags[tag_name] = value
            name = name[: m.start(1)] + name[m.end(1) :]
        base: list[str] = []
        last_tag: str | None = None
        for segment in name.split("."):
            key, eq, value = segment.partition("=")
            if eq and key:
                last_tag = _sanitize(key)
                tags[last_tag] = value
            elif last_tag is not None and segment[:1].isdigit():
                # The dot belongs to a numeric tag value, e.g. ``le=0.05`` (histogram buckets).
                tags[last_tag] += "." + segment
            elif segment:
                last_tag = None
                base.append(segment)
        flat = _sanitize("_".join(base))
        return (flat if custom else "envoy_" + flat), tags

    def _all(self) -> list[Metric]:
        with self._lock:
            return list(self._stats.values())


_NEW: dict[MetricType, type[Counter] | type[Gauge] | type[Histogram]] = {
    MetricType.COUNTER: Counter,
    MetricType.GAUGE: Gauge,
    MetricType.HISTOGRAM: Histogram,
}
_PROM_TYPES = {MetricType.COUNTER: "counter", MetricType.GAUGE: "gauge", MetricType.HISTOGRAM: "histogram"}
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")


def _sanitize(name: str) -> str:
    name = _INVALID.sub("_", name)
    return "_" + name if name[:1].isdigit() else name


def _labels(tags: dict[str, str]) -> str:
    if not tags:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in tags.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _value(stat: Metric) -> MetricValue:
    if isinstance(stat, Histogram):
        cumulative = 0
        buckets = []
        for bound, n in zip((*stat.bounds, math.inf), stat.bucket_counts, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        return HistogramSnapshot(stat.count, stat.sum, tuple(buckets))
    return stat.value
