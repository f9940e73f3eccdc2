// custom-metrics: a STATS-phase proxy-wasm plugin that counts requests and
// records their duration in a Prometheus-style histogram built from counters,
// labelled by method and status. See docs/plugins/custom-metrics.md.
package main

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"wasmplugin.test/plugins/go-common/pluginkit"
)

// maxSeries bounds the number of (method, status) label pairs tracked.
const maxSeries = 500

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct {
	types.DefaultVMContext
	now func() time.Time // nil: the host's clock (tests set their own)
}

func (v *vmContext) NewPluginContext(uint32) types.PluginContext {
	return &pluginContext{now: pluginkit.Clock(v.now), series: map[string]*series{}}
}

type pluginContext struct {
	types.DefaultPluginContext
	cfg      *config
	bounds   []int64 // bucket bounds in ns
	series   map[string]*series
	disabled bool // the host refused a metric call; stop trying
	now      func() time.Time
}

// series holds the metric ids of one (method, status) pair.
type series struct {
	requests proxywasm.MetricCounter
	buckets  []proxywasm.MetricCounter
	inf      proxywasm.MetricCounter
	count    proxywasm.MetricCounter
	sum      proxywasm.MetricCounter
}

func (p *pluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	cfg, ok := pluginkit.Configure("custom-metrics", size, parseConfig)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	p.cfg, p.bounds = cfg, boundsNS(cfg.buckets)
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{p: p}
}

// hostCall runs a metric call; the SDK panics when the host answers an error,
// which would trap the VM, so turn that into a logged, permanent opt-out.
func (p *pluginContext) hostCall(what string, fn func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			p.disabled = true
			proxywasm.LogErrorf("custom-metrics: %s failed (%v); metrics disabled for this plugin instance", what, r)
			ok = false
		}
	}()
	fn()
	return true
}

func (p *pluginContext) seriesFor(method, status string) *series {
	key := method + " " + status
	if s, ok := p.series[key]; ok {
		return s
	}
	if len(p.series) >= maxSeries {
		if status != "0" || method != "OTHER" {
			return p.seriesFor("OTHER", "0")
		}
	}
	n := seriesNames(p.cfg, method, status)
	s := &series{}
	if !p.hostCall("defining metric "+n.requests, func() {
		s.requests = proxywasm.DefineCounterMetric(n.requests)
		for _, b := range n.buckets {
			s.buckets = append(s.buckets, proxywasm.DefineCounterMetric(b))
		}
		s.inf = proxywasm.DefineCounterMetric(n.inf)
		s.count = proxywasm.DefineCounterMetric(n.count)
		s.sum = proxywasm.DefineCounterMetric(n.sum)
	}) {
		return nil
	}
	p.series[key] = s
	return s
}

func (p *pluginContext) record(method, status string, d time.Duration) {
	if p.disabled {
		return
	}
	s := p.seriesFor(normalizeMethod(method), normalizeStatus(status))
	if s == nil {
		return
	}
	ns := max(d.Nanoseconds(), 0)
	p.hostCall("incrementing request metrics", func() {
		s.requests.Increment(1)
		for _, b := range s.buckets[firstBucket(p.bounds, ns):] {
			b.Increment(1)
		}
		s.inf.Increment(1)
		s.count.Increment(1)
		if us := ns / 1000; us > 0 { // counters refuse a zero increment
			s.sum.Increment(uint64(us))
		}
	})
}

type httpContext struct {
	types.DefaultHttpContext
	p     *pluginContext
	start time.Time // request headers reached this plugin; zero when they never did
}

// OnHttpRequestHeaders only notes the time, for hosts that cannot give the
// request's duration (see streamDuration).
func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	h.start = h.p.now()
	return types.ActionContinue
}

// OnHttpStreamDone (proxy_on_log) records every finished request. It runs for
// requests this plugin never saw as well: a request answered locally by an
// earlier plugin (jwt-validator's 401, rbac-enforcer's 403) reaches no later
// plugin's request or response callbacks, but every plugin gets on_log, as
// Envoy's access log pass. So method, status and duration come from the
// host's attributes, not from this plugin's own callbacks.
func (h *httpContext) OnHttpStreamDone() {
	h.p.record(streamMethod(), streamStatus(), h.streamDuration())
}

// streamMethod is the request.method attribute, else :method from the request
// headers (readable in on_log), else "" (recorded as OTHER).
func streamMethod() string {
	if b, err := proxywasm.GetProperty([]string{"request", "method"}); err == nil && len(b) > 0 {
		return string(b)
	}
	m, _ := proxywasm.GetHttpRequestHeader(":method")
	return m
}

// streamStatus is the response.code attribute (an 8-byte little-endian
// integer), else :status from the response headers, else "" (recorded as 0:
// no response, e.g. a reset stream).
func streamStatus() string {
	if code, ok := int64Property("response", "code"); ok {
		return strconv.FormatInt(code, 10)
	}
	s, _ := proxywasm.GetHttpResponseHeader(":status")
	return s
}

// streamDuration is the request.duration attribute (Envoy: from the first
// byte of the request to the end of the stream, in nanoseconds), else the time
// since request.time (a Unix timestamp in nanoseconds), else the time since
// this plugin saw the request headers, else 0.
func (h *httpContext) streamDuration() time.Duration {
	if ns, ok := int64Property("request", "duration"); ok {
		return time.Duration(ns)
	}
	if ns, ok := int64Property("request", "time"); ok && ns > 0 {
		return h.p.now().Sub(time.Unix(0, ns))
	}
	if !h.start.IsZero() {
		return h.p.now().Sub(h.start)
	}
	return 0
}

// int64Property reads an integer, duration or timestamp attribute, which the
// host encodes as an 8-byte little-endian int64.
func int64Property(path ...string) (int64, bool) {
	b, err := proxywasm.GetProperty(path)
	if err != nil || len(b) != 8 {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(b)), true
}
