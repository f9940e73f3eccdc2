"""The sidecar's own statistics, named as Envoy names them, and their text renderings.

Hot-path counters are plain attributes on small objects (one per listener, one per cluster), so a
request costs a few integer increments. :class:`StatsSnapshot` is the plain-data form the admin
endpoint renders and that worker processes send to the parent for aggregation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from wasmplugin.chain.runtime import PluginStats


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
class StatsSnapshot:
    """The sidecar's own stats by Envoy name (listeners, clusters, server)."""

    counters: dict[str, int] = field(default_factory=dict)
    gauges: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, name: str, value: int) -> None:
        target = self.counters if kind == "counter" else self.gauges
        target[name] = target.get(name, 0) + value

    def render_text(self) -> str:
        items = sorted({**self.counters, **self.gauges}.items())
        return "".join(f"{name}: {value}\n" for name, value in items)

    def render_prometheus(self) -> str:
        """Envoy's admin export: ``envoy_`` prefix, dots → underscores, and Envoy's default tag
        extraction for the stats we have (cluster name, connection manager prefix, code class)."""
        families: dict[str, tuple[str, list[str]]] = {}
        for kind, table in (("counter", self.counters), ("gauge", self.gauges)):
            for name, value in sorted(table.items()):
                metric, labels = prometheus_tags(name)
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                fam = families.setdefault(metric, (kind, []))
                fam[1].append(f"{metric}{{{label_text}}} {value}" if label_text else f"{metric} {value}")
        out: list[str] = []
        for metric, (kind, lines) in families.items():
            out.append(f"# TYPE {metric} {kind}\n")
            out.extend(line + "\n" for line in lines)
        return "".join(out)


_CODE_CLASS = re.compile(r"^(downstream_rq|upstream_rq)_([1-5])xx$")


def prometheus_tags(name: str) -> tuple[str, list[tuple[str, str]]]:
    labels: list[tuple[str, str]] = []
    base = name
    if name.startswith("cluster."):
        cluster, _, stat = name[len("cluster.") :].rpartition(".")
        labels.append(("cluster_name", cluster))
        base = "cluster." + stat
    elif name.startswith("http."):
        prefix, _, stat = name[len("http.") :].rpartition(".")
        labels.append(("envoy_http_conn_manager_prefix", prefix))
        base = "http." + stat
    head, _, stat = base.rpartition(".")
    m = _CODE_CLASS.match(stat)
    if m:
        labels.insert(0, ("envoy_response_code_class", m.group(2)))
        base = f"{head}.{m.group(1)}_xx"
    return "envoy_" + _PROM_BAD.sub("_", base), labels


@dataclass
class ProcessStats:
    """Everything one sidecar process reports: Envoy-style ``/stats`` text and Prometheus text.
    The parent of ``--concurrency N`` workers adds the workers' values up (Envoy's stats are
    process-wide, so one sidecar shows one number per stat whatever its worker count)."""

    text: str
    prometheus: str


_PROM_BAD = re.compile(r"[^a-zA-Z0-9_:]")


def add_plugin_stats(total: PluginStats | None, stats: PluginStats) -> PluginStats:
    """``total`` plus ``stats`` (a new object; counters add up, the maximum callback time is the
    larger one). ``total`` None: a copy of ``stats``."""
    out = PluginStats()
    for f in fields(PluginStats):
        a = getattr(total, f.name) if total is not None else 0
        b = getattr(stats, f.name)
        setattr(out, f.name, max(a, b) if f.name == "max_callback_ns" else a + b)
    return out


def plugin_stats_lines(plugin: str, stats: object) -> tuple[str, str]:
    """Per-plugin counters of the chain (``PluginRuntime.stats``) as /stats and Prometheus lines."""
    fields_ = (
        ("requests", "rq_total"),
        ("log_only", "log_only"),
        ("failures", "failures"),
        ("denied", "denied"),
        ("bypassed", "bypassed"),
        ("reloads", "reloads"),
        ("local_replies", "local_replies"),
        ("callbacks", "callbacks"),
    )
    text: list[str] = []
    prom: list[str] = []
    label = plugin.replace("\\", "\\\\").replace('"', '\\"')
    for attr, stat in fields_:
        value = int(getattr(stats, attr, 0))
        text.append(f"wasm_filter.{plugin}.{stat}: {value}\n")
        prom.append(f'envoy_wasm_filter_{stat}{{plugin="{label}"}} {value}\n')
    total_us = int(getattr(stats, "callback_ns", 0)) // 1000
    max_us = int(getattr(stats, "max_callback_ns", 0)) // 1000
    text.append(f"wasm_filter.{plugin}.callback_time_us: {total_us}\n")
    text.append(f"wasm_filter.{plugin}.callback_time_max_us: {max_us}\n")
    prom.append(f'envoy_wasm_filter_callback_time_us{{plugin="{label}"}} {total_us}\n')
    prom.append(f'envoy_wasm_filter_callback_time_max_us{{plugin="{label}"}} {max_us}\n')
    return "".join(text), "".join(prom)


PLUGIN_PROM_TYPES = "".join(
    f"# TYPE envoy_wasm_filter_{s} {'gauge' if s == 'callback_time_max_us' else 'counter'}\n"
    for s in (
        "rq_total",
        "log_only",
        "failures",
        "denied",
        "bypassed",
        "reloads",
        "local_replies",
        "callbacks",
        "callback_time_us",
        "callback_time_max_us",
    )
)


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _fmt_num(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(x)


def merge_text(texts: list[str]) -> str:
    """Add up ``name: value`` lines of several processes (``count=.. sum=..`` lines field-wise)."""
    order: list[str] = []
    values: dict[str, str] = {}
    for text in texts:
        for line in text.splitlines():
            name, sep, value = line.partition(": ")
            if not sep:
                continue
            prev = values.get(name)
            if prev is None:
                order.append(name)
                values[name] = value
                continue
            a, b = _num(prev), _num(value)
            if a is not None and b is not None:
                values[name] = _fmt_num(a + b)
            else:
                values[name] = _merge_fields(prev, value)
    return "".join(f"{n}: {values[n]}\n" for n in sorted(order))


def _merge_fields(a: str, b: str) -> str:
    out: list[str] = []
    bf = dict(tok.split("=", 1) for tok in b.split() if "=" in tok)
    for tok in a.split():
        k, eq, v = tok.partition("=")
        x, y = _num(v), _num(bf.get(k, ""))
        out.append(f"{k}={_fmt_num(x + y)}" if eq and x is not None and y is not None else tok)
    return " ".join(out)


def merge_prometheus(texts: list[str]) -> str:
    """Add up samples with the same name and labels; comment lines kept once, in order."""
    order: list[str] = []
    values: dict[str, float | str] = {}
    v: float | None
    for text in texts:
        for line in text.splitlines():
            if not line:
                continue
            if line.startswith("#"):
                if line not in values:
                    order.append(line)
                    values[line] = ""
                continue
            key, _, value = line.rpartition(" ")
            v = _num(value)
            prev = values.get(key)
            if prev is None:
                order.append(key)
                values[key] = v if v is not None else value
            elif isinstance(prev, float) and v is not None:
                values[key] = prev + v
    out: list[str] = []
    for key in order:
        val = values[key]
        shown = _fmt_num(val) if isinstance(val, float) else val
        out.append(key if key.startswith("#") else f"{key} {shown}")
    return "\n".join(out) + ("\n" if out else "")


def filter_text(text: str, name_filter: str | None, used_only: bool) -> str:
    """``/stats?filter=REGEX&usedonly`` applied to rendered lines."""
    rx = re.compile(name_filter) if name_filter else None
    out: list[str] = []
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if rx is not None and not rx.search(name):
            continue
        if used_only and value.strip() in ("0", "count=0 sum=0"):
            continue
        out.append(line)
    return "\n".join(out) + ("\n" if out else "")
