package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// settings is the parsed plugin configuration. Every key is optional; unknown keys are an error so a
// typo in a WasmPlugin's pluginConfig fails the plugin start instead of being ignored.
type settings struct {
	// Cluster for /go/http_call when the request has no x-go-cluster header.
	HttpCallCluster string `json:"http_call_cluster"`
	// Timeout for every http_call this plugin makes.
	HttpCallTimeoutMs uint32 `json:"http_call_timeout_ms"`
	// >0: the root context asks for on_tick every tick_period_ms.
	TickPeriodMs uint32 `json:"tick_period_ms"`
	// Non-empty (with tick_period_ms > 0): every tick dispatches GET tick_callout_path to this cluster.
	TickCalloutCluster   string `json:"tick_callout_cluster"`
	TickCalloutPath      string `json:"tick_callout_path"`
	TickCalloutAuthority string `json:"tick_callout_authority"`
	// Name of the shared queue registered at plugin start.
	QueueName string `json:"queue_name"`
	// >0: every request keeps this many bytes alive forever (a deliberate leak).
	LeakBytesPerRequest int `json:"leak_bytes_per_request"`
}

func defaultSettings() settings {
	return settings{
		HttpCallTimeoutMs: 5000,
		TickCalloutPath:   "/",
		QueueName:         "go_features",
	}
}

func parseSettings(raw []byte) (settings, error) {
	s := defaultSettings()
	if len(bytes.TrimSpace(raw)) == 0 {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, err
	}
	if s.LeakBytesPerRequest < 0 {
		return s, fmt.Errorf("leak_bytes_per_request must be >= 0, got %d", s.LeakBytesPerRequest)
	}
	if s.TickCalloutAuthority == "" {
		s.TickCalloutAuthority = s.TickCalloutCluster
	}
	return s, nil
}
