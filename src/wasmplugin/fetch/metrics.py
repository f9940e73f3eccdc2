"""istio-agent's Wasm metrics (``pkg/wasm/monitoring.go``), for the sidecar's /stats/prometheus.

Names are Istio's; on the agent's Prometheus endpoint they carry the ``istio_agent_`` prefix
(:data:`PROMETHEUS_PREFIX`). Counters appear once a label value has been seen, as with Istio.
"""

from __future__ import annotations

import threading

PROMETHEUS_PREFIX = "istio_agent_"

CACHE_ENTRIES = "wasm_cache_entries"
CACHE_LOOKUP = "wasm_cache_lookup_count"
REMOTE_FETCH = "wasm_remote_fetch_count"
CONVERSION = "wasm_config_conversion_count"
CONVERSION_DURATION = "wasm_config_conversion_duration"

REMOTE_FETCH_RESULTS = (
    "success",
    "download_failure",
    "manifest_failure",
    "checksum_mismatched",
    "fetch_failure",
)
CONVERSION_RESULTS = (
    "success",
    "no_remote_load",
    "marshal_failure",
    "unmarshal_failure",
    "fetch_failure",
    "miss_remote_fetch_hint",
)
DURATION_BUCKETS_MS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)

METRIC_TYPES = {
    CACHE_ENTRIES: "gauge",
    CACHE_LOOKUP: "counter",
    REMOTE_FETCH: "counter",
    CONVERSION: "counter",
    CONVERSION_DURATION: "histogram",
}
METRIC_HELP = {
    CACHE_ENTRIES: "number of Wasm remote fetch cache entries.",
    CACHE_LOOKUP: "number of cache lookup.",
    REMOTE_FETCH: "number of Wasm remote fetches and results, including success, download failure, "
    "and checksum mismatch.",
    CONVERSION: "number of Wasm config conversion count and results, including success, no remote load, "
    "marshal failure, remote fetch failure, miss remote fetch hint.",
    CONVERSION_DURATION: "Total time in milliseconds istio-agent spends on converting remote load "
    "in Wasm config.",
}

Sample = tuple[str, dict[str, str], float]


class FetchMetrics:
    """Thread-safe holder of the values; one per sidecar process (or per test)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries = 0
        self._lookups: dict[bool, int] = {}
        self._fetches: dict[str, int] = {}
        self._conversions: dict[str, int] = {}
        self._buckets = [0] * len(DURATION_BUCKETS_MS)
        self._duration_sum = 0.0
        self._duration_count = 0

    # --- recording --------------------------------------------------------------------------

    def set_cache_entries(self, n: int) -> None:
        with self._lock:
            self._entries = n

    def cache_lookup(self, hit: bool) -> None:
        with self._lock:
            self._lookups[hit] = self._lookups.get(hit, 0) + 1

    def remote_fetch(self, result: str) -> None:
        if result not in REMOTE_FETCH_RESULTS:
            raise ValueError(f"unknown wasm_remote_fetch_count result {result!r}")
        with self._lock:
            self._fetches[result] = self._fetches.get(result, 0) + 1

    def conversion(self, result: str, duration_ms: float | None = None) -> None:
        if result not in CONVERSION_RESULTS:
            raise ValueError(f"unknown wasm_config_conversion_count result {result!r}")
        with self._lock:
            self._conversions[result] = self._conversions.get(result, 0) + 1
            if duration_ms is not None:
                self._duration_sum += duration_ms
                self._duration_count += 1
                for i, bound in enumerate(DURATION_BUCKETS_MS):
                    if duration_ms <= bound:
                        self._buckets[i] += 1

    # --- reading -----------------------------------------------------------------------------

    def value(self, name: str, **labels: str) -> float:
        """One sample's value (0 when never recorded); for tests and status views."""
        for n, lbls, v in self.samples():
            if n == name and lbls == labels:
                return v
        return 0.0

    def samples(self) -> list[Sample]:
        """``(name, labels, value)`` without the Prometheus prefix; histogram as _bucket/_sum/_count."""
        with self._lock:
            out: list[Sample] = [(CACHE_ENTRIES, {}, float(self._entries))]
            out += [
                (CACHE_LOOKUP, {"hit": str(h).lower()}, float(n)) for h, n in sorted(self._lookups.items())
            ]
            out += [(REMOTE_FETCH, {"result": r}, float(n)) for r, n in sorted(self._fetches.items())]
            out += [(CONVERSION, {"result": r}, float(n)) for r, n in sorted(self._conversions.items())]
            if self._duration_count:
                for bound, count in zip(DURATION_BUCKETS_MS, self._buckets, strict=True):
                    out.append((f"{CONVERSION_DURATION}_bucket", {"le": str(bound)}, float(count)))
                out.append((f"{CONVERSION_DURATION}_bucket", {"le": "+Inf"}, float(self._duration_count)))
                out.append((f"{CONVERSION_DURATION}_sum", {}, self._duration_sum))
                out.append((f"{CONVERSION_DURATION}_count", {}, float(self._duration_count)))
            return out

    def render_prometheus(self, prefix: str = PROMETHEUS_PREFIX) -> str:
        """Prometheus text exposition of :meth:`samples`, with HELP and TYPE lines."""
        lines: list[str] = []
        seen: set[str] = set()
        for name, labels, value in self.samples():
            base = name
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and name[: -len(suffix)] == CONVERSION_DURATION:
                    base = CONVERSION_DURATION
            if base not in seen:
                seen.add(base)
                lines.append(f"# HELP {prefix}{base} {METRIC_HELP[base]}")
                lines.append(f"# TYPE {prefix}{base} {METRIC_TYPES[base]}")
            label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            rendered = f"{value:g}" if value != int(value) else str(int(value))
            lines.append(
                f"{prefix}{name}{{{label_text}}} {rendered}" if label_text else f"{prefix}{name} {rendered}"
            )
        return "\n".join(lines) + "\n"
