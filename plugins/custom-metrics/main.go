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
	now := v.now
	if now == nil {
		now = time.Now
	}
	return &pluginContext{now: now, series: map[string]*series{}}
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
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && size > 0 {
		proxywasm.LogErrorf("custom-metrics: cannot read the plugin configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	cfg, err := parseConfig(data)
	if err != nil {
		proxywasm.LogErrorf("custom-metrics: invalid configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	for _, k := range cfg.unknownKeys {
		proxywasm.LogWarnf("custom-metrics: ignoring unknown configuration key %q", k)
	}
	p.cfg, p.bounds = cfg, boundsNS(cfg.buckets)
	proxywasm.LogInfof("custom-metrics: configured %s", cfg.summary())
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
	p      *pluginContext
	start  time.Time
	method string
	status string
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	h.start = h.p.now()
	h.method, _ = proxywasm.GetHttpRequestHeader(":method")
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	h.status, _ = proxywasm.GetHttpResponseHeader(":status")
	return types.ActionContinue
}

// OnHttpStreamDone (proxy_on_log) records the finished request: the duration
// runs from its request headers to the end of its response.
func (h *httpContext) OnHttpStreamDone() {
	if h.start.IsZero() {
		return
	}
	if h.status == "" {
		h.status = responseCode()
	}
	h.p.record(h.method, h.status, h.p.now().Sub(h.start))
}

// responseCode asks the host for response.code (8-byte little-endian integer)
// when no response headers went through this plugin.
func responseCode() string {
	b, err := proxywasm.GetProperty([]string{"response", "code"})
	if err != nil || len(b) != 8 {
		return ""
	}
	return strconv.FormatUint(binary.LittleEndian.Uint64(b), 10)
}
