//go:build !wasm

package pluginkit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"wasmplugin.test/plugins/go-common/pluginkit"
	"wasmplugin.test/plugins/go-common/plugintest"
)

type config struct {
	unknown []string
	name    string
}

func (c *config) UnknownKeys() []string { return c.unknown }
func (c *config) Summary() string       { return "name=" + c.name }

func parse(data []byte) (*config, error) {
	s := string(data)
	switch {
	case s == "bad":
		return nil, errors.New("pluginConfig: must be a JSON object")
	case strings.HasPrefix(s, "extra:"):
		return &config{name: "x", unknown: strings.Split(strings.TrimPrefix(s, "extra:"), ",")}, nil
	}
	return &config{name: s}, nil
}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &root{} }

type root struct {
	types.DefaultPluginContext
	cfg *config
}

func (r *root) OnPluginStart(size int) types.OnPluginStartStatus {
	cfg, ok := pluginkit.Configure("demo", size, parse)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	r.cfg = cfg
	return types.OnPluginStartStatusOK
}

func TestConfigureLogsSummaryAndUnknownKeys(t *testing.T) {
	host := plugintest.Start(t, &vm{}, "extra:colour,size")
	if logs := host.GetInfoLogs(); len(logs) != 1 || logs[0] != "demo: configured name=x" {
		t.Errorf("info logs %q", logs)
	}
	want := []string{`demo: ignoring unknown configuration key "colour"`, `demo: ignoring unknown configuration key "size"`}
	if logs := host.GetWarnLogs(); strings.Join(logs, "|") != strings.Join(want, "|") {
		t.Errorf("warn logs %q", logs)
	}
}

func TestConfigureFailsTheStartOnAParseError(t *testing.T) {
	logs := plugintest.StartFails(t, &vm{}, "bad")
	if logs != "demo: invalid configuration: pluginConfig: must be a JSON object" {
		t.Errorf("error logs %q", logs)
	}
}

func TestClock(t *testing.T) {
	fixed := time.Unix(42, 0)
	if got := pluginkit.Clock(func() time.Time { return fixed })(); !got.Equal(fixed) {
		t.Errorf("set clock = %v", got)
	}
	before := time.Now()
	if got := pluginkit.Clock(nil)(); got.Before(before) {
		t.Errorf("nil clock = %v, before %v", got, before)
	}
}

func TestStatus(t *testing.T) {
	if got := pluginkit.Status([][2]string{{"content-type", "x"}, {":status", "503"}}); got != "503" {
		t.Errorf("Status = %q", got)
	}
	if got := pluginkit.Status(nil); got != "none" {
		t.Errorf("Status(nil) = %q", got)
	}
}
