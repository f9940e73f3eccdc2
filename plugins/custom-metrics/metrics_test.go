package main

import (
	"strings"
	"testing"
)

func mustConfig(t *testing.T, js string) *config {
	t.Helper()
	c, err := parseConfig([]byte(js))
	if err != nil {
		t.Fatalf("parseConfig(%s): %v", js, err)
	}
	return c
}

func TestConfigBlogExampleAndDefaults(t *testing.T) {
	c := mustConfig(t, `{"metrics_prefix": "custom_api", "histogram_buckets": [0.01, 0.05, 0.1, 0.5, 1.0, 5.0]}`)
	if c.prefix != "custom_api" || len(c.buckets) != 6 || c.buckets[4] != 1 {
		t.Errorf("config %+v", c)
	}
	if c.Summary() != "metrics_prefix=custom_api histogram_buckets=[0.01,0.05,0.1,0.5,1,5]" {
		t.Errorf("summary %q", c.Summary())
	}
	d := mustConfig(t, ``)
	if d.prefix != "custom" || len(d.buckets) != 11 || d.buckets[0] != 0.005 || d.buckets[10] != 10 {
		t.Errorf("defaults %+v", d)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for js, want := range map[string]string{
		`{"metrics_prefix": 3}`:                       "pluginConfig.metrics_prefix: expected a string, got number",
		`{"metrics_prefix": "custom-api"}`:            "pluginConfig.metrics_prefix: must be a Prometheus metric name",
		`{"metrics_prefix": "9lives"}`:                "pluginConfig.metrics_prefix: must be a Prometheus metric name",
		`{"metrics_prefix": ""}`:                      "pluginConfig.metrics_prefix: must be a Prometheus metric name",
		`{"histogram_buckets": "0.1,0.5"}`:            "pluginConfig.histogram_buckets: expected a list of numbers (seconds), got string",
		`{"histogram_buckets": []}`:                   "pluginConfig.histogram_buckets: must hold 1 to 30 bounds, got 0",
		`{"histogram_buckets": [0.1, "0.5"]}`:         "pluginConfig.histogram_buckets[1]: expected a number of seconds, got string",
		`{"histogram_buckets": [0.1, 0.1]}`:           "pluginConfig.histogram_buckets[1]: bounds must increase strictly, got 0.1 after 0.1",
		`{"histogram_buckets": [0.5, 0.1]}`:           "pluginConfig.histogram_buckets[1]: bounds must increase strictly",
		`{"histogram_buckets": [0, 1]}`:               "pluginConfig.histogram_buckets[0]: must be a positive number of seconds, got 0",
		`{"histogram_buckets": [-1]}`:                 "pluginConfig.histogram_buckets[0]: must be a positive number",
		`{"histogram_buckets": [1, null]}`:            "pluginConfig.histogram_buckets[1]: expected a number of seconds, got null",
		`{"metrics_prefix": "x", "histogram_buckets"`: "pluginConfig: invalid JSON",
		`true`: "pluginConfig: must be a JSON object, got boolean",
	} {
		_, err := parseConfig([]byte(js))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("parseConfig(%s) = %v, want prefix %q", js, err, want)
		}
	}
	many := "[" + strings.Repeat("1,", 30) + "31]"
	if _, err := parseConfig([]byte(`{"histogram_buckets": ` + many + `}`)); err == nil || !strings.Contains(err.Error(), "1 to 30 bounds, got 31") {
		t.Errorf("31 bounds: %v", err)
	}
}

func TestSeriesNames(t *testing.T) {
	c := mustConfig(t, `{"metrics_prefix": "custom_api", "histogram_buckets": [0.05, 1.0]}`)
	n := seriesNames(c, "GET", "200")
	want := []string{
		"custom_api_requests_total.method=GET.status=200",
		"custom_api_request_duration_seconds_bucket.method=GET.status=200.le=0.05",
		"custom_api_request_duration_seconds_bucket.method=GET.status=200.le=1",
		"custom_api_request_duration_seconds_bucket.method=GET.status=200.le=+Inf",
		"custom_api_request_duration_seconds_count.method=GET.status=200",
		"custom_api_request_duration_microseconds_sum.method=GET.status=200",
	}
	got := append(append([]string{n.requests}, n.buckets...), n.inf, n.count, n.sum)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("names:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFirstBucketIsCumulativeAndInclusive(t *testing.T) {
	bounds := boundsNS([]float64{0.01, 0.05, 0.1})
	for d, want := range map[int64]int{
		0: 0, 10_000_000: 0, 10_000_001: 1, 50_000_000: 1, 99_999_999: 2, 100_000_000: 2, 100_000_001: 3,
	} {
		if got := firstBucket(bounds, d); got != want {
			t.Errorf("firstBucket(%d ns) = %d, want %d", d, got, want)
		}
	}
	// 0.1 s is exactly 100 000 000 ns, not 99 999 999.999 after float rounding.
	if boundsNS([]float64{0.1, 0.3})[1] != 300_000_000 {
		t.Error("bounds must round to whole nanoseconds")
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"get": "GET", "PATCH": "PATCH", "PURGE": "OTHER", "": "OTHER"} {
		if got := normalizeMethod(in); got != want {
			t.Errorf("normalizeMethod(%q) = %q", in, got)
		}
	}
	for in, want := range map[string]string{"200": "200", "503": "503", "099": "0", "600": "0", "20": "0", "": "0", "2x0": "0"} {
		if got := normalizeStatus(in); got != want {
			t.Errorf("normalizeStatus(%q) = %q", in, got)
		}
	}
}
