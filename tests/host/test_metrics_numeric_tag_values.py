"""Tag values with a decimal point survive the ``.key=value`` name convention (``le=0.05``)."""

from __future__ import annotations

from wasmplugin.abi.enums import MetricType
from wasmplugin.host.metrics import MetricsRegistry

BUCKET = "custom_api_request_duration_seconds_bucket.method=GET.status=200"


def test_numeric_tag_values_keep_their_decimal_point() -> None:
    reg = MetricsRegistry()
    assert reg.prometheus_name(f"wasmcustom.{BUCKET}.le=0.05") == (
        "custom_api_request_duration_seconds_bucket",
        {"method": "GET", "status": "200", "le": "0.05"},
    )
    assert reg.prometheus_name(f"wasmcustom.{BUCKET}.le=+Inf")[1]["le"] == "+Inf"
    assert reg.prometheus_name("wasmcustom.app.version=1.2.3")[1] == {"version": "1.2.3"}
    # A non-numeric segment after a tag still belongs to the name.
    assert reg.prometheus_name("wasmcustom.a.k=v.b") == ("a_b", {"k": "v"})


def test_bucket_counters_render_as_prometheus_series() -> None:
    reg = MetricsRegistry()
    reg.define(MetricType.COUNTER, f"{BUCKET}.le=0.05").add(3)
    reg.define(MetricType.COUNTER, f"{BUCKET}.le=+Inf").add(4)
    text = reg.render_prometheus()
    assert 'custom_api_request_duration_seconds_bucket{method="GET",status="200",le="0.05"} 3' in text
    assert 'custom_api_request_duration_seconds_bucket{method="GET",status="200",le="+Inf"} 4' in text
