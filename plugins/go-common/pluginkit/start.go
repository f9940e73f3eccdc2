// Package pluginkit is the proxy-wasm SDK glue every demo plugin needs the
// same way: reading and logging its configuration at start, the clock tests
// replace, and the status of an http_call answer. Log lines are prefixed with
// the plugin's name, so one VM's log says which plugin spoke.
package pluginkit

import (
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
)

// Config is a plugin's parsed configuration, as far as the start-up log needs it.
type Config interface {
	// UnknownKeys are top-level keys the plugin does not know: warned about, not fatal.
	UnknownKeys() []string
	// Summary is what the "configured" info line says about the configuration.
	Summary() string
}

// Configure is the body of OnPluginStart(size): it reads the plugin
// configuration the host holds and parses it. A configuration that cannot be
// read (when size > 0) or parsed is logged at error ("<plugin>: invalid
// configuration: <error>") and ok is false: the plugin must fail its start.
// Otherwise every unknown key is logged at warn and the summary at info
// ("<plugin>: configured <summary>").
func Configure[C Config](plugin string, size int, parse func([]byte) (C, error)) (cfg C, ok bool) {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && size > 0 {
		proxywasm.LogErrorf("%s: cannot read the plugin configuration: %v", plugin, err)
		return cfg, false
	}
	cfg, err = parse(data)
	if err != nil {
		proxywasm.LogErrorf("%s: invalid configuration: %v", plugin, err)
		return cfg, false
	}
	for _, k := range cfg.UnknownKeys() {
		proxywasm.LogWarnf("%s: ignoring unknown configuration key %q", plugin, k)
	}
	proxywasm.LogInfof("%s: configured %s", plugin, cfg.Summary())
	return cfg, true
}

// Clock is now, or the host's wall clock (time.Now) when now is nil. A VM
// context carries a nil clock in production; tests set their own.
func Clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
