//go:build !wasm

package main

// Request-flow tests run natively under the Go SDK's host emulator
// (proxywasm/proxytest, an Envoy stand-in shipped with the SDK).

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"wasmplugin.test/plugins/go-common/plugintest"
)

const blogConfig = `{"metrics_prefix": "custom_api", "histogram_buckets": [0.01, 0.05, 0.1, 0.5, 1.0, 5.0]}`

type harness struct {
	t    *testing.T
	host proxytest.HostEmulator
	now  time.Time
}

func start(t *testing.T, cfg string) *harness {
	t.Helper()
	h := &harness{t: t, now: time.Unix(1_800_000_000, 0)}
	h.host = plugintest.Start(t, &vmContext{now: func() time.Time { return h.now }}, cfg)
	return h
}

// exchange runs one request that takes d and answers status ("" = no response
// headers). The emulator has no request.* / response.* attributes unless a
// test sets them, so this exercises the fallbacks: the header maps in on_log
// and the plugin's own clock.
func (h *harness) exchange(method, status string, d time.Duration) {
	id := h.host.InitializeHttpContext()
	if a := h.host.CallOnRequestHeaders(id, [][2]string{{":method", method}, {":path", "/x"}}, true); a != types.ActionContinue {
		h.t.Fatalf("request headers: %v", a)
	}
	h.now = h.now.Add(d)
	if status != "" {
		if a := h.host.CallOnResponseHeaders(id, [][2]string{{":status", status}}, true); a != types.ActionContinue {
			h.t.Fatalf("response headers: %v", a)
		}
	}
	h.host.CompleteHttpContext(id)
}

// setProperty sets a host attribute for every later stream of this emulator.
func (h *harness) setProperty(value []byte, path ...string) {
	h.t.Helper()
	if err := h.host.SetProperty(path, value); err != nil {
		h.t.Fatalf("SetProperty(%v): %v", path, err)
	}
}

func int64Bytes(v int64) []byte {
	return binary.LittleEndian.AppendUint64(nil, uint64(v))
}

// logOnly runs on_log alone on a new stream, as a host does for a request that
// an earlier plugin answered locally: no request or response callback here.
func (h *harness) logOnly() {
	h.host.CompleteHttpContext(h.host.InitializeHttpContext())
}

func (h *harness) counter(name string) uint64 {
	h.t.Helper()
	v, err := h.host.GetCounterMetric(name)
	if err != nil {
		h.t.Fatalf("counter %s: %v", name, err)
	}
	return v
}

// wantCounters checks each counter in want (name → value).
func (h *harness) wantCounters(want map[string]uint64) {
	h.t.Helper()
	for name, n := range want {
		if got := h.counter(name); got != n {
			h.t.Errorf("%s = %d, want %d", name, got, n)
		}
	}
}

func TestCountsRequestsAndBucketsDurations(t *testing.T) {
	h := start(t, blogConfig)
	h.exchange("GET", "200", 30*time.Millisecond)
	h.exchange("GET", "200", 100*time.Millisecond) // exactly on a bound: counted in le=0.1
	h.exchange("GET", "200", 7*time.Second)
	h.exchange("POST", "503", 2*time.Millisecond)

	p := "custom_api_request_duration_seconds_bucket.method=GET.status=200.le="
	for le, want := range map[string]uint64{
		"0.01": 0, "0.05": 1, "0.1": 2, "0.5": 2, "1": 2, "5": 2, "+Inf": 3,
	} {
		if got := h.counter(p + le); got != want {
			t.Errorf("bucket le=%s: %d, want %d", le, got, want)
		}
	}
	h.wantCounters(map[string]uint64{
		"custom_api_requests_total.method=GET.status=200":                           3,
		"custom_api_request_duration_seconds_count.method=GET.status=200":           3,
		"custom_api_request_duration_microseconds_sum.method=GET.status=200":        7_130_000,
		"custom_api_requests_total.method=POST.status=503":                          1,
		"custom_api_request_duration_seconds_bucket.method=POST.status=503.le=0.01": 1,
		"custom_api_request_duration_microseconds_sum.method=POST.status=503":       2000,
	})
	if _, err := h.host.GetCounterMetric("custom_api_requests_total.method=GET.status=404"); err == nil {
		t.Error("series are defined only when seen")
	}
}

func TestZeroDurationAndMissingStatus(t *testing.T) {
	h := start(t, blogConfig)
	h.exchange("BREW", "", 0) // no response headers, no response.code property in the emulator
	h.wantCounters(map[string]uint64{
		"custom_api_requests_total.method=OTHER.status=0":                          1,
		"custom_api_request_duration_microseconds_sum.method=OTHER.status=0":       0,
		"custom_api_request_duration_seconds_bucket.method=OTHER.status=0.le=0.01": 1, // zero duration: first bucket
	})
	if logs := h.host.GetErrorLogs(); len(logs) != 0 {
		t.Errorf("error logs: %v", logs)
	}
}

func TestBadConfigFailsAndGoodConfigIsLogged(t *testing.T) {
	if logs := plugintest.StartFails(t, &vmContext{}, `{"histogram_buckets": [1, 0.5]}`); !strings.Contains(logs, "custom-metrics: invalid configuration: pluginConfig.histogram_buckets[1]: bounds must increase strictly") {
		t.Errorf("error logs: %s", logs)
	}
	h := start(t, blogConfig)
	if logs := strings.Join(h.host.GetInfoLogs(), "\n"); !strings.Contains(logs, "custom-metrics: configured metrics_prefix=custom_api histogram_buckets=[0.01,0.05,0.1,0.5,1,5]") {
		t.Errorf("info logs: %s", logs)
	}
}

func TestCountsRequestsAnsweredBeforeThisPlugin(t *testing.T) {
	// jwt-validator's 401 (or rbac-enforcer's 403) ends the request path before
	// the STATS phase: only on_log reaches this plugin, with the host's attributes.
	for _, tc := range []struct {
		method string
		code   int64
		d      time.Duration
		le     string // smallest bucket that counts it
	}{
		{"GET", 401, 3 * time.Millisecond, "0.01"},
		{"DELETE", 403, 80 * time.Millisecond, "0.1"},
		{"POST", 429, 100 * time.Millisecond, "0.1"}, // on the bound: inclusive
	} {
		t.Run(strconv.FormatInt(tc.code, 10), func(t *testing.T) {
			// One emulator at a time: the SDK's mock host is process-wide.
			h := start(t, blogConfig)
			h.setProperty([]byte(tc.method), "request", "method")
			h.setProperty(int64Bytes(tc.code), "response", "code")
			h.setProperty(int64Bytes(tc.d.Nanoseconds()), "request", "duration")
			h.now = h.now.Add(time.Hour) // the plugin's own clock plays no part
			h.logOnly()
			h.logOnly()

			tags := ".method=" + tc.method + ".status=" + strconv.FormatInt(tc.code, 10)
			h.wantCounters(map[string]uint64{
				"custom_api_requests_total" + tags:                                   2,
				"custom_api_request_duration_seconds_count" + tags:                   2,
				"custom_api_request_duration_microseconds_sum" + tags:                2 * uint64(tc.d.Microseconds()),
				"custom_api_request_duration_seconds_bucket" + tags + ".le=" + tc.le: 2,
				"custom_api_request_duration_seconds_bucket" + tags + ".le=+Inf":     2,
			})
			if got := h.counter("custom_api_request_duration_seconds_bucket" + tags + ".le=0.01"); tc.le != "0.01" && got != 0 {
				t.Errorf("%s: le=0.01 = %d, want 0", tags, got)
			}
		})
	}
}

func TestAttributesWinOverWhatThePluginSaw(t *testing.T) {
	h := start(t, blogConfig)
	h.setProperty([]byte("PUT"), "request", "method")
	h.setProperty(int64Bytes(503), "response", "code")
	h.setProperty(int64Bytes((40 * time.Millisecond).Nanoseconds()), "request", "duration")
	h.exchange("GET", "200", 7*time.Second)

	if got := h.counter("custom_api_request_duration_seconds_bucket.method=PUT.status=503.le=0.05"); got != 1 {
		t.Errorf("request.duration (40 ms) decides the bucket: le=0.05 = %d", got)
	}
	if _, err := h.host.GetCounterMetric("custom_api_requests_total.method=GET.status=200"); err == nil {
		t.Error("the headers the plugin saw must not be used when the host has the attributes")
	}
}

func TestDurationFromRequestTimeWithoutRequestDuration(t *testing.T) {
	h := start(t, blogConfig)
	h.setProperty(int64Bytes(h.now.Add(-250*time.Millisecond).UnixNano()), "request", "time")
	h.setProperty(int64Bytes(200), "response", "code")
	h.setProperty([]byte("GET"), "request", "method")
	h.logOnly()

	h.wantCounters(map[string]uint64{
		"custom_api_request_duration_microseconds_sum.method=GET.status=200":      250_000, // now - request.time
		"custom_api_request_duration_seconds_bucket.method=GET.status=200.le=0.1": 0,
		"custom_api_request_duration_seconds_bucket.method=GET.status=200.le=0.5": 1,
	})
}

func TestLogOnlyWithoutAttributesIsStillCounted(t *testing.T) {
	h := start(t, blogConfig)
	h.logOnly()
	h.wantCounters(map[string]uint64{
		"custom_api_requests_total.method=OTHER.status=0":                          1,
		"custom_api_request_duration_seconds_bucket.method=OTHER.status=0.le=0.01": 1, // no duration known: 0 s
	})
}
