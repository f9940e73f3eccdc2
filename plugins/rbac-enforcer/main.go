// rbac-enforcer: an AUTHZ-phase proxy-wasm plugin that asks a policy service
// (http_call, JSON) whether the authenticated subject may call this method and
// path, caches the answers, and denies with 403. It fails closed.
// See docs/plugins/rbac-enforcer.md.
package main

import (
	"encoding/json"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"wasmplugin.test/plugins/go-common/pluginkit"
)

const maxCacheEntries = 10000

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
	cfg   *config
	cache *decisionCache // nil when cache_enabled is false
	now   func() time.Time
}

func (p *pluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	cfg, ok := pluginkit.Configure("rbac-enforcer", size, parseConfig)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	p.cfg = cfg
	if cfg.cacheEnabled {
		p.cache = newDecisionCache(cfg.cacheTTL, maxCacheEntries)
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{p: p}
}

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
	q question
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	cfg := h.p.cfg
	subject, _ := proxywasm.GetHttpRequestHeader(cfg.subjectHeader)
	scopes, _ := proxywasm.GetHttpRequestHeader(cfg.scopesHeader)
	method, _ := proxywasm.GetHttpRequestHeader(":method")
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	h.q = newQuestion(subject, method, path, scopes)

	if h.p.cache != nil {
		if d, ok := h.p.cache.get(h.q.key(), h.p.now().Unix()); ok {
			proxywasm.LogDebugf("rbac-enforcer: cached decision for %s %s by %q: allow=%v", h.q.Method, h.q.Path, h.q.Subject, d.allow)
			return h.enforce(d)
		}
	}
	p := cfg.policy
	headers := [][2]string{
		{":method", "POST"}, {":path", p.Path}, {":authority", p.Authority},
		{"content-type", "application/json"}, {"accept", "application/json"},
	}
	if _, err := proxywasm.DispatchHttpCall(p.Cluster, headers, h.q.body(), nil, cfg.timeoutMS, h.onDecision); err != nil {
		proxywasm.LogErrorf("rbac-enforcer: cannot call the policy service through cluster %q (%v); define it with a ServiceEntry or set policy_cluster; denying", p.Cluster, err)
		h.deny("policy service unavailable")
		return types.ActionPause
	}
	return types.ActionPause
}

func (h *httpContext) onDecision(numHeaders, bodySize, _ int) {
	d, err := h.readDecision(numHeaders, bodySize)
	if err != nil {
		proxywasm.LogWarnf("rbac-enforcer: policy check for %s %s failed: %v; denying (fail closed)", h.q.Method, h.q.Path, err)
		h.deny("policy service unavailable")
		return
	}
	if h.p.cache != nil {
		h.p.cache.put(h.q.key(), d, h.p.now().Unix())
	}
	if h.enforce(d) == types.ActionContinue {
		if err := proxywasm.ResumeHttpRequest(); err != nil {
			proxywasm.LogWarnf("rbac-enforcer: cannot resume the request: %v", err)
		}
	}
}

func (h *httpContext) readDecision(numHeaders, bodySize int) (decision, error) {
	status, err := pluginkit.CallStatus(numHeaders)
	if err != nil {
		return decision{}, err
	}
	var body []byte
	if bodySize > 0 {
		body, _ = proxywasm.GetHttpCallResponseBody(0, bodySize)
	}
	return parseDecision(status, body)
}

func (h *httpContext) enforce(d decision) types.Action {
	if d.allow {
		proxywasm.LogDebugf("rbac-enforcer: allow %s %s for %q", h.q.Method, h.q.Path, h.q.Subject)
		return types.ActionContinue
	}
	reason := d.reason
	if reason == "" {
		reason = "denied by policy"
	}
	h.deny(reason)
	return types.ActionPause
}

func (h *httpContext) deny(reason string) {
	proxywasm.LogDebugf("rbac-enforcer: deny %s %s for %q: %s", h.q.Method, h.q.Path, h.q.Subject, reason)
	body, _ := json.Marshal(map[string]string{"error": "access_denied", "reason": reason})
	headers := [][2]string{{"content-type", "application/json"}}
	if err := proxywasm.SendHttpResponse(403, headers, append(body, '\n'), -1); err != nil {
		proxywasm.LogErrorf("rbac-enforcer: cannot send the 403 reply: %v", err)
	}
}
