//go:build !wasm

// Package plugintest runs a demo plugin under the Go SDK's host emulator
// (proxywasm/proxytest, an Envoy stand-in shipped with the SDK) for the
// plugins' native request-flow tests. The emulator is process-wide: one at a
// time, so these tests never call t.Parallel.
package plugintest

import (
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func emulate(vm types.VMContext, cfg string) (proxytest.HostEmulator, func()) {
	return proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(cfg)))
}

// Start runs vm with plugin configuration cfg, fails t unless the plugin
// starts, and resets the emulator when the test ends.
func Start(t testing.TB, vm types.VMContext, cfg string) proxytest.HostEmulator {
	t.Helper()
	host, reset := emulate(vm, cfg)
	t.Cleanup(reset)
	if st := host.StartPlugin(); st != types.OnPluginStartStatusOK {
		t.Fatalf("StartPlugin = %v; error logs %v", st, host.GetErrorLogs())
	}
	return host
}

// StartFails runs vm with cfg, fails t unless the start fails, and returns the
// error logs, one per line. The emulator is reset before it returns.
func StartFails(t testing.TB, vm types.VMContext, cfg string) string {
	t.Helper()
	host, reset := emulate(vm, cfg)
	defer reset()
	if st := host.StartPlugin(); st != types.OnPluginStartStatusFailed {
		t.Fatalf("StartPlugin = %v, want a failed start", st)
	}
	return strings.Join(host.GetErrorLogs(), "\n")
}

// Header is the value of the first pair called name in headers, "" without one.
func Header(headers [][2]string, name string) string {
	for _, kv := range headers {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}
