// rate-limiter: a proxy-wasm plugin (UNSPECIFIED_PHASE in the blog) that
// counts requests per path prefix in fixed windows kept in the host's shared
// data, so every VM and plugin in the process shares the counts, and answers
// rate_limit_response once a limit is reached. See docs/plugins/rate-limiter.md.
package main

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"wasmplugin.test/plugins/go-common/pluginkit"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct {
	types.DefaultVMContext
	now func() time.Time // nil: the host's wall clock (tests set their own)
}

func (v *vmContext) NewPluginContext(uint32) types.PluginContext {
	return &pluginContext{now: pluginkit.Clock(v.now)}
}

type pluginContext struct {
	types.DefaultPluginContext
	cfg *config
	now func() time.Time
}

func (p *pluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	cfg, ok := pluginkit.Configure("rate-limiter", size, parseConfig)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	p.cfg = cfg
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{p: p}
}

// hostStore is the real shared data.
type hostStore struct{}

func (hostStore) get(key string) ([]byte, uint32, error) { return proxywasm.GetSharedData(key) }
func (hostStore) set(key string, v []byte, cas uint32) error {
	return proxywasm.SetSharedData(key, v, cas)
}

type httpContext struct {
	types.DefaultHttpContext
	p       *pluginContext
	rule    rule
	out     outcome
	now     int64
	counted bool
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	cfg := h.p.cfg
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	h.rule = cfg.ruleFor(path)
	h.now = h.p.now().Unix()
	key := counterKey(h.rule, h.client())
	out, err := take(hostStore{}, key, h.rule, h.now)
	if err != nil {
		proxywasm.LogWarnf("rate-limiter: %v; allowing the request (fail open)", err)
		return types.ActionContinue
	}
	h.out, h.counted = out, true
	if out.allowed {
		return types.ActionContinue
	}
	proxywasm.LogDebugf("rate-limiter: %s over %s (key %q)", path, h.rule, key)
	r := cfg.reply
	headers := append([][2]string{}, r.headers...)
	if !hasHeader(headers, "retry-after") {
		headers = append(headers, [2]string{"retry-after", strconv.FormatInt(out.resetAt-h.now, 10)})
	}
	headers = append(headers, h.rateHeaders()...)
	if err := proxywasm.SendHttpResponse(r.status, headers, r.body, -1); err != nil {
		proxywasm.LogErrorf("rate-limiter: cannot send the %d reply: %v", r.status, err)
	}
	return types.ActionPause
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	if h.counted && h.out.allowed {
		for _, kv := range h.rateHeaders() {
			_ = proxywasm.ReplaceHttpResponseHeader(kv[0], kv[1])
		}
	}
	return types.ActionContinue
}

// rateHeaders describe the window the request was counted in.
func (h *httpContext) rateHeaders() [][2]string {
	remaining := uint64(0)
	if h.out.count < h.rule.limit {
		remaining = h.rule.limit - h.out.count
	}
	return [][2]string{
		{"x-ratelimit-limit", strconv.FormatUint(h.rule.limit, 10)},
		{"x-ratelimit-remaining", strconv.FormatUint(remaining, 10)},
		{"x-ratelimit-reset", strconv.FormatInt(h.out.resetAt-h.now, 10)},
	}
}

// client is the part of the counter key that tells callers apart.
func (h *httpContext) client() string {
	cfg := h.p.cfg
	switch cfg.limitBy {
	case "client_ip":
		b, err := proxywasm.GetProperty([]string{"source", "address"})
		if err != nil || len(b) == 0 {
			return "ip:unknown"
		}
		addr := string(b)
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
		return "ip:" + addr
	case "global":
		return "*"
	default:
		v, _ := proxywasm.GetHttpRequestHeader(cfg.limitHeader)
		return "h:" + v
	}
}

func hasHeader(headers [][2]string, name string) bool {
	for _, kv := range headers {
		if strings.EqualFold(kv[0], name) {
			return true
		}
	}
	return false
}
