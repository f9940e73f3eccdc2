// go-features: one Go SDK plugin that exercises http_call, timers, shared data (CAS), shared queues,
// metrics, properties and body buffering, selected by request path (/go/...), plus a timer-driven
// callout and a deliberate memory leak selected by configuration. plugins/README.md lists every case.
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

const (
	logPrefix = "go-features: "

	keyCounter       = "go_features_counter"
	keyTicks         = "go_features_ticks"
	keyCallout       = "go_features_callout"
	keyLastQueueItem = "go_features_last_item"

	metricRequests    = "go_features_requests_total"
	metricActive      = "go_features_active_requests"
	metricBodyBytes   = "go_features_request_body_bytes"
	metricTicks       = "go_features_ticks_total"
	metricCallouts    = "go_features_callouts_total"
	metricQueueItems  = "go_features_queue_items_total"
	metricLeakedBytes = "go_features_leaked_bytes"
)

func init() {
	proxywasm.SetPluginContext(func(contextID uint32) types.PluginContext {
		return &plugin{contextID: contextID, counters: map[string]proxywasm.MetricCounter{}}
	})
}

// main is required by the Go toolchain; the host drives the plugin through exported callbacks.
func main() {}
