package main

import (
	"errors"
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// plugin is the root context: configuration, metric handles, the queue and the timer.
type plugin struct {
	types.DefaultPluginContext
	contextID uint32
	cfg       settings

	counters    map[string]proxywasm.MetricCounter // lazily defined, tagged names included
	active      proxywasm.MetricGauge
	bodyBytes   proxywasm.MetricHistogram
	leakedGauge proxywasm.MetricGauge
	queueID     uint32
}

func (p *plugin) OnPluginStart(configSize int) types.OnPluginStartStatus {
	raw, err := proxywasm.GetPluginConfiguration()
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		proxywasm.LogErrorf(logPrefix+"cannot read configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	cfg, err := parseSettings(raw)
	if err != nil {
		proxywasm.LogErrorf(logPrefix+"invalid configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.cfg = cfg
	p.active = proxywasm.DefineGaugeMetric(metricActive)
	p.bodyBytes = proxywasm.DefineHistogramMetric(metricBodyBytes)
	p.leakedGauge = proxywasm.DefineGaugeMetric(metricLeakedBytes)
	if p.queueID, err = proxywasm.RegisterSharedQueue(cfg.QueueName); err != nil {
		proxywasm.LogErrorf(logPrefix+"cannot register queue %q: %v", cfg.QueueName, err)
		return types.OnPluginStartStatusFailed
	}
	if cfg.TickPeriodMs > 0 {
		if err := proxywasm.SetTickPeriodMilliSeconds(cfg.TickPeriodMs); err != nil {
			proxywasm.LogErrorf(logPrefix+"cannot set tick period: %v", err)
			return types.OnPluginStartStatusFailed
		}
	}
	proxywasm.LogInfof(logPrefix+"plugin started (tick_period_ms=%d, tick_callout_cluster=%q, leak_bytes_per_request=%d)",
		cfg.TickPeriodMs, cfg.TickCalloutCluster, cfg.LeakBytesPerRequest)
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(contextID uint32) types.HttpContext {
	return &stream{root: p, contextID: contextID}
}

// counter returns the counter called name, defining it on first use.
func (p *plugin) counter(name string) proxywasm.MetricCounter {
	c, ok := p.counters[name]
	if !ok {
		c = proxywasm.DefineCounterMetric(name)
		p.counters[name] = c
	}
	return c
}

func (p *plugin) OnTick() {
	n, _, err := casIncrement(keyTicks)
	if err != nil {
		proxywasm.LogErrorf(logPrefix+"tick: shared data: %v", err)
		return
	}
	p.counter(metricTicks).Increment(1)
	proxywasm.LogInfof(logPrefix+"tick %d", n)
	if p.cfg.TickCalloutCluster != "" {
		p.dispatchTickCallout()
	}
}

// dispatchTickCallout calls the configured cluster from the root context and stores what came back
// in shared data, where /go/callout/result (any VM with the same vm_id) reads it.
func (p *plugin) dispatchTickCallout() {
	headers := [][2]string{
		{":method", "GET"},
		{":path", p.cfg.TickCalloutPath},
		{":authority", p.cfg.TickCalloutAuthority},
		{"x-go-features", "tick-callout"},
	}
	_, err := proxywasm.DispatchHttpCall(p.cfg.TickCalloutCluster, headers, nil, nil, p.cfg.HttpCallTimeoutMs,
		func(numHeaders, bodySize, numTrailers int) {
			status, body := readCallResponse(numHeaders, bodySize)
			result := "ok"
			if numHeaders == 0 {
				result = "failed"
			}
			p.counter(metricCallouts + ".result=" + result).Increment(1)
			stored := append([]byte(status+"\n"), body...)
			if err := proxywasm.SetSharedData(keyCallout, stored, 0); err != nil {
				proxywasm.LogErrorf(logPrefix+"callout: storing result: %v", err)
				return
			}
			proxywasm.LogInfof(logPrefix+"callout status=%s bytes=%d", status, len(body))
		})
	if err != nil {
		p.counter(metricCallouts + ".result=dispatch_error").Increment(1)
		proxywasm.LogErrorf(logPrefix+"callout to %q not dispatched: %v", p.cfg.TickCalloutCluster, err)
	}
}

func (p *plugin) OnQueueReady(queueID uint32) {
	for {
		item, err := proxywasm.DequeueSharedQueue(queueID)
		if errors.Is(err, types.ErrorStatusEmpty) {
			return
		}
		if err != nil {
			proxywasm.LogErrorf(logPrefix+"dequeue %d: %v", queueID, err)
			return
		}
		proxywasm.LogInfof(logPrefix+"dequeued %s", string(item))
		p.counter(metricQueueItems).Increment(1)
		if err := proxywasm.SetSharedData(keyLastQueueItem, item, 0); err != nil {
			proxywasm.LogErrorf(logPrefix+"storing last queue item: %v", err)
		}
	}
}

// readCallResponse returns the :status ("failed" for a reset call) and body of an http_call response.
func readCallResponse(numHeaders, bodySize int) (string, []byte) {
	if numHeaders == 0 {
		return "failed", nil
	}
	status := "unknown"
	if headers, err := proxywasm.GetHttpCallResponseHeaders(); err == nil {
		for _, h := range headers {
			if h[0] == ":status" {
				status = h[1]
			}
		}
	}
	var body []byte
	if bodySize > 0 {
		body, _ = proxywasm.GetHttpCallResponseBody(0, bodySize)
	}
	return status, body
}

// casIncrement adds one to the decimal counter stored under key, retrying on CAS mismatch.
func casIncrement(key string) (value uint64, retries int, err error) {
	for retries = 0; retries < 32; retries++ {
		data, cas, err := proxywasm.GetSharedData(key)
		var cur uint64
		switch {
		case err == nil:
			cur, _ = strconv.ParseUint(string(data), 10, 64)
		case errors.Is(err, types.ErrorStatusNotFound):
			cas = 0
		default:
			return 0, retries, err
		}
		err = proxywasm.SetSharedData(key, []byte(strconv.FormatUint(cur+1, 10)), cas)
		if err == nil {
			return cur + 1, retries, nil
		}
		if !errors.Is(err, types.ErrorStatusCasMismatch) {
			return 0, retries, err
		}
	}
	return 0, retries, types.ErrorStatusCasMismatch
}

// statusName is the short name of a host status used in x-go-* headers.
func statusName(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, types.ErrorStatusNotFound):
		return "not_found"
	case errors.Is(err, types.ErrorStatusBadArgument):
		return "bad_argument"
	case errors.Is(err, types.ErrorStatusEmpty):
		return "empty"
	case errors.Is(err, types.ErrorStatusCasMismatch):
		return "cas_mismatch"
	case errors.Is(err, types.ErrorInternalFailure):
		return "internal_failure"
	case errors.Is(err, types.ErrorUnimplemented):
		return "unimplemented"
	}
	return err.Error()
}
